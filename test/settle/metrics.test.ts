import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSettleServer } from '../../src/settle/index.js';
import { dog, fox, settlerFor, world } from './support.js';

/**
 * What the settler tells an operator after a cycle run through run() (as the CLI does): each metric against what
 * the chain shows, and /healthz and /metrics on a loopback listener.
 */
test('metrics after one cycle match the chain: seen, verified, refused, settled, value, fees, leader, last success, the earliest deadline; /healthz and /metrics served', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const [paying, small] = [await w.open(), await w.open()];
  w.claim(paying, 100n); // 1000 gross, 100 reserve, 900 to the provider
  w.claim(small, 1n); // below a fee: waits
  const s = await settlerFor(w, t);
  const dogBefore = w.chain.balance(dog.address);
  const foxBefore = w.chain.balance(fox.address);
  assert.equal(await s.settler.run(new AbortController().signal, { once: true }), true);
  const value = async (name: keyof typeof s.metrics, labels: Record<string, string> = {}) => {
    const m = await (s.metrics[name] as { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> }).get();
    return m.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
  };
  const fee = Number(dogBefore - w.chain.balance(dog.address));
  assert.equal(await value('claimsSeen'), 2);
  assert.equal(await value('claimsVerified'), 2);
  assert.equal(await value('claimsRefused', { reason: 'below_fee' }), 1);
  assert.equal(await value('claimsSettled'), 1);
  assert.equal(await value('valueSettled', { denom: 'uarkeo' }), 900);
  assert.equal(Number(w.chain.balance(fox.address) - foxBefore), 900, 'what the provider received, as counted');
  assert.equal(await value('feesPaid', { denom: 'uarkeo' }), fee, 'the fee the fee payer paid');
  assert.equal(await value('transactions', { result: 'ok' }), 1);
  assert.equal(await value('leader'), 1);
  assert.equal(await value('feePayerBalance'), Number(dogBefore));
  // The small claim (nonce 1 × rate 10 = 10, less the 1 reserve) still waits; the paying one was settled.
  assert.equal(await value('unsettledValue'), 9, 'the value still unsettled after the cycle');
  assert.ok((await value('lastSuccess'))! > Date.now() / 1000 - 60);
  const c = w.chain.contract(small)!;
  const blocks = (await value('deadlineBlocks'))!;
  assert.ok(blocks > 0 && blocks <= Number(c.height + c.duration) && Number.isFinite(blocks), `the waiting claim's deadline: ${blocks} blocks`);

  const server = await startSettleServer({ host: '127.0.0.1', port: 0 }, s.metrics, () => s.settler.status);
  t.after(() => server.close());
  const health = await fetch(`http://${server.address}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(Object.keys((await health.json()) as object).sort(), ['last_cycle', 'last_success', 'leading', 'status']);
  const text = await (await fetch(`http://${server.address}/metrics`)).text();
  for (const name of ['arkeo_settle_claims_seen_total 2', 'arkeo_settle_claims_settled_total 1', 'arkeo_settle_value_settled_total{denom="uarkeo"} 900', 'arkeo_settle_leader 1']) assert.ok(text.includes(name), name);
  assert.equal((await fetch(`http://${server.address}/metrics`, { method: 'POST' })).status, 405);
  assert.equal((await fetch(`http://${server.address}/other`)).status, 404);
  // No claim left open: no deadline (+Inf, so an alert on a small value does not fire).
  w.claim(small, 500n);
  await s.settler.cycle();
  await s.settler.cycle();
  assert.equal(await value('deadlineBlocks'), Infinity);
});
