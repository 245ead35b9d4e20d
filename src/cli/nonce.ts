import { parseContractId, parseDecimal, fetchSentinelNonce, fetchChainContract, MAX_INT64 } from '../claims/index.js';
import { UsageError, exactPositionals, openKeyring, parseFlags, required, KEYRING_FLAGS } from './common.js';
import { STORE_FLAGS, withStore } from './claim.js';
import { parseOutputFormat } from './output.js';

const out = (s: string) => process.stdout.write(s);

const NONCE_USAGE = `Usage: arkeo-signer nonce show [--contract ID] [--key NAME]
       arkeo-signer nonce set --contract ID --key NAME --nonce N [--force]
       arkeo-signer nonce sync --contract ID --key NAME --sentinel URL [--lcd URL]
  (--nonce-store PATH|postgres://… or ARKEO_NONCE_STORE; --create-nonce-store to start a new one)`;

async function signerAddress(values: Parameters<typeof openKeyring>[0], name: string | undefined): Promise<string | undefined> {
  return name ? (await openKeyring(values).get(name)).address : undefined;
}

export async function nonceCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
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
  if (sub !== 'show' && sub !== 'set' && sub !== 'sync') throw new UsageError(`nonce: expected show, set or sync, got "${sub ?? ''}"\n${NONCE_USAGE}`);
  exactPositionals(positionals, [], `nonce ${sub}`);
  const format = parseOutputFormat(values.output);
  const contractId = values.contract ? parseContractId(values.contract) : undefined;
  const signer = await signerAddress(values, values.key);
  await withStore(values, sub === 'show' ? 'read' : 'write', async (store) => {
    switch (sub) {
      case 'show': {
        const rows = (await store.list()).filter((r) => (contractId === undefined || r.contractId === contractId) && (signer === undefined || r.signer === signer));
        if (format === 'json') out(JSON.stringify(rows.map((r) => ({ contract_id: String(r.contractId), signer: r.signer, last_reserved: String(r.reserved), updated_at: r.updatedAt.toISOString() }))) + '\n');
        else out(rows.map((r) => `${r.contractId}\t${r.signer}\t${r.reserved}\t${r.updatedAt.toISOString()}\n`).join(''));
        return;
      }
      case 'set': {
        const value = parseDecimal(required(values.nonce, 'nonce', 'nonce set'), 'nonce', 0n, MAX_INT64);
        await store.set(required(contractId, 'contract', 'nonce set'), required(signer, 'key', 'nonce set'), value, { force: values.force });
        process.stderr.write(`contract ${contractId} / ${signer}: last used nonce set to ${value}; the next claim uses ${value + 1n}\n`);
        return;
      }
      case 'sync': {
        const cid = required(contractId, 'contract', 'nonce sync');
        const who = required(signer, 'key', 'nonce sync');
        const sentinelUrl = required(values.sentinel, 'sentinel', 'nonce sync');
        const local = await store.current(cid, who);
        const sentinel = await fetchSentinelNonce(sentinelUrl, cid);
        const chain = values.lcd ? (await fetchChainContract(values.lcd, cid)).nonce : 0n;
        const target = [local, sentinel, chain].reduce((a, b) => (b > a ? b : a));
        const now = await store.raise(cid, who, target);
        const report = { contract_id: String(cid), signer: who, local: String(local), sentinel: String(sentinel), chain: values.lcd ? String(chain) : null, now: String(now) };
        out(format === 'json' ? JSON.stringify(report) + '\n' : `contract ${cid}: local ${local}, sentinel ${sentinel}${values.lcd ? `, chain ${chain}` : ''} → ${now} (next claim uses ${now + 1n})\n`);
        return;
      }
    }
  });
}
