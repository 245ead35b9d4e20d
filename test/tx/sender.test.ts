import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChainClient, ChainError, MsgSendCodec, TxJournal, TxSender, parseFeeChoice, type SendRequest } from '../../src/tx/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { parseHex, toAddress } from '../../src/crypto/index.js';
import { readVector, tempDir, type ClaimVectors } from '../helpers.js';
import { startChainRules, type ChainRules } from '../support/chain-rules.js';

/**
 * Sending from one account, against the chain-rules test server (test/support/chain-rules.ts: our stand-in for an
 * Arkeo node's LCD, which checks signatures over the SignDoc, sequences, fees and gas as the SDK's ante handler
 * does, and runs messages only in its blocks). What must hold: transactions go out in order with consecutive
 * sequences; a sequence the node says is wrong is resynced once; a broadcast whose answer is lost is looked up
 * and resent unchanged; after a crash, the same transaction is found by hash and never signed again.
 */
const KEYS = readVector<ClaimVectors>('arkeo-claims.json').keys;
const signerOf = (name: string) => privateKeyToSigner(parseHex(KEYS[name]!.priv, name));
const addressOf = async (name: string) => toAddress(await signerOf(name).publicKey());

async function chainWith(t: { after: (fn: () => Promise<void>) => void }, options: Parameters<typeof startChainRules>[0] = {}): Promise<ChainRules> {
  const accounts = await Promise.all(['dog', 'cat', 'fox'].map(async (n) => ({ address: await addressOf(n), balance: 10n ** 12n })));
  const chain = await startChainRules({ blockIntervalMs: 100, accounts, ...options });
  t.after(() => chain.close());
  return chain;
}

async function sendRequest(to: string, amount: number, fee: Partial<Parameters<typeof parseFeeChoice>[0]> = {}): Promise<SendRequest> {
  const from = await addressOf('cat');
  return { messages: [{ typeUrl: MsgSendCodec.typeUrl, value: MsgSendCodec.encode({ fromAddress: from, toAddress: to, amount: [{ denom: 'uarkeo', amount: String(amount) }] }) }], fee: parseFeeChoice(fee) };
}

function assertNoneTwice(chain: ChainRules, expected: number, start: bigint, address: string, taken = 0n): void {
  const included = chain.included();
  const hashes = included.map((i) => i.hash);
  assert.equal(new Set(hashes).size, hashes.length, 'no transaction included twice');
  assert.equal(included.filter((i) => i.code === 0).length, expected, `${expected} included and successful`);
  assert.equal(chain.account(address)!.sequence, start + taken + BigInt(expected), 'the account moved by exactly one per transaction (and by any sequence another sender took)');
}

for (const fault of ['none', 'sequenceMismatchOnce', 'acceptThenHang'] as const) {
  test(`20 concurrent sends from one account in one process: 20 included, sequences consecutive, none twice (node fault: ${fault})`, { timeout: 120_000 }, async (t) => {
    const chain = await chainWith(t);
    const cat = await addressOf('cat');
    const fox = await addressOf('fox');
    const start = chain.account(cat)!.sequence;
    const sender = new TxSender(new ChainClient(chain.url, { timeoutMs: 400 }), signerOf('cat'), { journal: new TxJournal(tempDir()), pollMs: 50, waitMs: 20_000 });
    // sequenceMismatchOnce: another sender takes the account's next sequence before our first broadcast.
    // acceptThenHang: every broadcast is taken into the mempool and its answer never comes.
    if (fault !== 'none') chain.faults[fault] = true;
    const before = chain.balance(fox);
    const outcomes = await Promise.all(Array.from({ length: 20 }, async (_, i) => sender.send(await sendRequest(fox, i + 1))));
    const taken = fault === 'sequenceMismatchOnce' ? 1n : 0n;
    assert.deepEqual(outcomes.map((o) => o.sequence), Array.from({ length: 20 }, (_, i) => start + taken + BigInt(i)), 'in order, consecutive');
    for (const o of outcomes) assert.equal(o.included?.code, 0, `${o.txHash} succeeded in its block`);
    assertNoneTwice(chain, 20, start, cat, taken);
    assert.equal(chain.balance(fox) - before, BigInt((20 * 21) / 2), 'every amount arrived once');
    if (fault === 'sequenceMismatchOnce') assert.equal(chain.faults.sequenceMismatchOnce, false, 'the mismatch was met');
  });
}

test('after a crash: the same transaction, run again, is looked up by its hash and not signed again; another one is', { timeout: 60_000 }, async (t) => {
  const chain = await chainWith(t);
  const cat = await addressOf('cat');
  const fox = await addressOf('fox');
  const dir = tempDir();
  const start = chain.account(cat)!.sequence;
  // The first run sends and "dies" before it sees the block: it never waits (wait: false) and is dropped.
  const first = new TxSender(new ChainClient(chain.url), signerOf('cat'), { journal: new TxJournal(dir), wait: false });
  const sent = await first.send(await sendRequest(fox, 777));
  assert.equal(sent.included, undefined);
  await chain.mine();
  // The next run (a new journal object is a new run) is asked for the very same transfer.
  const again = new TxSender(new ChainClient(chain.url), signerOf('cat'), { journal: new TxJournal(dir), pollMs: 50, waitMs: 10_000 });
  const outcome = await again.send(await sendRequest(fox, 777));
  assert.equal(outcome.earlier, true, 'reported as the earlier run\'s');
  assert.equal(outcome.txHash, sent.txHash);
  assert.equal(outcome.included?.code, 0);
  assertNoneTwice(chain, 1, start, cat);
  // Control: a different transfer in the same run is signed and sent.
  const other = await again.send(await sendRequest(fox, 778));
  assert.notEqual(other.txHash, sent.txHash);
  assert.equal(other.earlier, undefined);
  assertNoneTwice(chain, 2, start, cat);
});

test('after a crash with the transaction still in the mempool: resent unchanged and waited for, never re-signed', { timeout: 60_000 }, async (t) => {
  const chain = await chainWith(t, { blockIntervalMs: 0 });
  const cat = await addressOf('cat');
  const fox = await addressOf('fox');
  const dir = tempDir();
  const start = chain.account(cat)!.sequence;
  const first = new TxSender(new ChainClient(chain.url), signerOf('cat'), { journal: new TxJournal(dir), wait: false });
  const sent = await first.send(await sendRequest(fox, 5, { gas: '200000' }));
  const again = new TxSender(new ChainClient(chain.url), signerOf('cat'), { journal: new TxJournal(dir), pollMs: 50, waitMs: 10_000 });
  const waiting = again.send(await sendRequest(fox, 5, { gas: '200000' }));
  setTimeout(() => void chain.mine(), 300);
  const outcome = await waiting;
  assert.equal(outcome.txHash, sent.txHash);
  assert.equal(outcome.earlier, true);
  assertNoneTwice(chain, 1, start, cat);
  const lines = fs.readFileSync(path.join(dir, `${cat}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.state), ['sent', 'included'], 'the journal shows the one transaction, sent then included');
  assert.doesNotMatch(fs.readFileSync(path.join(dir, `${cat}.jsonl`), 'utf8'), new RegExp(KEYS.cat!.priv, 'i'), 'no key in the journal');
});

test('refusals before anything is paid: a never-funded account, another chain, a fee below the minimum; each one line', { timeout: 60_000 }, async (t) => {
  const chain = await chainWith(t);
  const fox = await addressOf('fox');
  const stranger = privateKeyToSigner(new Uint8Array(32).fill(7));
  const oneLine = (code: string, re: RegExp) => (e: Error) => {
    assert.ok(e instanceof ChainError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  };
  const client = new ChainClient(chain.url);
  await assert.rejects(new TxSender(client, stranger).send(await sendRequest(fox, 1)), oneLine('ACCOUNT_NOT_FOUND', /has never received coins.*fund it first/));
  await assert.rejects(new TxSender(client, signerOf('cat'), { chainId: 'arkeo-main-v1' }).send(await sendRequest(fox, 1)), oneLine('CHAIN_ID_MISMATCH', /serves chain "arkeo-local-1", not "arkeo-main-v1"/));
  await assert.rejects(new TxSender(client, signerOf('cat')).send(await sendRequest(fox, 1, { fees: '1uarkeo', gas: '200000' })), oneLine('CHAIN_REFUSED_13', /insufficient fees.*raise --fees or --gas-prices.*nothing was charged/));
  // Control: the same send with the default gas price goes through.
  const ok = await new TxSender(client, signerOf('cat'), { pollMs: 50 }).send(await sendRequest(fox, 1));
  assert.equal(ok.included?.code, 0);
  assert.ok(ok.gasLimit > 0n && ok.fee[0]!.amount === String((ok.gasLimit + 999n) / 1000n), 'fee = ceil(0.001 × simulated gas × 1.6)');
});

test('a transaction the node accepts but never includes: a one-line timeout that names the hash and how to look it up', { timeout: 60_000 }, async (t) => {
  const chain = await chainWith(t);
  chain.faults.stuckMempool = true;
  const sender = new TxSender(new ChainClient(chain.url), signerOf('cat'), { pollMs: 50, waitMs: 1000 });
  await assert.rejects(sender.send(await sendRequest(await addressOf('fox'), 1)), (e: ChainError) => e.code === 'TX_NOT_INCLUDED' && /tx show [0-9A-F]{64}/.test(e.message) && !e.message.includes('\n'));
});

test('a poor account, too little gas, and a node that floods or answers garbage: one line each, nothing included', { timeout: 60_000 }, async (t) => {
  const poor = privateKeyToSigner(new Uint8Array(32).fill(9));
  const poorAddress = toAddress(await poor.publicKey());
  const chain = await chainWith(t, { accounts: [{ address: await addressOf('cat'), balance: 10n ** 12n }, { address: poorAddress, balance: 50n }] });
  const fox = await addressOf('fox');
  const client = new ChainClient(chain.url);
  const line = (re: RegExp) => (e: Error) => re.test(e.message) && !e.message.includes('\n');
  const fromPoor = { messages: [{ typeUrl: MsgSendCodec.typeUrl, value: MsgSendCodec.encode({ fromAddress: poorAddress, toAddress: fox, amount: [{ denom: 'uarkeo', amount: '1' }] }) }], fee: parseFeeChoice({ gas: '200000' }) };
  await assert.rejects(new TxSender(client, poor).send(fromPoor), line(/insufficient funds.*fund the account/));
  await assert.rejects(new TxSender(client, signerOf('cat')).send(await sendRequest(fox, 1, { gas: '1000' })), line(/out of gas.*raise --gas/));
  chain.faults.oversizedReply = '/cosmos/auth';
  await assert.rejects(new TxSender(client, signerOf('cat')).send(await sendRequest(fox, 1)), line(/accounts\/arkeo1\S+: sent more than 1048576 bytes/));
  chain.faults.oversizedReply = undefined;
  chain.faults.malformedReply = '/cosmos/tx/v1beta1/simulate';
  await assert.rejects(new TxSender(client, signerOf('cat')).send(await sendRequest(fox, 1)), line(/simulating the transaction: node \S+simulate: HTTP 200, reply is not JSON/));
  chain.faults.malformedReply = undefined;
  assert.equal(chain.included().length, 0, 'nothing was included');
  // Control: the same send from cat, with the node behaving, goes through.
  assert.equal((await new TxSender(client, signerOf('cat'), { pollMs: 50 }).send(await sendRequest(fox, 1))).included?.code, 0);
});
