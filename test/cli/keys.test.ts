import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, VECTORS, copyVectorDir, listFiles, readVector, requireVectors, run, tempDir, type ClaimVectors } from '../helpers.js';

const k = (...args: string[]) => ['keys', ...args];
const ONE_LINE = /^[^\n]+\n$/;

test('keys add/list/show: arkeod JSON and YAML shapes', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const dog = readVector<ClaimVectors>('arkeo-claims.json').keys.dog!;
  const home = tempDir();
  const add = run(BIN.arkeoSigner, k('add', 'dog', '--recover', '--home', home, '--output', 'json'), { input: dog.mnemonic + '\n' });
  assert.equal(add.status, 0, add.stderr);
  const pubkey = `{"@type":"/cosmos.crypto.secp256k1.PubKey","key":"${dog.pubBase64}"}`;
  assert.equal(add.stdout, JSON.stringify({ name: 'dog', type: 'local', address: dog.address, pubkey }) + '\n', 'no mnemonic field when recovering');

  const list = run(BIN.arkeoSigner, k('list', '--home', home, '--output', 'json'));
  // arkeod prints the array with Fprintf("%s") (no newline) and the YAML list (of one, for show) with Fprintln.
  assert.equal(list.stdout, JSON.stringify([{ name: 'dog', type: 'local', address: dog.address, pubkey }]));
  const text = run(BIN.arkeoSigner, k('list', '--home', home));
  assert.equal(text.stdout, `- address: ${dog.address}\n  name: dog\n  pubkey: '${pubkey}'\n  type: local\n\n`);
  assert.equal(run(BIN.arkeoSigner, k('show', 'dog', '--home', home)).stdout, `- address: ${dog.address}\n  name: dog\n  pubkey: '${pubkey}'\n  type: local\n\n`);
  assert.equal(run(BIN.arkeoSigner, k('show', 'dog', '-a', '--home', home)).stdout, dog.address + '\n');
  assert.equal(run(BIN.arkeoSigner, k('show', 'dog', '--pubkey', '--home', home)).stdout, pubkey + '\n');
  assert.match(run(BIN.arkeoSigner, k('show', 'dog', '-a', '--bech', 'val', '--home', home)).stdout, /^arkeovaloper1/);

  const fresh = run(BIN.arkeoSigner, k('add', 'new', '--home', home, '--output', 'json'));
  const created = JSON.parse(fresh.stdout) as { mnemonic: string };
  assert.equal(created.mnemonic.split(' ').length, 24, 'arkeod prints the new mnemonic in the JSON object');
  const quiet = run(BIN.arkeoSigner, k('add', 'quiet', '--home', home, '--no-backup'));
  assert.equal(quiet.status, 0);
  assert.doesNotMatch(quiet.stderr, /Important/);
  const loud = run(BIN.arkeoSigner, k('add', 'loud', '--home', home));
  assert.match(loud.stderr, /\*\*Important\*\* write this mnemonic phrase in a safe place\.\n.*\n\n(\w+ ){23}\w+\n$/);
  assert.doesNotMatch(loud.stdout, /Important/);
  const idx = run(BIN.arkeoSigner, k('add', 'dog1', '--recover', '--index', '1', '--home', home, '-o', 'json'), { input: dog.mnemonic + '\n' });
  assert.notEqual(JSON.parse(idx.stdout).address, dog.address);
  const dry = run(BIN.arkeoSigner, k('add', 'dry', '--dry-run', '--home', home));
  assert.equal(dry.status, 0);
  assert.ok(!fs.existsSync(path.join(home, 'keyring-test', 'dry.info')));
});

test('keys delete, rename, export/import (armor and hex), migrate, via the CLI', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const dog = readVector<ClaimVectors>('arkeo-claims.json').keys.dog!;
  const home = tempDir();
  assert.equal(run(BIN.arkeoSigner, k('import-hex', 'dog', '0x' + dog.priv, '--home', home)).status, 0);
  const refused = run(BIN.arkeoSigner, k('delete', 'dog', '--home', home), { input: 'n\n' });
  assert.match(refused.stderr, /Aborted/);
  assert.ok(fs.existsSync(path.join(home, 'keyring-test', 'dog.info')));
  assert.match(run(BIN.arkeoSigner, k('rename', 'dog', 'hound', '-y', '--home', home)).stderr, /successfully renamed from dog to hound/);

  const hex = run(BIN.arkeoSigner, k('export', 'hound', '--unarmored-hex', '--unsafe', '--home', home), { input: 'y\n' });
  assert.equal(hex.stdout, dog.priv + '\n');
  assert.equal(run(BIN.arkeoSigner, k('export', 'hound', '--unarmored-hex', '--home', home)).status, 2);

  const armor = run(BIN.arkeoSigner, k('export', 'hound', '--home', home), { input: 'armor-pass-1\n' });
  assert.equal(armor.status, 0, armor.stderr);
  assert.match(armor.stdout, /^-----BEGIN TENDERMINT PRIVATE KEY-----\n[\s\S]*-----END TENDERMINT PRIVATE KEY-----\n$/);
  const armorFile = path.join(tempDir(), 'hound.armor');
  fs.writeFileSync(armorFile, armor.stdout);
  const other = tempDir();
  const imp = run(BIN.arkeoSigner, k('import', 'dog', armorFile, '--home', other), { input: 'armor-pass-1\n' });
  assert.equal(imp.status, 0, imp.stderr);
  assert.equal(run(BIN.arkeoSigner, k('show', 'dog', '-a', '--home', other)).stdout, dog.address + '\n');
  const again = run(BIN.arkeoSigner, k('import', 'dog', armorFile, '--home', other), { input: 'armor-pass-1\n' });
  assert.equal(again.status, 1);
  assert.match(again.stderr, /cannot overwrite key/);

  const e = readVector<Record<string, string>>('generated-upstream-libs/expected.json');
  const vecArmor = path.join(VECTORS, 'generated-upstream-libs', 'alice-export-argon2.armor');
  const passFile = path.join(tempDir(), 'armor-pass');
  fs.writeFileSync(passFile, e.armorPassphrase + '\n');
  assert.equal(run(BIN.arkeoSigner, k('import', 'alice', vecArmor, '--home', other, '--armor-passphrase-file', passFile)).status, 0);
  const cost12 = path.join(VECTORS, 'cosmos-sdk-v0.50.11', 'import_test-bcrypt-cost12.armor');
  assert.equal(run(BIN.arkeoSigner, k('import', 'legacy', cost12, '--home', other), { env: { ARKEO_ARMOR_PASSPHRASE: '123456789' } }).status, 0);
  assert.equal(run(BIN.arkeoSigner, k('show', 'legacy', '-a', '--home', other)).stdout, 'arkeo1w34k53py5v5xyluazqpq65agyajavep2qf298j\n');

  const keyringPass = path.join(tempDir(), 'keyring-pass');
  fs.writeFileSync(keyringPass, 'keyring-file-pass\n');
  const mig = run(BIN.arkeoSigner, k('migrate', '--from', 'test', '--to', 'file', '--home', other, '--passphrase-file', keyringPass));
  assert.equal(mig.status, 0, mig.stderr);
  assert.match(mig.stderr, /3 key\(s\) migrated/);
  const fileList = run(BIN.arkeoSigner, k('list', '-n', '--home', other, '--keyring-backend', 'file'), { env: { ARKEO_KEYRING_PASSPHRASE: 'keyring-file-pass' } });
  assert.equal(fileList.stdout, 'alice\ndog\nlegacy\n');
  const viaStdin = run(BIN.arkeoSigner, k('show', 'dog', '-a', '--home', other, '--keyring-backend', 'file'), { input: 'keyring-file-pass\n' });
  assert.equal(viaStdin.stdout, dog.address + '\n');
  const signed = run(BIN.signhere, ['-home', other, '-keyring-backend', 'file', '-passphrase-file', keyringPass, '-u', 'dog', '-m', '1:1:']);
  assert.equal(signed.stdout, readVector<ClaimVectors>('arkeo-claims.json').signatures[0]!.signature + '\n');

  assert.match(run(BIN.arkeoSigner, k('delete', 'dog', '-y', '--home', other)).stderr, /Key deleted forever/);
  assert.equal(run(BIN.arkeoSigner, k('list', '-n', '--home', other)).stdout, 'alice\nlegacy\n');
});

test('bad input through the CLI: one line, non-zero exit, no partial file left behind', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const dog = readVector<ClaimVectors>('arkeo-claims.json').keys.dog!;
  const home = tempDir();
  assert.equal(run(BIN.arkeoSigner, k('import-hex', 'dog', dog.priv, '--home', home)).status, 0);
  const dir = path.join(home, 'keyring-test');
  const snapshot = () => listFiles(dir).map((f) => f + ':' + fs.readFileSync(path.join(dir, f), 'utf8')).join('|');
  const before = snapshot();
  const cases: [string, string[], string?][] = [
    ['bad mnemonic checksum', k('add', 'x', '--recover', '--home', home), dog.mnemonic.replace('fossil', 'dog') + '\n'],
    ['unknown mnemonic word', k('add', 'x', '--recover', '--home', home), dog.mnemonic.replace('fossil', 'fossilx') + '\n'],
    ['no mnemonic on stdin', k('add', 'x', '--recover', '--home', home), ''],
    ['bad hex', k('import-hex', 'x', 'zz11', '--home', home)],
    ['short hex', k('import-hex', 'x', 'abcd', '--home', home)],
    ['key name too long for a file', k('add', 'x'.repeat(251), '--home', home)],
    ['control character in name', k('add', 'a\u0007b', '--home', home)],
    ['unknown backend', k('list', '--home', home, '--keyring-backend', 'kwallet')],
    ['missing key', k('show', 'ghost', '--home', home)],
    ['missing directory', k('show', 'dog', '--home', path.join(home, 'nope'))],
    ['missing armor file', k('import', 'x', path.join(home, 'nope.armor'), '--home', home), 'whatever-pass\n'],
    ['unknown flag', k('list', '--frobnicate', '--home', home)],
    ['wrong file-backend passphrase', k('list', '--home', copyVectorDir('generated-upstream-libs'), '--keyring-backend', 'file'), 'wrong-passphrase\n'],
  ];
  for (const [what, args, input] of cases) {
    const r = run(BIN.arkeoSigner, args, { input });
    assert.notEqual(r.status, 0, what);
    assert.match(r.stderr, ONE_LINE, `${what}: ${JSON.stringify(r.stderr)}`);
    assert.equal(snapshot(), before, `${what}: keyring unchanged`);
  }
  const armorFile = path.join(tempDir(), 'a.armor');
  fs.copyFileSync(path.join(VECTORS, 'generated-upstream-libs', 'alice-export-argon2.armor'), armorFile);
  const wrong = run(BIN.arkeoSigner, k('import', 'x', armorFile, '--home', home), { input: 'not-the-pass\n' });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /a\.armor: invalid account password/);
  fs.writeFileSync(armorFile, fs.readFileSync(armorFile, 'utf8').slice(0, 120));
  const truncated = run(BIN.arkeoSigner, k('import', 'x', armorFile, '--home', home), { input: 'export-pass-1\n' });
  assert.match(truncated.stderr, /^arkeo-signer: .*a\.armor: no "-----END TENDERMINT PRIVATE KEY-----" line \(truncated\?\)\n$/);
  assert.equal(snapshot(), before);

  fs.writeFileSync(path.join(dir, 'dog.info'), fs.readFileSync(path.join(dir, 'dog.info'), 'utf8').slice(0, 200));
  const corrupt = run(BIN.arkeoSigner, k('show', 'dog', '--home', home));
  assert.equal(corrupt.status, 1);
  assert.match(corrupt.stderr, /^arkeo-signer: \S+dog\.info: /);
  assert.match(corrupt.stderr, ONE_LINE);
});

test('arkeo-signer verify: exit 0 valid, 1 invalid; pubkey as hex, arkeopub or base64', { timeout: 180_000 }, (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  const s = v.signatures[0]!;
  const key = v.keys[s.key]!;
  for (const pub of [key.pub, key.bech32PubKey, key.testnetBech32PubKey, key.pubBase64]) {
    const r = run(BIN.arkeoSigner, ['verify', '--pubkey', pub, '--message', s.message, '--signature', s.signature]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'valid\n');
  }
  const bad = run(BIN.arkeoSigner, ['verify', '--pubkey', key.pub, '--message', s.message + 'x', '--signature', s.signature]);
  assert.equal(bad.status, 1);
  assert.equal(bad.stdout, 'invalid\n');
  for (const args of [
    ['--pubkey', 'nothex', '--message', 'm', '--signature', s.signature],
    ['--pubkey', key.pub, '--message', 'm', '--signature', s.signature.slice(2)],
    ['--pubkey', key.pub, '--signature', s.signature],
  ]) {
    const r = run(BIN.arkeoSigner, ['verify', ...args]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, ONE_LINE);
  }
});
