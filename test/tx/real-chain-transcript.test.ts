import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuthInfo, SignDoc, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';
import { MESSAGE_CODECS, MsgClaimContractIncomeCodec, MsgOpenContractCodec, MsgSendCodec, type MsgClaimContractIncome, type MsgOpenContract } from '../../src/tx/index.js';
import { parseBech32PubKey, sha256, toAddress, toHex, utf8, verifyDigest } from '../../src/crypto/index.js';
import { REPO_ROOT, readVector, type ClaimVectors } from '../helpers.js';

/**
 * test/vectors-arkeod/real-chain-transcript.json was written by test/e2e/real-chain.sh against a real arkeod and
 * sentinel. CI cannot run a chain, so this re-checks the recording: every transaction hash is SHA-256 of its
 * recorded TxRaw and its signature verifies; the balances after are what the chain's rules give from the balances
 * before and what the signed bytes say (deposit, rate, nonce, amounts, fees); the claim settled is the delegate's.
 * Each guard is also run on a copy with one thing changed, and must catch it.
 */
const FILE = path.join(REPO_ROOT, 'test', 'vectors-arkeod', 'real-chain-transcript.json');

// The chain's rules (arkeo-transactions.md §2.1, §2.5): not answers, the constants the formula is made of.
const OPEN_CONTRACT_COST = 20000000n;
const RESERVE_TAX_BP = 1000n;
const MAX_BASIS_POINTS = 10000n;

type Transcript = Record<string, any>;
const load = (): Transcript => JSON.parse(fs.readFileSync(FILE, 'utf8'));

/** n / d rounded half to even (LegacyDec.RoundInt), n, d ≥ 0. */
function roundHalfEven(n: bigint, d: bigint): bigint {
  const q = n / d;
  const twice = 2n * (n % d);
  return twice > d || (twice === d && q % 2n === 1n) ? q + 1n : q;
}
const reserveOf = (debt: bigint) => roundHalfEven(debt * RESERVE_TAX_BP, MAX_BASIS_POINTS);
const uarkeo = (coins: { denom: string; amount: string }[]) => coins.filter((c) => c.denom === 'uarkeo').reduce((s, c) => s + BigInt(c.amount), 0n);

interface ReadTx {
  id: string;
  phase: string;
  signer: string;
  fee: bigint;
  messages: { typeUrl: string; value: unknown }[];
}

/** What the recorded bytes of each transaction say, or the problems with them. */
function readTransactions(t: Transcript, problems: string[]): ReadTx[] {
  const out: ReadTx[] = [];
  for (const tx of t.transactions as Transcript[]) {
    const where = `transaction ${tx.id} (${String(tx.txHash).slice(0, 12)}…)`;
    const bytes = new Uint8Array(Buffer.from(tx.txRawBase64, 'base64'));
    const hash = toHex(sha256(bytes)).toUpperCase();
    if (hash !== tx.txHash) {
      problems.push(`${where}: txHash is not UPPER_HEX(SHA-256(TxRaw)) = ${hash}`);
      continue;
    }
    let raw, body, auth;
    try {
      raw = TxRaw.decode(bytes);
      body = TxBody.decode(raw.bodyBytes);
      auth = AuthInfo.decode(raw.authInfoBytes);
    } catch {
      problems.push(`${where}: the TxRaw does not decode`);
      continue;
    }
    const info = auth.signerInfos[0];
    if (auth.signerInfos.length !== 1 || !info?.publicKey || raw.signatures.length !== 1) {
      problems.push(`${where}: not one signer and one signature`);
      continue;
    }
    const publicKey = PubKey.decode(info.publicKey.value).key;
    const signer = toAddress(publicKey);
    const doc = SignDoc.encode({ bodyBytes: raw.bodyBytes, authInfoBytes: raw.authInfoBytes, chainId: t.recorded.chainId, accountNumber: BigInt(tx.accountNumber) }).finish();
    if (!verifyDigest(publicKey, sha256(doc), raw.signatures[0]!)) problems.push(`${where}: the signature does not verify over the SignDoc (chain ${t.recorded.chainId}, account ${tx.accountNumber})`);
    if (signer !== tx.signer?.address) problems.push(`${where}: signed by ${signer}, recorded as ${tx.signer?.address}`);
    const fee = uarkeo(auth.fee?.amount ?? []);
    if (String(fee) !== String(uarkeo(tx.fee?.amount ?? []))) problems.push(`${where}: the bytes pay a fee of ${fee}uarkeo, the record says ${uarkeo(tx.fee?.amount ?? [])}`);
    const messages = body.messages.map((m) => ({ typeUrl: m.typeUrl, value: MESSAGE_CODECS.get(m.typeUrl)?.decode(m.value) }));
    const recordedUrls = (tx.messages as { typeUrl: string }[]).map((m) => m.typeUrl);
    if (JSON.stringify(recordedUrls) !== JSON.stringify(messages.map((m) => m.typeUrl))) problems.push(`${where}: the bytes carry ${messages.map((m) => m.typeUrl).join(', ')}, the record says ${recordedUrls.join(', ')}`);
    out.push({ id: tx.id, phase: tx.phase, signer, fee, messages });
  }
  return out;
}

/** Every problem with the transcript; none when the recording is what the chain's rules and the bytes say. */
function checkTranscript(t: Transcript): string[] {
  const problems: string[] = [];
  const txs = readTransactions(t, problems);
  const run = txs.filter((x) => x.phase === 'run');
  const values = <T>(typeUrl: string) => run.flatMap((x) => x.messages.filter((m) => m.typeUrl === typeUrl).map((m) => m.value as T));
  const opens = values<MsgOpenContract>(MsgOpenContractCodec.typeUrl);
  const claims = values<MsgClaimContractIncome>(MsgClaimContractIncomeCodec.typeUrl);
  const sends = values<{ fromAddress: string; toAddress: string; amount: { denom: string; amount: string }[] }>(MsgSendCodec.typeUrl);
  if (opens.length !== 1 || claims.length === 0) return [...problems, `expected one open and at least one claim among the transactions, found ${opens.length} and ${claims.length}`];
  const open = opens[0]!;
  const rate = BigInt(open.rate.amount);
  const deposit = BigInt(open.deposit);
  const client = toAddress(parseBech32PubKey(open.client));
  const provider = toAddress(parseBech32PubKey(open.provider));

  // The settlements, in order, and what each block said it paid.
  let paid = 0n;
  let toProvider = 0n;
  const claimTxs = (t.transactions as Transcript[]).filter((x) => x.phase === 'run' && x.messages.some((m: Transcript) => m.typeUrl === MsgClaimContractIncomeCodec.typeUrl));
  claims.forEach((c, i) => {
    let debt = rate * c.nonce - paid;
    if (debt < 0n) debt = 0n;
    if (debt > deposit - paid) debt = deposit - paid;
    const reserve = reserveOf(debt);
    paid += debt;
    toProvider += debt - reserve;
    const event = claimTxs[i]?.events?.find((e: Transcript) => e.type === 'arkeo.arkeo.EventSettleContract');
    const attr = (k: string) => JSON.parse(event?.attributes.find((a: Transcript) => a.key === k)?.value ?? 'null');
    if (attr('paid') !== String(debt) || attr('reserve') !== String(reserve)) problems.push(`claim ${i + 1} (nonce ${c.nonce}): the block paid ${attr('paid')} with reserve ${attr('reserve')}; the rules give ${debt} and ${reserve}`);
  });
  const refund = deposit - paid;

  // The claim the sentinel held is the one settled, and it is the delegate's signature over "<cid>:<nonce>:".
  const last = claims[claims.length - 1]!;
  const held = t.settledClaim;
  if (String(held?.nonce) !== String(last.nonce) || held?.signature !== toHex(last.signature)) problems.push(`the claim settled (nonce ${last.nonce}) is not the one the sentinel held (nonce ${held?.nonce})`);
  const spender = parseBech32PubKey(open.delegate || open.client);
  if (!verifyDigest(spender, sha256(utf8(`${last.contractId}:${last.nonce}:`)), last.signature)) problems.push(`the settled claim is not the contract's spender's signature over "${last.contractId}:${last.nonce}:"`);

  // Balances: what the rules give from the balances before and the signed bytes.
  const delta = new Map<string, bigint>();
  const add = (address: string, v: bigint) => delta.set(address, (delta.get(address) ?? 0n) + v);
  for (const x of run) add(x.signer, -x.fee);
  add(open.creator, -(deposit + OPEN_CONTRACT_COST));
  add(client, refund);
  add(provider, toProvider);
  for (const s of sends) {
    add(s.fromAddress, -uarkeo(s.amount));
    add(s.toAddress, uarkeo(s.amount));
  }
  const { addresses, before, after } = t.balances;
  for (const name of Object.keys(before)) {
    const expected = BigInt(before[name]) + (name === 'contracts' ? 0n : (delta.get(addresses[name]) ?? 0n));
    if (String(expected) !== after[name]) problems.push(`balance of ${name}: ${after[name]} after, the rules give ${expected} (before ${before[name]})`);
    if (t.expectation?.expected?.[name] !== String(expected)) problems.push(`expectation.expected.${name} is ${t.expectation?.expected?.[name]}, the rules give ${expected}`);
  }
  if (t.expectation?.allMatched !== true) problems.push('expectation.allMatched is not true');

  // The contract as the chain showed it after the final settlement: closed at close + settlement duration, all paid.
  const c = t.contract;
  const final = c.afterFinal;
  if (BigInt(final.settlement_height) !== BigInt(c.closeHeight) + BigInt(open.settlementDuration)) problems.push(`final settlement at ${final.settlement_height}, not close ${c.closeHeight} + ${open.settlementDuration}`);
  if (final.paid !== String(paid) || final.deposit !== String(paid) || final.open !== false) problems.push(`after the final settlement the contract shows paid ${final.paid}, deposit ${final.deposit}, open ${final.open}; the rules give paid = deposit = ${paid}, closed`);

  // The requests: each answered 200, by the paid tier, with the upstream's answer to that very request.
  const each = t.requests.each as Transcript[];
  const pathOf = (body: string) => {
    try {
      return JSON.parse(body).path;
    } catch {
      return undefined;
    }
  };
  const good = each.filter((r) => r.status === 200 && r.tier === 'paid' && pathOf(r.body) === `/req/${r.n}`).length;
  if (each.length !== Number(last.nonce) || good !== each.length) problems.push(`${good} of ${each.length} requests were answered 200, paid, by the upstream, for ${last.nonce} nonces`);
  return problems;
}

/** A copy of the transcript with one change. */
function edited(change: (t: Transcript) => void): Transcript {
  const t = load();
  change(t);
  return t;
}
const txOf = (t: Transcript, id: string): Transcript => t.transactions.find((x: Transcript) => x.id === id);

test('the recorded real-chain transcript checks out: hashes, signatures, balances by the rules, the claim settled', () => {
  const t = load();
  assert.deepEqual(checkTranscript(t), []);
  // The keys are those of the claims vectors (the chain was made from their mnemonics).
  const keys = readVector<ClaimVectors>('arkeo-claims.json').keys;
  assert.equal(t.keys.cat.address, keys.cat!.address);
  assert.equal(t.keys.fox.address, keys.fox!.address);
  // The settle step says who settled: ours, or the labelled stand-in.
  const settle = txOf(t, 'settle');
  assert.ok(settle.by === 'arkeo-signer' || /stand-in: settled by arkeod because `arkeo-signer settle` is not in this build/.test(settle.by), settle.by);
});

test('an edited TxRaw or hash is caught', () => {
  const flipped = edited((t) => {
    const b = Buffer.from(txOf(t, 'close').txRawBase64, 'base64');
    b[b.length - 1]! ^= 1;
    txOf(t, 'close').txRawBase64 = b.toString('base64');
  });
  assert.ok(checkTranscript(flipped).some((p) => p.startsWith('transaction close') && p.includes('SHA-256')));
  const rehashed = edited((t) => (txOf(t, 'open').txHash = txOf(t, 'send').txHash));
  assert.ok(checkTranscript(rehashed).some((p) => p.startsWith('transaction open') && p.includes('SHA-256')));
});

test('a TxRaw re-hashed after an edit still fails its signature', () => {
  const t = edited((t) => {
    const tx = txOf(t, 'send');
    const raw = TxRaw.decode(Buffer.from(tx.txRawBase64, 'base64'));
    const body = TxBody.decode(raw.bodyBytes);
    body.memo = 'edited';
    const bytes = TxRaw.encode({ ...raw, bodyBytes: TxBody.encode(body).finish() }).finish();
    tx.txRawBase64 = Buffer.from(bytes).toString('base64');
    tx.txHash = toHex(sha256(bytes)).toUpperCase();
  });
  assert.ok(checkTranscript(t).some((p) => p.startsWith('transaction send') && p.includes('signature does not verify')));
});

test('a balance, a fee or a claim changed in the record is caught', () => {
  const richer = edited((t) => (t.balances.after.cat = String(BigInt(t.balances.after.cat) + 1n)));
  assert.ok(checkTranscript(richer).some((p) => p.startsWith('balance of cat')));
  const poorer = edited((t) => (t.balances.before.fox = String(BigInt(t.balances.before.fox) - 1n)));
  assert.ok(checkTranscript(poorer).some((p) => p.startsWith('balance of fox')));
  const fee = edited((t) => (txOf(t, 'open').fee.amount[0].amount = '1'));
  assert.ok(checkTranscript(fee).some((p) => p.startsWith('transaction open') && p.includes('fee')));
  const claim = edited((t) => (t.settledClaim.nonce = Number(t.settledClaim.nonce) - 1));
  assert.ok(checkTranscript(claim).some((p) => p.startsWith('the claim settled')));
  const request = edited((t) => (t.requests.each[41].tier = 'free'));
  assert.ok(checkTranscript(request).some((p) => p.includes('requests were answered')));
});

test('the reserve rounds half to even (LegacyDec.RoundInt), as the chain does', () => {
  // debt × 10%: 0.5 → 0, 1.5 → 2, 2.5 → 2, 3.5 → 4, 2.4 → 2, 2.6 → 3.
  assert.deepEqual([5n, 15n, 25n, 35n, 24n, 26n].map(reserveOf), [0n, 2n, 2n, 4n, 2n, 3n]);
  // The measured settlement of arkeo-transactions.md §2.5: rate 10, nonce 5 → paid 50, reserve 5.
  assert.equal(reserveOf(50n), 5n);
});
