import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgClaimContractIncomeCodec, MsgCloseContractCodec, TxSender, parseFeeChoice } from '../../src/tx/index.js';
import type { ClaimState } from '../../src/settle/index.js';
import { bird, cat, del, dog, fox, refusedCount, settlerFor, world, type TestSettler, type World } from './support.js';

/**
 * Each reason the settler refuses a claim before paying a fee, against the chain-rules and sentinel-rules test
 * servers: the refused claim is never in any transaction on chain, and beside it, in the same cycle, a sound claim
 * (the control) is settled, so a settler that sent nothing (or everything) fails here. The fee payer is dog; the
 * provider fox is paid.
 */

interface Expected {
  contractId: bigint;
  nonce: bigint;
}

async function stateOf(s: TestSettler, c: Expected): Promise<{ state: ClaimState; reason?: string } | undefined> {
  const all = await s.store.claimsIn(['new', 'waiting', 'sent', 'settled', 'unpaid', 'covered', 'refused']);
  const row = all.find((x) => x.contractId === c.contractId && x.nonce === c.nonce);
  return row && { state: row.state, ...(row.reason ? { reason: row.reason } : {}) };
}

/** One cycle; then: the control settled and paid, each refused claim in no transaction, refused for `reason`. */
async function expectRefused(w: World, s: TestSettler, refused: Expected[], control: Expected, reason: string, state: ClaimState = 'refused'): Promise<void> {
  const foxBefore = w.chain.balance(fox.address);
  const report = await s.settler.cycle();
  assert.deepEqual(report.problems, [], s.lines.join('\n'));
  // The control: settled by the chain, in a transaction of ours that succeeded; the provider was paid 90% of it.
  assert.deepEqual(await stateOf(s, control), { state: 'settled' }, s.lines.join('\n'));
  assert.equal(w.chain.contract(control.contractId)!.nonce, control.nonce);
  const onChain = await w.claimsOnChain();
  assert.ok(onChain.some((m) => m.contractId === control.contractId && m.nonce === control.nonce && m.code === 0 && m.creator === dog.address), 'the control went out, paid by dog');
  assert.ok(w.chain.balance(fox.address) > foxBefore, 'the provider received the control\'s income');
  for (const r of refused) {
    assert.deepEqual(await stateOf(s, r), { state, reason }, `contract ${r.contractId} nonce ${r.nonce}: ${s.lines.join('\n')}`);
    assert.ok(!onChain.some((m) => m.contractId === r.contractId && m.nonce === r.nonce && m.creator === dog.address), `contract ${r.contractId} nonce ${r.nonce} was never sent`);
  }
  assert.equal(await refusedCount(s.metrics, reason), refused.length, `arkeo_settle_claims_refused_total{reason="${reason}"}`);
  // A second cycle sends nothing more for them (and nothing at all: the control is done).
  const txs = w.chain.included().length;
  await s.settler.cycle();
  assert.equal(w.chain.included().length, txs, 'the next cycle sent nothing');
  assert.equal(await refusedCount(s.metrics, reason), refused.length, 'a refusal is counted once');
}

test('bad_signature: a claim signed by a key that is not the contract\'s spender is refused; the control is settled', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const [a, b] = [await w.open(), await w.open()];
  // A 4-part header with any key passes the sentinel (it never compares the key with the contract's): dog signed it.
  w.claim(a, 40n, dog);
  w.claim(b, 40n);
  const s = await settlerFor(w, t);
  await expectRefused(w, s, [{ contractId: a, nonce: 40n }], { contractId: b, nonce: 40n }, 'bad_signature');
});

test('both header forms: the delegate\'s claim settles a delegated contract; the client\'s 3-part claim on it is refused (the chain checks the delegate)', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const [byDelegate, byClient] = [await w.open({ delegate: del }), await w.open({ delegate: del })];
  // 4-part form: the sentinel records the header's key (del) as spender. 3-part form: it records contract.Client (cat).
  w.claim(byDelegate, 30n, del);
  w.claim(byClient, 30n, cat);
  const s = await settlerFor(w, t);
  await expectRefused(w, s, [{ contractId: byClient, nonce: 30n }], { contractId: byDelegate, nonce: 30n }, 'bad_signature');
});

test('nonce_stale: a nonce at or below the one the chain settled (someone else settled it) is refused; the control is settled', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const [a, lower, b] = [await w.open(), await w.open(), await w.open()];
  // Anyone may send a claim: cat settles nonce 50 of a and of `lower` herself, before the settler runs.
  const third = new TxSender(w.client, cat.signer, { pollMs: 25, waitMs: 20_000 });
  for (const id of [a, lower]) {
    const signed = w.claim(id, 50n);
    const msg = MsgClaimContractIncomeCodec.encode({ creator: cat.address, contractId: id, signature: new Uint8Array(Buffer.from(signed.signature, 'hex')), nonce: 50n });
    assert.equal((await third.send({ messages: [{ typeUrl: MsgClaimContractIncomeCodec.typeUrl, value: msg }], fee: parseFeeChoice({}) })).included?.code, 0);
  }
  // The sentinel shows nonce 50 again for a, and (a sentinel that lost its store) 45 for `lower`.
  w.claim(lower, 45n);
  w.claim(b, 50n);
  const s = await settlerFor(w, t);
  await expectRefused(w, s, [{ contractId: a, nonce: 50n }, { contractId: lower, nonce: 45n }], { contractId: b, nonce: 50n }, 'nonce_stale');
});

test('other_provider: a sound claim on another provider\'s contract is refused (our fee would pay them); the control is settled', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const [theirs, ours] = [await w.open({ provider: bird }), await w.open()];
  w.claim(theirs, 20n);
  w.claim(ours, 20n);
  const s = await settlerFor(w, t);
  await expectRefused(w, s, [{ contractId: theirs, nonce: 20n }], { contractId: ours, nonce: 20n }, 'other_provider');
});

test('contract_settled: a claim on a contract that had its final settlement (a closed subscription, an expired contract past its settlement period) is refused; the control is settled', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const [closed, past, open] = [await w.open({ type: 'subscription', duration: 1000n }), await w.open({ duration: 5n }), await w.open()];
  const closer = new TxSender(w.client, cat.signer, { pollMs: 25, waitMs: 20_000 });
  const msg = MsgCloseContractCodec.encode({ creator: cat.address, contractId: closed, client: cat.bech32 });
  assert.equal((await closer.send({ messages: [{ typeUrl: MsgCloseContractCodec.typeUrl, value: msg }], fee: parseFeeChoice({}) })).included?.code, 0);
  assert.ok(w.chain.contract(closed)!.settlementHeight > 0n, 'the close settled the subscription at once');
  const c = w.chain.contract(past)!;
  await w.until(c.height + c.duration + c.settlementDuration); // the end-blocker's final settlement has run
  assert.ok(w.chain.contract(past)!.settlementHeight > 0n);
  w.claim(closed, 500n);
  w.claim(past, 500n);
  w.claim(open, 500n);
  const s = await settlerFor(w, t);
  await expectRefused(w, s, [{ contractId: closed, nonce: 500n }, { contractId: past, nonce: 500n }], { contractId: open, nonce: 500n }, 'contract_settled');
});

test('too_late: a claim within --margin of the last block that takes it is refused; an expired contract still in its settlement period is settled', { timeout: 60_000 }, async (t) => {
  // fox's settlement period is 100 blocks here, so heights need not be hit exactly (blocks come every 100 ms).
  const w = await world(t, { settlementDuration: 100n });
  const closing = await w.open({ duration: 1n });
  const h0 = w.chain.contract(closing)!.height;
  await w.until(h0 + 38n);
  const expired = await w.open({ duration: 2n });
  const e = w.chain.contract(expired)!;
  // Past its expiry (the sentinel's /open-claims would delete its claim now), long before its settlement period ends.
  await w.until(e.height + e.duration);
  w.claim(closing, 100n);
  w.claim(expired, 100n);
  const s = await settlerFor(w, t, { margin: 60n });
  const left = (id: bigint) => { const c = w.chain.contract(id)!; return c.height + c.duration + c.settlementDuration - 1n - w.chain.height(); };
  assert.ok(left(closing) <= 60n, `closing: ${left(closing)} blocks left, within the margin`);
  assert.ok(left(expired) > 60n + 10n, `expired: ${left(expired)} blocks left, beyond it`);
  await expectRefused(w, s, [{ contractId: closing, nonce: 100n }], { contractId: expired, nonce: 100n }, 'too_late');
});

test('below_fee: a claim that pays the provider less than a fee waits (no transaction); the control, worth more, is settled', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const [small, large] = [await w.open(), await w.open()];
  w.claim(small, 1n); // 10 uarkeo, 9 after the reserve: less than a fee (~176uarkeo at 0.001/gas)
  w.claim(large, 100n); // 900 after the reserve
  const s = await settlerFor(w, t);
  await expectRefused(w, s, [{ contractId: small, nonce: 1n }], { contractId: large, nonce: 100n }, 'below_fee', 'waiting');
  // It waits for a higher nonce: once the sentinel shows one worth a fee, that one is settled (and covers nonce 1).
  w.claim(small, 300n);
  await s.settler.cycle();
  assert.deepEqual(await stateOf(s, { contractId: small, nonce: 300n }), { state: 'settled' });
  await s.settler.cycle();
  assert.equal((await stateOf(s, { contractId: small, nonce: 1n }))?.state, 'covered', 'nonce 1 is paid for by 300');
});

test('malformed and contract_missing: a signature that is not 64 bytes, a contract the chain does not have; the control is settled', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const [bad, good] = [await w.open(), await w.open()];
  w.sentinel.claims.set(bad, { ...w.claim(bad, 300n), signature: 'abcd' });
  w.claim(good, 300n);
  w.claim(999n, 300n);
  const s = await settlerFor(w, t);
  const report = await s.settler.cycle();
  assert.deepEqual(report.problems, []);
  assert.deepEqual(await stateOf(s, { contractId: good, nonce: 300n }), { state: 'settled' });
  const refused = await s.store.claimsIn(['refused']);
  assert.deepEqual(refused.map((r) => [r.contractId, r.reason]).sort(), [[999n, 'contract_missing'], [bad, 'malformed']].sort());
  assert.ok(!(await w.claimsOnChain()).some((m) => m.contractId === bad || m.contractId === 999n));
});

test('the sentinel\'s claimed flag is not trusted, /open-claims is never called, and a settled claim is marked at the sentinel', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const id = await w.open();
  w.claim(id, 60n);
  // Anyone can flip the flag (unauthenticated POST): the claim is still unpaid on chain.
  const marked = await fetch(`${w.sentinel.url}/mark-claimed`, { method: 'POST', body: JSON.stringify({ contract_id: Number(id), nonce: 60 }) });
  assert.deepEqual(await marked.json(), { ok: true, updated: 1 });
  const s = await settlerFor(w, t);
  await s.settler.cycle();
  assert.equal(w.chain.contract(id)!.nonce, 60n, 'settled although the sentinel said claimed');
  assert.ok(!w.sentinel.settlement.requests.some((r) => r.path.startsWith('/open-claims')), 'GET /open-claims never called');
  // Control: the flag the settler itself sets after settling the next claim.
  w.claim(id, 160n);
  await s.settler.cycle();
  assert.equal(w.chain.contract(id)!.nonce, 160n);
  assert.equal(w.sentinel.settlement.marked.get(id), 160n, 'POST /mark-claimed for the settled nonce');
  assert.ok(w.sentinel.settlement.requests.some((r) => r.method === 'POST' && r.path === '/mark-claimed'));
});
