import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChainClient, MsgClaimContractIncomeCodec, TxSender, parseFeeChoice } from '../../src/tx/index.js';
import { cat, dog, refusedCount, settlerFor, world, type World } from './support.js';

/**
 * How claims are put into transactions: the earliest deadline goes first (and an urgent claim goes whatever its
 * value), and a batch the chain refuses as a whole because of one claim is split: that claim is refused, the rest
 * are settled. Against the chain-rules test server (a batch is atomic there as in the SDK: one failing message
 * reverts all, and the fee is still charged).
 */

/** Our transactions on chain in block order, each with its claims (contract ids in message order) and its code. */
async function settlerTxs(w: World): Promise<{ hash: string; code: number; contracts: bigint[] }[]> {
  const byHash = new Map<string, { hash: string; code: number; contracts: bigint[] }>();
  for (const m of await w.claimsOnChain()) {
    if (m.creator !== dog.address) continue;
    const tx = byHash.get(m.hash) ?? { hash: m.hash, code: m.code, contracts: [] };
    tx.contracts[m.index] = m.contractId;
    byHash.set(m.hash, tx);
  }
  return [...byHash.values()];
}

test('a contract 10 blocks from expiry, its claim below --min-value, is settled first, in the first transaction; a far one below --min-value waits', { timeout: 90_000 }, async (t) => {
  // Blocks every 300 ms: the urgent contract's 16 blocks leave the test seconds to set the settler up.
  const w = await world(t, { blockIntervalMs: 300 });
  const [far1, far2, farSmall] = [await w.open(), await w.open(), await w.open()];
  w.claim(far1, 1000n); // 9000 to the provider: above --min-value
  w.claim(far2, 1000n);
  w.claim(farSmall, 100n); // 900: below --min-value, and its deadline is far: it waits
  const urgent = await w.open({ duration: 16n });
  w.claim(urgent, 100n); // 900: below --min-value, but its contract expires within --deadline-blocks
  const s = await settlerFor(w, t, { minValue: 5000n, deadlineBlocks: 20n, batch: 2, margin: 2n });
  const expiry = w.chain.contract(urgent)!.height + 16n;
  const left = expiry - w.chain.height();
  assert.ok(left <= 20n && left > 2n, `the urgent contract expires in ${left} blocks`);
  const report = await s.settler.cycle();
  assert.deepEqual(report.problems, [], s.lines.join('\n'));
  const txs = await settlerTxs(w);
  assert.equal(txs.length, 2, 'three claims in batches of two');
  assert.equal(txs[0]!.contracts[0], urgent, `the urgent contract is the first message of the first transaction: ${s.lines.join('\n')}`);
  for (const id of [urgent, far1, far2]) assert.ok(w.chain.contract(id)!.nonce > 0n, `contract ${id} settled`);
  assert.equal(w.chain.contract(farSmall)!.nonce, 0n, 'control: below --min-value with a far deadline, not sent');
  const waiting = await s.store.claimsIn(['waiting']);
  assert.deepEqual(waiting.map((c) => [c.contractId, c.reason]), [[farSmall, 'below_min']]);
});

/**
 * A node client with hooks: the miner starts once the settler has broadcast (the competitor's transaction goes
 * first in the block), and `beforeSimulate` runs before the settler's first simulation (a block lands between the
 * settler's reading of the contract and its simulation).
 */
class Hooked extends ChainClient {
  constructor(url: string, private readonly onBroadcast: () => void, private beforeSimulate?: () => Promise<void>) {
    super(url);
  }
  override async broadcast(txBytes: Uint8Array) {
    const r = await super.broadcast(txBytes);
    this.onBroadcast();
    return r;
  }
  override async simulate(txBytes: Uint8Array) {
    const hook = this.beforeSimulate;
    this.beforeSimulate = undefined;
    await hook?.();
    return super.simulate(txBytes);
  }
}

async function staleInBatch(t: Parameters<typeof world>[0], gas: 'fixed' | 'auto') {
  const w = await world(t, { blockIntervalMs: 0 });
  let miner: NodeJS.Timeout | undefined;
  const mining = (on: boolean) => {
    if (on && !miner) miner = setInterval(() => void w.chain.mine(), 30);
    if (!on && miner) {
      clearInterval(miner);
      miner = undefined;
    }
  };
  t.after(() => mining(false));
  mining(true);
  const ids = [await w.open(), await w.open(), await w.open(), await w.open()];
  for (const id of ids) w.claim(id, 1000n);
  mining(false);
  // Someone else sends contract 2's claim first; it waits in the mempool while the settler judges the contract.
  const stale = ids[1]!;
  const signed = w.sentinel.claims.get(stale)!;
  const competitor = new TxSender(w.client, cat.signer, { wait: false });
  const msg = MsgClaimContractIncomeCodec.encode({ creator: cat.address, contractId: stale, signature: new Uint8Array(Buffer.from(signed.signature, 'hex')), nonce: 1000n });
  await competitor.send({ messages: [{ typeUrl: MsgClaimContractIncomeCodec.typeUrl, value: msg }], fee: parseFeeChoice({ gas: '200000' }) });
  const dogBefore = w.chain.balance(dog.address);
  // --gas auto: the competitor's block lands after the settler judged the contract, before it simulates.
  const chain = new Hooked(w.chain.url, () => mining(true), gas === 'auto' ? () => w.chain.mine() : undefined);
  const s = await settlerFor(w, t, { chain, ...(gas === 'fixed' ? { fees: { gas: '1000000', fees: '1000uarkeo' } } : {}) });
  const report = await s.settler.cycle();
  assert.deepEqual(report.problems, [], s.lines.join('\n'));
  for (const id of ids) assert.equal(w.chain.contract(id)!.nonce, 1000n, `contract ${id} settled (contract ${stale} by the competitor)`);
  const refused = await s.store.claimsIn(['refused']);
  assert.deepEqual(refused.map((c) => [c.contractId, c.reason]), [[stale, 'nonce_stale']]);
  assert.equal(await refusedCount(s.metrics, 'nonce_stale'), 1);
  const settled = await s.store.claimsIn(['settled']);
  assert.deepEqual(settled.map((c) => c.contractId).sort(), ids.filter((id) => id !== stale).sort());
  return { w, s, txs: await settlerTxs(w), paid: dogBefore - w.chain.balance(dog.address), stale, ids };
}

test('a batch with one stale claim fails as a whole in its block; it is split: the stale claim refused, the other three settled in the next transaction', { timeout: 90_000 }, async (t) => {
  const { txs, paid, stale, ids, s } = await staleInBatch(t, 'fixed');
  assert.equal(txs.length, 2, s.lines.join('\n'));
  assert.equal(txs[0]!.code, 23, 'the first batch failed in its block: contract nonce is not below the claim\'s');
  assert.deepEqual(txs[0]!.contracts, ids, 'all four were in it');
  assert.equal(txs[1]!.code, 0);
  assert.deepEqual(txs[1]!.contracts, ids.filter((id) => id !== stale), 'sent again without the stale claim');
  assert.equal(paid, 2000n, 'two fees of 1000uarkeo: the failed batch\'s fee is charged, nothing else');
  assert.match(s.lines.join('\n'), new RegExp(`FAILED \\(code 23, arkeo\\).*contract ${stale} nonce 1000 refused \\(nonce_stale\\); 3 claim\\(s\\) sent again`));
});

test('with --gas auto the node\'s simulation names the stale claim: it is refused before anything is signed, one transaction settles the rest', { timeout: 90_000 }, async (t) => {
  const { txs, paid, stale, ids, w } = await staleInBatch(t, 'auto');
  assert.equal(txs.length, 1);
  assert.equal(txs[0]!.code, 0);
  assert.deepEqual(txs[0]!.contracts, ids.filter((id) => id !== stale));
  const fee = w.chain.included().length && paid;
  assert.ok(fee > 0n && fee < 2000n, `one fee paid (${fee}uarkeo)`);
});
