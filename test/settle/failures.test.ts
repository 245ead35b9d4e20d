import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgSendCodec, TxSender, parseFeeChoice } from '../../src/tx/index.js';
import { SentinelClient, Settler } from '../../src/settle/index.js';
import { SqliteSettleStore } from '../../src/settle/sqlite.js';
import * as path from 'node:path';
import { tempDir } from '../helpers.js';
import { cat, dog, fox, settlerFor, world, type World } from './support.js';

/**
 * Failing dependencies: a sentinel down, slow, answering garbage or a list too large; a node down or serving another
 * chain; a fee payer without funds; a node that refuses the transaction; a transaction that stays in the mempool.
 * Each is one line (no stack), nothing is lost (the claim is settled once the dependency is back) and nothing is
 * paid twice.
 */
const ONE_LINE = /^[^\n]+$/;

function ourTxs(w: World): number {
  return w.chain.included().filter((i) => i.messages.includes('/arkeo.arkeo.MsgClaimContractIncome')).length;
}

test('sentinel down, slow, garbage, a list over 1 MiB: one line each; the claims already kept are still settled', { timeout: 90_000 }, async (t) => {
  const w = await world(t);
  const [a, b] = [await w.open(), await w.open()];
  w.claim(a, 200n);
  const s = await settlerFor(w, t, { sentinel: new SentinelClient(w.sentinel.url, 500) });
  // First a node that drops the contract lookups: the claim is kept, nothing is sent.
  w.chain.faults.dropConnection = '/arkeo/contract';
  const down = await s.settler.cycle();
  assert.equal(down.seen, 1);
  assert.equal(down.problems.length, 1);
  assert.match(down.problems[0]!, /^node http:\/\/127\.0\.0\.1:\d+\/arkeo\/contract\/1: .*check the URL and that the node is up$/);
  assert.equal(ourTxs(w), 0);
  w.chain.faults.dropConnection = undefined;
  for (const [fault, expected] of [
    ['hang', /^sentinel http:\/\/.*\/claims: no complete answer within 500 ms; check the URL and that the sentinel is up; settling the claims already kept$/],
    ['garbage', /^sentinel http:\/\/.*\/claims: the reply is not JSON; is this the provider's sentinel \(its \/claims route\)\?; settling the claims already kept$/],
    ['error', /^sentinel http:\/\/.*\/claims: HTTP 500; is this the provider's sentinel\?; settling the claims already kept$/],
    ['oversized', /^sentinel http:\/\/.*\/claims: sent more than 1048576 bytes; not reading the rest .*a list that large is refused.*; settling the claims already kept$/],
  ] as const) {
    w.sentinel.settlement.faults.claims = fault;
    w.claim(b, 300n); // listed, but this sentinel cannot say so
    const r = await s.settler.cycle();
    assert.equal(r.problems.length, 1, `${fault}: ${r.problems.join(' | ')}`);
    assert.match(r.problems[0]!, expected, fault);
    assert.match(r.problems[0]!, ONE_LINE);
  }
  // The claim kept before the sentinel went bad was settled in the first of those cycles; b was never seen.
  assert.equal(w.chain.contract(a)!.nonce, 200n, 'the claim kept while the node was down is settled');
  assert.equal(w.chain.contract(b)!.nonce, 0n);
  assert.equal((await s.store.claimsIn(['new', 'waiting', 'sent', 'settled'])).length, 1, 'nothing from the oversized list was taken');
  // Control: the sentinel answers again; b is seen and settled.
  w.sentinel.settlement.faults.claims = undefined;
  const ok = await s.settler.cycle();
  assert.deepEqual(ok.problems, []);
  assert.equal(w.chain.contract(b)!.nonce, 300n);
  assert.equal(ourTxs(w), 2, 'one transaction each');
});

test('a node of another chain: refused at start, one line; the right chain id: control', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const store = SqliteSettleStore.open(path.join(tempDir(), 'n.db'));
  t.after(() => store.close());
  const base = { chain: w.client, sentinel: new SentinelClient(w.sentinel.url), signer: dog.signer, store, fee: parseFeeChoice({}), provider: { bech32: fox.bech32, key: fox.pub }, batch: 10, minValue: 0n, margin: 3n, deadlineBlocks: 50n, intervalMs: 100 };
  await assert.rejects(Settler.open({ ...base, chainId: 'arkeo-main-v1' }), (e: Error) => /^node http:\/\/.*serves chain "arkeo-local-1", not "arkeo-main-v1"; give the node of that chain, or the right --chain-id$/.test(e.message));
  w.chain.faults.chainId = 'arkeo-testnet-4';
  await assert.rejects(Settler.open({ ...base, chainId: 'arkeo-local-1' }), /serves chain "arkeo-testnet-4", not "arkeo-local-1"/);
  w.chain.faults.chainId = undefined;
  assert.equal((await Settler.open({ ...base, chainId: 'arkeo-local-1' })).chainId, 'arkeo-local-1');
});

test('a fee payer without funds: nothing sent, one line per cycle saying so; funded, the claims are settled', { timeout: 90_000 }, async (t) => {
  const w = await world(t, { feePayerBalance: 50n });
  const ids = [await w.open(), await w.open()];
  for (const id of ids) w.claim(id, 500n);
  const s = await settlerFor(w, t);
  for (let i = 0; i < 3; i++) {
    const r = await s.settler.cycle();
    assert.equal(r.problems.length, 1, r.problems.join(' | '));
    assert.match(r.problems[0]!, new RegExp(`^fee payer ${dog.address} has 50uarkeo, less than one transaction's fee \\(~\\d+uarkeo\\): nothing sent; fund it \\(2 claim\\(s\\) wait\\)$`));
  }
  assert.equal(s.lines.filter((l) => l.includes('fee payer')).length, 3, 'once per cycle');
  assert.equal(ourTxs(w), 0, 'no transaction tried');
  assert.equal(w.chain.balance(dog.address), 50n, 'nothing charged');
  const funder = new TxSender(w.client, cat.signer, { pollMs: 25, waitMs: 20_000 });
  const send = MsgSendCodec.encode({ fromAddress: cat.address, toAddress: dog.address, amount: [{ denom: 'uarkeo', amount: '1000000' }] });
  assert.equal((await funder.send({ messages: [{ typeUrl: MsgSendCodec.typeUrl, value: send }], fee: parseFeeChoice({}) })).included?.code, 0);
  const r = await s.settler.cycle();
  assert.deepEqual(r.problems, []);
  for (const id of ids) assert.equal(w.chain.contract(id)!.nonce, 500n);
});

test('a node that refuses the transaction (a fee below its minimum): one line, nothing charged, the claim kept; a right fee settles it once', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  const id = await w.open();
  w.claim(id, 500n);
  const low = await settlerFor(w, t, { fees: { fees: '1uarkeo', gas: '200000' } });
  const before = w.chain.balance(dog.address);
  const r = await low.settler.cycle();
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0]!, /^node refused the transaction \(code 13\): insufficient fees; got: 1uarkeo required: 200uarkeo.*nothing was charged$/);
  assert.equal(w.chain.balance(dog.address), before);
  assert.equal(ourTxs(w), 0);
  assert.deepEqual((await low.store.claimsIn(['new'])).map((c) => c.contractId), [id], 'the claim went back to new (its transaction is dead)');
  const right = await settlerFor(w, t, { store: low.store });
  assert.deepEqual((await right.settler.cycle()).problems, []);
  assert.equal(w.chain.contract(id)!.nonce, 500n);
  assert.equal(ourTxs(w), 1);
});

test('a transaction the node takes and never includes: claims stay sent, nothing new is sent, the same bytes are waited for; once included, settled once', { timeout: 90_000 }, async (t) => {
  const w = await world(t);
  const [a, b] = [await w.open(), await w.open()];
  w.claim(a, 400n);
  const s = await settlerFor(w, t, { waitMs: 800 });
  w.chain.faults.stuckMempool = true;
  const first = await s.settler.cycle();
  assert.equal(first.problems.length, 1);
  assert.match(first.problems[0]!, /^transaction [0-9A-F]{64} was accepted by the node but is not in a block after 1 s.*; looked up again next cycle, nothing is sent twice$/);
  assert.equal((await s.store.claimsIn(['sent'])).length, 1);
  w.claim(b, 400n);
  const second = await s.settler.cycle();
  assert.match(second.problems.at(-1)!, /^1 earlier transaction\(s\) not in a block yet; sending nothing new until they are$/);
  assert.equal((await s.store.claimsIn(['new'])).length, 1, 'b is kept, not sent');
  w.chain.faults.stuckMempool = false;
  const third = await s.settler.cycle();
  assert.deepEqual(third.problems, [], s.lines.join('\n'));
  assert.equal(w.chain.contract(a)!.nonce, 400n);
  assert.equal(w.chain.contract(b)!.nonce, 400n);
  const hashes = w.chain.included().filter((i) => i.messages.includes('/arkeo.arkeo.MsgClaimContractIncome')).map((i) => i.hash);
  assert.equal(hashes.length, 2, 'a once, b once');
  assert.equal(new Set(hashes).size, 2);
});

test('a transaction failing in its block for a reason of its own (out of gas): one line, the claims kept, sending paused (no fee per cycle); enough gas settles them once', { timeout: 90_000 }, async (t) => {
  const w = await world(t);
  const [a, b] = [await w.open(), await w.open()];
  w.claim(a, 500n);
  w.claim(b, 500n);
  // Enough gas for the ante (so the node takes it), not for the claims: code 11 in the block, the fee charged.
  const tight = await settlerFor(w, t, { fees: { gas: '80000', fees: '200uarkeo' }, intervalMs: 1000 });
  const before = w.chain.balance(dog.address);
  const first = await tight.settler.cycle();
  assert.match(first.problems.join('\n'), /^a settlement transaction failed in its block for a reason of its own \(code 11, sdk\): raise --gas or --gas-adjustment; its claims are kept$/m);
  assert.match(tight.lines.join('\n'), /FAILED \(code 11, sdk\): out of gas.*fee 200uarkeo charged; its 2 claim\(s\) are kept/);
  assert.equal(before - w.chain.balance(dog.address), 200n, 'one fee');
  assert.deepEqual((await tight.store.claimsIn(['new'])).map((c) => c.contractId).sort(), [a, b].sort(), 'both kept, neither refused');
  const second = await tight.settler.cycle();
  assert.match(second.problems.at(-1)!, /; sending paused until \S+ \(or a restart\)$/);
  assert.equal(ourTxs(w), 1, 'no second failing transaction');
  const right = await settlerFor(w, t, { store: tight.store });
  assert.deepEqual((await right.settler.cycle()).problems, []);
  for (const id of [a, b]) assert.equal(w.chain.contract(id)!.nonce, 500n);
  assert.equal(ourTxs(w), 2);
});
