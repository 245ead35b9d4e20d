import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Keyring, decodeRecord, encodeItem, encodeRecord } from '../../src/keyring/index.js';
import { sha256, toHex } from '../../src/crypto/index.js';
import { BIN, listFiles, requireComponent, runAsync, tempDir } from '../helpers.js';
import { SecretServiceSession, secretServiceAvailable, ROOT } from './secret-service.js';

/**
 * The os backend against a real Secret Service (gnome-keyring-daemon in a private dbus-run-session): items as
 * 99designs/keyring keeps them, the README's quick start, and each failure (no bus, a locked collection, a
 * collection that cannot be created, an item that is not a key record) in one line with nothing written, each
 * beside its control.
 */
let session: SecretServiceSession | undefined;
const available = secretServiceAvailable();
const COLLECTION = `${ROOT}/collection/Arkeo`;

before(async () => {
  if (available) session = await SecretServiceSession.start();
});
after(async () => {
  await session?.stop();
});

/** Our CLI inside the private session (async: the test process's own bus calls must keep running). */
const cli = (home: string, args: string[], env: Record<string, string | undefined> = {}, input = '') =>
  runAsync(BIN.arkeoSigner, [...args, '--home', home, '--keyring-backend', 'os'], { env: { ...session!.env, ...env }, input });

const oneLine = (stderr: string) => stderr.trim().split('\n').filter((l) => !/^\s*$/.test(l));

test('no collection and no desktop to create one: keys add fails in one line, nothing written; then the README quick start works', { timeout: 120_000 }, async (t) => {
  if (!requireComponent(t, available, 'dbus-run-session and gnome-keyring-daemon (Debian: dbus-bin, gnome-keyring)')) return;
  const home = tempDir();
  const refused = await cli(home, ['keys', 'add', 'alice', '--no-backup']);
  assert.notEqual(refused.status, 0);
  assert.equal(oneLine(refused.stderr).length, 1, refused.stderr);
  assert.match(refused.stderr, /Secret Service collection "Arkeo": does not exist, and the Secret Service's prompt for its password was dismissed/);
  assert.ok(!(await session!.collections()).includes(COLLECTION), 'no collection was made');
  assert.deepEqual(listFiles(home), [], 'nothing written in the home');

  // What a desktop login does once: the collection exists and is unlocked. Then the README's two commands.
  await session!.createCollection('Arkeo');
  const added = await cli(home, ['keys', 'add', 'alice']);
  assert.equal(added.status, 0, added.stderr);
  const first = await cli(home, ['claim', 'sign', '--contract', '42', '--key', 'alice']);
  assert.equal(first.status, 0, first.stderr);
  const second = await cli(home, ['claim', 'sign', '--contract', '42', '--key', 'alice']);
  assert.equal(second.status, 0, second.stderr);
  const [cid, nonce, sig] = first.stdout.trim().split(':');
  assert.equal(`${cid}:${nonce}`, '42:1');
  assert.match(second.stdout.trim(), /^42:2:[0-9a-f]{128}$/);
  const shown = JSON.parse((await cli(home, ['keys', 'show', 'alice', '-o', 'json'])).stdout) as { pubkey: string };
  const pub = Buffer.from((JSON.parse(shown.pubkey) as { key: string }).key, 'base64');
  assert.ok(secp256k1.verify(Buffer.from(sig!, 'hex'), sha256(Buffer.from('42:1:')), pub, { prehash: false }), 'the claim verifies under the stored key');
  // The items, read back by another Secret Service client: what 99designs/keyring writes.
  const items = await session!.items(COLLECTION);
  assert.deepEqual(items.map((i) => i.label).sort(), [...items.map((i) => i.label)].sort());
  const info = items.find((i) => i.label === 'alice.info')!;
  assert.ok(info, 'alice.info is in the collection');
  assert.equal(info.attributes.profile, 'alice.info');
  assert.equal(info.parameters.length, 0);
  const item = JSON.parse(info.value.toString('utf8')) as { Key: string; Data: string };
  const record = decodeRecord(new Uint8Array(Buffer.from(item.Data, 'base64')), 'alice.info');
  assert.equal(toHex(record.publicKey!), toHex(pub));
  assert.equal(info.value.toString('utf8'), Buffer.from(encodeItem({ key: 'alice.info', data: encodeRecord(record) })).toString('utf8'), 'the secret is the Item JSON, byte for byte');
  const address = items.find((i) => i.label.endsWith('.address'))!;
  assert.equal(Buffer.from((JSON.parse(address.value.toString('utf8')) as { Data: string }).Data, 'base64').toString('utf8'), 'alice.info');
});

test('a locked collection: list and add fail in one line and write nothing; unlocked again, both work', { timeout: 120_000 }, async (t) => {
  if (!requireComponent(t, available, 'dbus-run-session and gnome-keyring-daemon')) return;
  if (!(await session!.collections()).includes(COLLECTION)) await session!.createCollection('Arkeo');
  const home = tempDir();
  assert.equal((await cli(home, ['keys', 'add', 'locker', '--no-backup'])).status, 0);
  const before = (await session!.items(COLLECTION)).map((i) => i.label);
  await session!.lock(COLLECTION);
  for (const args of [['keys', 'list'], ['keys', 'add', 'while-locked', '--no-backup'], ['claim', 'sign', '--contract', '7', '--key', 'locker']]) {
    const r = await cli(home, args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.equal(oneLine(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /Secret Service collection "Arkeo": locked/, args.join(' '));
  }
  await session!.unlock(COLLECTION);
  assert.deepEqual((await session!.items(COLLECTION)).map((i) => i.label), before, 'nothing was written while locked');
  const listed = await cli(home, ['keys', 'list', '-o', 'json']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.ok((JSON.parse(listed.stdout) as { name: string }[]).some((k) => k.name === 'locker'));
  assert.equal((await cli(home, ['keys', 'add', 'after-unlock', '--no-backup'])).status, 0);
});

test('items that are not key records: show names the item in one line, list skips it with a warning, the others still work', { timeout: 120_000 }, async (t) => {
  if (!requireComponent(t, available, 'dbus-run-session and gnome-keyring-daemon')) return;
  if (!(await session!.collections()).includes(COLLECTION)) await session!.createCollection('Arkeo');
  const home = tempDir();
  assert.equal((await cli(home, ['keys', 'add', 'good', '--no-backup'])).status, 0);
  await session!.putItem(COLLECTION, 'not-json.info', Buffer.from('hunter2'));
  await session!.putItem(COLLECTION, 'not-record.info', Buffer.from(encodeItem({ key: 'not-record.info', data: new Uint8Array([1, 2, 3]) })));
  for (const [name, why] of [['not-json', /not the keyring Item JSON/], ['not-record', /not a keyring record/]] as const) {
    const r = await cli(home, ['keys', 'show', name]);
    assert.notEqual(r.status, 0);
    assert.equal(oneLine(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`Secret Service collection "Arkeo", item "${name}\\.info"`));
    assert.match(r.stderr, why);
  }
  const listed = await cli(home, ['keys', 'list', '-o', 'json']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.ok((JSON.parse(listed.stdout) as { name: string }[]).some((k) => k.name === 'good'));
  assert.match(listed.stderr, /skipping .*not-json\.info/);
  const signed = await cli(home, ['claim', 'sign', '--contract', '9', '--key', 'good']);
  assert.equal(signed.status, 0, signed.stderr);
});

test('no session bus, or a dead one: one line naming it, nothing written; the same command on the live bus works', { timeout: 120_000 }, async (t) => {
  if (!requireComponent(t, available, 'dbus-run-session and gnome-keyring-daemon')) return;
  const home = tempDir();
  const emptyRuntime = tempDir();
  const noBus = await cli(home, ['keys', 'add', 'nobus', '--no-backup'], { DBUS_SESSION_BUS_ADDRESS: undefined, XDG_RUNTIME_DIR: emptyRuntime });
  assert.notEqual(noBus.status, 0);
  assert.equal(oneLine(noBus.stderr).length, 1, noBus.stderr);
  assert.match(noBus.stderr, /keyring backend os: no session bus \(DBUS_SESSION_BUS_ADDRESS is not set/);
  const dead = await cli(home, ['keys', 'list'], { DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(emptyRuntime, 'gone')}` });
  assert.notEqual(dead.status, 0);
  assert.equal(oneLine(dead.stderr).length, 1, dead.stderr);
  assert.match(dead.stderr, /cannot use the session bus at unix:path=.*gone \(connect ENOENT/);
  assert.deepEqual(listFiles(home), []);
  if (!(await session!.collections()).includes(COLLECTION)) await session!.createCollection('Arkeo');
  assert.equal((await cli(home, ['keys', 'add', 'nobus', '--no-backup'])).status, 0, 'control: on the live bus');
});

test('in process: a Keyring on the os backend imports, lists, exports, renames, deletes, and migrates to test and back to another collection', { timeout: 120_000 }, async (t) => {
  if (!requireComponent(t, available, 'dbus-run-session and gnome-keyring-daemon')) return;
  if (!(await session!.collections()).includes(COLLECTION)) await session!.createCollection('Arkeo');
  const saved = process.env.DBUS_SESSION_BUS_ADDRESS;
  process.env.DBUS_SESSION_BUS_ADDRESS = session!.address;
  t.after(() => {
    if (saved === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS;
    else process.env.DBUS_SESSION_BUS_ADDRESS = saved;
  });
  const service = `InProcess${Date.now()}`;
  await session!.createCollection(service);
  const home = tempDir();
  const os = Keyring.open({ backend: 'os', dir: home, service });
  const priv = secp256k1.utils.randomSecretKey();
  const added = await os.importPrivateKey('k1', priv);
  assert.deepEqual((await os.list()).map((k) => k.name), ['k1']);
  assert.equal(toHex(await os.exportPrivateKey('k1')), toHex(priv));
  await os.rename('k1', 'k2');
  assert.deepEqual((await os.list()).map((k) => [k.name, k.address]), [['k2', added.address]]);
  const test = Keyring.open({ backend: 'test', dir: home });
  assert.deepEqual((await os.migrateTo(test)).copied, ['k2']);
  assert.equal(toHex(await test.exportPrivateKey('k2')), toHex(priv));
  const fresh = Keyring.open({ backend: 'os', dir: home, service: `${service}b` });
  await session!.createCollection(`${service}b`);
  assert.deepEqual((await test.migrateTo(fresh)).copied, ['k2']);
  assert.equal(toHex(await fresh.exportPrivateKey('k2')), toHex(priv));
  await os.delete('k2');
  assert.deepEqual(await os.list(), []);
  assert.equal(fs.existsSync(path.join(home, 'keyring-os')), false, 'no folder for the os backend unless an external key needs one');
});
