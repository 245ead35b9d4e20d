import { parseContractId, parseDecimal, provenSentinelNonce, fetchChainContract, UnprovenNonceError, MAX_INT64 } from '../claims/index.js';
import { UsageError, exactPositionals, flagValue, helpRequested, parseFlags, printUsage, required, KEYRING_FLAGS, commandRunner } from './common.js';
import { openKeyring } from './open-keyring.js';
import { STORE_FLAGS, withStore } from './claim.js';
import { parseOutputFormat } from './output.js';

const out = (s: string) => process.stdout.write(s);

async function signerOf(values: Parameters<typeof openKeyring>[0], name: string | undefined): Promise<{ address: string; publicKey?: Uint8Array } | undefined> {
  return name ? await openKeyring(values).get(name) : undefined;
}

/** Each subcommand's usage, printed by `nonce SUB --help`; the one place these texts live. */
export const NONCE_HELP: Record<string, string> = {
  show: `Usage: arkeo-signer nonce show [--contract ID] [--key NAME] [--nonce-store PATH|postgres://…] [-o json] [keyring flags]

The highest nonce ever reserved, per (contract, signer address).
`,
  set: `Usage: arkeo-signer nonce set --contract ID --key NAME --nonce N [--force] [--nonce-store PATH|postgres://…] [keyring flags]

Set the last used nonce (the next claim uses N+1). Moving it back needs --force: a reused nonce gets "400 bad nonce".
`,
  sync: `Usage: arkeo-signer nonce sync --contract ID --key NAME --sentinel URL [--lcd URL] [--nonce-store PATH|postgres://…] [-o json]
                              [keyring flags]

Raise the local nonce to max(local, the sentinel's GET /claim/{cid} .nonce, the chain's contract nonce). Run it after
a "400 bad nonce" or when moving a contract to a new machine. The sentinel's nonce counts only when the claim it
stored is signed by this key (or the contract's client or delegate, as registered or as the chain at --lcd says);
otherwise nothing changes and the command fails: a provider's word alone does not move a nonce it is paid for.
`,
};

export const NONCE_USAGE = `Usage: arkeo-signer nonce show [--contract ID] [--key NAME]
       arkeo-signer nonce set --contract ID --key NAME --nonce N [--force]
       arkeo-signer nonce sync --contract ID --key NAME --sentinel URL [--lcd URL]
(arkeo-signer nonce <command> --help for each; --nonce-store PATH|postgres://… or ARKEO_NONCE_STORE names a store,
 --create-nonce-store starts a new one there)
`;

export async function nonceCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') return printUsage(NONCE_USAGE);
  // Checked before the nonce store is opened: an unknown subcommand must not create a database.
  if (!Object.hasOwn(NONCE_HELP, sub)) throw new UsageError(`nonce: expected show, set or sync, got "${sub}"\n${NONCE_USAGE}`);
  if (helpRequested(rest)) return printUsage(NONCE_HELP[sub]!);
  const { values, positionals } = parseFlags(rest, {
    ...KEYRING_FLAGS,
    ...STORE_FLAGS,
    contract: { type: 'string' },
    key: { type: 'string' },
    nonce: { type: 'string' },
    force: { type: 'boolean' },
    sentinel: { type: 'string' },
    lcd: { type: 'string' },
  });
  exactPositionals(positionals, [], `nonce ${sub}`);
  const format = parseOutputFormat(values.output);
  const contractId = values.contract ? flagValue(() => parseContractId(values.contract!)) : undefined;
  const key = await signerOf(values, values.key);
  const signer = key?.address;
  await withStore(values, sub === 'show' ? 'read' : 'write', async (store) => {
    switch (sub) {
      case 'show': {
        const rows = (await store.list()).filter((r) => (contractId === undefined || r.contractId === contractId) && (signer === undefined || r.signer === signer));
        if (format === 'json') out(JSON.stringify(rows.map((r) => ({ contract_id: String(r.contractId), signer: r.signer, last_reserved: String(r.reserved), updated_at: r.updatedAt.toISOString() }))) + '\n');
        else out(rows.map((r) => `${r.contractId}\t${r.signer}\t${r.reserved}\t${r.updatedAt.toISOString()}\n`).join(''));
        return;
      }
      case 'set': {
        const value = flagValue(() => parseDecimal(required(values.nonce, 'nonce', 'nonce set'), 'nonce', 0n, MAX_INT64));
        await store.set(required(contractId, 'contract', 'nonce set'), required(signer, 'key', 'nonce set'), value, { force: values.force });
        process.stderr.write(`contract ${contractId} / ${signer}: last used nonce set to ${value}; the next claim uses ${value + 1n}\n`);
        return;
      }
      case 'sync': {
        const cid = required(contractId, 'contract', 'nonce sync');
        const who = required(signer, 'key', 'nonce sync');
        const sentinelUrl = required(values.sentinel, 'sentinel', 'nonce sync');
        const local = await store.current(cid, who);
        const onChain = values.lcd ? await fetchChainContract(values.lcd, cid) : undefined;
        const chain = onChain?.nonce ?? 0n;
        const terms = await store.getContract(cid);
        const trusted = [key!.publicKey, terms?.client, terms?.delegate, onChain?.client, onChain?.delegate].filter((k): k is Uint8Array => k !== undefined);
        const sentinel = await provenSentinelNonce(sentinelUrl, cid, trusted, local > chain ? local : chain).catch((e: unknown) => {
          if (e instanceof UnprovenNonceError) throw new UnprovenNonceError(e.contractId, e.claimed, `${e.message}; the local nonce is unchanged`);
          throw e;
        });
        const target = [local, sentinel, chain].reduce((a, b) => (b > a ? b : a));
        const now = await store.raise(cid, who, target);
        const report = { contract_id: String(cid), signer: who, local: String(local), sentinel: String(sentinel), chain: values.lcd ? String(chain) : null, now: String(now) };
        out(format === 'json' ? JSON.stringify(report) + '\n' : `contract ${cid}: local ${local}, sentinel ${sentinel}${values.lcd ? `, chain ${chain}` : ''} → ${now} (next claim uses ${now + 1n})\n`);
        return;
      }
    }
  });
}

/** `arkeo-signer nonce …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner(nonceCommand);
