import { parseContractId, parseDecimal, provenSentinelNonce, fetchChainContract, UnprovenNonceError, MAX_INT64 } from '../claims/index.js';
import { flagValue, commandRunner } from './common.js';
import { openKeyring } from './open-keyring.js';
import { withStore } from './nonce-store.js';
import { bind, runGroup, type Parsed } from './table.js';
import { NONCE, NONCE_SET, NONCE_SHOW, NONCE_SYNC } from './tables/nonce.js';

const out = (s: string) => process.stdout.write(s);

async function signerOf(values: Parameters<typeof openKeyring>[0], name: string | undefined): Promise<{ address: string; publicKey?: Uint8Array } | undefined> {
  return name ? await openKeyring(values).get(name) : undefined;
}

async function show({ values }: Parsed<typeof NONCE_SHOW>): Promise<void> {
  const contractId = values.contract ? flagValue(() => parseContractId(values.contract!)) : undefined;
  const signer = (await signerOf(values, values.key))?.address;
  await withStore(values, 'read', async (store) => {
    const rows = (await store.list()).filter((r) => (contractId === undefined || r.contractId === contractId) && (signer === undefined || r.signer === signer));
    if (values.output === 'json') out(JSON.stringify(rows.map((r) => ({ contract_id: String(r.contractId), signer: r.signer, last_reserved: String(r.reserved), updated_at: r.updatedAt.toISOString() }))) + '\n');
    else out(rows.map((r) => `${r.contractId}\t${r.signer}\t${r.reserved}\t${r.updatedAt.toISOString()}\n`).join(''));
  });
}

async function set({ values }: Parsed<typeof NONCE_SET>): Promise<void> {
  const contractId = flagValue(() => parseContractId(values.contract));
  const value = flagValue(() => parseDecimal(values.nonce, 'nonce', 0n, MAX_INT64));
  const signer = (await signerOf(values, values.key))!.address;
  await withStore(values, 'write', async (store) => {
    await store.set(contractId, signer, value, { force: values.force });
    process.stderr.write(`contract ${contractId} / ${signer}: last used nonce set to ${value}; the next claim uses ${value + 1n}\n`);
  });
}

async function sync({ values }: Parsed<typeof NONCE_SYNC>): Promise<void> {
  const cid = flagValue(() => parseContractId(values.contract));
  const key = (await signerOf(values, values.key))!;
  const who = key.address;
  await withStore(values, 'write', async (store) => {
    const local = await store.current(cid, who);
    const onChain = values.lcd ? await fetchChainContract(values.lcd, cid) : undefined;
    const chain = onChain?.nonce ?? 0n;
    const terms = await store.getContract(cid);
    const trusted = [key.publicKey, terms?.client, terms?.delegate, onChain?.client, onChain?.delegate].filter((k): k is Uint8Array => k !== undefined);
    const sentinel = await provenSentinelNonce(values.sentinel, cid, trusted, local > chain ? local : chain).catch((e: unknown) => {
      if (e instanceof UnprovenNonceError) throw new UnprovenNonceError(e.contractId, e.claimed, `${e.message}; the local nonce is unchanged`);
      throw e;
    });
    const target = [local, sentinel, chain].reduce((a, b) => (b > a ? b : a));
    const now = await store.raise(cid, who, target);
    const report = { contract_id: String(cid), signer: who, local: String(local), sentinel: String(sentinel), chain: values.lcd ? String(chain) : null, now: String(now) };
    out(values.output === 'json' ? JSON.stringify(report) + '\n' : `contract ${cid}: local ${local}, sentinel ${sentinel}${values.lcd ? `, chain ${chain}` : ''} → ${now} (next claim uses ${now + 1n})\n`);
  });
}

/** `arkeo-signer nonce …`, run by the dispatcher (arkeo-signer.ts). The subcommand is known before any store is opened. */
export const run = commandRunner((args) => runGroup(NONCE, args, [bind(NONCE_SHOW, show), bind(NONCE_SET, set), bind(NONCE_SYNC, sync)]));
