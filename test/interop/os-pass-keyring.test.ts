import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Keyring, decryptJwe, percentEncode } from '../../src/keyring/index.js';
import { toHex } from '../../src/crypto/index.js';
import { addressBytes } from '../../src/crypto/address.js';
import { openLocalSigner } from '../../src/keys/index.js';
import { BIN, requireComponent, runAsync, tempDir } from '../helpers.js';
import { buildOracle, goAvailable, oracle, oracleJson, oracleLines, type GoKey } from './oracle.js';
import { SecretServiceSession, secretServiceAvailable, ROOT } from '../keyring/secret-service.js';
import { PassFixture, passAvailable } from '../keyring/pass-store.js';

/**
 * The os and pass backends both ways against the Go code arkeod links (cosmos-sdk v0.50.11 through
 * 99designs/keyring v1.2.1), on a real Secret Service (gnome-keyring-daemon in a private dbus-run-session) and a
 * real pass store (a GPG key made here, no passphrase, private GNUPGHOME):
 * - the oracle writes keys; we list, show (the same bytes `arkeod keys list/show -o json` prints), sign (the same
 *   signatures) and migrate them to the test backend and back into a fresh store, where every item is the same
 *   bytes as Go's (label, attributes, secret; or the decrypted pass entry);
 * - we write keys (add, import-hex, rename, delete); the oracle reads, lists, signs with and deletes them.
 * Each test uses its own service name (collection, or pass folder keyring-<service>), named for Go by
 * ORACLE_APP_NAME and for us by ARKEO_KEYRING_SERVICE.
 */
let haveGo = false;
let session: SecretServiceSession | undefined;
let store: PassFixture | undefined;
const haveAll = () => haveGo && secretServiceAvailable() && passAvailable();
const WHAT = 'go, dbus-run-session, gnome-keyring-daemon, pass and gpg (Debian: golang-go, dbus-bin, gnome-keyring, pass, gnupg)';

before(async () => {
  haveGo = goAvailable();
  if (!haveAll()) return;
  buildOracle();
  session = await SecretServiceSession.start();
  store = PassFixture.create();
  // In-process keyrings (our signers) use the same bus and store as the child processes.
  Object.assign(process.env, session.env, store.env);
});
after(async () => {
  await session?.stop();
  store?.stop();
});

type Backend = 'os' | 'pass';
let counter = 0;

/** A fresh service name, with its collection made as a desktop would (the os backend cannot create one headless). */
async function freshService(backend: Backend): Promise<string> {
  const service = `Interop${process.pid}x${++counter}`;
  if (backend === 'os') await session!.createCollection(service);
  return service;
}

const goEnv = (service: string) => ({ ...session!.env, ...store!.env, ORACLE_APP_NAME: service });
const ourEnv = (service: string) => ({ ...session!.env, ...store!.env, ARKEO_KEYRING_SERVICE: service });

/** Every item of a store as the backend holds it: label → the secret (the Item JSON), plus the attributes for os. */
async function storedItems(backend: Backend, service: string): Promise<Map<string, { secret: string; attributes?: Record<string, string>; contentType?: string }>> {
  const out = new Map<string, { secret: string; attributes?: Record<string, string>; contentType?: string }>();
  if (backend === 'os') {
    for (const i of await session!.items(`${ROOT}/collection/${service}`)) {
      // gnome-keyring adds xdg:schema itself to some items (those it has reloaded from its file), whoever wrote
      // them: both clients send {profile} only. It is the service's, not the client's, so it is left out here.
      const { 'xdg:schema': _schema, ...attributes } = i.attributes;
      out.set(i.label, { secret: i.value.toString('utf8'), attributes, contentType: i.contentType });
    }
  } else {
    const dir = path.join(store!.root, `keyring-${service}`);
    for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
      if (f.endsWith('.gpg')) out.set(f.slice(0, -4), { secret: store!.decrypt(path.join(dir, f)).toString('utf8') });
    }
  }
  return out;
}

const cli = (backend: string, home: string, service: string, args: string[], input = '') =>
  runAsync(BIN.arkeoSigner, [...args, '--home', home, '--keyring-backend', backend], { env: ourEnv(service), input });

for (const backend of ['os', 'pass'] as const) {
  test(`${backend}: keys the Go keyring wrote are listed, shown, signed with and migrated by us, byte for byte`, { timeout: 600_000 }, async (t) => {
    if (!requireComponent(t, haveAll(), WHAT)) return;
    const service = await freshService(backend);
    const home = tempDir();
    const goKeys = oracleJson<GoKey[]>(['new-keyring', home, backend, '3'], { env: goEnv(service) });
    // Records of other kinds and names that need escaping, written by the SDK's own calls.
    const pub = toHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    const pub2 = toHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    const specs = [
      { kind: 'offline', name: Buffer.from('offline <&> ünï').toString('hex'), pubkeys: [pub] },
      { kind: 'multi', name: Buffer.from('multi').toString('hex'), pubkeys: [pub, pub2], threshold: 2 },
      { kind: 'local', name: Buffer.from('team/alice').toString('hex'), mnemonic: oracleJson<GoKey[]>(['new-keyring', tempDir(), 'test', '1'])[0]!.mnemonic! },
    ];
    oracle(['write-records', home, backend], { env: goEnv(service), input: specs.map((s) => JSON.stringify(s)).join('\n') + '\n' });

    // list and show: the same bytes arkeod prints.
    const want = oracleJson<{ list_json: string; show: { name: string; json: string }[] }>(['key-outputs', home, backend], { env: goEnv(service) });
    const listed = await cli(backend, home, service, ['keys', 'list', '-o', 'json']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.equal(listed.stdout, want.list_json, 'keys list -o json');
    for (const shown of want.show) {
      const r = await cli(backend, home, service, ['keys', 'show', shown.name, '-o', 'json']);
      assert.equal(r.stdout, shown.json, `keys show ${shown.name}`);
    }

    // sign: the same signatures, from the keys as stored.
    const messages = Array.from({ length: 40 }, () => randomBytes(1 + Math.floor(Math.random() * 100)));
    const kr = Keyring.open({ backend, dir: home, service });
    for (const k of [goKeys[0]!, goKeys[2]!]) {
      const goSigs = oracleLines(['sign-batch', home, backend, k.name], messages.map((m) => toHex(m)), { env: goEnv(service) });
      const signer = await openLocalSigner(kr, k.name);
      for (let i = 0; i < messages.length; i++) assert.equal(toHex(await signer.sign(messages[i]!)), goSigs[i], `${k.name}, message ${i}`);
      signer.destroy();
    }

    // migrate to test: our JWE files hold exactly the items Go put in the store; and back into a fresh store of this
    // backend: every item (label, attributes, secret) as Go wrote it.
    const goItems = await storedItems(backend, service);
    const migrated = await cli(backend, home, service, ['keys', 'migrate', '--from', backend, '--to', 'test']);
    assert.equal(migrated.status, 0, migrated.stderr);
    assert.match(migrated.stderr, /4 key\(s\) migrated, 2 skipped/);
    const testDir = path.join(home, 'keyring-test');
    for (const [label, item] of goItems) {
      if (label.startsWith('offline') || label.startsWith('multi')) continue; // not local keys: not migrated
      const file = path.join(testDir, percentEncode(label));
      if (label.endsWith('.address') && !fs.existsSync(file)) continue; // the offline and multi keys' address items
      assert.equal(Buffer.from(decryptJwe(fs.readFileSync(file, 'latin1'), 'test', file)).toString('utf8'), item.secret, `${label}: same Item JSON in the test backend`);
    }
    const back = await freshService(backend);
    const returned = await runAsync(BIN.arkeoSigner, ['keys', 'migrate', '--from', 'test', '--to', backend, '--home', home], { env: ourEnv(back) });
    assert.equal(returned.status, 0, returned.stderr);
    const ours = await storedItems(backend, back);
    const goLocal = new Map([...goItems].filter(([label]) => ours.has(label)));
    assert.equal(ours.size, 8, 'four local keys, each an .info and an .address item');
    assert.deepEqual(ours, goLocal, 'every item as the Go keyring wrote it: label, attributes and secret');
  });

  test(`${backend}: keys we wrote are read, listed, signed with and deleted by the Go keyring`, { timeout: 600_000 }, async (t) => {
    if (!requireComponent(t, haveAll(), WHAT)) return;
    const service = await freshService(backend);
    const home = tempDir();
    const goList = () => oracleJson<GoKey[]>(['list', home, backend], { env: goEnv(service) }).map((k) => [k.name, k.address, k.pubkey_hex]);
    const ourList = async () => (await Keyring.open({ backend, dir: home, service }).list()).map((k) => [k.name, k.address, toHex(k.publicKey!)]);
    const run = async (...args: string[]) => {
      const r = await cli(backend, home, service, args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    };
    await run('keys', 'add', 'added', '--no-backup');
    const priv = secp256k1.utils.randomSecretKey();
    await run('keys', 'import-hex', 'hexed', toHex(priv));
    await run('keys', 'add', 'weird <&> ünï %2F name', '--no-backup');
    await run('keys', 'add', 'renamed-from', '--no-backup');
    await run('keys', 'rename', 'renamed-from', 'renamed-to', '-y');
    await run('keys', 'add', 'deleted', '--no-backup');
    await run('keys', 'delete', 'deleted', '-y');
    const mine = await ourList();
    assert.deepEqual(goList(), mine);
    assert.deepEqual(mine.map((k) => k[0]), ['added', 'hexed', 'renamed-to', 'weird <&> ünï %2F name']);
    // Go's show of each, and its signature under each, equal ours.
    const kr = Keyring.open({ backend, dir: home, service });
    const msg = randomBytes(64);
    for (const [name, address, pubkey] of mine) {
      assert.deepEqual(oracleJson<GoKey>(['show', home, backend, name!], { env: goEnv(service) }), { name, type: 'local', address, pubkey_hex: pubkey });
      const signer = await openLocalSigner(kr, name!);
      assert.equal(oracle(['sign', home, backend, name!, toHex(msg)], { env: goEnv(service) }).trim(), toHex(await signer.sign(msg)), `${name}: Go signs with our key as we do`);
      signer.destroy();
    }
    // The item we wrote for the imported key is the one Go's own encoders make from the same name and key.
    const [recordHex] = oracleLines(['record-bytes'], [`${Buffer.from('hexed').toString('hex')} ${toHex(priv)}`]);
    const [itemHex] = oracleLines(['item-json'], [`${Buffer.from('hexed.info').toString('hex')} ${recordHex}`]);
    assert.equal((await storedItems(backend, service)).get('hexed.info')!.secret, Buffer.from(itemHex!, 'hex').toString('utf8'));
    // Go deletes one of ours; we see it gone, its address item too.
    const before = await storedItems(backend, service);
    oracle(['delete', home, backend, 'hexed'], { env: goEnv(service) });
    assert.deepEqual((await ourList()).map((k) => k[0]), ['added', 'renamed-to', 'weird <&> ünï %2F name']);
    const after = await storedItems(backend, service);
    assert.deepEqual([...before.keys()].filter((k) => !after.has(k)).sort(), [`${toHex(addressBytes(secp256k1.getPublicKey(priv, true)))}.address`, 'hexed.info']);
    // Migrated from the other backend and back: Go lists the same keys in both.
    const other: Backend = backend === 'os' ? 'pass' : 'os';
    if (other === 'os') await session!.createCollection(service);
    const across = await cli(backend, home, service, ['keys', 'migrate', '--from', backend, '--to', other]);
    assert.equal(across.status, 0, across.stderr);
    assert.deepEqual(oracleJson<GoKey[]>(['list', home, other], { env: goEnv(service) }).map((k) => [k.name, k.address, k.pubkey_hex]), await ourList());
    // And to the file backend and from it into a fresh store: Go lists the same keys in each.
    const passFile = path.join(home, 'passphrase');
    fs.writeFileSync(passFile, 'interop-file-pass\n', { mode: 0o600 });
    const toFile = await cli(backend, home, service, ['keys', 'migrate', '--from', backend, '--to', 'file', '--passphrase-file', passFile]);
    assert.equal(toFile.status, 0, toFile.stderr);
    assert.deepEqual(oracleJson<GoKey[]>(['list', home, 'file'], { env: goEnv(service), passphrase: 'interop-file-pass' }).map((k) => [k.name, k.address, k.pubkey_hex]), await ourList());
    const fresh = await freshService(backend);
    const fromFile = await runAsync(BIN.arkeoSigner, ['keys', 'migrate', '--from', 'file', '--to', backend, '--home', home, '--passphrase-file', passFile], { env: ourEnv(fresh) });
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.deepEqual(oracleJson<GoKey[]>(['list', home, backend], { env: goEnv(fresh) }).map((k) => [k.name, k.address, k.pubkey_hex]), await ourList());
  });
}
