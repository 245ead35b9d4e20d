import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { BIN, run, runAsync, tempDir } from '../helpers.js';
import { startSoftHsm, USER_PIN, type SoftHsm } from '../support/softhsm.js';
import { buildOracle, goAvailable, oracleLines } from '../interop/oracle.js';
import { Keyring } from '../../src/keyring/index.js';
import { openSigner } from '../../src/keys/index.js';
import { Pkcs11Signer, type Signer } from '../../src/signers/index.js';
import { ClaimSigner, parseArkAuth } from '../../src/claims/index.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { isLowS, toAddress, toHex, utf8, verifySignature } from '../../src/crypto/index.js';
import type * as P from 'pkcs11js';

/**
 * PKCS#11 keys through the CLIs, against a real SoftHSM2 token this file initialises. "1,000 claims through claim
 * sign" is read as: 1,000 claims through the code claim sign runs (openSigner + ClaimSigner + the SQLite nonce
 * store, in this process), plus 20 real `arkeo-signer claim sign` processes on the same key and store.
 */
const TOKEN = 'cli-token';
let hsm: SoftHsm | undefined;
let home: string;
let pinFile: string;
let haveGo = false;

function cli(args: string[], extraEnv: Record<string, string> = {}) {
  return run(BIN.arkeoSigner, [...args, '--home', home], { env: { ...hsm!.env, ...extraEnv } });
}

/** The token's public key read with pkcs11js directly (not through our signer), compressed by @noble/curves. */
function tokenPublicKey(label: string): Uint8Array {
  const p = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
  const lib: P.PKCS11 = new p.PKCS11();
  lib.load(hsm!.module);
  try {
    lib.C_Initialize();
  } catch (e) {
    if (!/ALREADY_INITIALIZED/.test((e as Error).message)) throw e;
  }
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === TOKEN)!;
  const session = lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION);
  try {
    lib.C_FindObjectsInit(session, [{ type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY }, { type: p.CKA_LABEL, value: label }]);
    const [obj] = lib.C_FindObjects(session, 2);
    lib.C_FindObjectsFinal(session);
    const [point] = lib.C_GetAttributeValue(session, obj!, [{ type: p.CKA_EC_POINT }]);
    const der = point!.value as Buffer;
    assert.equal(der[0], 0x04, 'CKA_EC_POINT is an OCTET STRING');
    return secp256k1.Point.fromBytes(der.subarray(2)).toBytes(true);
  } finally {
    lib.C_CloseSession(session);
  }
}

before(() => {
  haveGo = goAvailable();
  if (haveGo) buildOracle();
});

test('keys add --pkcs11 --create makes a key on the token; keys show gives its arkeo address; list shows kind pkcs11', { timeout: 60_000 }, (t) => {
  hsm = startSoftHsm(t);
  if (!hsm) return;
  hsm.initToken(TOKEN);
  home = tempDir();
  pinFile = path.join(home, 'pin');
  fs.writeFileSync(pinFile, USER_PIN + '\n', { mode: 0o600 });
  const add = cli(['keys', 'add', 'hsm', '--pkcs11', `pkcs11:token=${TOKEN};object=claims-key`, '--create', '--pkcs11-module', hsm.module, '--pin-file', pinFile, '-o', 'json']);
  assert.equal(add.status, 0, add.stderr);
  const added = JSON.parse(add.stdout) as Record<string, string>;
  const pub = tokenPublicKey('claims-key');
  assert.equal(added.address, toAddress(pub), 'the address is the token key\'s');
  assert.equal(added.type, 'offline', 'arkeod sees an offline record');
  assert.equal(added.kind, 'pkcs11');
  assert.equal(cli(['keys', 'show', 'hsm', '-a']).stdout, toAddress(pub) + '\n');
  assert.match(cli(['keys', 'list']).stdout, /kind: pkcs11\n {2}name: hsm\n/);
  // Nothing secret is stored: the PIN appears in no file of the keyring.
  for (const f of fs.readdirSync(path.join(home, 'keyring-test'))) assert.ok(!fs.readFileSync(path.join(home, 'keyring-test', f), 'latin1').includes(USER_PIN), f);
  const sidecar = JSON.parse(fs.readFileSync(path.join(home, 'keyring-test', 'hsm.external.json'), 'utf8')) as { location: { uri: string; module: string } };
  assert.match(sidecar.location.uri, /^pkcs11:token=cli-token;object=claims-key;id=(%[0-9A-F]{2}){16};type=private$/);
  assert.equal(sidecar.location.module, hsm.module);
  // A second --create with the same label is refused, and the name is checked before the token is touched.
  const again = cli(['keys', 'add', 'other', '--pkcs11', `pkcs11:token=${TOKEN};object=claims-key`, '--create', '--pkcs11-module', hsm.module, '--pin-file', pinFile]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already exists on the token; drop --create/);
});

test('1,000 claims through claim sign\'s code path and 20 real claim sign processes: all verify (ours and Go); high-S normalised', { timeout: 300_000 }, async (t) => {
  if (!hsm) return t.skip('no SoftHSM (see the first test)');
  const keyring = Keyring.open({ backend: 'test', dir: home });
  const signer = (await openSigner(keyring, 'hsm', { pkcs11: { pin: async () => USER_PIN } })) as Signer & Pkcs11Signer;
  const pub = await signer.publicKey();
  const store = await openNonceStore(undefined, home, { create: true });
  const signed: { msg: string; sig: Uint8Array }[] = [];
  try {
    const claims = await ClaimSigner.create(signer, store, { profile: 'compat', blockSize: 1 });
    for (let i = 1; i <= 1000; i++) {
      const c = await claims.signClaim(42n);
      assert.equal(c.nonce, BigInt(i));
      signed.push({ msg: c.preimage, sig: c.signature });
    }
    await claims.close();
  } finally {
    await store.close();
    signer.destroy();
  }
  for (const s of signed) {
    assert.ok(isLowS(s.sig), 'released signatures are low-S');
    assert.ok(verifySignature(pub, utf8(s.msg), s.sig), `${s.msg} verifies`);
  }
  assert.equal(signer.stats.signatures, 1000);
  t.diagnostic(`in-process claim sign path: ${signer.stats.highS} of 1000 raw token signatures were high-S and normalised`);
  assert.ok(signer.stats.highS > 0, 'the token gave high-S signatures, and they were normalised');

  // 20 real processes, PIN from the file, then from the environment; same store: nonces 1001…1020.
  const procs: { status: number | null; stdout: string; stderr: string }[] = [];
  for (let i = 0; i < 20; i++) {
    const args = ['claim', 'sign', '--contract', '42', '--key', 'hsm', '--home', home, ...(i % 2 ? ['--pin-file', pinFile] : [])];
    procs.push(await runAsync(BIN.arkeoSigner, args, { env: { ...hsm.env, ...(i % 2 ? {} : { ARKEO_PKCS11_PIN: USER_PIN }) } }));
  }
  procs.forEach((r, i) => {
    assert.equal(r.status, 0, r.stderr);
    const a = parseArkAuth(r.stdout.trim());
    assert.equal(a.nonce, 1001n + BigInt(i));
    assert.ok(verifySignature(pub, utf8(`42:${a.nonce}:`), a.signature));
    signed.push({ msg: `42:${a.nonce}:`, sig: a.signature });
  });
  if (!haveGo) {
    if (process.env.CI === 'true') assert.fail('the go toolchain (interop oracle) is required under CI');
    return;
  }
  const verdicts = oracleLines(['verify-raw'], signed.map((s) => `${toHex(pub)} ${toHex(utf8(s.msg))} ${toHex(s.sig)}`));
  assert.equal(verdicts.length, 1020);
  assert.ok(verdicts.every((v) => v === 'true'), 'cosmos-sdk secp256k1 VerifySignature accepts all 1,020');
});

test('signhere -u NAME and claim arkcontract sign with a pkcs11 key; verify --key checks against the record', { timeout: 60_000 }, async (t) => {
  if (!hsm) return t.skip('no SoftHSM');
  const env = { ...hsm.env, ARKEO_PKCS11_PIN: USER_PIN };
  const sh = run(BIN.signhere, ['-u', 'hsm', '-m', 'hello', '-home', home], { env });
  assert.equal(sh.status, 0, sh.stderr);
  assert.match(sh.stdout, /^[0-9a-f]{128}\n$/);
  assert.equal(sh.stderr, '');
  const v = run(BIN.arkeoSigner, ['verify', '--key', 'hsm', '--home', home, '-m', 'hello', '-s', sh.stdout.trim()]);
  assert.equal(v.stdout, 'valid\n');
  assert.equal(run(BIN.arkeoSigner, ['verify', '--key', 'hsm', '--home', home, '-m', 'hellO', '-s', sh.stdout.trim()]).status, 1);
  const ark = run(BIN.arkeoSigner, ['claim', 'arkcontract', '--contract', '9', '--key', 'hsm', '--timestamp', '1700000000', '--allow-management-spend', '--home', home], { env });
  assert.equal(ark.status, 0, ark.stderr);
  const [, ts, sig] = ark.stdout.trim().split(':');
  const pub = (await Keyring.open({ backend: 'test', dir: home }).get('hsm')).publicKey!;
  assert.ok(verifySignature(pub, utf8(`9:${ts}:`), Buffer.from(sig!, 'hex')));
});

test('wrong PIN: one line naming the token, exit 1; a wrong module path: one clear line', { timeout: 60_000 }, (t) => {
  if (!hsm) return t.skip('no SoftHSM');
  const bad = path.join(home, 'bad-pin');
  fs.writeFileSync(bad, '99999999\n');
  const sh = run(BIN.signhere, ['-u', 'hsm', '-home', home, '-pin-file', bad], { env: hsm.env });
  assert.equal(sh.status, 1);
  assert.equal(sh.stdout, '');
  assert.match(sh.stderr, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d pkcs11 token "cli-token": C_Login failed \(CKR_PIN_INCORRECT\).*tried once, not retried[^\n]*\n$/);
  assert.ok(!sh.stderr.includes('99999999'), 'the PIN is not echoed');
  const claim = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '42', '--key', 'hsm', '--home', home, '--pin-file', bad], { env: hsm.env });
  assert.equal(claim.status, 1);
  assert.match(claim.stderr, /^arkeo-signer: pkcs11 token "cli-token": C_Login failed \(CKR_PIN_INCORRECT\)[^\n]*\n$/);
  const mod = cli(['keys', 'add', 'x', '--pkcs11', `pkcs11:token=${TOKEN};object=claims-key`, '--pkcs11-module', '/nonexistent/libnothing.so', '--pin-file', pinFile]);
  assert.equal(mod.status, 1);
  assert.equal(mod.stderr, 'arkeo-signer: pkcs11 module /nonexistent/libnothing.so: cannot be read (ENOENT); give the path of the token\'s PKCS#11 library with --pkcs11-module or ARKEO_PKCS11_MODULE\n');
  const notLib = cli(['keys', 'add', 'x', '--pkcs11', `pkcs11:token=${TOKEN};object=claims-key`, '--pkcs11-module', pinFile, '--pin-file', pinFile]);
  assert.match(notLib.stderr, /^arkeo-signer: pkcs11 module .*: cannot be loaded as a PKCS#11 library \([^\n]*\)\n$/);
  const noToken = cli(['keys', 'add', 'x', '--pkcs11', 'pkcs11:token=absent;object=k', '--pkcs11-module', hsm.module, '--pin-file', pinFile]);
  assert.match(noToken.stderr, /^arkeo-signer: pkcs11 token "absent": not present in .* \(tokens present: "cli-token"\)\n$/);
  const pinInUri = cli(['keys', 'add', 'x', '--pkcs11', `pkcs11:token=${TOKEN};object=claims-key?pin-value=${USER_PIN}`, '--pkcs11-module', hsm.module]);
  assert.match(pinInUri.stderr, /pin-value is not accepted/);
  assert.ok(!pinInUri.stderr.includes(USER_PIN));
  assert.equal(cli(['keys', 'list', '-n']).stdout, 'hsm\n', 'no failed add left a record');
});

test('keys delete removes our records only; --delete-from-token destroys the key on the token', { timeout: 60_000 }, (t) => {
  if (!hsm) return t.skip('no SoftHSM');
  const add = cli(['keys', 'add', 'doomed', '--pkcs11', `pkcs11:token=${TOKEN};object=doomed`, '--create', '--pkcs11-module', hsm.module, '--pin-file', pinFile, '-o', 'json']);
  assert.equal(add.status, 0, add.stderr);
  const address = (JSON.parse(add.stdout) as { address: string }).address;
  // rename carries the location file along; the renamed key still signs.
  assert.equal(cli(['keys', 'rename', 'doomed', 'renamed', '-y']).status, 0);
  assert.ok(!fs.existsSync(path.join(home, 'keyring-test', 'doomed.external.json')));
  assert.equal(JSON.parse(cli(['keys', 'show', 'renamed', '-o', 'json']).stdout).kind, 'pkcs11');
  assert.equal(run(BIN.signhere, ['-u', 'renamed', '-home', home, '-pin-file', pinFile], { env: hsm.env }).status, 0);
  assert.equal(cli(['keys', 'rename', 'renamed', 'doomed', '-y']).status, 0);
  const del = cli(['keys', 'delete', 'doomed', '-y']);
  assert.equal(del.status, 0, del.stderr);
  assert.match(del.stderr, /the pkcs11 key itself was not touched/);
  assert.ok(!fs.existsSync(path.join(home, 'keyring-test', 'doomed.external.json')));
  assert.equal(toAddress(tokenPublicKey('doomed')), address, 'the key is still on the token');
  // Re-add the existing key (no --create), then destroy it on the token.
  assert.equal(cli(['keys', 'add', 'doomed', '--pkcs11', `pkcs11:token=${TOKEN};object=doomed`, '--pkcs11-module', hsm.module, '--pin-file', pinFile]).status, 0);
  assert.equal(cli(['keys', 'show', 'doomed', '-a']).stdout, address + '\n', 'an existing key comes back with the same address');
  const destroy = cli(['keys', 'delete', 'doomed', '-y', '--delete-from-token', '--pin-file', pinFile]);
  assert.equal(destroy.status, 0, destroy.stderr);
  assert.match(destroy.stderr, /destroyed on the token \(2 object\(s\)\)/);
  assert.throws(() => tokenPublicKey('doomed'));
  const gone = cli(['keys', 'add', 'doomed', '--pkcs11', `pkcs11:token=${TOKEN};object=doomed`, '--pkcs11-module', hsm.module, '--pin-file', pinFile]);
  assert.match(gone.stderr, /no such private key on the token/);
});
