import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, readVector, requireVectors, run, tempDir, type ClaimVectors, type UpstreamSignature } from '../helpers.js';

const GO_LOG_LINE = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \S.*\n$/;

/** A home with every vector key: arkeo-claims keys recovered from their mnemonics, upstream keys imported as hex. */
function vectorHome(): { home: string; upstream: UpstreamSignature[]; claims: ClaimVectors } {
  const home = tempDir();
  const claims = readVector<ClaimVectors>('arkeo-claims.json');
  for (const [name, k] of Object.entries(claims.keys)) {
    const r = run(BIN.arkeoSigner, ['keys', 'add', name, '--recover', '--home', home], { input: k.mnemonic + '\n' });
    assert.equal(r.status, 0, r.stderr);
  }
  const upstream = readVector<UpstreamSignature[]>('generated-upstream-libs/signatures.json');
  for (const priv of new Set(upstream.map((s) => s.privHex))) {
    const r = run(BIN.arkeoSigner, ['keys', 'import-hex', `u-${priv.slice(0, 8)}`, priv, '--home', home]);
    assert.equal(r.status, 0, r.stderr);
  }
  return { home, upstream, claims };
}

test('signhere reproduces every vector signature byte for byte, as a subprocess', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const { home, upstream, claims } = vectorHome();
  for (const s of claims.signatures) {
    const r = run(BIN.signhere, ['-u', s.key, '-m', s.message], { env: { ARKEO_HOME: home } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, s.signature + '\n', `${s.key} "${s.message}"`);
    assert.equal(r.stderr, '');
  }
  const msgDir = tempDir();
  for (const [i, s] of upstream.entries()) {
    // Raw bytes go through -message-file (some messages are not valid argv text); text ones through -m too.
    const f = path.join(msgDir, `m${i}`);
    fs.writeFileSync(f, Buffer.from(s.msgHex, 'hex'));
    const r = run(BIN.signhere, ['-home', home, '-u', `u-${s.privHex.slice(0, 8)}`, '-message-file', f]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, s.sigHex + '\n');
  }
});

test('signhere: defaults -u alice -m message from ~/.arkeo/keyring-test; Go flag forms; json output', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const fakeHome = tempDir();
  const e = readVector<Record<string, string>>('generated-upstream-libs/expected.json');
  const arkeo = path.join(fakeHome, '.arkeo');
  assert.equal(run(BIN.arkeoSigner, ['keys', 'add', 'alice', '--recover', '--home', arkeo], { input: e.mnemonic + '\n' }).status, 0);
  const env = { HOME: fakeHome, ARKEO_HOME: undefined };
  const byDefault = run(BIN.signhere, [], { env });
  assert.equal(byDefault.status, 0, byDefault.stderr);
  assert.match(byDefault.stdout, /^[0-9a-f]{128}\n$/);
  const check = (message: string, sig: string) =>
    run(BIN.arkeoSigner, ['verify', '--pubkey', e.legacyAminoBech32PubKey!, '--message', message, '--signature', sig]);
  assert.equal(check('message', byDefault.stdout.trim()).status, 0, 'the default message is "message"');
  assert.equal(check('message!', byDefault.stdout.trim()).status, 1);
  for (const args of [['-u=alice', '-m=message'], ['--u', 'alice', '--m', 'message'], ['-m', 'message', 'ignored-positional']]) {
    assert.equal(run(BIN.signhere, args, { env }).stdout, byDefault.stdout, args.join(' '));
  }
  const json = JSON.parse(run(BIN.signhere, ['-m', '1:1:', '-output', 'json'], { env }).stdout) as Record<string, string>;
  assert.equal(json.address, e.arkeoAddress);
  assert.equal(json.pubkey, e.legacyAminoBech32PubKey);
  assert.equal(json.pubkey_hex, e.pubKeyCompressedHex);
  assert.equal(json.sha256, '36a87e2221f1569b821c9d16a03b07f76346b56e8b14048df5edfa9e01c68846');
  assert.match(json.signature!, /^[0-9a-f]{128}$/);
  const viaStdin = run(BIN.signhere, ['-message-file', '-'], { env, input: '1:1:' });
  assert.equal(viaStdin.stdout, json.signature + '\n');
});

test('signhere errors: exit 1 with one Go-log line; flag errors exit 2 with usage', { timeout: 180_000 }, () => {
  const home = tempDir();
  fs.mkdirSync(path.join(home, 'keyring-test'), { mode: 0o700 });
  const missingKey = run(BIN.signhere, ['-home', home, '-u', 'nobody']);
  assert.equal(missingKey.status, 1);
  assert.equal(missingKey.stdout, '');
  assert.match(missingKey.stderr, GO_LOG_LINE);
  assert.match(missingKey.stderr, /nobody: key not found/);

  const missingDir = run(BIN.signhere, ['-home', path.join(home, 'nope')]);
  assert.equal(missingDir.status, 1);
  assert.match(missingDir.stderr, GO_LOG_LINE);
  assert.match(missingDir.stderr, /nope\/keyring-test: keyring directory does not exist/);

  for (const args of [['-x'], ['-u'], ['---u', 'a'], ['-output', 'yaml']]) {
    const r = run(BIN.signhere, ['-home', home, ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
  }
  assert.match(run(BIN.signhere, ['-x']).stderr, /^flag provided but not defined: -x\nUsage of signhere:/);
  const help = run(BIN.signhere, ['-h']);
  assert.equal(help.status, 0);
  assert.match(help.stderr, /-u string/);
});
