import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuthInfo, SignDoc, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';
import { MESSAGE_CODECS, MsgClaimContractIncomeCodec, MsgOpenContractCodec, MsgSendCodec, type MsgClaimContractIncome, type MsgOpenContract } from '../../src/tx/index.js';
import { parseBech32PubKey, parseHex, sha256, toAddress, toBech32PubKey, toHex, utf8, verifyDigest } from '../../src/crypto/index.js';
import { REPO_ROOT, readVector, type ClaimVectors } from '../helpers.js';

/**
 * test/vectors-arkeod/real-chain-transcript.json was written by test/e2e/real-chain.sh against a real arkeod and
 * sentinel. CI cannot run a chain, so this re-checks the recording: every transaction hash is SHA-256 of its
 * recorded TxRaw and its signature verifies; the balances after are what the chain's rules give from the balances
 * before and what the signed bytes say (deposits, rate, nonce, amounts, fees); the claim settled is the delegate's;
 * the provider gained exactly what its claim pays after the reserve while the fee payer paid only the fee; and the
 * claim forged into the sentinel's store was refused by settle, and no transaction on the chain claims for its
 * contract. Each guard is also run on a copy with one thing changed, and must catch it.
 */
const FILE = path.join(REPO_ROOT, 'test', 'vectors-arkeod', 'real-chain-transcript.json');

// The chain's rules (arkeo-transactions.md §2.1, §2.5): not answers, the constants the formula is made of.
const OPEN_CONTRACT_COST = 20000000n;
const RESERVE_TAX_BP = 1000n;
const MAX_BASIS_POINTS = 10000n;
const SETTLED_BY_US = 'arkeo-signer settle';

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
/** An attribute of a recorded event; the chain writes typed-event values as JSON. */
const attribute = (event: Transcript | undefined, key: string) => JSON.parse(event?.attributes.find((a: Transcript) => a.key === key)?.value ?? 'null');

interface ReadTx {
  id: string;
  phase: string;
  txHash: string;
  signer: string;
  fee: bigint;
  messages: { typeUrl: string; value: unknown }[];
  /** The arkeo.* events its block reported (not signed: read beside the bytes, cross-checked where used). */
  events: Transcript[];
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
    out.push({ id: tx.id, phase: tx.phase, txHash: hash, signer, fee, messages, events: tx.events ?? [] });
  }
  return out;
}

const claimsOf = (x: ReadTx) => x.messages.filter((m) => m.typeUrl === MsgClaimContractIncomeCodec.typeUrl).map((m) => m.value as MsgClaimContractIncome);

interface Contract {
  id: string;
  open: MsgOpenContract;
  rate: bigint;
  deposit: bigint;
  client: string;
  provider: string;
  /** The key the chain checks claims against: the delegate, else the client (33 bytes). */
  spender: Uint8Array;
  /** What its claims paid (the debt), and what they gave the provider (debt − reserve). */
  paid: bigint;
  toProvider: bigint;
}

/** Each contract an open transaction made (its id from the block's EventOpenContract, its terms from the bytes), with its claims settled in order. */
function reckonContracts(run: ReadTx[], problems: string[]): Map<string, Contract> {
  const contracts = new Map<string, Contract>();
  for (const x of run) {
    for (const m of x.messages.filter((m) => m.typeUrl === MsgOpenContractCodec.typeUrl)) {
      const open = m.value as MsgOpenContract;
      const event = x.events.find((e) => e.type === 'arkeo.arkeo.EventOpenContract');
      const id = attribute(event, 'contract_id');
      if (typeof id !== 'string' || attribute(event, 'deposit') !== String(open.deposit)) {
        problems.push(`transaction ${x.id}: its EventOpenContract (contract ${id}, deposit ${attribute(event, 'deposit')}) does not match the signed open (deposit ${open.deposit})`);
        continue;
      }
      contracts.set(id, {
        id,
        open,
        rate: BigInt(open.rate.amount),
        deposit: BigInt(open.deposit),
        client: toAddress(parseBech32PubKey(open.client)),
        provider: toAddress(parseBech32PubKey(open.provider)),
        spender: parseBech32PubKey(open.delegate || open.client),
        paid: 0n,
        toProvider: 0n,
      });
    }
  }
  // The settlements, in order, and what each block said it paid.
  for (const x of run) {
    for (const c of claimsOf(x)) {
      const k = contracts.get(String(c.contractId));
      if (!k) {
        problems.push(`transaction ${x.id}: a claim for contract ${c.contractId}, which no recorded open made`);
        continue;
      }
      let debt = k.rate * c.nonce - k.paid;
      if (debt < 0n) debt = 0n;
      if (debt > k.deposit - k.paid) debt = k.deposit - k.paid;
      const reserve = reserveOf(debt);
      k.paid += debt;
      k.toProvider += debt - reserve;
      const event = x.events.find((e) => e.type === 'arkeo.arkeo.EventSettleContract' && attribute(e, 'contract_id') === String(c.contractId) && attribute(e, 'nonce') === String(c.nonce));
      if (attribute(event, 'paid') !== String(debt) || attribute(event, 'reserve') !== String(reserve)) problems.push(`claim of contract ${c.contractId} nonce ${c.nonce}: the block paid ${attribute(event, 'paid')} with reserve ${attribute(event, 'reserve')}; the rules give ${debt} and ${reserve}`);
    }
  }
  return contracts;
}

/** Every problem with the transcript; none when the recording is what the chain's rules and the bytes say. */
function checkTranscript(t: Transcript): string[] {
  const problems: string[] = [];
  const txs = readTransactions(t, problems);
  const run = txs.filter((x) => x.phase === 'run');
  const contracts = reckonContracts(run, problems);
  const genuine = contracts.get(String(t.contract.id));
  const claims = run.flatMap(claimsOf);
  if (!genuine || claims.length === 0) return [...problems, `expected the open of contract ${t.contract.id} and at least one claim among the transactions, found ${contracts.size} open(s) and ${claims.length} claim(s)`];
  const sends = run.flatMap((x) => x.messages.filter((m) => m.typeUrl === MsgSendCodec.typeUrl).map((m) => m.value as { fromAddress: string; toAddress: string; amount: { denom: string; amount: string }[] }));

  // The claim the sentinel held is the one settled, and it is the delegate's signature over "<cid>:<nonce>:".
  const last = claims.filter((c) => String(c.contractId) === genuine.id).at(-1);
  const held = t.settledClaim;
  if (!last || String(held?.nonce) !== String(last.nonce) || held?.signature !== toHex(last.signature)) problems.push(`the claim settled (nonce ${last?.nonce}) is not the one the sentinel held (nonce ${held?.nonce})`);
  if (last && !verifyDigest(genuine.spender, sha256(utf8(`${last.contractId}:${last.nonce}:`)), last.signature)) problems.push(`the settled claim is not the contract's spender's signature over "${last.contractId}:${last.nonce}:"`);

  // Balances: what the rules give from the balances before and the signed bytes.
  const delta = new Map<string, bigint>();
  const add = (address: string, v: bigint) => delta.set(address, (delta.get(address) ?? 0n) + v);
  for (const x of run) add(x.signer, -x.fee);
  for (const k of contracts.values()) {
    add(k.open.creator, -(k.deposit + OPEN_CONTRACT_COST));
    add(k.client, k.deposit - k.paid); // the refund at the final settlement
    add(k.provider, k.toProvider);
  }
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

  // Each contract as the chain showed it after its final settlement: closed at close + settlement duration, all paid.
  const shown = [{ c: t.contract, k: genuine }, ...(t.forgery ? [{ c: t.forgery.contract, k: contracts.get(String(t.forgery.contract.id)) }] : [])];
  for (const { c, k } of shown) {
    if (!k) {
      problems.push(`contract ${c.id}: no recorded open made it`);
      continue;
    }
    const final = c.afterFinal;
    if (BigInt(final.settlement_height) !== BigInt(c.closeHeight) + BigInt(k.open.settlementDuration)) problems.push(`contract ${c.id}: final settlement at ${final.settlement_height}, not close ${c.closeHeight} + ${k.open.settlementDuration}`);
    if (final.paid !== String(k.paid) || final.deposit !== String(k.paid) || final.open !== false) problems.push(`contract ${c.id}: after the final settlement it shows paid ${final.paid}, deposit ${final.deposit}, open ${final.open}; the rules give paid = deposit = ${k.paid}, closed`);
  }

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
  if (each.length !== Number(last?.nonce) || good !== each.length) problems.push(`${good} of ${each.length} requests were answered 200, paid, by the upstream, for ${last?.nonce} nonces`);
  return problems;
}

/**
 * Who paid what at settling: the provider signed nothing in the run and gained exactly Σ (rate × nonce − paid
 * before − reserve) over its claims; the fee payer is not the provider, signed the settle transactions and lost
 * exactly their fees (from what it was sent).
 */
function checkSettlement(t: Transcript): string[] {
  const problems: string[] = [];
  const run = readTransactions(t, problems).filter((x) => x.phase === 'run');
  const contracts = reckonContracts(run, problems);
  const provider = t.keys.fox.address as string;
  const payer = t.settle?.feePayer as string;
  if (!payer || payer === provider) problems.push(`the fee payer ${payer} is the provider`);
  if (payer !== t.balances.addresses.settler) problems.push(`the fee payer ${payer} is not the settler whose balance was read (${t.balances.addresses.settler})`);
  const settles = run.filter((x) => x.id === 'settle');
  if (settles.length === 0 || settles.some((x) => claimsOf(x).length === 0)) problems.push('no settle transaction carrying claims');
  for (const x of settles) if (x.signer !== payer) problems.push(`settle transaction ${x.txHash.slice(0, 12)}…: signed by ${x.signer}, not the fee payer ${payer}`);
  for (const x of run) if (x.signer === provider) problems.push(`transaction ${x.id}: signed by the provider, who should only be paid`);

  const gained = (name: string) => BigInt(t.balances.after[name]) - BigInt(t.balances.before[name]);
  const owed = [...contracts.values()].filter((k) => k.provider === provider).reduce((s, k) => s + k.toProvider, 0n);
  if (gained('fox') !== owed) problems.push(`the provider gained ${gained('fox')}; its claims pay it ${owed} (rate × nonce less the 10% reserve)`);
  const sent = run.flatMap((x) => x.messages.filter((m) => m.typeUrl === MsgSendCodec.typeUrl).map((m) => m.value as { toAddress: string; amount: { denom: string; amount: string }[] }));
  const funded = sent.filter((s) => s.toAddress === payer).reduce((s, m) => s + uarkeo(m.amount), 0n);
  const fees = run.filter((x) => x.signer === payer).reduce((s, x) => s + x.fee, 0n);
  const settleFees = settles.reduce((s, x) => s + x.fee, 0n);
  if (fees !== settleFees) problems.push(`the fee payer paid ${fees} in fees, its settle transactions ${settleFees}: it signed something else`);
  if (gained('settler') !== funded - settleFees) problems.push(`the fee payer's balance moved by ${gained('settler')}; funded ${funded} less its fees ${settleFees} gives ${funded - settleFees}`);
  return problems;
}

/**
 * The forged claim: the contract it names was opened in the run; its signature is a sound one by another key
 * (signedBy), not the contract's spender's; the sentinel listed it after its restart; the chain's simulation refused
 * it and passed the genuine claim; settle logged its refusal as bad_signature; and nothing on the chain claims for
 * its contract: no recorded transaction, nothing the chain searches found, and the contract ended with nonce 0, paid 0.
 */
function checkForgery(t: Transcript): string[] {
  const problems: string[] = [];
  const f = t.forgery;
  if (!f) return ['no forgery in the transcript'];
  const run = readTransactions(t, problems).filter((x) => x.phase === 'run');
  const contracts = reckonContracts(run, problems);
  const id = String(f.contract.id);
  const record = f.storeRecord;
  const target = contracts.get(id);
  if (!target) return [...problems, `the forged claim names contract ${id}, which no recorded open made`];
  if (id === String(t.contract.id)) problems.push(`the forged claim names the genuine contract ${id}`);
  if (String(record.contract_id) !== id || f.preimage !== `${id}:${record.nonce}:`) problems.push(`the store record (contract ${record.contract_id}, nonce ${record.nonce}) and the preimage "${f.preimage}" do not name contract ${id}`);
  if (record.spender !== toBech32PubKey(target.spender)) problems.push(`the store record names spender ${record.spender}, the contract's is ${toBech32PubKey(target.spender)}`);

  // A real signature, by another key: it verifies against signedBy (the control), not against the spender.
  const signature = parseHex(record.signature, 'forgery.storeRecord.signature');
  const digest = sha256(utf8(f.preimage));
  const signedBy = parseBech32PubKey(f.signedBy.bech32PubKey);
  if (toBech32PubKey(signedBy) === toBech32PubKey(target.spender)) problems.push(`the forged claim is signed by the contract's spender itself`);
  if (!verifyDigest(signedBy, digest, signature)) problems.push(`the forged signature is not ${f.signedBy.name}'s over "${f.preimage}"`);
  if (verifyDigest(target.spender, digest, signature)) problems.push(`the forged signature verifies against the contract's spender: it is no forgery`);

  // The sentinel listed it next to the genuine claim.
  const listed = (f.sentinelClaimsAfterRestart?.claims ?? []) as Transcript[];
  if (!listed.some((c) => String(c.contract_id) === id && String(c.nonce) === String(record.nonce) && c.signature === record.signature)) problems.push('the restarted sentinel did not list the forged claim');
  if (!listed.some((c) => String(c.contract_id) === String(t.contract.id) && String(c.nonce) === String(t.settledClaim.nonce))) problems.push('the restarted sentinel did not list the genuine claim');

  // The chain's own verdict (simulated, nothing sent): the genuine claim passes, the forged one fails on its signature.
  const step = (sid: string) => (t.steps as Transcript[]).find((s) => s.id === sid);
  const forgedOut = `${step('dry-run-forged')?.stdout ?? ''}${step('dry-run-forged')?.stderr ?? ''}`;
  if (f.chainSimulation?.genuineExitCode !== 0 || step('dry-run-genuine')?.exitCode !== 0) problems.push('the chain simulation did not pass the genuine claim');
  if (f.chainSimulation?.forgedExitCode === 0 || step('dry-run-forged')?.exitCode === 0 || !/signature mismatch/.test(forgedOut)) problems.push('the chain simulation did not refuse the forged claim for its signature');

  // Settle refused it in one line, with the reason, in the output of the settle step itself.
  if (t.settle?.by === SETTLED_BY_US) {
    const line = `settle: refused contract ${id} nonce ${record.nonce} (bad_signature)`;
    if (typeof f.settleRefusal !== 'string' || !f.settleRefusal.startsWith(line)) problems.push(`settle's refusal is recorded as ${JSON.stringify(f.settleRefusal)}, not "${line}: …"`);
    if (!String(step('settle')?.stderr ?? '').split('\n').includes(f.settleRefusal)) problems.push("settle's refusal line is not in the settle step's output");
  }

  // Nothing on the chain claims for the forged contract.
  for (const x of run) for (const c of claimsOf(x)) if (String(c.contractId) === id) problems.push(`transaction ${x.id} (${x.txHash.slice(0, 12)}…) claims for the forged contract ${id} (nonce ${c.nonce})`);
  const found = (f.chainSearch?.found ?? []) as Transcript[];
  for (const s of found) for (const m of s.messages ?? []) if (String(m.contractId) === id) problems.push(`the chain search found ${s.hash.slice(0, 12)}… claiming for the forged contract ${id}`);
  // The search and the recording agree: every claim transaction it found was recorded (its bytes checked above), and every recorded one was found.
  const recordedClaims = new Set(run.filter((x) => claimsOf(x).length > 0).map((x) => x.txHash));
  const foundHashes = new Set(found.map((s) => String(s.hash).toUpperCase()));
  for (const h of foundHashes) if (!recordedClaims.has(h) && found.find((s) => s.hash.toUpperCase() === h)?.messages?.some((m: Transcript) => m.typeUrl === MsgClaimContractIncomeCodec.typeUrl)) problems.push(`the chain search found claim transaction ${h.slice(0, 12)}…, which is not recorded`);
  for (const h of recordedClaims) if (!foundHashes.has(h)) problems.push(`the recorded claim transaction ${h.slice(0, 12)}… was not found by the chain search`);
  const { afterSettle, afterFinal } = f.contract;
  if (afterSettle?.nonce !== '0' || afterSettle?.paid !== '0' || afterFinal?.nonce !== '0' || afterFinal?.paid !== '0') problems.push(`contract ${id} shows nonce ${afterSettle?.nonce}/${afterFinal?.nonce} and paid ${afterSettle?.paid}/${afterFinal?.paid} after settling/at the end; nothing was claimed, so 0`);
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
  assert.ok(settle.by === 'arkeo-signer' || /^arkeod \(stand-in: settled by arkeod because /.test(settle.by), settle.by);
  assert.equal(t.settle.by === SETTLED_BY_US, settle.by === 'arkeo-signer');
});

test('the recording was settled by arkeo-signer settle, not the stand-in', () => {
  const t = load();
  assert.equal(t.recorded.settledBy, SETTLED_BY_US);
  assert.equal(t.settle.by, SETTLED_BY_US);
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
  // Which open made which contract is read from the block's event: a wrong id there is caught too.
  const reassigned = edited((t) => {
    const event = txOf(t, 'open-2').events.find((e: Transcript) => e.type === 'arkeo.arkeo.EventOpenContract');
    event.attributes.find((a: Transcript) => a.key === 'deposit').value = JSON.stringify('1');
  });
  assert.ok(checkTranscript(reassigned).some((p) => p.startsWith('transaction open-2') && p.includes('EventOpenContract')));
});

test('settling: the provider gained exactly nonce × rate less the 10% reserve; the fee payer, not the provider, paid only the fee', () => {
  const t = load();
  assert.deepEqual(checkSettlement(t), []);
  // The arithmetic, spelled out from the signed bytes of the settled claim and the open it settles.
  const claimTx = txOf(t, 'settle');
  const bytes = new Uint8Array(Buffer.from(claimTx.txRawBase64, 'base64'));
  const claim = MsgClaimContractIncomeCodec.decode(TxBody.decode(TxRaw.decode(bytes).bodyBytes).messages[0]!.value);
  const openBody = TxBody.decode(TxRaw.decode(new Uint8Array(Buffer.from(txOf(t, 'open').txRawBase64, 'base64'))).bodyBytes);
  const open = MsgOpenContractCodec.decode(openBody.messages[0]!.value);
  const gross = claim.nonce * BigInt(open.rate.amount);
  assert.equal(BigInt(t.balances.after.fox) - BigInt(t.balances.before.fox), gross - reserveOf(gross));
  const fee = uarkeo(AuthInfo.decode(TxRaw.decode(bytes).authInfoBytes).fee!.amount);
  assert.ok(fee > 0n);
  assert.equal(BigInt(t.balances.after.settler) - BigInt(t.balances.before.settler), BigInt(t.settle.fund) - fee);
});

test('a provider that paid a fee, or a fee payer that is the provider or moved more than the fee, is caught', () => {
  const providerPaid = edited((t) => (t.balances.after.fox = String(BigInt(t.balances.after.fox) - 1n)));
  assert.ok(checkSettlement(providerPaid).some((p) => p.startsWith('the provider gained')));
  const payerIsProvider = edited((t) => (t.settle.feePayer = t.keys.fox.address));
  assert.ok(checkSettlement(payerIsProvider).some((p) => p.includes('is the provider')));
  assert.ok(checkSettlement(payerIsProvider).some((p) => p.includes('not the fee payer')));
  const payerMoved = edited((t) => (t.balances.after.settler = String(BigInt(t.balances.after.settler) - 1n)));
  assert.ok(checkSettlement(payerMoved).some((p) => p.startsWith("the fee payer's balance moved")));
});

test('the forged claim: a sound signature by another key, listed by the sentinel, refused by the chain and by settle, never claimed on chain', () => {
  assert.deepEqual(checkForgery(load()), []);
});

test('each forgery guard catches its own edit', () => {
  // A claim transaction for the contract: were the forged id the genuine contract's, the recorded claim is found.
  const claimed = edited((t) => {
    t.forgery.contract.id = t.contract.id;
    t.forgery.storeRecord.contract_id = Number(t.contract.id);
  });
  assert.ok(checkForgery(claimed).some((p) => p.includes('claims for the forged contract')));
  // Something the chain search found for the forged contract.
  const searched = edited((t) => t.forgery.chainSearch.found.push({ hash: 'AB'.repeat(32), height: '1', code: 0, messages: [{ typeUrl: MsgClaimContractIncomeCodec.typeUrl, contractId: String(t.forgery.contract.id), nonce: '1' }] }));
  assert.ok(checkForgery(searched).some((p) => p.startsWith('the chain search found') && p.includes('forged contract')));
  assert.ok(checkForgery(searched).some((p) => p.includes('which is not recorded')));
  // A recorded claim the search missed.
  const missed = edited((t) => (t.forgery.chainSearch.found = []));
  assert.ok(checkForgery(missed).some((p) => p.includes('was not found by the chain search')));
  // The signature: by the spender it would be genuine; by nobody we know, not a sound signature at all.
  const bySpender = edited((t) => (t.forgery.signedBy.bech32PubKey = t.forgery.storeRecord.spender));
  assert.ok(checkForgery(bySpender).some((p) => p.includes('signed by the contract')));
  const noise = edited((t) => (t.forgery.storeRecord.signature = t.settledClaim.signature));
  assert.ok(checkForgery(noise).some((p) => p.startsWith('the forged signature is not')));
  // Settle's refusal: missing, or for another reason.
  const notRefused = edited((t) => (t.forgery.settleRefusal = null));
  assert.ok(checkForgery(notRefused).some((p) => p.startsWith("settle's refusal is recorded")));
  const otherReason = edited((t) => (t.forgery.settleRefusal = t.forgery.settleRefusal.replace('(bad_signature)', '(nonce_stale)')));
  assert.ok(checkForgery(otherReason).some((p) => p.startsWith("settle's refusal is recorded")));
  // The chain's verdict.
  const chainTook = edited((t) => (t.forgery.chainSimulation.forgedExitCode = 0));
  assert.ok(checkForgery(chainTook).some((p) => p.includes('did not refuse the forged claim')));
  // The contract's state on chain.
  const paid = edited((t) => (t.forgery.contract.afterFinal.paid = '10'));
  assert.ok(checkForgery(paid).some((p) => p.includes('nothing was claimed')));
  // The sentinel's listing.
  const unlisted = edited((t) => (t.forgery.sentinelClaimsAfterRestart.claims = t.forgery.sentinelClaimsAfterRestart.claims.filter((c: Transcript) => String(c.contract_id) !== String(t.forgery.contract.id))));
  assert.ok(checkForgery(unlisted).some((p) => p.includes('did not list the forged claim')));
});

test('the reserve rounds half to even (LegacyDec.RoundInt), as the chain does', () => {
  // debt × 10%: 0.5 → 0, 1.5 → 2, 2.5 → 2, 3.5 → 4, 2.4 → 2, 2.6 → 3.
  assert.deepEqual([5n, 15n, 25n, 35n, 24n, 26n].map(reserveOf), [0n, 2n, 2n, 4n, 2n, 3n]);
  // The measured settlement of arkeo-transactions.md §2.5: rate 10, nonce 5 → paid 50, reserve 5.
  assert.equal(reserveOf(50n), 5n);
});
