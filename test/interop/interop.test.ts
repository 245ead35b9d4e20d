import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Keyring, decryptPrivateKeyArmor, encryptPrivateKeyArmor, type PassphraseSource } from '../../src/keyring/index.js';
import { deriveKey, highSTwin, parseHex, publicKeyFromPrivate, signMessage, toHex, utf8 } from '../../src/crypto/index.js';
import { chainV1017, explainArkAuth, formatArkAuth, sentinelV1017 } from '../../src/claims/index.js';
import { BIN, requireComponent, run, tempDir } from '../helpers.js';
import { buildOracle, goAvailable, oracle, oracleJson, oracleLines, type GoKey } from './oracle.js';
import { claimForms } from './claim-forms.js';
import { openLocalSigner } from '../../src/keys/index.js';

/**
 * Interop against the real Go code arkeod links (cosmos-sdk v0.50.11, 99designs/keyring v1.2.1, jose2go v1.6.0,
 * decred secp256k1 v4.3.0), driven through the oracle. Runs whenever `go` is on PATH; under CI=true it must.
 */
const FILE_PASS = 'interop-file-pass';
const fixed = (p: string): PassphraseSource => ({ interactive: false, get: async () => p });
let haveGo = false;

before(() => {
  haveGo = goAvailable();
  if (haveGo) buildOracle();
});

const randomMessage = () => randomBytes(1 + Math.floor(Math.random() * 200));

function ours(dir: string, backend: 'test' | 'file') {
  return Keyring.open({ backend, dir, passphrase: fixed(FILE_PASS) });
}

for (const backend of ['test', 'file'] as const) {
  test(`Go-written ${backend} keyring opens in ours; both sign the same 1,000 random messages identically`, { timeout: 600_000 }, async (t) => {
    if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
    const dir = tempDir();
    const goKeys = oracleJson<GoKey[]>(['new-keyring', dir, backend, '3'], { passphrase: FILE_PASS });
    const kr = ours(dir, backend);
    const mine = await kr.list();
    assert.deepEqual(
      mine.map((k) => [k.name, k.address, toHex(k.publicKey!)]),
      goKeys.map((k) => [k.name, k.address, k.pubkey_hex]),
    );
    for (const k of goKeys) assert.equal(toHex(await kr.exportPrivateKey(k.name)), toHex(deriveKey(k.mnemonic!)), `${k.name}: Go's mnemonic gives the stored key`);
    const messages = Array.from({ length: 1000 }, randomMessage);
    const goSigs = oracleLines(['sign-batch', dir, backend, 'key-1'], messages.map((m) => toHex(m)), { passphrase: FILE_PASS });
    const signer = await openLocalSigner(kr, 'key-1');
    for (let i = 0; i < messages.length; i++) assert.equal(toHex(await signer.sign(messages[i]!)), goSigs[i], `message ${i}`);
  });
}

test('Go opens every keyring our code writes: after add, recover, import, rename, delete, migrate', { timeout: 600_000 }, async (t) => {
  if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
  const home = tempDir();
  const passFile = path.join(home, 'pass');
  fs.writeFileSync(passFile, FILE_PASS + '\n');
  const cli = (...args: string[]) => {
    const r = run(BIN.arkeoSigner, [...args, '--home', home]);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const goList = (backend: string) => oracleJson<GoKey[]>(['list', home, backend], { passphrase: FILE_PASS }).map((k) => [k.name, k.address, k.pubkey_hex]);
  const ourList = async (backend: 'test' | 'file') => (await ours(home, backend).list()).map((k) => [k.name, k.address, toHex(k.publicKey!)]);
  const agree = async (step: string, backend: 'test' | 'file' = 'test') => {
    const mine = await ourList(backend);
    assert.deepEqual(goList(backend), mine, `after ${step}`);
    const msg = randomMessage();
    for (const [name] of mine) {
      const goSig = oracle(['sign', home, backend, name!, toHex(msg)], { passphrase: FILE_PASS }).trim();
      assert.equal(goSig, toHex(await (await openLocalSigner(ours(home, backend), name!)).sign(msg)), `${step}: ${name} signs identically`);
    }
  };
  cli('keys', 'add', 'added', '--no-backup');
  await agree('add');
  const mnemonic = oracleJson<GoKey[]>(['new-keyring', tempDir(), 'test', '1'])[0]!.mnemonic!;
  const r = run(BIN.arkeoSigner, ['keys', 'add', 'recovered', '--recover', '--home', home], { input: mnemonic + '\n' });
  assert.equal(r.status, 0, r.stderr);
  await agree('recover');
  cli('keys', 'import-hex', 'hexed', toHex(secp256k1.utils.randomSecretKey()));
  const armorFile = path.join(home, 'k.armor');
  fs.writeFileSync(armorFile, encryptPrivateKeyArmor(secp256k1.utils.randomSecretKey(), 'armor-pass-1'));
  const armorPass = path.join(home, 'armor-pass');
  fs.writeFileSync(armorPass, 'armor-pass-1\n');
  cli('keys', 'import', 'armored', armorFile, '--armor-passphrase-file', armorPass);
  await agree('import');
  cli('keys', 'rename', 'added', 'renamed', '-y');
  await agree('rename');
  cli('keys', 'delete', 'hexed', '-y');
  await agree('delete');
  cli('keys', 'add', 'weird <&> ünï %2F name', '--no-backup');
  await agree('add with a name Go must escape');
  // Names arkeod accepts and we now write too (issue 14): a dot file, the longest file name (255 bytes), slashes.
  cli('keys', 'add', '.hidden', '--no-backup');
  cli('keys', 'add', 'n'.repeat(250), '--no-backup');
  cli('keys', 'add', '../up/and/over', '--no-backup');
  await agree('add with a leading dot, a 250-byte name and slashes');
  cli('keys', 'migrate', '--from', 'test', '--to', 'file', '--passphrase-file', passFile);
  await agree('migrate test → file', 'file');
  assert.match(fs.readFileSync(path.join(home, 'keyring-file', 'keyhash'), 'utf8'), /^\$2a\$10\$/);
  // And Go reads a keyring whose keys Go itself and we both wrote into.
  const another = oracleJson<GoKey[]>(['new-keyring', tempDir(), 'test', '1'])[0]!.mnemonic!;
  oracle(['recover', home, 'file', 'go-side', another], { passphrase: FILE_PASS });
  await agree('Go adds to our file keyring', 'file');
});

test('armor crosses both ways: argon2 (Go ↔ ours) and legacy bcrypt (ours → Go)', { timeout: 600_000 }, async (t) => {
  if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
  const dir = tempDir();
  const [k] = oracleJson<GoKey[]>(['new-keyring', dir, 'test', '1']);
  const goArmor = oracle(['export', dir, 'test', k!.name, 'go-export-pass']);
  const priv = decryptPrivateKeyArmor(goArmor, 'go-export-pass', 'go armor');
  assert.equal(toHex(publicKeyFromPrivate(priv)), k!.pubkey_hex);
  for (const kdf of ['argon2', 'bcrypt'] as const) {
    const key = secp256k1.utils.randomSecretKey();
    const file = path.join(dir, `${kdf}.armor`);
    fs.writeFileSync(file, encryptPrivateKeyArmor(key, 'our-export-pass', { kdf }));
    const imported = oracleJson<GoKey>(['import', dir, 'test', `from-${kdf}`, file, 'our-export-pass']);
    assert.equal(imported.pubkey_hex, toHex(publicKeyFromPrivate(key)), kdf);
    assert.throws(() => oracle(['import', dir, 'test', `wrong-${kdf}`, file, 'wrong-pass-123']), /invalid account password|failed/i);
  }
});

test('10,000 random (key, message) signatures are byte-identical, and Go verifies ours (and rejects high-S twins)', { timeout: 600_000 }, (t) => {
  if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
  const cases = Array.from({ length: 10_000 }, () => ({ priv: secp256k1.utils.randomSecretKey(), msg: randomMessage() }));
  const goSigs = oracleLines(['sign-raw'], cases.map((c) => `${toHex(c.priv)} ${toHex(c.msg)}`));
  const mine = cases.map((c) => toHex(signMessage(c.priv, c.msg)));
  assert.equal(goSigs.length, cases.length);
  for (let i = 0; i < cases.length; i++) assert.equal(mine[i], goSigs[i], `case ${i}`);
  const checks = cases.slice(0, 2000).flatMap((c, i) => {
    const pub = toHex(publicKeyFromPrivate(c.priv));
    return [`${pub} ${toHex(c.msg)} ${mine[i]}`, `${pub} ${toHex(c.msg)} ${toHex(highSTwin(parseHex(mine[i]!, 's')))}`];
  });
  const verdicts = oracleLines(['verify-raw'], checks);
  for (let i = 0; i < verdicts.length; i += 2) {
    assert.equal(verdicts[i], 'true', `Go verifies our signature ${i / 2}`);
    assert.equal(verdicts[i + 1], 'false', `Go rejects the high-S twin ${i / 2}`);
  }
});

test('acceptance matrix: each claim form against each verifier, ours and Go agree with the spec', { timeout: 600_000 }, (t) => {
  if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
  const priv = secp256k1.utils.randomSecretKey();
  const pub = publicKeyFromPrivate(priv);
  const chainId = 'arkeo-main-v1';
  for (const [cid, nonce] of [[1n, 1n], [42n, 17n], [18446744073709551615n, 9223372036854775807n]] as const) {
    const forms = claimForms(priv, cid, nonce, chainId);
    const goSays = oracleLines(
      ['claim-verify'],
      forms.flatMap((f) => [
        JSON.stringify({ verifier: 'sentinel', header: `${cid}:${nonce}:${f.signature}`, client: toHex(pub) }),
        // Written by hand: JSON.stringify cannot print a BigInt, and Go decodes these into uint64/int64 exactly.
        `{"verifier":"chain","cid":${cid},"nonce":${nonce},"sig":"${f.signature}","spender":"${toHex(pub)}","chain_id":"${chainId}"}`,
      ]),
    ).map((l) => JSON.parse(l) as { accepted: boolean; why: string });
    forms.forEach((f, i) => {
      const sentinelGo = goSays[2 * i]!;
      const chainGo = goSays[2 * i + 1]!;
      assert.equal(sentinelGo.accepted, f.sentinel, `Go sentinel: ${f.name} (${sentinelGo.why})`);
      assert.equal(chainGo.accepted, f.chain, `Go chain: ${f.name} (${chainGo.why})`);
      assert.equal(sentinelV1017(`${cid}:${nonce}:${f.signature}`, { client: pub }).accepted, f.sentinel, `our sentinel: ${f.name}`);
      assert.equal(chainV1017(cid, nonce, parseHex(f.signature, 's'), { spender: pub, chainId }).accepted, f.chain, `our chain: ${f.name}`);
    });
  }
});

test('delegate acceptance matrix: who signs, in which form, for which parties; Go oracle, our explain and the spec agree', { timeout: 600_000 }, (t) => {
  // arkeo-claims.md §3.3 (chain: contract.GetSpender(), the delegate if set), §3.4 (sentinel: a 3-part header
  // against contract.Client, a 4-part one against the key in the header, never compared with the contract).
  if (!requireComponent(t, haveGo, 'the go toolchain (interop oracle)')) return;
  const key = (label: string) => { const priv = secp256k1.utils.randomSecretKey(); return { label, priv, pub: publicKeyFromPrivate(priv) }; };
  const [client, delegate, stranger] = [key('client'), key('delegate'), key('stranger')];
  const chainId = 'arkeo-main-v1';
  const rows: { parties: { client: Uint8Array; delegate?: Uint8Array }; signer: ReturnType<typeof key>; form: '3-part' | '4-part'; sentinel: boolean; chain: boolean }[] = [
    // A contract naming a delegate.
    { parties: { client: client.pub, delegate: delegate.pub }, signer: delegate, form: '4-part', sentinel: true, chain: true },
    { parties: { client: client.pub, delegate: delegate.pub }, signer: delegate, form: '3-part', sentinel: false, chain: true },
    { parties: { client: client.pub, delegate: delegate.pub }, signer: client, form: '3-part', sentinel: true, chain: false },
    { parties: { client: client.pub, delegate: delegate.pub }, signer: client, form: '4-part', sentinel: true, chain: false },
    { parties: { client: client.pub, delegate: delegate.pub }, signer: stranger, form: '4-part', sentinel: true, chain: false },
    { parties: { client: client.pub, delegate: delegate.pub }, signer: stranger, form: '3-part', sentinel: false, chain: false },
    // A contract without one.
    { parties: { client: client.pub }, signer: client, form: '3-part', sentinel: true, chain: true },
    { parties: { client: client.pub }, signer: client, form: '4-part', sentinel: true, chain: true },
    { parties: { client: client.pub }, signer: stranger, form: '4-part', sentinel: true, chain: false },
    { parties: { client: client.pub }, signer: stranger, form: '3-part', sentinel: false, chain: false },
  ];
  const [cid, nonce] = [42n, 17n];
  const headers = rows.map((r) => {
    const signature = signMessage(r.signer.priv, utf8(`${cid}:${nonce}:`));
    return { signature, header: formatArkAuth({ contractId: cid, nonce, signature, spender: r.form === '4-part' ? r.signer.pub : undefined }) };
  });
  const goSays = oracleLines(
    ['claim-verify'],
    rows.flatMap((r, i) => [
      JSON.stringify({ verifier: 'sentinel', header: headers[i]!.header, client: toHex(r.parties.client) }),
      `{"verifier":"chain","cid":${cid},"nonce":${nonce},"sig":"${toHex(headers[i]!.signature)}","spender":"${toHex(r.parties.delegate ?? r.parties.client)}","chain_id":"${chainId}"}`,
    ]),
  ).map((l) => JSON.parse(l) as { accepted: boolean; why: string });
  rows.forEach((r, i) => {
    const name = `${r.parties.delegate ? 'delegated' : 'client-only'} contract, ${r.signer.label}, ${r.form}`;
    assert.equal(goSays[2 * i]!.accepted, r.sentinel, `Go sentinel: ${name} (${goSays[2 * i]!.why})`);
    assert.equal(goSays[2 * i + 1]!.accepted, r.chain, `Go chain: ${name} (${goSays[2 * i + 1]!.why})`);
    const ours = explainArkAuth(headers[i]!.header, r.parties, chainId);
    assert.equal(ours.verdicts['sentinel-v1.0.17']!.accepted, r.sentinel, `our sentinel: ${name}`);
    assert.equal(ours.verdicts['chain-v1.0.17']!.accepted, r.chain, `our chain: ${name}`);
    assert.equal(ours.findings.length > 0, r.sentinel !== r.chain, `a finding exactly where they disagree: ${name}`);
  });
});
