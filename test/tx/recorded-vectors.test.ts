import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { TxBody } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import {
  MESSAGE_CODECS,
  MsgClaimContractIncomeCodec,
  MsgCloseContractCodec,
  MsgOpenContractCodec,
  MsgSendCodec,
  signDocOf,
  signTx,
  type EncodedMessage,
  type SignedTx,
  type TxAccount,
  type TxIntent,
} from '../../src/tx/index.js';
import { AwsKmsSigner, CloudStats, Pkcs11Signer, SECP256K1_EC_PARAMS, createAwsKmsKey, loadPkcs11Module, privateKeyToSigner, releasePkcs11Module, type Signer } from '../../src/signers/index.js';
import { parseHex, sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { REPO_ROOT, readVector, requireComponent, tempDir, type ClaimVectors } from '../helpers.js';
import { startSoftHsm, USER_PIN } from '../support/softhsm.js';
import { findLocalKms, startLocalKms } from '../support/local-kms.js';

/**
 * Transactions a real arkeod (v1.0.17, built from 905bc49) signed, recorded by test/e2e/record-arkeod.sh into
 * test/vectors-arkeod/transactions-recorded.json: every one is rebuilt from its fields by src/tx and signed by
 * the same key through three backends.
 *   - LocalSigner: RFC 6979 like arkeod, so SignDoc, TxRaw, signature and txhash must all be arkeod's, byte for byte.
 *   - SoftHSM2 (PKCS#11) and local-kms (AWS KMS) with the same private key imported: they sign with a random k, so
 *     the signature is theirs; body, auth info and SignDoc must be arkeod's, the signature must verify (low-S) over
 *     the SignDoc with the key's public key, and the TxRaw must be arkeod's but for its last 64 bytes, the signature
 *     (docs/decisions/tx-vectors-backends.md).
 */
interface Coin {
  denom: string;
  amount: string;
}
interface RecordedVector {
  id: string;
  name: string;
  path: 'broadcast' | 'generate-sign-encode' | 'generate-sign-encode+broadcast';
  signer: string;
  accountNumber: string;
  sequence: string;
  chainId: string;
  fee: { amount: Coin[]; gasLimit: string };
  memo: string;
  timeoutHeight: string;
  message: Record<string, any> & { typeUrl: string };
  gasPrices?: string;
  txRawBase64: string;
  txHash: string;
  bodyBytesHex: string;
  authInfoBytesHex: string;
  signDocHex: string;
  signature: string;
  block?: { code: number; gasUsed: string };
}
interface RecordedFile {
  chainId: string;
  keys: Record<string, { address: string; publicKey: string; bech32PubKey: string }>;
  vectors: RecordedVector[];
  negatives: { id: string; phase: string; code: number; codespace: string; rawLog: string }[];
}

const DIR = path.join(REPO_ROOT, 'test', 'vectors-arkeod');
const FILE = JSON.parse(fs.readFileSync(path.join(DIR, 'transactions-recorded.json'), 'utf8')) as RecordedFile;
const KEYS = readVector<ClaimVectors>('arkeo-claims.json').keys;
const privateKeyOf = (name: string) => parseHex(KEYS[name]!.priv, `${name}'s private key`, 32);
const SIGNERS = [...new Set(FILE.vectors.map((v) => v.signer))];

/** What §7.1 of the transaction spec asks to record; a file missing one is a broken recording, not a smaller test. */
const REQUIRED = [
  'open-payg-strict', 'open-payg-delegate', 'open-subscription', 'open-subscription-open',
  'close-no-delegate', 'close-with-delegate',
  'claim-provider-pre0', 'claim-third-party-prechain', 'claim-provider-delegate', 'claim-third-party-delegate',
  'send-plain', 'send-note', 'send-timeout', 'send-gas-prices', 'send-multi-coin', 'send-dog', 'send-sequence-0', 'send-broadcast',
];

function messageOf(m: RecordedVector['message']): EncodedMessage {
  const { typeUrl } = m;
  if (typeUrl === MsgSendCodec.typeUrl) {
    return { typeUrl, value: MsgSendCodec.encode({ fromAddress: m.fromAddress, toAddress: m.toAddress, amount: m.amount }) };
  }
  if (typeUrl === MsgOpenContractCodec.typeUrl) {
    return {
      typeUrl,
      value: MsgOpenContractCodec.encode({
        creator: m.creator,
        provider: m.provider,
        service: m.service,
        client: m.client,
        ...(m.delegate !== undefined ? { delegate: m.delegate } : {}),
        contractType: m.contractType,
        duration: BigInt(m.duration),
        rate: m.rate,
        deposit: m.deposit,
        settlementDuration: BigInt(m.settlementDuration),
        authorization: m.authorization,
        queriesPerMinute: BigInt(m.queriesPerMinute),
      }),
    };
  }
  if (typeUrl === MsgCloseContractCodec.typeUrl) {
    return { typeUrl, value: MsgCloseContractCodec.encode({ creator: m.creator, contractId: BigInt(m.contractId), client: m.client, ...(m.delegate !== undefined ? { delegate: m.delegate } : {}) }) };
  }
  if (typeUrl === MsgClaimContractIncomeCodec.typeUrl) {
    return { typeUrl, value: MsgClaimContractIncomeCodec.encode({ creator: m.creator, contractId: BigInt(m.contractId), signature: parseHex(m.signature, 'claim signature', 64), nonce: BigInt(m.nonce) }) };
  }
  throw new Error(`vector message ${typeUrl}: no codec in src/tx`);
}

const intentOf = (v: RecordedVector): TxIntent => ({
  messages: [messageOf(v.message)],
  memo: v.memo,
  timeoutHeight: BigInt(v.timeoutHeight),
  fee: { amount: v.fee.amount, gasLimit: BigInt(v.fee.gasLimit) },
});
const accountOf = (v: RecordedVector, publicKey: Uint8Array): TxAccount => ({ publicKey, accountNumber: BigInt(v.accountNumber), sequence: BigInt(v.sequence), chainId: v.chainId });
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
/** Checked with @noble/curves directly, not through the signers' own finalizeSignature. */
const verifies = (signature: Uint8Array, signDoc: Uint8Array, publicKey: Uint8Array) => secp256k1.verify(signature, sha256(signDoc), publicKey, { prehash: false, lowS: true });

/** What every backend must match: arkeod's body, auth info and SignDoc. */
function assertSameDocument(v: RecordedVector, signed: SignedTx): void {
  assert.equal(toHex(signed.bodyBytes), v.bodyBytesHex, `${v.id}: body bytes`);
  assert.equal(toHex(signed.authInfoBytes), v.authInfoBytesHex, `${v.id}: auth info bytes`);
  assert.equal(toHex(signed.signDoc), v.signDocHex, `${v.id}: SignDoc`);
}

/** A random-k backend: its own signature, valid and low-S, in arkeod's TxRaw in place of arkeod's 64 bytes. */
function assertSameButSignature(v: RecordedVector, signed: SignedTx, publicKey: Uint8Array): void {
  assertSameDocument(v, signed);
  assert.ok(verifies(signed.signature, signed.signDoc, publicKey), `${v.id}: the backend's signature verifies over the SignDoc (low-S)`);
  const ours = signed.txBytes;
  const arkeods = Buffer.from(v.txRawBase64, 'base64');
  assert.equal(ours.length, arkeods.length, `${v.id}: TxRaw length`);
  const cut = ours.length - 64;
  assert.equal(b64(ours.subarray(0, cut)), b64(arkeods.subarray(0, cut)), `${v.id}: TxRaw up to the signature`);
  assert.equal(toHex(ours.subarray(cut)), toHex(signed.signature), `${v.id}: the last 64 bytes are the signature`);
  // Control: the signature is the backend's own (random k), not arkeod's deterministic one handed through.
  assert.notEqual(toHex(signed.signature), v.signature, `${v.id}: the backend signed itself`);
}

test('recorded vectors: every kind §7.1 asks for is there, made by arkeod with the keys of the claim vectors', () => {
  const ids = FILE.vectors.map((v) => v.id);
  assert.deepEqual(REQUIRED.filter((id) => !ids.includes(id)), []);
  assert.equal(new Set(ids).size, ids.length, 'vector ids are unique');
  for (const [name, key] of Object.entries(FILE.keys)) {
    assert.equal(key.publicKey, KEYS[name]!.pub, `${name}: the recording's key is the claim vectors' key`);
    assert.equal(key.address, KEYS[name]!.address);
  }
  for (const v of FILE.vectors) {
    if (v.path !== 'generate-sign-encode') assert.equal(v.block?.code, 0, `${v.id}: included with code 0`);
  }
  const negatives = Object.fromEntries(FILE.negatives.map((n) => [n.id, n]));
  assert.deepEqual([negatives['wrong-sequence']?.code, negatives['low-fee']?.code, negatives['replayed-claim']?.code], [32, 13, 23]);
  assert.match(negatives['replayed-claim']!.rawLog, /^failed to execute message; message index: 0: contract nonce \(\d+\) is greater than msg nonce \(\d+\)/);
});

test('recorded vectors: the three anchors of transactions.json came out again from the freshly built arkeod', () => {
  const anchors = JSON.parse(fs.readFileSync(path.join(DIR, 'transactions.json'), 'utf8')) as { vectors: { name: string; txHash: string; signature: string }[] };
  const recorded = new Map(FILE.vectors.map((v) => [v.txHash, v]));
  for (const a of anchors.vectors) {
    assert.equal(recorded.get(a.txHash)?.signature, a.signature, `${a.name}: recorded again, same txhash and signature`);
  }
});

for (const v of FILE.vectors) {
  test(`recorded vector ${v.id} (${v.path}): LocalSigner gives arkeod's SignDoc, TxRaw, signature and txhash`, async () => {
    const signer = privateKeyToSigner(privateKeyOf(v.signer));
    const signed = await signTx(signer, intentOf(v), accountOf(v, await signer.publicKey()));
    assertSameDocument(v, signed);
    assert.equal(toHex(signed.signature), v.signature);
    assert.equal(b64(signed.txBytes), v.txRawBase64);
    assert.equal(signed.txHash, v.txHash);
    // The message arkeod wrote reads back through src/tx's codec to the same bytes (what is signed can be shown).
    const [any] = TxBody.decode(parseHex(v.bodyBytesHex, 'body')).messages;
    const codec = MESSAGE_CODECS.get(any!.typeUrl)!;
    assert.equal(toHex(codec.encode(codec.decode(any!.value))), toHex(any!.value));
  });
}

test('recorded vectors: the claim signatures inside are our keys\' RFC 6979 signatures over the stated preimage', async () => {
  const claims = FILE.vectors.filter((v) => v.message.typeUrl === MsgClaimContractIncomeCodec.typeUrl);
  assert.ok(claims.some((v) => v.message.claim.preimage.endsWith(':')) && claims.some((v) => v.message.claim.preimage.endsWith(`:${FILE.chainId}`)), 'both preimage forms');
  for (const v of claims) {
    const { signedBy, preimage } = v.message.claim;
    assert.equal(toHex(await privateKeyToSigner(privateKeyOf(signedBy)).sign(utf8(preimage))), v.message.signature, v.id);
  }
});

test('recorded vectors: --gas-prices gave fee = ceil(price × gas), and that fee is what the SignDoc carries', () => {
  const v = FILE.vectors.find((x) => x.id === 'send-gas-prices')!;
  const [, price, denom] = /^([0-9.]+)([a-z]+)$/.exec(v.gasPrices!)!;
  const [whole, frac = ''] = price!.split('.');
  const scale = 10n ** BigInt(frac.length);
  const product = BigInt(whole! + frac) * BigInt(v.fee.gasLimit);
  assert.deepEqual(v.fee.amount, [{ denom, amount: ((product + scale - 1n) / scale).toString() }]);
  assert.ok(product % scale !== 0n, 'the product is fractional, so the rounding is exercised');
});

test('recorded vectors (control): one field off and the bytes differ, and arkeod\'s signature no longer verifies', async () => {
  const v = FILE.vectors.find((x) => x.id === 'send-plain')!;
  const signer = privateKeyToSigner(privateKeyOf(v.signer));
  const pub = await signer.publicKey();
  const arkeods = parseHex(v.signature, 'signature', 64);
  assert.ok(verifies(arkeods, signDocOf(intentOf(v), accountOf(v, pub)).signDoc, pub), 'the control\'s control: it verifies over the right SignDoc');
  const off: [string, TxAccount, TxIntent][] = [
    ['sequence', { ...accountOf(v, pub), sequence: BigInt(v.sequence) + 1n }, intentOf(v)],
    ['account number', { ...accountOf(v, pub), accountNumber: BigInt(v.accountNumber) + 1n }, intentOf(v)],
    ['chain id', { ...accountOf(v, pub), chainId: 'arkeo-local-2' }, intentOf(v)],
    ['memo', accountOf(v, pub), { ...intentOf(v), memo: ' ' }],
    ['gas', accountOf(v, pub), { ...intentOf(v), fee: { ...intentOf(v).fee, gasLimit: BigInt(v.fee.gasLimit) + 1n } }],
  ];
  for (const [what, account, intent] of off) {
    const signed = await signTx(signer, intent, account);
    assert.notEqual(toHex(signed.signDoc), v.signDocHex, what);
    assert.notEqual(signed.txHash, v.txHash, what);
    assert.ok(!verifies(arkeods, signed.signDoc, pub), `${what}: arkeod's signature does not verify over the changed SignDoc`);
  }
});

/** Every vector through a random-k backend holding the same keys. */
async function checkBackend(signers: Map<string, Signer>): Promise<void> {
  for (const v of FILE.vectors) {
    const signer = signers.get(v.signer)!;
    const publicKey = await signer.publicKey();
    assert.equal(toHex(publicKey), KEYS[v.signer]!.pub, `${v.id}: the backend holds ${v.signer}'s key`);
    assertSameButSignature(v, await signTx(signer, intentOf(v), accountOf(v, publicKey)), publicKey);
  }
}

test('recorded vectors through PKCS#11 (SoftHSM2, the same private keys imported): arkeod\'s bytes but for the signature', { timeout: 120_000 }, async (t) => {
  const hsm = startSoftHsm(t);
  if (!hsm) return;
  hsm.initToken('recorded');
  const mod = loadPkcs11Module(hsm.module);
  try {
    const lib = mod.lib;
    const p11 = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === 'recorded')!;
    const session = lib.C_OpenSession(slot, p11.CKF_SERIAL_SESSION | p11.CKF_RW_SESSION);
    try {
      lib.C_Login(session, p11.CKU_USER, USER_PIN);
      for (const [i, name] of SIGNERS.entries()) {
        const d = privateKeyOf(name);
        const point = secp256k1.getPublicKey(d, false);
        const common = [
          { type: p11.CKA_TOKEN, value: true },
          { type: p11.CKA_KEY_TYPE, value: p11.CKK_EC },
          { type: p11.CKA_LABEL, value: name },
          { type: p11.CKA_ID, value: Buffer.from([i + 1]) },
          { type: p11.CKA_EC_PARAMS, value: Buffer.from(SECP256K1_EC_PARAMS) },
        ];
        lib.C_CreateObject(session, [{ type: p11.CKA_CLASS, value: p11.CKO_PRIVATE_KEY }, ...common, { type: p11.CKA_PRIVATE, value: true }, { type: p11.CKA_SENSITIVE, value: true }, { type: p11.CKA_SIGN, value: true }, { type: p11.CKA_VALUE, value: Buffer.from(d) }]);
        // CKA_EC_POINT: DER OCTET STRING around the uncompressed point.
        lib.C_CreateObject(session, [{ type: p11.CKA_CLASS, value: p11.CKO_PUBLIC_KEY }, ...common, { type: p11.CKA_VERIFY, value: true }, { type: p11.CKA_EC_POINT, value: Buffer.from([0x04, point.length, ...point]) }]);
      }
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    releasePkcs11Module(mod);
  }
  const signers = new Map<string, Signer>();
  t.after(() => {
    for (const s of signers.values()) (s as Pkcs11Signer).destroy();
  });
  for (const name of SIGNERS) {
    // open() checks that the token's public key is the one given here, and signs a self-test.
    signers.set(name, await Pkcs11Signer.open({ module: hsm.module, uri: `pkcs11:token=recorded;object=${name}`, publicKey: parseHex(KEYS[name]!.pub, 'pub', 33), pin: async () => USER_PIN }));
  }
  await checkBackend(signers);
  assert.equal([...signers.values()].reduce((n, s) => n + (s as Pkcs11Signer).stats.signatures, 0), FILE.vectors.length, 'every signature came from the token');
});

function findGo(): string | undefined {
  return ['go', '/usr/local/go/bin/go'].find((g) => spawnSync(g, ['version']).status === 0);
}

/**
 * local-kms cannot import a secp256k1 key through its API (ImportKeyMaterial is AES-only; its seeding file parses EC
 * keys with Go's crypto/x509, which has no secp256k1), so the key is created there as ECC_SECG_P256K1 and its key
 * material replaced in local-kms's LevelDB while it is stopped, by test/e2e/local-kms-import (Go, goleveldb).
 */
test('recorded vectors through AWS KMS (local-kms, the same private keys put in its store): arkeod\'s bytes but for the signature', { timeout: 300_000 }, async (t: TestContext) => {
  const bin = findLocalKms();
  if (!requireComponent(t, bin !== undefined, 'local-kms (go install github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6, or $LOCAL_KMS_BIN)')) return;
  const go = findGo();
  if (!requireComponent(t, go !== undefined, 'go (builds test/e2e/local-kms-import, which puts the recorded keys into local-kms)')) return;
  const work = tempDir('arkeo-recorded-kms-');
  const importer = path.join(work, 'local-kms-import');
  execFileSync(go!, ['build', '-o', importer, '.'], { cwd: path.join(REPO_ROOT, 'test', 'e2e', 'local-kms-import'), env: { ...process.env, GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local', GOFLAGS: '-mod=readonly -buildvcs=false' }, stdio: 'pipe', timeout: 240_000 });

  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, imds: process.env.AWS_EC2_METADATA_DISABLED };
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'local-kms-test', AWS_SECRET_ACCESS_KEY: 'local-kms-test', AWS_EC2_METADATA_DISABLED: 'true' });
  t.after(() => {
    for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret], ['AWS_EC2_METADATA_DISABLED', saved.imds]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  const data = path.join(work, 'data');
  const kms = await startLocalKms(bin!, data);
  t.after(() => kms.stop());
  const created = new Map<string, { reference: string; arn: string; publicKey: Uint8Array }>();
  for (const name of SIGNERS) created.set(name, await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint }));
  // Control: as created, the keys are local-kms's own, not ours.
  for (const [name, k] of created) assert.notEqual(toHex(k.publicKey), KEYS[name]!.pub);

  await kms.kill();
  for (const [name, k] of created) {
    const d = privateKeyOf(name);
    const point = secp256k1.getPublicKey(d, false);
    execFileSync(importer, [data, k.arn, toHex(d), toHex(point.subarray(1, 33)), toHex(point.subarray(33))], { stdio: 'pipe', timeout: 30_000 });
  }
  await kms.start();

  const signers = new Map<string, Signer>();
  const stats = new CloudStats();
  t.after(async () => {
    for (const s of signers.values()) await (s as AwsKmsSigner).close();
  });
  for (const [name, k] of created) {
    // expectedPublicKey: the signer refuses to sign unless local-kms's GetPublicKey now gives this key.
    signers.set(name, new AwsKmsSigner(k.reference, { endpoint: kms.endpoint, expectedPublicKey: parseHex(KEYS[name]!.pub, 'pub', 33), stats }));
  }
  await checkBackend(signers);
  assert.equal(stats.signatures, FILE.vectors.length, 'every signature came from local-kms');
});
