import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as path from 'node:path';
import { Ajv } from 'ajv';
import { AuthInfo, SignDoc, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { DaemonClient, OPENAPI, daemonTxSigner, parsePolicy } from '../../src/daemon/index.js';
import { MAX_SIGN_DOC_BYTES } from '../../src/daemon/tx-policy.js';
import { recordDelegate } from '../../src/claims/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { parseHex, sha256Hex, signMessage, toAddress, toBech32PubKey, utf8, verifySignature } from '../../src/crypto/index.js';
import { MsgClaimContractIncomeCodec, MsgCloseContractCodec, MsgOpenContractCodec, MsgSendCodec, signDocOf, signTx, type EncodedMessage, type TxAccount, type TxIntent } from '../../src/tx/index.js';
import { auditEntries, rawRequest, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { readVector, tempDir, type ClaimVectors } from '../helpers.js';

/**
 * POST /v1/tx/sign signs a transaction only under the token's tx policy. Each refusal is shown with its audit
 * entry and beside its control: the same request under a token that permits it is signed, and the signature is
 * the one a local signTx gives with the same key (RFC 6979: both must make identical TxRaw bytes).
 */
const VECTOR_KEYS = readVector<ClaimVectors>('arkeo-claims.json').keys;
const keyOf = (name: 'cat' | 'fox') => {
  const priv = parseHex(VECTOR_KEYS[name]!.priv, name);
  const signer = privateKeyToSigner(priv);
  return { priv, signer, hex: VECTOR_KEYS[name]!.priv };
};
const CAT = keyOf('cat');
const FOX = keyOf('fox');
const CAT_PUB = await CAT.signer.publicKey();
const FOX_PUB = await FOX.signer.publicKey();
const CAT_ADDRESS = toAddress(CAT_PUB);
const FOX_ADDRESS = toAddress(FOX_PUB);
const CHAIN = 'arkeo-local-1';
const ACCOUNT: TxAccount = { publicKey: CAT_PUB, accountNumber: 1n, sequence: 1n, chainId: CHAIN };
const RATE = { per_second: 1000, burst: 1000 };
const ALL_MESSAGES = [MsgSendCodec.typeUrl, MsgOpenContractCodec.typeUrl, MsgClaimContractIncomeCodec.typeUrl, MsgCloseContractCodec.typeUrl];
const POLICIES = {
  permit: { keys: ['cat', 'fox'], operations: ['tx'], tx: { messages: ALL_MESSAGES, max_fee: '200', max_amount: '1234', contracts: ['1', '7'] } },
  sends: { keys: ['cat'], operations: ['tx'], tx: { messages: [MsgSendCodec.typeUrl], max_fee: '200', max_amount: '1234' } },
  claimonly: { keys: ['cat'], operations: ['claim'], rate: RATE },
  everything_else: { keys: ['*'], operations: ['claim', 'arkcontract', 'raw'], contracts: ['*'], allow_management_spend: true, rate: RATE },
};
const SIG_FIELD = /"signature"/;

const send = (amount: string, from = CAT_ADDRESS): EncodedMessage => ({ typeUrl: MsgSendCodec.typeUrl, value: MsgSendCodec.encode({ fromAddress: from, toAddress: FOX_ADDRESS, amount: [{ denom: 'uarkeo', amount }] }) });
const open = (deposit: string): EncodedMessage => ({
  typeUrl: MsgOpenContractCodec.typeUrl,
  value: MsgOpenContractCodec.encode({ creator: CAT_ADDRESS, provider: toBech32PubKey(FOX_PUB), service: 'mock', client: toBech32PubKey(CAT_PUB), contractType: 1, duration: 100n, rate: { denom: 'uarkeo', amount: '10' }, deposit, settlementDuration: 10n, authorization: 0, queriesPerMinute: 10n }),
});
const claim = (contract: bigint): EncodedMessage => ({
  typeUrl: MsgClaimContractIncomeCodec.typeUrl,
  value: MsgClaimContractIncomeCodec.encode({ creator: CAT_ADDRESS, contractId: contract, signature: signMessage(FOX.priv, utf8(`${contract}:5:`)), nonce: 5n }),
});
const close = (contract: bigint): EncodedMessage => ({ typeUrl: MsgCloseContractCodec.typeUrl, value: MsgCloseContractCodec.encode({ creator: CAT_ADDRESS, contractId: contract, client: toBech32PubKey(CAT_PUB) }) });
const intentOf = (messages: EncodedMessage[], fee: { denom?: string; amount?: string } = {}): TxIntent => ({ messages, fee: { amount: [{ denom: fee.denom ?? 'uarkeo', amount: fee.amount ?? '200' }], gasLimit: 200000n } });
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** The SignDoc of `intent` with its body or auth info changed after encoding (what signDocOf never writes). */
function patched(intent: TxIntent, change: { body?: (b: TxBody) => void; auth?: (a: AuthInfo) => void }): Uint8Array {
  const doc = signDocOf(intent, ACCOUNT);
  const body = TxBody.decode(doc.bodyBytes);
  const auth = AuthInfo.decode(doc.authInfoBytes);
  change.body?.(body);
  change.auth?.(auth);
  return SignDoc.encode({ bodyBytes: TxBody.encode(body).finish(), authInfoBytes: AuthInfo.encode(auth).finish(), chainId: CHAIN, accountNumber: ACCOUNT.accountNumber }).finish();
}

const ajv = new Ajv({ strict: false });
const replySchema = (status: string) => {
  const r = (OPENAPI.paths['/v1/tx/sign'].post.responses as Record<string, any>)[status];
  return status === '200' ? r.content['application/json'].schema : OPENAPI.components.schemas.Error;
};

function client(d: TestDaemon) {
  const post = (token: string, signDoc: Uint8Array | unknown, key = 'cat') =>
    rawRequest(d.socket, 'POST', '/v1/tx/sign', { token: d.tokens[token], body: JSON.stringify({ key, sign_doc: signDoc instanceof Uint8Array ? b64(signDoc) : signDoc }) });
  const lastEntry = () => auditEntries(d.config).at(-1)!;

  /** Signed under `token`, exactly as a local signTx signs it, and audited with what was signed. */
  async function signed(token: string, intent: TxIntent, account = ACCOUNT) {
    const doc = signDocOf(intent, account);
    const r = await post(token, doc.signDoc);
    assert.equal(r.status, 200, r.body);
    assert.ok(ajv.validate(replySchema('200'), r.json), `reply matches /openapi.json: ${ajv.errorsText(ajv.errors)}`);
    const local = await signTx(CAT.signer, intent, account);
    const signature = new Uint8Array(Buffer.from(String(r.json!.signature), 'base64'));
    assert.ok(verifySignature(CAT_PUB, doc.signDoc, signature), 'the signature verifies against the key');
    assert.equal(r.json!.signature, b64(local.signature), 'the same signature as a local signTx');
    assert.deepEqual(TxRaw.encode({ bodyBytes: doc.bodyBytes, authInfoBytes: doc.authInfoBytes, signatures: [signature] }).finish(), local.txBytes, 'identical TxRaw bytes');
    assert.equal(r.json!.tx_hash, local.txHash);
    const entry = lastEntry();
    assert.deepEqual([entry.result, entry.status, entry.what.op, entry.what.key, entry.what.tx_hash, entry.what.msg_sha256], ['ok', 200, 'tx', CAT_ADDRESS, local.txHash, sha256Hex(doc.signDoc)]);
    assert.deepEqual([entry.what.chain_id, entry.what.account_number, entry.what.sequence], [CHAIN, String(account.accountNumber), String(account.sequence)]);
    return entry;
  }

  /** Refused with `status` and a one-line reason matching `why`, nothing signed, and audited with the same reason. */
  async function refused(token: string, signDoc: Uint8Array | unknown, status: number, why: RegExp, key = 'cat') {
    const r = await post(token, signDoc, key);
    assert.equal(r.status, status, r.body);
    assert.ok(ajv.validate(replySchema(String(status)), r.json), `reply matches /openapi.json: ${ajv.errorsText(ajv.errors)}`);
    assert.match(String(r.json!.error), why);
    assert.doesNotMatch(String(r.json!.error), /\n/, 'one line');
    assert.doesNotMatch(r.body, SIG_FIELD, 'no signature');
    const entry = lastEntry();
    assert.deepEqual([entry.result, entry.status, entry.what.op], [status === 403 ? 'denied' : 'error', status, 'tx']);
    assert.match(entry.reason, why);
    if (signDoc instanceof Uint8Array && status === 403 && entry.what.messages !== undefined) assert.equal(entry.what.msg_sha256, sha256Hex(signDoc), 'the refusal names the SignDoc');
    return entry;
  }
  return { post, signed, refused, lastEntry };
}

test('tx policy: granting tx needs a tx object naming every message and bound; tx is implied by nothing', () => {
  const ok = parsePolicy({ keys: ['cat'], operations: ['tx'], contracts: ['5'], tx: { messages: [MsgClaimContractIncomeCodec.typeUrl, MsgSendCodec.typeUrl], max_fee: '300', max_amount: '10' } });
  assert.deepEqual(ok.tx, { messages: [MsgClaimContractIncomeCodec.typeUrl, MsgSendCodec.typeUrl], max_fee: '300', max_amount: '10', contracts: ['5'] }, 'contracts default to the token\'s');
  assert.deepEqual(parsePolicy({ keys: ['*'], operations: ['claim', 'arkcontract', 'raw'] }).operations, ['claim', 'arkcontract', 'raw']);
  assert.equal(parsePolicy({ keys: ['*'] }).tx, undefined);
  const base = { keys: ['cat'], operations: ['tx'] };
  const tx = { messages: [MsgSendCodec.typeUrl], max_fee: '200', max_amount: '1' };
  for (const [policy, why] of [
    [base, /^policy\.tx: operations grants "tx", so the policy must say which transactions/],
    [{ keys: ['cat'], tx }, /^policy\.tx: given, but operations does not grant "tx"/],
    [{ ...base, tx: { ...tx, messages: ['*'] } }, /^policy\.tx\.messages: "\*" is not accepted/],
    [{ ...base, tx: { ...tx, messages: ['/cosmos.staking.v1beta1.MsgDelegate'] } }, /^policy\.tx\.messages: "\/cosmos\.staking\.v1beta1\.MsgDelegate" is not a message the daemon can read/],
    [{ ...base, tx: { ...tx, messages: [] } }, /^policy\.tx\.messages: expected a non-empty list/],
    [{ ...base, tx: { messages: tx.messages, max_amount: '1' } }, /^policy\.tx\.max_fee: required/],
    [{ ...base, tx: { ...tx, max_fee: '-1' } }, /^policy\.tx\.max_fee: expected a decimal string/],
    [{ ...base, tx: { messages: tx.messages, max_fee: '1' } }, /^policy\.tx\.max_amount: required with \/cosmos\.bank\.v1beta1\.MsgSend/],
    [{ ...base, tx: { messages: [MsgClaimContractIncomeCodec.typeUrl], max_fee: '1', max_amount: '1' } }, /^policy\.tx\.max_amount: bounds sends and opens only/],
    [{ ...base, tx: { ...tx, contracts: ['1'] } }, /^policy\.tx\.contracts: bounds claims and closes only/],
    [{ ...base, tx: { ...tx, fee: '1' } }, /^policy\.tx\.fee: unknown field/],
    [{ ...base, operations: ['claim', 'tx'], delegate_contracts_only: true, tx }, /^policy\.operations: a delegate_contracts_only token signs claims only; remove tx$/],
  ] as const) {
    assert.throws(() => parsePolicy(policy), (e: Error) => (assert.match(e.message, why), assert.doesNotMatch(e.message, /\n/), true), JSON.stringify(policy));
  }
});

test('POST /v1/tx/sign: each rule refuses (403, audited with its context), and the same request under a permitting token is signed as a local signTx signs it', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ cat: CAT.hex, fox: FOX.hex }, Object.fromEntries(Object.entries(POLICIES).map(([k, p]) => [k, { rate: RATE, ...p }])));
  t.after(() => d.daemon.stop());
  const { signed, refused } = client(d);
  const sendDoc = signDocOf(intentOf([send('1234')]), ACCOUNT).signDoc;

  // The control of everything below: a send within every bound. Its entry records what was signed.
  const entry = await signed('permit', intentOf([send('1234')]));
  assert.equal(entry.what.messages, `MsgSend from=${CAT_ADDRESS} to=${FOX_ADDRESS} amount=1234uarkeo`);
  assert.deepEqual([entry.what.fee, entry.what.gas_limit, entry.what.backend], ['200uarkeo', '200000', 'local']);
  assert.doesNotMatch(JSON.stringify(entry), new RegExp(`${CAT.hex}|${d.tokens.permit}`), 'no key, no token');

  // A message type the token does not list (and one the daemon cannot read at all).
  const openDoc = signDocOf(intentOf([open('1000')]), ACCOUNT).signDoc;
  await refused('sends', openDoc, 403, /^message 0: \/arkeo\.arkeo\.MsgOpenContract is not among the messages token sends may sign/);
  await signed('permit', intentOf([open('1000')]));
  const delegate = { typeUrl: '/cosmos.staking.v1beta1.MsgDelegate', value: Uint8Array.of(0x0a, 0x01, 0x78) };
  await refused('permit', signDocOf(intentOf([delegate]), ACCOUNT).signDoc, 403, /^message 0: \/cosmos\.staking\.v1beta1\.MsgDelegate is not among the messages/);
  await refused('permit', signDocOf(intentOf([send('1'), delegate]), ACCOUNT).signDoc, 403, /^message 1: /);

  // The fee: above max_fee, or in another denomination.
  await refused('permit', signDocOf(intentOf([send('1234')], { amount: '201' }), ACCOUNT).signDoc, 403, /^fee: 201uarkeo is more than token permit's max_fee of 200uarkeo/);
  await refused('permit', signDocOf(intentOf([send('1234')], { denom: 'ibc/ABC', amount: '1' }), ACCOUNT).signDoc, 403, /^fee: ibc\/ABC is not uarkeo/);
  await signed('permit', intentOf([send('1234')], { amount: '199' }));

  // Amounts: one send over, one deposit over, two sends that are over only together.
  await refused('permit', signDocOf(intentOf([send('1235')]), ACCOUNT).signDoc, 403, /^amount: the transaction moves 1235uarkeo \(sends and deposits\), more than token permit's max_amount of 1234uarkeo/);
  await refused('permit', signDocOf(intentOf([open('1235')]), ACCOUNT).signDoc, 403, /moves 1235uarkeo/);
  await refused('permit', signDocOf(intentOf([send('1000'), send('1000')]), ACCOUNT).signDoc, 403, /moves 2000uarkeo/);
  await signed('permit', intentOf([send('234'), send('1000')]));

  // Claims and closes for a contract outside the token's list: the entry names the contract.
  for (const [bad, good] of [[claim(2n), claim(1n)], [close(2n), close(7n)]] as const) {
    const e = await refused('permit', signDocOf(intentOf([bad]), ACCOUNT).signDoc, 403, /^contract 2 is not among the contracts token permit may sign claims and closes for \(1, 7\)/);
    assert.deepEqual([e.what.contract, e.what.key, e.what.address], ['2', 'cat', CAT_ADDRESS]);
    const ok = await signed('permit', intentOf([good]));
    assert.match(ok.what.messages, new RegExp(`^${good.typeUrl.slice(good.typeUrl.lastIndexOf('.') + 1)} creator=${CAT_ADDRESS} contract=${ok.what.contract}`));
  }

  // A message whose signer is another address (fox's), though the key and the SignerInfo are cat's.
  await refused('permit', signDocOf(intentOf([send('1', FOX_ADDRESS)]), ACCOUNT).signDoc, 403, new RegExp(`^message 0: its signer ${FOX_ADDRESS} is not key cat's address ${CAT_ADDRESS}`));
  // A SignerInfo with fox's public key, asked of key cat; and the same SignDoc asked of fox fails on the message signer.
  const foxInfo = signDocOf(intentOf([send('1234')]), { ...ACCOUNT, publicKey: FOX_PUB }).signDoc;
  await refused('permit', foxInfo, 403, /^auth_info: the signer's public key is not key cat's/);
  await refused('permit', foxInfo, 403, /^message 0: its signer .* is not key fox's address/, 'fox');
  await refused('permit', patched(intentOf([send('1234')]), { auth: (a) => a.signerInfos.push({ ...a.signerInfos[0]!, sequence: 9n }) }), 403, /^auth_info: 2 signers; the daemon signs transactions with exactly one, key cat/);
  // Extension options, and a fee paid by someone else's grant.
  await refused('permit', patched(intentOf([send('1234')]), { body: (b) => b.extensionOptions.push({ typeUrl: '/x.Ext', value: Uint8Array.of(1) }) }), 403, /^body: extension options are not signed/);
  await refused('permit', patched(intentOf([send('1234')]), { auth: (a) => (a.fee!.granter = FOX_ADDRESS) }), 403, /^auth_info: the fee has a payer or granter other than key cat/);
  await signed('permit', intentOf([send('1234')]));

  // The operation: a claim-only token, and a token with every other operation and "*" keys and contracts.
  for (const token of ['claimonly', 'everything_else']) {
    const e = await refused(token, sendDoc, 403, new RegExp(`^operation tx is not allowed for token ${token}$`));
    assert.equal(e.who.token, token);
    assert.equal(e.what.key, 'cat');
  }
});

test('POST /v1/tx/sign: malformed, truncated, non-canonical or oversized sign_doc is a one-line 400, audited; the well-formed one is signed', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ cat: CAT.hex }, { permit: { ...POLICIES.permit, keys: ['cat'], rate: RATE } });
  t.after(() => d.daemon.stop());
  const { signed, refused, post } = client(d);
  const doc = signDocOf(intentOf([send('1')]), ACCOUNT).signDoc;
  const truncatedMessage = { typeUrl: MsgSendCodec.typeUrl, value: send('1').value.subarray(0, 20) };
  for (const [value, why] of [
    [undefined, /^sign_doc: expected the SignDoc bytes as base64$/],
    [42, /^sign_doc: expected the SignDoc bytes as base64$/],
    ['', /^sign_doc: expected the SignDoc bytes as base64$/],
    ['not base64!', /^sign_doc: not base64/],
    ['AB==', /^sign_doc: not canonical base64$/],
    [doc.subarray(0, doc.length - 3), /^sign_doc: SignDoc: truncated or malformed protobuf/],
    [Uint8Array.of(...doc, 0x28, 0x01), /^sign_doc: SignDoc: not in canonical encoding/],
    [patched(intentOf([send('1')]), { body: (b) => (b.messages = []) }), /^sign_doc: the body holds no message$/],
    [signDocOf(intentOf([truncatedMessage]), ACCOUNT).signDoc, /^sign_doc: message 0: \/cosmos\.bank\.v1beta1\.MsgSend: not in canonical encoding|^sign_doc: message 0: .*truncated/],
    [signDocOf(intentOf([{ typeUrl: MsgOpenContractCodec.typeUrl, value: open('1').value.subarray(0, 30) }]), ACCOUNT).signDoc, /^sign_doc: message 0: \/arkeo\.arkeo\.MsgOpenContract: truncated or malformed bytes/],
    [new Uint8Array(MAX_SIGN_DOC_BYTES + 1), new RegExp(`^sign_doc: more than ${MAX_SIGN_DOC_BYTES} bytes`)],
  ] as const) {
    const e = await refused('permit', value, 400, why);
    assert.equal(e.what.key, 'cat', 'the entry names the key');
  }
  const extra = await rawRequest(d.socket, 'POST', '/v1/tx/sign', { token: d.tokens.permit, body: JSON.stringify({ key: 'cat', sign_doc: b64(doc), signature: 'x' }) });
  assert.deepEqual([extra.status, extra.json!.error], [400, 'unknown field "signature"']);
  // Control: the same SignDoc, whole.
  await signed('permit', intentOf([send('1')]));
  assert.equal((await post('permit', doc)).status, 200);
});

test('keyring.delegates_only: a delegate key signs no transaction; the same SignDoc from a daemon serving the key as an account key is signed', { timeout: 60_000 }, async (t) => {
  const delegateHost = await startTestDaemon({ cat: CAT.hex }, { permit: { ...POLICIES.permit, keys: ['cat'], rate: RATE } }, (c) => {
    c.keyring.delegates_only = true;
    recordDelegate(c.keyring.home, { name: 'cat', pubkey: toBech32PubKey(CAT_PUB), account: toBech32PubKey(FOX_PUB) });
  });
  t.after(() => delegateHost.daemon.stop());
  const accountHost = await startTestDaemon({ cat: CAT.hex }, { permit: { ...POLICIES.permit, keys: ['cat'], rate: RATE } });
  t.after(() => accountHost.daemon.stop());
  const onDelegate = client(delegateHost);
  for (const message of [send('1234'), open('1000'), claim(1n), close(7n)]) {
    const e = await onDelegate.refused('permit', signDocOf(intentOf([message]), ACCOUNT).signDoc, 403, /^key cat is served as a claim delegate \(keyring\.delegates_only\): it signs claims only, never transactions$/);
    assert.deepEqual([e.what.key, e.what.address], ['cat', CAT_ADDRESS]);
  }
  await client(accountHost).signed('permit', intentOf([send('1234')]));
});

test('daemonTxSigner: src/tx signTx through the daemon makes the TxRaw a local key makes; a reply that does not verify is refused (stub daemon, with its honest control)', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ cat: CAT.hex }, { permit: { ...POLICIES.permit, keys: ['cat'], rate: RATE } });
  t.after(() => d.daemon.stop());
  const real = new DaemonClient(d.socket, { token: d.tokens.permit! });
  t.after(() => real.close());
  const intent = intentOf([claim(1n)]);
  const viaDaemon = await signTx(daemonTxSigner(real, 'cat'), intent, ACCOUNT);
  const local = await signTx(CAT.signer, intent, ACCOUNT);
  assert.deepEqual([viaDaemon.txBytes, viaDaemon.txHash], [local.txBytes, local.txHash]);
  assert.equal(auditEntries(d.config).at(-1)!.what.tx_hash, local.txHash);

  // A stub that answers as a daemon would, with `answer` deciding the signature and hash it sends back.
  let answer: (signDoc: Uint8Array) => object = () => ({});
  const stub = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = req.url === '/v1/keys' ? [{ name: 'cat', address: CAT_ADDRESS, pubkey: toBech32PubKey(CAT_PUB), pubkey_hex: Buffer.from(CAT_PUB).toString('hex') }] : answer(Buffer.from(JSON.parse(Buffer.concat(chunks).toString()).sign_doc, 'base64'));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  const socket = path.join(tempDir(), 'stub.sock');
  await new Promise<void>((resolve) => stub.listen(socket, resolve));
  t.after(() => new Promise<void>((resolve) => stub.close(() => resolve())));
  const viaStub = new DaemonClient(socket, { token: 'ark_stub' });
  t.after(() => viaStub.close());
  const signer = daemonTxSigner(viaStub, 'cat');
  const honest = (key: typeof CAT) => (signDoc: Uint8Array) => {
    const signature = signMessage(key.priv, signDoc);
    const doc = SignDoc.decode(signDoc);
    const hash = sha256Hex(TxRaw.encode({ bodyBytes: doc.bodyBytes, authInfoBytes: doc.authInfoBytes, signatures: [signature] }).finish()).toUpperCase();
    return { signature: b64(signature), tx_hash: hash };
  };
  answer = honest(CAT);
  assert.deepEqual((await signTx(signer, intent, ACCOUNT)).txBytes, local.txBytes, 'control: an honest answer is taken');
  answer = honest(FOX);
  await assert.rejects(signTx(signer, intent, ACCOUNT), { code: 'SELF_CHECK_FAILED', message: 'daemon: the transaction signature for cat does not verify against its public key; not released' });
  answer = (signDoc) => ({ ...honest(CAT)(signDoc), signature: b64(signMessage(CAT.priv, utf8('something else'))) });
  await assert.rejects(signTx(signer, intent, ACCOUNT), { code: 'SELF_CHECK_FAILED' });
  answer = (signDoc) => ({ ...honest(CAT)(signDoc), tx_hash: '0'.repeat(64) });
  await assert.rejects(signTx(signer, intent, ACCOUNT), { code: 'BAD_REPLY', message: /transaction hash it recorded for cat is not the hash of this transaction/ });
  answer = (signDoc) => ({ ...honest(CAT)(signDoc), signature: b64(new Uint8Array(63)) });
  await assert.rejects(signTx(signer, intent, ACCOUNT), { code: 'BAD_REPLY' });
});
