/**
 * `npm run vectors`: regenerate test/vectors/ from the Go oracle (needs `go`). The normal suite then checks our
 * code against these files on machines without Go (test/interop/goldens.test.ts). Review the diff before
 * committing: a change here is a change in what "compatible" means.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { toHex, sha256, utf8 } from '../../src/crypto/index.js';
import { buildOracle, goAvailable, oracle, oracleJson, oracleLines, type GoKey } from './oracle.js';
import { claimForms } from './claim-forms.js';
import { GOLDEN_DIR, MANIFEST, NOT_FROM_ORACLE, manifestOf, type GoldenKeyrings, type GoldenMatrix } from './goldens.js';

if (!goAvailable()) {
  process.stderr.write('npm run vectors needs the go toolchain (the oracle links cosmos-sdk v0.50.11)\n');
  process.exit(1);
}
buildOracle();
// Remove everything the oracle wrote last time; the README and the shared/ copy are not the oracle's.
fs.mkdirSync(GOLDEN_DIR, { recursive: true });
for (const f of fs.readdirSync(GOLDEN_DIR)) if (!NOT_FROM_ORACLE.includes(f)) fs.rmSync(path.join(GOLDEN_DIR, f), { recursive: true, force: true });
const write = (file: string, value: unknown) => fs.writeFileSync(path.join(GOLDEN_DIR, file), JSON.stringify(value, null, 1) + '\n');
// Deterministic keys where we choose them, so regenerating changes only what Go randomises (salts, IVs, …).
const key = (i: number) => sha256(utf8(`arkeo-signer golden key ${i}`));
const msg = (i: number) => sha256(utf8(`arkeo-signer golden message ${i}`)).subarray(0, 1 + (i % 32));

// 1. Keyrings written by Go (test and file backends).
const home = path.join(GOLDEN_DIR, 'go-keyrings');
const filePassphrase = 'golden-file-pass';
const keys = {
  test: oracleJson<GoKey[]>(['new-keyring', home, 'test', '3']),
  file: oracleJson<GoKey[]>(['new-keyring', home, 'file', '2'], { passphrase: filePassphrase }),
} as GoldenKeyrings['keys'];
const signatures: GoldenKeyrings['signatures'] = [];
for (const backend of ['test', 'file'] as const) {
  for (const k of keys[backend]) {
    const msgs = Array.from({ length: 5 }, (_, i) => toHex(msg(i)));
    oracleLines(['sign-batch', home, backend, k.name], msgs, { passphrase: filePassphrase }).forEach((sigHex, i) => signatures.push({ backend, name: k.name, msgHex: msgs[i]!, sigHex }));
  }
}
write('go-keyrings.json', { filePassphrase, keys, signatures });

// 2. Record bytes and Item JSON as the SDK marshals them, for names that exercise Go's escaping.
const names = ['alice', 'a', 'x'.repeat(100), 'my key', 'ünïcødé 日本', 'a<b>&c', 'quote"back\\slash', 'pct%2Fslash/', 'tab\tnl\nend', '\u2028\u2029', 'emoji 🔑'];
const recordLines = names.map((n, i) => `${Buffer.from(n).toString('hex')} ${toHex(key(i))}`);
const recordHex = oracleLines(['record-bytes'], recordLines);
const itemHex = oracleLines(['item-json'], names.map((n, i) => `${Buffer.from(`${n}.info`).toString('hex')} ${recordHex[i]}`));
write('go-records.json', names.map((n, i) => ({ nameHex: Buffer.from(n).toString('hex'), privHex: toHex(key(i)), recordHex: recordHex[i], itemJsonHex: itemHex[i] })));

// 3. Armor exported by Go (argon2id + ChaCha20-Poly1305), with the mnemonic that derives the key.
const armorHome = fs.mkdtempSync(path.join(GOLDEN_DIR, '.tmp-'));
const armorKeys = oracleJson<GoKey[]>(['new-keyring', armorHome, 'test', '2']);
write('go-armor.json', armorKeys.map((k, i) => {
  const passphrase = `golden-armor-pass-${i}`;
  return { armor: oracle(['export', armorHome, 'test', k.name, passphrase]).trimEnd(), passphrase, pubkeyHex: k.pubkey_hex, mnemonic: k.mnemonic };
}));
fs.rmSync(armorHome, { recursive: true, force: true });

// 4. Random-key signatures by decred v4.3.0 through the SDK's PrivKey.Sign.
const sigCases = Array.from({ length: 300 }, () => ({ priv: secp256k1.utils.randomSecretKey(), msg: randomBytes(1 + Math.floor(Math.random() * 100)) }));
const sigs = oracleLines(['sign-raw'], sigCases.map((c) => `${toHex(c.priv)} ${toHex(c.msg)}`));
write('go-signatures.json', sigCases.map((c, i) => ({ privHex: toHex(c.priv), msgHex: toHex(c.msg), sigHex: sigs[i] })));

// 5. The acceptance matrix as Go's independent implementation of the v1.0.17 rules decides it.
const priv = key(200);
const pub = toHex(secp256k1.getPublicKey(priv, true));
const chainId = 'arkeo-main-v1';
const matrix: GoldenMatrix = { privHex: toHex(priv), chainId, cases: [] };
for (const [cid, nonce] of [[1n, 1n], [42n, 17n], [18446744073709551615n, 9223372036854775807n]] as const) {
  const forms = claimForms(priv, cid, nonce, chainId);
  const verdicts = oracleLines(
    ['claim-verify'],
    forms.flatMap((f) => [
      JSON.stringify({ verifier: 'sentinel', header: `${cid}:${nonce}:${f.signature}`, client: pub }),
      `{"verifier":"chain","cid":${cid},"nonce":${nonce},"sig":"${f.signature}","spender":"${pub}","chain_id":"${chainId}"}`,
    ]),
  ).map((l) => (JSON.parse(l) as { accepted: boolean }).accepted);
  matrix.cases.push({ cid: String(cid), nonce: String(nonce), forms: forms.map((f, i) => ({ name: f.name, signature: f.signature, sentinel: verdicts[2 * i]!, chain: verdicts[2 * i + 1]! })) });
}
write('claim-matrix.json', matrix);

fs.writeFileSync(path.join(GOLDEN_DIR, MANIFEST), manifestOf(GOLDEN_DIR));
process.stderr.write(`wrote ${GOLDEN_DIR}\n`);
