import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { MsgClaimContractIncomeCodec, MsgCloseContractCodec, MsgOpenContractCodec, MsgSendCodec, signTx, type EncodedMessage, type MsgOpenContract } from '../../src/tx/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { highSTwin, parseHex, toAddress, toBech32PubKey } from '../../src/crypto/index.js';
import { REPO_ROOT, readVector, type ClaimVectors } from '../helpers.js';
import { moduleAddress, startChainRules, type ChainRules, type ChainRulesOptions } from '../support/chain-rules.js';

/**
 * The chain-rules test server (test/support/chain-rules.ts, ours) against transactions signed for real by src/tx and
 * a LocalSigner with the vectors' keys: each rule it enforces is shown beside its control (the same transaction, or
 * its neighbour, accepted), so a server that accepted everything, or refused everything, fails here.
 */
const KEYS = readVector<ClaimVectors>('arkeo-claims.json').keys;
async function keyOf(name: string) {
  const signer = privateKeyToSigner(parseHex(KEYS[name]!.priv, name));
  const pub = await signer.publicKey();
  return { name, signer, pub, address: toAddress(pub), bech32: toBech32PubKey(pub) };
}
type Key = Awaited<ReturnType<typeof keyOf>>;
const [dog, cat, fox, pig] = await Promise.all(['dog', 'cat', 'fox', 'pig'].map(keyOf)) as [Key, Key, Key, Key];
const CHAIN = 'arkeo-local-1';
const label = (o: object) => JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
const RICH = 1_000_000_000_000_000n;

/** Genesis of §5.3: dog, cat, fox are accounts 0, 1, 2; fox provides `mock` at 10uarkeo, settlement 10. */
async function start(t: TestContext, options: ChainRulesOptions = {}): Promise<ChainRules> {
  const chain = await startChainRules({
    blockIntervalMs: 0,
    accounts: [dog, cat, fox].map((k) => ({ address: k.address, balance: RICH })),
    providers: [{ pubkey: fox.bech32, service: 'mock', payAsYouGoRate: 10n, subscriptionRate: 10n, settlementDuration: 10n, minDuration: 5n, maxDuration: 432000n }],
    ...options,
  });
  t.after(() => chain.close());
  return chain;
}

interface SignOptions {
  sequence?: bigint;
  accountNumber?: bigint;
  chainId?: string;
  /** uarkeo; '' for no fee. */
  fee?: string;
  gas?: bigint;
  memo?: string;
  /** Sign with another key than the account's (a bad signature). */
  signWith?: Key;
}

async function signed(chain: ChainRules, who: Key, messages: EncodedMessage[], o: SignOptions = {}) {
  const account = chain.account(who.address);
  const fee = { amount: o.fee === '' ? [] : [{ denom: 'uarkeo', amount: o.fee ?? '200' }], gasLimit: o.gas ?? 200000n };
  return signTx((o.signWith ?? who).signer, { messages, memo: o.memo, fee }, {
    publicKey: who.pub,
    accountNumber: o.accountNumber ?? account?.accountNumber ?? 0n,
    sequence: o.sequence ?? account?.sequence ?? 0n,
    chainId: o.chainId ?? CHAIN,
  });
}

async function call(chain: ChainRules, route: string, body?: unknown) {
  const res = await fetch(chain.url + route, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}
const broadcast = async (chain: ChainRules, tx: { txBytes: Uint8Array }) =>
  (await call(chain, '/cosmos/tx/v1beta1/txs', { tx_bytes: Buffer.from(tx.txBytes).toString('base64'), mode: 'BROADCAST_MODE_SYNC' })).body.tx_response;
const included = async (chain: ChainRules, hash: string) => (await call(chain, `/cosmos/tx/v1beta1/txs/${hash}`)).body.tx_response;
/** The attributes of the first event of `type`, values JSON-decoded (typed events) or as they are. */
function eventOf(response: any, type: string): Record<string, any> | undefined {
  const e = response.events.find((x: any) => x.type === type);
  if (!e) return undefined;
  return Object.fromEntries(e.attributes.map((a: any) => [a.key, a.value.startsWith('"') || a.value.startsWith('{') ? JSON.parse(a.value) : a.value]));
}

const send = (from: Key, to: string, amount: bigint): EncodedMessage => ({
  typeUrl: MsgSendCodec.typeUrl,
  value: MsgSendCodec.encode({ fromAddress: from.address, toAddress: to, amount: [{ denom: 'uarkeo', amount: String(amount) }] }),
});
const open = (client: Key, o: Partial<MsgOpenContract> = {}): EncodedMessage => ({
  typeUrl: MsgOpenContractCodec.typeUrl,
  value: MsgOpenContractCodec.encode({
    creator: client.address, provider: fox.bech32, service: 'mock', client: client.bech32, contractType: 1, duration: 100n, rate: { denom: 'uarkeo', amount: '10' },
    deposit: '1000', settlementDuration: 10n, authorization: 0, queriesPerMinute: 10n, ...o,
  }),
});
const close = (creator: Key, contractId: bigint, client = creator): EncodedMessage => ({ typeUrl: MsgCloseContractCodec.typeUrl, value: MsgCloseContractCodec.encode({ creator: creator.address, contractId, client: client.bech32 }) });
const claim = (creator: Key, contractId: bigint, nonce: bigint, signature: Uint8Array): EncodedMessage => ({
  typeUrl: MsgClaimContractIncomeCodec.typeUrl,
  value: MsgClaimContractIncomeCodec.encode({ creator: creator.address, contractId, signature, nonce }),
});
/** The spender's claim signature, as a client gives it to the sentinel: Sign("cid:nonce:") (or with the chain id). */
const claimSignature = (spender: Key, contractId: bigint, nonce: bigint, chainId = '') => spender.signer.sign(new TextEncoder().encode(`${contractId}:${nonce}:${chainId}`));

/** Sign, broadcast (must pass CheckTx), mine one block, and return the included result. */
async function execute(chain: ChainRules, who: Key, messages: EncodedMessage[], o: SignOptions = {}) {
  const tx = await signed(chain, who, messages, o);
  const checked = await broadcast(chain, tx);
  assert.equal(checked.code, 0, `CheckTx: ${checked.raw_log}`);
  await chain.mine();
  return included(chain, tx.txHash);
}

test('chain-rules: a bad signature, a wrong chain id and a wrong account number are code 4 with its text; signed right, the same send is accepted', async (t) => {
  const chain = await start(t);
  const pay = [send(cat, fox.address, 1234n)];
  const refusal = 'signature verification failed; please verify account number (1) and chain-id (arkeo-local-1): (unable to verify single signer signature): unauthorized';
  for (const wrong of [{ signWith: pig }, { chainId: 'arkeo-main-v1' }, { accountNumber: 2n }]) {
    const r = await broadcast(chain, await signed(chain, cat, pay, wrong));
    assert.deepEqual([r.code, r.codespace, r.raw_log], [4, 'sdk', refusal], label(wrong));
  }
  const good = await signed(chain, cat, pay);
  const r = await broadcast(chain, good);
  assert.deepEqual([r.code, r.raw_log, r.txhash, r.height], [0, '', good.txHash, '0']);
  await chain.mine();
  assert.equal(chain.balance(fox.address), RICH + 1234n);
});

test('chain-rules: a sequence mismatch is 32 naming the expected sequence; the next sequence is accepted before the first is in a block', async (t) => {
  const chain = await start(t);
  assert.equal((await broadcast(chain, await signed(chain, cat, [send(cat, fox.address, 1n)], { sequence: 0n }))).code, 0);
  for (const sequence of [0n, 5n]) {
    const r = await broadcast(chain, await signed(chain, cat, [send(cat, fox.address, 2n)], { sequence }));
    assert.deepEqual([r.code, r.raw_log], [32, `account sequence mismatch, expected 1, got ${sequence}: incorrect account sequence`]);
  }
  assert.equal((await broadcast(chain, await signed(chain, cat, [send(cat, fox.address, 2n)], { sequence: 1n }))).code, 0);
  assert.equal(chain.account(cat.address)!.sequence, 0n, 'committed state moves only with a block');
  await chain.mine();
  assert.deepEqual(chain.included().map((i) => i.code), [0, 0]);
  assert.equal(chain.account(cat.address)!.sequence, 2n);
  assert.equal(chain.balance(fox.address), RICH + 3n);
});

test('chain-rules: a fee under ceil(min gas price × gas) is 13 with the exact text, gas 0 is 41, too little gas 11, a memo over 256 characters 12; their controls pass', async (t) => {
  const chain = await start(t);
  const pay = [send(cat, fox.address, 5n)];
  const cases: [SignOptions, number, string | RegExp][] = [
    [{ fee: '199' }, 13, 'insufficient fees; got: 199uarkeo required: 200uarkeo: insufficient fee'],
    [{ fee: '' }, 13, 'insufficient fees; got:  required: 200uarkeo: insufficient fee'],
    [{ fee: '150', gas: 150001n }, 13, 'insufficient fees; got: 150uarkeo required: 151uarkeo: insufficient fee'],
    [{ gas: 0n }, 41, 'must provide positive gas: invalid gas limit'],
    [{ gas: 20000n, fee: '20' }, 11, /^out of gas in location: WriteFlat; gasWanted: 20000, gasUsed: \d+: out of gas$/],
    [{ memo: 'm'.repeat(257) }, 12, 'maximum number of characters is 256 but received 257 characters: memo too large'],
  ];
  for (const [options, code, log] of cases) {
    const r = await broadcast(chain, await signed(chain, cat, pay, options));
    assert.deepEqual([r.code, r.codespace], [code, 'sdk'], label(options));
    if (typeof log === 'string') assert.equal(r.raw_log, log);
    else assert.match(r.raw_log, log);
  }
  assert.equal((await broadcast(chain, await signed(chain, cat, pay, { fee: '151', gas: 150001n, sequence: 0n }))).code, 0);
  assert.equal((await broadcast(chain, await signed(chain, cat, pay, { memo: 'm'.repeat(256), sequence: 1n }))).code, 0);
});

test('chain-rules: an account never funded is 9 at the fee; once funded by a send, the same key is accepted', async (t) => {
  const chain = await start(t);
  const r = await broadcast(chain, await signed(chain, pig, [send(pig, dog.address, 1n)]));
  assert.deepEqual([r.code, r.raw_log], [9, `fee payer address: ${pig.address} does not exist: unknown address`]);
  assert.equal((await call(chain, `/cosmos/auth/v1beta1/accounts/${pig.address}`)).status, 404);
  assert.equal((await execute(chain, cat, [send(cat, pig.address, 10_000n)])).code, 0);
  assert.equal(chain.account(pig.address)!.accountNumber > 2n, true, 'a new account is numbered after genesis');
  assert.equal((await broadcast(chain, await signed(chain, pig, [send(pig, dog.address, 1n)]))).code, 0);
});

test('chain-rules: a PAYG open costs the client deposit + 20000000 + fee and emits EventOpenContract; PAYG+OPEN is 33 at CheckTx, a wrong rate 15 in the block', async (t) => {
  const chain = await start(t);
  const before = { cat: chain.balance(cat.address), contracts: chain.balance(moduleAddress('contracts')), reserve: chain.balance(moduleAddress('arkeo-reserve')), fees: chain.balance(moduleAddress('fee_collector')) };
  const payg = await broadcast(chain, await signed(chain, cat, [open(cat, { authorization: 1 })]));
  assert.deepEqual([payg.code, payg.codespace, payg.raw_log], [33, 'arkeo', 'pay-as-you-go contract cannot use open authorization: invalid authorization']);

  const r = await execute(chain, cat, [open(cat)]);
  assert.equal(r.code, 0, r.raw_log);
  assert.equal(chain.balance(cat.address), before.cat - 1000n - 20_000_000n - 200n);
  assert.equal(chain.balance(moduleAddress('contracts')), before.contracts + 1000n);
  assert.equal(chain.balance(moduleAddress('arkeo-reserve')), before.reserve + 20_000_000n);
  assert.equal(chain.balance(moduleAddress('fee_collector')), before.fees + 200n);
  const event = eventOf(r, 'arkeo.arkeo.EventOpenContract')!;
  assert.deepEqual(
    { ...event },
    {
      authorization: 'STRICT', client: cat.bech32, contract_id: '1', delegate: cat.bech32, deposit: '1000', duration: '100', height: r.height, msg_index: '0', open_cost: '20000000',
      provider: fox.bech32, queries_per_minute: '10', rate: { denom: 'uarkeo', amount: '10' }, service: 'mock', settlement_duration: '10', settlement_height: '0', type: 'PAY_AS_YOU_GO',
    },
  );
  const lcd = (await call(chain, '/arkeo/contract/1')).body.contract;
  assert.deepEqual(lcd, {
    provider: fox.bech32, service: 1, client: cat.bech32, delegate: cat.bech32, type: 'PAY_AS_YOU_GO', height: r.height, duration: '100', rate: { denom: 'uarkeo', amount: '10' },
    deposit: '1000', paid: '0', nonce: '0', settlement_height: '0', id: '1', settlement_duration: '10', authorization: 'STRICT', queries_per_minute: '10',
  });

  const wrongRate = await execute(chain, cat, [open(cat, { rate: { denom: 'uarkeo', amount: '11' } })]);
  assert.deepEqual([wrongRate.code, wrongRate.codespace, wrongRate.raw_log], [15, 'arkeo', 'failed to execute message; message index: 0: pay-as-you-go provider rate is 10, client sent 11: mismatch contract rate']);
  assert.equal(chain.balance(cat.address), before.cat - 1000n - 20_000_000n - 400n, 'only the fee of the refused open is spent');
  assert.equal(chain.contract(2n), undefined);
});

test('chain-rules: a claim pays nonce × rate less a 10% reserve (half to even) to the provider; a replay is 23 in the block, fee and sequence spent', async (t) => {
  const chain = await start(t, {
    providers: [
      { pubkey: fox.bech32, service: 'mock', payAsYouGoRate: 10n, subscriptionRate: 10n, settlementDuration: 10n },
      { pubkey: pig.bech32, service: 'mock', payAsYouGoRate: 5n, subscriptionRate: 5n, settlementDuration: 10n },
    ],
  });
  assert.equal((await execute(chain, cat, [open(cat)])).code, 0);
  const foxBefore = chain.balance(fox.address);
  const reserveBefore = chain.balance(moduleAddress('arkeo-reserve'));
  const paid = await execute(chain, dog, [claim(dog, 1n, 5n, await claimSignature(cat, 1n, 5n))]);
  assert.equal(paid.code, 0, paid.raw_log);
  assert.deepEqual([eventOf(paid, 'arkeo.arkeo.EventSettleContract')!.paid, eventOf(paid, 'arkeo.arkeo.EventSettleContract')!.reserve, eventOf(paid, 'arkeo.arkeo.EventSettleContract')!.nonce], ['50', '5', '5']);
  assert.equal(chain.balance(fox.address), foxBefore + 45n);
  assert.equal(chain.balance(moduleAddress('arkeo-reserve')), reserveBefore + 5n);

  const dogBefore = { balance: chain.balance(dog.address), sequence: chain.account(dog.address)!.sequence };
  const replay = await execute(chain, dog, [claim(dog, 1n, 5n, await claimSignature(cat, 1n, 5n))]);
  assert.deepEqual([replay.code, replay.codespace, replay.raw_log], [23, 'arkeo', 'failed to execute message; message index: 0: contract nonce (5) is greater than msg nonce (5): nonce must be greater than zero']);
  assert.equal(eventOf(replay, 'arkeo.arkeo.EventSettleContract'), undefined);
  assert.deepEqual([chain.balance(dog.address), chain.account(dog.address)!.sequence], [dogBefore.balance - 200n, dogBefore.sequence + 1n]);
  assert.equal(chain.balance(fox.address), foxBefore + 45n);

  const more = await execute(chain, dog, [claim(dog, 1n, 7n, await claimSignature(cat, 1n, 7n))]);
  assert.deepEqual([eventOf(more, 'arkeo.arkeo.EventSettleContract')!.paid, eventOf(more, 'arkeo.arkeo.EventSettleContract')!.reserve], ['20', '2']);
  assert.deepEqual([chain.contract(1n)!.paid, chain.contract(1n)!.nonce], [70n, 7n]);

  // Half to even: at rate 5, a debt of 5 keeps 0.5 → 0 in reserve, the next debt of 15 keeps 1.5 → 2.
  assert.equal((await execute(chain, cat, [open(cat, { provider: pig.bech32, rate: { denom: 'uarkeo', amount: '5' } })])).code, 0);
  const half = await execute(chain, dog, [claim(dog, 2n, 1n, await claimSignature(cat, 2n, 1n))]);
  assert.deepEqual([eventOf(half, 'arkeo.arkeo.EventSettleContract')!.paid, eventOf(half, 'arkeo.arkeo.EventSettleContract')!.reserve], ['5', '0']);
  const oneAndHalf = await execute(chain, dog, [claim(dog, 2n, 4n, await claimSignature(cat, 2n, 4n))]);
  assert.deepEqual([eventOf(oneAndHalf, 'arkeo.arkeo.EventSettleContract')!.paid, eventOf(oneAndHalf, 'arkeo.arkeo.EventSettleContract')!.reserve], ['15', '2']);
});

test('chain-rules: claims are checked against the spender (25 otherwise; chain-id and high-S forms accepted) and accepted up to SPE − 1, then 24', async (t) => {
  const chain = await start(t);
  assert.equal((await execute(chain, cat, [open(cat, { duration: 5n })])).code, 0);
  const spe = chain.contract(1n)!.height + 5n + 10n;
  const forged = await execute(chain, fox, [claim(fox, 1n, 1n, await claimSignature(pig, 1n, 1n))]);
  assert.deepEqual([forged.code, forged.raw_log], [25, 'failed to execute message; message index: 0: signature mismatch: invalid signature']);
  const withChain = await execute(chain, fox, [claim(fox, 1n, 1n, await claimSignature(cat, 1n, 1n, CHAIN))]);
  assert.equal(withChain.code, 0, withChain.raw_log);
  const highS = await execute(chain, fox, [claim(fox, 1n, 2n, highSTwin(await claimSignature(cat, 1n, 2n)))]);
  assert.equal(highS.code, 0, highS.raw_log);

  await chain.mine(Number(spe - 2n - chain.height()));
  const last = await execute(chain, fox, [claim(fox, 1n, 3n, await claimSignature(cat, 1n, 3n))]);
  assert.deepEqual([last.code, last.height], [0, String(spe - 1n)], last.raw_log);
  const late = await execute(chain, fox, [claim(fox, 1n, 4n, await claimSignature(cat, 1n, 4n))]);
  assert.deepEqual([late.code, late.height, late.raw_log], [24, String(spe), `failed to execute message; message index: 0: settled on block: ${spe}: contract is settled`]);
});

test('chain-rules: a PAYG close stays open until now + settlement duration, when the end-blocker refunds deposit − paid; only the client may close (21)', async (t) => {
  const chain = await start(t);
  assert.equal((await execute(chain, cat, [open(cat)])).code, 0);
  assert.equal((await execute(chain, fox, [claim(fox, 1n, 3n, await claimSignature(cat, 1n, 3n))])).code, 0);
  const stranger = await execute(chain, dog, [close(dog, 1n)]);
  assert.deepEqual([stranger.code, stranger.raw_log], [21, 'failed to execute message; message index: 0: only the client can close the contract: unauthorized to close contract']);

  const closed = await execute(chain, cat, [close(cat, 1n)]);
  assert.equal(closed.code, 0, closed.raw_log);
  assert.deepEqual(closed.events.filter((e: any) => e.type.startsWith('arkeo.')).map((e: any) => e.type), ['arkeo.arkeo.EventSettleContract', 'arkeo.arkeo.EventCloseContract']);
  const finalAt = BigInt(closed.height) + 10n;
  assert.equal(chain.contract(1n)!.settlementHeight, 0n, 'a PAYG close settles later');
  const catBefore = chain.balance(cat.address);
  await chain.mine(Number(finalAt - 1n - chain.height()));
  assert.equal(chain.balance(cat.address), catBefore, 'no refund before now + settlement duration');
  await chain.mine();
  assert.equal(chain.balance(cat.address), catBefore + 1000n - 30n);
  const c = chain.contract(1n)!;
  assert.deepEqual([c.settlementHeight, c.deposit, c.paid], [finalAt, 30n, 30n]);
  // After a final settlement and before SPE: code 0, nothing paid (v1.0.17's SettlementHeight issue).
  const zero = await execute(chain, fox, [claim(fox, 1n, 4n, await claimSignature(cat, 1n, 4n))]);
  assert.deepEqual([zero.code, eventOf(zero, 'arkeo.arkeo.EventSettleContract')!.paid], [0, '0']);
});

test('chain-rules: a subscription needs deposit = rate × duration × qpm (15), one open per spender (16); OPEN ones settle elapsed blocks unsigned, and close settles at once', async (t) => {
  const chain = await start(t);
  const sub = (o: Partial<MsgOpenContract> = {}) => open(cat, { contractType: 0, deposit: '10000', authorization: 1, ...o });
  const short = await execute(chain, cat, [sub({ deposit: '1000' })]);
  assert.deepEqual([short.code, short.raw_log], [15, 'failed to execute message; message index: 0: mismatch of rate*duration*queriesPerMinute and deposit: 10 * 100 * 10 != 1000: mismatch contract rate']);
  const opened = await execute(chain, cat, [sub()]);
  assert.equal(opened.code, 0, opened.raw_log);
  const openedAt = BigInt(opened.height);
  const second = await execute(chain, cat, [sub()]);
  assert.deepEqual([second.code, second.raw_log], [16, `failed to execute message; message index: 0: expires in ${openedAt + 100n - BigInt(second.height)} blocks: contract is already open`]);

  await chain.mine(2);
  const unsigned = await execute(chain, fox, [claim(fox, 1n, 1n, new Uint8Array())]);
  const elapsed = BigInt(unsigned.height) - openedAt;
  assert.equal(eventOf(unsigned, 'arkeo.arkeo.EventSettleContract')!.paid, String(10n * elapsed * 10n), 'rate × elapsed blocks × qpm; the nonce is irrelevant');
  const catBefore = chain.balance(cat.address);
  const closed = await execute(chain, cat, [close(cat, 1n)]);
  assert.deepEqual(closed.events.filter((e: any) => e.type.startsWith('arkeo.')).map((e: any) => e.type), ['arkeo.arkeo.EventSettleContract', 'arkeo.arkeo.EventCloseContract']);
  const total = 10n * (BigInt(closed.height) - openedAt) * 10n;
  const c = chain.contract(1n)!;
  assert.deepEqual([c.settlementHeight, c.paid, c.deposit], [BigInt(closed.height), total, total]);
  assert.equal(chain.balance(cat.address), catBefore - 200n + 10000n - total, 'the rest of the deposit is refunded at once');
});

test('chain-rules: a send over the balance passes CheckTx and fails in the block with 5, the fee charged; a send within it moves the coins', async (t) => {
  const chain = await start(t, { accounts: [dog, cat, fox, pig].map((k) => ({ address: k.address, balance: k === pig ? 1000n : RICH })) });
  const over = await execute(chain, pig, [send(pig, dog.address, 900n)]);
  assert.deepEqual([over.code, over.codespace, over.raw_log], [5, 'sdk', 'failed to execute message; message index: 0: spendable balance 800uarkeo is smaller than 900uarkeo: insufficient funds']);
  assert.deepEqual([chain.balance(pig.address), chain.account(pig.address)!.sequence], [800n, 1n]);
  const within = await execute(chain, pig, [send(pig, dog.address, 500n)]);
  assert.equal(within.code, 0, within.raw_log);
  assert.deepEqual([chain.balance(pig.address), chain.balance(dog.address)], [100n, RICH + 500n]);
});

interface TxVector {
  name: string;
  signer: string;
  accountNumber: string;
  sequence: string;
  message: Record<string, any>;
  txHash: string;
}
const VECTORS = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'vectors-arkeod', 'transactions.json'), 'utf8')) as { vectors: TxVector[] };

test('chain-rules: the arkeod anchors V1 (open), V2 (claim), V3 (send), signed by src/tx, are accepted under their recorded txhashes and executed', async (t) => {
  const chain = await start(t);
  // fox's two provider transactions of §5.3 (bond, mod) take its sequences 0 and 1: two sends stand in for them.
  await execute(chain, fox, [send(fox, dog.address, 1n)]);
  await execute(chain, fox, [send(fox, dog.address, 1n)]);
  const keys: Record<string, Key> = { cat, fox };
  for (const v of VECTORS.vectors) {
    const who = keys[v.signer]!;
    const m = v.message;
    const message =
      m.type === 'open' ? open(who, { duration: BigInt(m.duration), deposit: m.deposit, queriesPerMinute: BigInt(m.queriesPerMinute), settlementDuration: BigInt(m.settlementDuration) })
      : m.type === 'claim' ? claim(who, BigInt(m.contractId), BigInt(m.nonce), parseHex(m.claimSignature, 'claim signature', 64))
      : send(who, fox.address, BigInt(m.amount.amount));
    assert.deepEqual([chain.account(who.address)!.accountNumber, chain.account(who.address)!.sequence], [BigInt(v.accountNumber), BigInt(v.sequence)], v.name);
    const tx = await signed(chain, who, [message]);
    const checked = await broadcast(chain, tx);
    assert.deepEqual([checked.code, checked.txhash], [0, v.txHash], `${v.name}: ${checked.raw_log}`);
    await chain.mine();
    const r = await included(chain, v.txHash);
    assert.equal(r.code, 0, `${v.name}: ${r.raw_log}`);
    if (m.type === 'claim') assert.deepEqual([eventOf(r, 'arkeo.arkeo.EventSettleContract')!.paid, eventOf(r, 'arkeo.arkeo.EventSettleContract')!.reserve], ['50', '5']);
  }
});

test('chain-rules: simulate checks the sequence (500 with the measured text) but not the signature; gas follows the model (+35000 on a first tx)', async (t) => {
  const chain = await start(t);
  const unsigned = async (sequence: bigint) => {
    const tx = await signed(chain, cat, [send(cat, fox.address, 7n)], { sequence });
    return TxRaw.encode({ ...TxRaw.decode(tx.txBytes), signatures: [new Uint8Array()] }).finish();
  };
  const simulate = async (bytes: Uint8Array) => call(chain, '/cosmos/tx/v1beta1/simulate', { tx_bytes: Buffer.from(bytes).toString('base64') });
  const firstBytes = await unsigned(0n);
  const first = await simulate(firstBytes);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.gas_info.gas_wanted, '18446744073709551615');
  const wrong = await simulate(await unsigned(3n));
  assert.equal(wrong.status, 500);
  assert.match(wrong.body.message, /^account sequence mismatch, expected 0, got 3: incorrect account sequence \[cosmos\/cosmos-sdk@v0\.50\.11\/x\/auth\/ante\/sigverify\.go:290\] with gas used: '\d+'$/);
  assert.deepEqual([wrong.body.code, wrong.body.details], [2, []]);

  assert.equal((await execute(chain, cat, [send(cat, fox.address, 7n)])).code, 0);
  const laterBytes = await unsigned(1n);
  const later = await simulate(laterBytes);
  const gasFirst = BigInt(first.body.gas_info.gas_used);
  const gasLater = BigInt(later.body.gas_info.gas_used);
  // Sequence 0 is omitted on the wire: the first tx is 2 bytes (20 gas) shorter.
  assert.equal(gasFirst - gasLater, 35000n - 10n * BigInt(laterBytes.length - firstBytes.length), 'storing the public key');
  // §3 measured 66324 for a MsgSend simulate: the model lands within 10%.
  assert.ok(gasLater > 59_000n && gasLater < 73_000n, String(gasLater));
});

test('chain-rules: broadcast modes BLOCK and none are the gateway 500; a duplicate is 19 with an empty raw_log; an unknown type URL or field is a parse error', async (t) => {
  const chain = await start(t);
  const tx = await signed(chain, cat, [send(cat, fox.address, 1n)]);
  const b64 = Buffer.from(tx.txBytes).toString('base64');
  for (const [mode, name] of [['BROADCAST_MODE_BLOCK', 'block'], [undefined, 'unspecified']] as const) {
    const r = await call(chain, '/cosmos/tx/v1beta1/txs', { tx_bytes: b64, ...(mode ? { mode } : {}) });
    assert.deepEqual([r.status, r.body], [500, { code: 2, message: `unsupported return type ${name}; supported types: sync, async`, details: [] }]);
  }
  assert.equal((await broadcast(chain, tx)).code, 0);
  const again = await broadcast(chain, tx);
  assert.deepEqual([again.code, again.codespace, again.raw_log, again.txhash], [19, 'sdk', '', tx.txHash]);

  const unknown = await broadcast(chain, await signed(chain, cat, [{ typeUrl: '/arkeo.arkeo.MsgBondProvider', value: new Uint8Array([0x0a, 0x01, 0x61]) }], { sequence: 1n }));
  assert.deepEqual([unknown.code, unknown.raw_log], [2, 'unable to resolve type URL /arkeo.arkeo.MsgBondProvider: tx parse error']);
  const good = claim(cat, 1n, 1n, new Uint8Array(64).fill(1));
  const field3 = await broadcast(chain, await signed(chain, cat, [{ ...good, value: new Uint8Array([...good.value, 0x18, 0x01]) }], { sequence: 1n }));
  assert.deepEqual([field3.code, field3.raw_log], [2, '/arkeo.arkeo.MsgClaimContractIncome: unknown field 3: tx parse error']);
  assert.equal((await broadcast(chain, await signed(chain, cat, [good], { sequence: 1n }))).code, 0, 'the claim without field 3 passes CheckTx');
});

test('chain-rules: the LCD queries answer in the LCD shapes, and the real keeper\'s not-found answers', async (t) => {
  const chain = await start(t);
  const missing = await call(chain, `/cosmos/auth/v1beta1/accounts/${pig.address}`);
  assert.deepEqual([missing.status, missing.body], [404, { code: 5, message: `account ${pig.address} not found`, details: [] }]);
  assert.deepEqual((await call(chain, `/cosmos/auth/v1beta1/accounts/${cat.address}`)).body, {
    account: { '@type': '/cosmos.auth.v1beta1.BaseAccount', address: cat.address, pub_key: null, account_number: '1', sequence: '0' },
  });
  assert.deepEqual((await call(chain, `/cosmos/bank/v1beta1/balances/${cat.address}`)).body, { balances: [{ denom: 'uarkeo', amount: String(RICH) }], pagination: { next_key: null, total: '1' } });
  assert.equal((await call(chain, '/cosmos/base/tendermint/v1beta1/node_info')).body.default_node_info.network, CHAIN);
  const latest = (await call(chain, '/cosmos/base/tendermint/v1beta1/blocks/latest')).body.block.header;
  assert.deepEqual([latest.chain_id, latest.height], [CHAIN, String(chain.height())]);
  assert.deepEqual((await call(chain, '/arkeo/contract/1')).body, { code: 5, message: 'not found', details: [] });

  for (let i = 0; i < 3; i++) assert.equal((await broadcast(chain, await signed(chain, cat, [open(cat)], { sequence: BigInt(i) }))).code, 0);
  await chain.mine();
  const all = (await call(chain, '/arkeo/contracts')).body;
  assert.deepEqual([all.contract.map((c: any) => c.id), all.pagination], [['1', '2', '3'], { next_key: null, total: '3' }]);
  const page = (await call(chain, '/arkeo/contracts?pagination.limit=2')).body;
  assert.deepEqual([page.contract.map((c: any) => c.id), page.pagination.total], [['1', '2'], '0']);
  const rest = (await call(chain, `/arkeo/contracts?pagination.key=${encodeURIComponent(page.pagination.next_key)}`)).body;
  assert.deepEqual(rest.contract.map((c: any) => c.id), ['3']);

  const active = await call(chain, `/arkeo/active-contract/${fox.bech32}/mock/${cat.bech32}`);
  assert.deepEqual([active.status, active.body.contract.id], [200, '1']);
  const none = await call(chain, `/arkeo/active-contract/${fox.bech32}/mock/${dog.bech32}`);
  assert.deepEqual([none.status, none.body], [404, { code: 5, message: 'not found', details: [] }]);
  const provider = (await call(chain, `/arkeo/provider/${fox.bech32}/mock`)).body.provider;
  assert.deepEqual([provider.pub_key, provider.service, provider.status, provider.pay_as_you_go_rate, provider.settlement_duration], [fox.bech32, 1, 'ONLINE', [{ denom: 'uarkeo', amount: '10' }], '10']);
  assert.equal((await call(chain, `/arkeo/provider/${dog.bech32}/mock`)).status, 404);
});

test('chain-rules faults: sequenceMismatchOnce, acceptThenHang, stuckMempool', async (t) => {
  const chain = await start(t);
  chain.faults.sequenceMismatchOnce = true;
  const taken = await broadcast(chain, await signed(chain, cat, [send(cat, fox.address, 1n)], { sequence: 0n }));
  assert.deepEqual([taken.code, taken.raw_log], [32, 'account sequence mismatch, expected 1, got 0: incorrect account sequence']);
  assert.equal(chain.faults.sequenceMismatchOnce, false, 'once');
  assert.equal((await broadcast(chain, await signed(chain, cat, [send(cat, fox.address, 1n)], { sequence: 1n }))).code, 0, 'the sequence named is accepted');

  chain.faults.acceptThenHang = true;
  const hanging = await signed(chain, cat, [send(cat, fox.address, 2n)], { sequence: 2n });
  const body = JSON.stringify({ tx_bytes: Buffer.from(hanging.txBytes).toString('base64'), mode: 'BROADCAST_MODE_SYNC' });
  // The client's own time limit, generous so that the request surely reached the node on a loaded machine.
  await assert.rejects(fetch(`${chain.url}/cosmos/tx/v1beta1/txs`, { method: 'POST', body, signal: AbortSignal.timeout(1500) }), /aborted|timeout/i);
  chain.faults.acceptThenHang = false;
  assert.equal((await broadcast(chain, hanging)).code, 19, 'the node had taken it');

  chain.faults.stuckMempool = true;
  await chain.mine(3);
  assert.equal((await call(chain, `/cosmos/tx/v1beta1/txs/${hanging.txHash}`)).status, 404);
  assert.equal((await broadcast(chain, await signed(chain, cat, [send(cat, fox.address, 3n)], { sequence: 3n }))).code, 0, 'rechecked sequences still count');
  chain.faults.stuckMempool = false;
  await chain.mine();
  assert.equal((await included(chain, hanging.txHash)).code, 0);
  assert.deepEqual(chain.included().map((i) => i.code), [0, 0, 0]);
  assert.equal(new Set(chain.included().map((i) => i.hash)).size, 3, 'none twice');
});

test('chain-rules faults: oversizedReply, malformedReply, chainId, dropConnection (each beside a route or a moment without it)', async (t) => {
  const chain = await start(t);
  chain.faults.oversizedReply = '/cosmos/auth';
  const big = await fetch(`${chain.url}/cosmos/auth/v1beta1/accounts/${cat.address}`);
  assert.ok((await big.arrayBuffer()).byteLength > 1024 * 1024);
  assert.equal((await call(chain, `/cosmos/bank/v1beta1/balances/${cat.address}`)).status, 200);
  chain.faults.oversizedReply = undefined;

  chain.faults.malformedReply = '/cosmos/base/tendermint';
  const bad = await fetch(`${chain.url}/cosmos/base/tendermint/v1beta1/node_info`);
  assert.equal(bad.status, 200);
  await assert.rejects(bad.json() as Promise<unknown>, SyntaxError);
  chain.faults.malformedReply = undefined;

  chain.faults.chainId = 'arkeo-main-v1';
  assert.equal((await call(chain, '/cosmos/base/tendermint/v1beta1/node_info')).body.default_node_info.network, 'arkeo-main-v1');
  assert.equal((await call(chain, '/cosmos/base/tendermint/v1beta1/blocks/latest')).body.block.header.chain_id, 'arkeo-main-v1');
  const believed = await broadcast(chain, await signed(chain, cat, [send(cat, fox.address, 1n)], { chainId: 'arkeo-main-v1' }));
  assert.equal(believed.code, 4, 'signatures are still checked against the real chain id');
  chain.faults.chainId = undefined;
  assert.equal((await call(chain, '/cosmos/base/tendermint/v1beta1/node_info')).body.default_node_info.network, CHAIN);

  chain.faults.dropConnection = '/cosmos/tx/v1beta1/txs';
  const tx = await signed(chain, cat, [send(cat, fox.address, 1n)]);
  await assert.rejects(broadcast(chain, tx), /fetch failed/);
  await chain.mine();
  assert.equal(chain.included().length, 0, 'the node never saw it');
  chain.faults.dropConnection = undefined;
  assert.equal((await broadcast(chain, tx)).code, 0);
});

test('chain-rules: with blockIntervalMs, blocks come on their own and include what was accepted', async (t) => {
  const chain = await start(t, { blockIntervalMs: 50 });
  const tx = await signed(chain, cat, [send(cat, fox.address, 9n)]);
  assert.equal((await broadcast(chain, tx)).code, 0);
  let found = await call(chain, `/cosmos/tx/v1beta1/txs/${tx.txHash}`);
  for (let i = 0; i < 200 && found.status === 404; i++) {
    await new Promise((r) => setTimeout(r, 50));
    found = await call(chain, `/cosmos/tx/v1beta1/txs/${tx.txHash}`);
  }
  assert.equal(found.body.tx_response.code, 0);
  assert.equal(chain.balance(fox.address), RICH + 9n);
});
