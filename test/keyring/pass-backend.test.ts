import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeRecord, encodeItem, encodeRecord } from '../../src/keyring/index.js';
import { toHex } from '../../src/crypto/index.js';
import { BIN, listFiles, requireComponent, runAsync, tempDir } from '../helpers.js';
import { PassFixture, passAvailable } from './pass-store.js';

/**
 * The pass backend against a real `pass` store with a GPG key made here: entries as 99designs/keyring keeps them
 * (<store>/keyring-Arkeo/<item>.gpg holding the Item JSON), and each failure (a store without a GPG key, a key
 * gpg cannot encrypt to, a key whose passphrase gpg-agent cannot ask for, a name pass would store elsewhere) in one
 * line with nothing written, each beside its control.
 */
const available = passAvailable();
const fixtures: PassFixture[] = [];
after(() => {
  for (const f of fixtures) f.stop();
});
const fixture = (options?: Parameters<typeof PassFixture.create>[0]) => {
  const f = PassFixture.create(options);
  fixtures.push(f);
  return f;
};

const cli = (f: PassFixture, home: string, args: string[], env: Record<string, string | undefined> = {}) =>
  runAsync(BIN.arkeoSigner, [...args, '--home', home, '--keyring-backend', 'pass'], { env: { ...f.env, ...env } });
const lines = (stderr: string) => stderr.trim().split('\n').filter(Boolean);

test('keys add, list, show, claim sign, rename and delete through pass: the entries are the Item JSON, byte for byte', { timeout: 180_000 }, async (t) => {
  if (!requireComponent(t, available, 'pass, gpg and gpgconf (Debian: pass, gnupg)')) return;
  const f = fixture();
  const home = tempDir();
  const added = await cli(f, home, ['keys', 'add', 'alice', '--no-backup']);
  assert.equal(added.status, 0, added.stderr);
  const dir = path.join(f.root, 'keyring-Arkeo');
  const files = fs.readdirSync(dir).sort();
  assert.equal(files.length, 2);
  assert.ok(files.includes('alice.info.gpg'));
  const addressFile = files.find((x) => x.endsWith('.address.gpg'))!;
  const json = f.decrypt(path.join(dir, 'alice.info.gpg'));
  const item = JSON.parse(json.toString('utf8')) as { Key: string; Data: string };
  const record = decodeRecord(new Uint8Array(Buffer.from(item.Data, 'base64')), 'alice.info');
  assert.equal(json.toString('utf8'), Buffer.from(encodeItem({ key: 'alice.info', data: encodeRecord(record) })).toString('utf8'));
  assert.equal(JSON.parse(f.decrypt(path.join(dir, addressFile)).toString()).Key, addressFile.slice(0, -4));
  const shown = await cli(f, home, ['keys', 'show', 'alice', '-o', 'json']);
  assert.equal(shown.status, 0, shown.stderr);
  assert.equal(Buffer.from((JSON.parse((JSON.parse(shown.stdout) as { pubkey: string }).pubkey) as { key: string }).key, 'base64').toString('hex'), toHex(record.publicKey!));
  const signed = await cli(f, home, ['claim', 'sign', '--contract', '42', '--key', 'alice']);
  assert.equal(signed.status, 0, signed.stderr);
  assert.match(signed.stdout, /^42:1:[0-9a-f]{128}\n$/);
  assert.equal((await cli(f, home, ['keys', 'rename', 'alice', 'bob', '-y'])).status, 0);
  assert.deepEqual(fs.readdirSync(dir).sort(), [addressFile, 'bob.info.gpg'].sort());
  assert.equal((await cli(f, home, ['keys', 'delete', 'bob', '-y'])).status, 0);
  assert.deepEqual(listFiles(dir), [], 'pass rm removes the entries (and the folder they leave empty)');
});

test('a store without a GPG key, or with one gpg cannot encrypt to: one line, nothing written; pass init with a usable key, and it works', { timeout: 180_000 }, async (t) => {
  if (!requireComponent(t, available, 'pass and gpg')) return;
  const f = fixture({ init: false });
  const home = tempDir();
  const noInit = await cli(f, home, ['keys', 'add', 'alice', '--no-backup']);
  assert.notEqual(noInit.status, 0);
  assert.equal(lines(noInit.stderr).length, 1, noInit.stderr);
  assert.match(noInit.stderr, /the password store has no GPG key \(no \.gpg-id.*pass init/);
  assert.deepEqual(listFiles(f.root), [], 'nothing in the store');
  // A .gpg-id naming a key this GnuPG home does not have.
  fs.mkdirSync(f.root, { recursive: true });
  fs.writeFileSync(path.join(f.root, '.gpg-id'), '0123456789ABCDEF0123456789ABCDEF01234567\n');
  const noKey = await cli(f, home, ['keys', 'add', 'alice', '--no-backup']);
  assert.notEqual(noKey.status, 0);
  assert.equal(lines(noKey.stderr).length, 1, noKey.stderr);
  assert.match(noKey.stderr, /nothing written: gpg cannot encrypt to the store's GPG key 0123456789ABCDEF0123456789ABCDEF01234567/);
  assert.deepEqual(listFiles(f.root), ['.gpg-id'], 'no keyring-Arkeo folder, no entry');
  // Migration into it is refused the same way, before anything is copied.
  const test = await runAsync(BIN.arkeoSigner, ['keys', 'add', 'src', '--no-backup', '--home', home]);
  assert.equal(test.status, 0, test.stderr);
  const migrate = await runAsync(BIN.arkeoSigner, ['keys', 'migrate', '--from', 'test', '--to', 'pass', '--home', home], { env: f.env });
  assert.notEqual(migrate.status, 0);
  assert.equal(lines(migrate.stderr).length, 1, migrate.stderr);
  assert.deepEqual(listFiles(f.root), ['.gpg-id']);
  f.pass(['init', f.keyId]);
  assert.equal((await cli(f, home, ['keys', 'add', 'alice', '--no-backup'])).status, 0, 'control: a usable key');
  const migrated = await runAsync(BIN.arkeoSigner, ['keys', 'migrate', '--from', 'test', '--to', 'pass', '--home', home], { env: f.env });
  assert.equal(migrated.status, 0, migrated.stderr);
  assert.ok(fs.existsSync(path.join(f.root, 'keyring-Arkeo', 'src.info.gpg')));
});

test('a GPG key with a passphrase and no terminal for pinentry: reading fails in one line (the daemon meets the same); the key without one reads', { timeout: 180_000 }, async (t) => {
  if (!requireComponent(t, available, 'pass and gpg')) return;
  const locked = fixture({ passphrase: 'gpg-key-passphrase' });
  const home = tempDir();
  // Encrypting needs only the public key: the write succeeds, as with arkeod.
  assert.equal((await cli(locked, home, ['keys', 'add', 'alice', '--no-backup'])).status, 0);
  for (const args of [['keys', 'show', 'alice'], ['keys', 'list'], ['claim', 'sign', '--contract', '42', '--key', 'alice']]) {
    const r = await cli(locked, home, args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /gpg-agent needs the passphrase of the store's GPG key and cannot ask for it here/, args.join(' '));
  }
  const open = fixture();
  assert.equal((await cli(open, home, ['keys', 'add', 'alice', '--no-backup'])).status, 0);
  const r = await cli(open, home, ['keys', 'show', 'alice']);
  assert.equal(r.status, 0, r.stderr);
  // gpg says "No secret key" in both cases; a GnuPG home that truly lacks the key is told apart.
  const elsewhere = await runAsync(BIN.arkeoSigner, ['keys', 'show', 'alice', '--home', home, '--keyring-backend', 'pass'], { env: { ...open.env, GNUPGHOME: locked.gnupgHome } });
  assert.notEqual(elsewhere.status, 0);
  assert.equal(lines(elsewhere.stderr).length, 1, elsewhere.stderr);
  assert.match(elsewhere.stderr, /the GPG secret key it is encrypted to is not in this GnuPG home/);
});

test('names pass would store elsewhere are refused before anything is written; a name with one slash is a subfolder, listed and read', { timeout: 180_000 }, async (t) => {
  if (!requireComponent(t, available, 'pass and gpg')) return;
  const f = fixture();
  const home = tempDir();
  for (const name of ['a//b', '../up', 'x/./y', '/lead']) {
    const r = await cli(f, home, ['keys', 'add', name, '--no-backup']);
    assert.notEqual(r.status, 0, name);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /pass would store it under another path/, name);
  }
  assert.deepEqual(listFiles(path.join(f.root, 'keyring-Arkeo')), []);
  assert.equal((await cli(f, home, ['keys', 'add', 'team/alice', '--no-backup'])).status, 0);
  assert.ok(fs.existsSync(path.join(f.root, 'keyring-Arkeo', 'team', 'alice.info.gpg')));
  const listed = await cli(f, home, ['keys', 'list', '-o', 'json']);
  assert.deepEqual((JSON.parse(listed.stdout) as { name: string }[]).map((k) => k.name), ['team/alice']);
});

test('an entry that is not a key record: show says so in one line; list skips it', { timeout: 180_000 }, async (t) => {
  if (!requireComponent(t, available, 'pass and gpg')) return;
  const f = fixture();
  const home = tempDir();
  assert.equal((await cli(f, home, ['keys', 'add', 'good', '--no-backup'])).status, 0);
  f.pass(['insert', '-m', '-f', 'keyring-Arkeo/bank.info'], 'hunter2\n');
  const r = await cli(f, home, ['keys', 'show', 'bank']);
  assert.notEqual(r.status, 0);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /keyring-Arkeo\/bank\.info\.gpg: decrypted content is not the keyring Item JSON/);
  const listed = await cli(f, home, ['keys', 'list', '-o', 'json']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.deepEqual((JSON.parse(listed.stdout) as { name: string }[]).map((k) => k.name), ['good']);
  assert.match(listed.stderr, /skipping .*bank\.info\.gpg/);
});
