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
import { entropyToMnemonic } from '@scure/bip39';
import { wordlist as english } from '@scure/bip39/wordlists/english.js';
import {
  GOLDEN_DIR,
  KEY_OUTPUT_FILES,
  KEY_OUTPUT_KEYRING,
  LOCAL_NAMES,
  MANIFEST,
  NOT_FROM_ORACLE,
  YAML_NAMES,
  manifestOf,
  type GoldenKeyOutput,
  type GoldenKeyrings,
  type GoldenMatrix,
  type GoldenNameOutput,
} from './goldens.js';

if (!goAvailable()) {
  process.stderr.write('npm run vectors needs the go toolchain (the oracle links cosmos-sdk v0.50.11)\n');
  process.exit(1);
}
buildOracle();
const write = (file: string, value: unknown) => fs.writeFileSync(path.join(GOLDEN_DIR, file), JSON.stringify(value, null, 1) + '\n');
// Deterministic keys where we choose them, so regenerating changes only what Go randomises (salts, IVs, …).
const key = (i: number) => sha256(utf8(`arkeo-signer golden key ${i}`));
const msg = (i: number) => sha256(utf8(`arkeo-signer golden message ${i}`)).subarray(0, 1 + (i % 32));

// `npm run vectors -- key-output` rewrites only the key-output goldens (sections 6 and 7), leaving the others as
// they are; without an argument everything the oracle wrote is removed and written again.
const only = process.argv[2];
if (only !== undefined && only !== 'key-output') {
  process.stderr.write(`usage: npm run vectors [-- key-output]\n`);
  process.exit(2);
}
fs.mkdirSync(GOLDEN_DIR, { recursive: true });
const ours = only ? KEY_OUTPUT_FILES : fs.readdirSync(GOLDEN_DIR).filter((f) => !NOT_FROM_ORACLE.includes(f));
for (const f of ours) fs.rmSync(path.join(GOLDEN_DIR, f), { recursive: true, force: true });
if (only) {
  keyOutputGoldens();
  finish();
}

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

keyOutputGoldens();
finish();

function finish(): never {
  fs.writeFileSync(path.join(GOLDEN_DIR, MANIFEST), manifestOf(GOLDEN_DIR));
  process.stderr.write(`wrote ${GOLDEN_DIR}\n`);
  process.exit(0);
}

// 6 and 7. Records of every kind under names arkeod accepts, and what arkeod's own output code prints for them.
function keyOutputGoldens(): void {
  const dir = path.join(GOLDEN_DIR, KEY_OUTPUT_KEYRING);
  const hexName = (n: string) => Buffer.from(n).toString('hex');
  const mnemonic = (i: number) => entropyToMnemonic(sha256(utf8(`arkeo-signer golden mnemonic ${i}`)), english);
  const pub = (i: number) => toHex(secp256k1.getPublicKey(key(300 + i), true));
  const records: GoldenKeyOutput['records'] = [
    ...LOCAL_NAMES.map((name, i) => ({ kind: 'local' as const, name, mnemonic: mnemonic(i) })),
    { kind: 'offline', name: 'offline', pubkeys: [pub(0)] },
    { kind: 'multi', name: 'multi', pubkeys: [pub(1), pub(2), pub(3)], threshold: 2 },
    { kind: 'multi', name: 'multi one of one', pubkeys: [pub(4)], threshold: 1 },
    { kind: 'ledger', name: 'ledger', pubkeys: [pub(5)], account: 1, index: 7 },
  ];
  oracle(['write-records', dir, 'test'], { input: records.map((r) => JSON.stringify({ ...r, name: hexName(r.name) })).join('\n') + '\n' });
  const outputs = oracleJson<GoldenKeyOutput['outputs']>(['key-outputs', dir, 'test']);
  const listed = oracleJson<GoKey[] | null>(['list', dir, 'test']) ?? [];
  const signatures = listed
    .filter((k) => k.type === 'local')
    .map((k) => {
      const msgHex = toHex(msg(7));
      return { name: k.name, address: k.address, msgHex, sigHex: oracleLines(['sign-batch', dir, 'test', k.name], [msgHex])[0]! };
    });
  write('go-key-output.json', { records, outputs, signatures } satisfies GoldenKeyOutput);

  const names = oracleLines(['outputs-for-names', pub(9)], YAML_NAMES.map(hexName)).map((l) => JSON.parse(l) as GoldenNameOutput);
  write('go-name-outputs.json', names);
}
