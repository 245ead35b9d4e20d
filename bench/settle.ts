/**
 * The settler: claims checked per second (the checks made before any fee: the contract's window, the nonce, the
 * spender's signature as the keeper verifies it), and claims settled per transaction and per second against the
 * chain-rules test server (ours; it runs Arkeo's claim and settlement rules in its blocks, every 100 ms here) with
 * the sentinel-rules server's settlement API in front. `node dist/bench/settle.js` runs this section alone.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { judge, type JudgeContext } from '../src/settle/judge.js';
import { cat, dog, fox, settlerFor, world } from '../test/settle/support.js';
import type { Row } from './claims.js';

const CONTRACTS = Number(process.env.BENCH_SETTLE_CONTRACTS ?? 50);

/** node:test's `t.after`, for the test worlds the bench borrows: run in reverse at the end. */
function scope() {
  const closers: (() => Promise<void> | void)[] = [];
  return { t: { after: (fn: () => Promise<void> | void) => void closers.push(fn) }, close: async () => { for (const c of closers.reverse()) await c(); } };
}

export async function benchSettle(): Promise<Row[]> {
  const rows: Row[] = [];
  const s = scope();
  try {
    const w = await world(s.t);
    const ids: bigint[] = [];
    for (let i = 0; i < CONTRACTS; i++) ids.push(await w.open());

    // 1. Checks per second: every contract's claim judged against the chain's record, in a loop.
    const claims = ids.map((id) => w.claim(id, 100n, cat));
    const contracts = await Promise.all(ids.map((id) => w.client.contract(id)));
    const ctx: JudgeContext = { height: w.chain.height(), chainId: 'arkeo-local-1', provider: fox.pub, margin: 3n, deadlineBlocks: 50n, minValue: 0n, fee: { denom: 'uarkeo', amount: 200n } };
    let checked = 0;
    const started = performance.now();
    while (performance.now() - started < 2000) {
      for (let i = 0; i < claims.length; i++) {
        const j = judge({ contractId: claims[i]!.contractId, nonce: claims[i]!.nonce, signature: claims[i]!.signature }, contracts[i], ctx);
        if (j.kind !== 'sound') throw new Error(`bench: claim ${i} judged ${j.kind}`);
        checked++;
      }
    }
    rows.push({ name: 'settle: claims checked (window, nonce, spender signature)', value: Math.round(checked / ((performance.now() - started) / 1000)), unit: 'claims/s', note: `${checked} checks in 2 s, one core` });

    // 2. Settled: one claim per contract, batches of 10, one cycle (poll, check, sign, send, wait for the block).
    const t = await settlerFor(w, s.t, { batch: 10 });
    const before = w.chain.included().length;
    const t0 = performance.now();
    await t.settler.run(new AbortController().signal, { once: true });
    const secs = (performance.now() - t0) / 1000;
    const onChain = await w.claimsOnChain();
    const txs = w.chain.included().length - before;
    if (onChain.length !== CONTRACTS) throw new Error(`bench: ${onChain.length} of ${CONTRACTS} claims settled`);
    rows.push({ name: `settle: ${CONTRACTS} claims in batches of 10, one cycle`, value: +(CONTRACTS / secs).toFixed(1), unit: 'claims/s', note: `${txs} transactions (${(CONTRACTS / txs).toFixed(1)} claims each), ${secs.toFixed(2)} s including each block (100 ms); fee payer ${dog.address.slice(0, 12)}…` });
  } finally {
    await s.close();
  }
  return rows;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await benchSettle();
  for (const r of rows) process.stderr.write(`${r.name.padEnd(64)} ${String(r.value).padStart(8)} ${r.unit}  ${r.note ?? ''}\n`);
  process.stdout.write(JSON.stringify({ rows }, null, 2) + '\n');
  process.exit(0);
}
