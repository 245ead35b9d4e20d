import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Keyring, encodeItem } from '../../src/keyring/index.js';
import { DaemonClient, SignerDaemon, TokenStore, defaultConfig, parsePolicy } from '../../src/daemon/index.js';
import { runDoctor, type Finding } from '../../src/doctor/index.js';
import { utf8, verifySignature, parseHex } from '../../src/crypto/index.js';
import { requireComponent, tempDir } from '../helpers.js';
import { SecretServiceSession, secretServiceAvailable, ROOT } from './secret-service.js';
import { PassFixture, passAvailable } from './pass-store.js';

/**
 * The daemon on the os and pass backends: it reads its keys once at start (one unlock), keeps signing when the
 * collection is locked or the GPG key is gone afterwards, and refuses to start, in one line, on a locked
 * collection or a GPG key whose passphrase it cannot ask for. doctor says the same beforehand.
 */
let session: SecretServiceSession | undefined;
const fixtures: PassFixture[] = [];
const available = () => secretServiceAvailable() && passAvailable();
const WHAT = 'dbus-run-session, gnome-keyring-daemon, pass and gpg';

before(async () => {
  if (!available()) return;
  session = await SecretServiceSession.start();
  process.env.DBUS_SESSION_BUS_ADDRESS = session.address;
});
after(async () => {
  await session?.stop();
  for (const f of fixtures) f.stop();
});

function usePass(options?: Parameters<typeof PassFixture.create>[0]): PassFixture {
  const f = PassFixture.create(options);
  fixtures.push(f);
  Object.assign(process.env, f.env);
  return f;
}

let n = 0;
async function osService(): Promise<string> {
  const service = `Daemon${process.pid}x${++n}`;
  await session!.createCollection(service);
  process.env.ARKEO_KEYRING_SERVICE = service;
  return service;
}

async function startDaemon(backend: 'os' | 'pass', home: string) {
  const config = defaultConfig(home);
  config.keyring.backend = backend;
  const token = TokenStore.load(config.tokens.path).create(`t${++n}`, parsePolicy({ keys: ['*'], operations: ['claim'], contracts: ['*'], rate: { per_second: 1e6, burst: 1e6 } }));
  const daemon = await SignerDaemon.start(config, {});
  return { daemon, client: new DaemonClient(config.listen.socket, { token }), config };
}

const findings = async (home: string, backend: string): Promise<Finding[]> => {
  const file = path.join(home, 'daemon.toml');
  fs.writeFileSync(file, `[keyring]\nbackend = "${backend}"\nhome = "${home}"\n`);
  return (await runDoctor({ configFile: file, passwdFile: '/dev/null', unitFiles: [] })).filter((f) => f.check === `keyring.${backend}`);
};

test('os: doctor and the daemon on a locked collection say so in one line; unlocked, the daemon reads the keys once and signs after a lock', { timeout: 180_000 }, async (t) => {
  if (!requireComponent(t, available(), WHAT)) return;
  const service = await osService();
  const home = tempDir();
  const kr = Keyring.open({ backend: 'os', dir: home, service });
  const priv = secp256k1.utils.randomSecretKey();
  await kr.importPrivateKey('alice', priv);
  const pub = secp256k1.getPublicKey(priv, true);
  const collection = `${ROOT}/collection/${service}`;
  await session!.lock(collection);
  const locked = await findings(home, 'os');
  assert.ok(locked.some((f) => f.level === 'fail' && /locked; the daemon cannot read its keys/.test(f.message)), JSON.stringify(locked));
  await assert.rejects(startDaemon('os', home), (e: Error) => /Secret Service collection ".*": locked/.test(e.message) && !e.message.includes('\n'));
  await session!.unlock(collection);
  const ok = await findings(home, 'os');
  assert.deepEqual(ok.map((f) => f.level), ['ok', 'ok', 'ok'], JSON.stringify(ok));
  const { daemon, client } = await startDaemon('os', home);
  try {
    await session!.lock(collection); // after the one unlock at start, the keys are the daemon's
    const claim = await client.claim(42n, 'alice');
    assert.ok(verifySignature(pub, utf8(claim.preimage), parseHex(claim.signature, 'sig')));
  } finally {
    client.close();
    await daemon.stop();
    await session!.unlock(collection);
  }
  // An item that is not a key record: doctor names it.
  const bogus = Buffer.from(encodeItem({ key: 'junk.info', data: new Uint8Array([9, 9]) }));
  await session!.putItem(collection, 'junk.info', bogus);
  const bad = await findings(home, 'os');
  assert.ok(bad.some((f) => f.level === 'fail' && /item "junk\.info".*not a key record/.test(f.message)), JSON.stringify(bad));
});

test('os: doctor without a session bus fails in one line', { timeout: 60_000 }, async (t) => {
  if (!requireComponent(t, available(), WHAT)) return;
  const saved = process.env.DBUS_SESSION_BUS_ADDRESS;
  const savedRuntime = process.env.XDG_RUNTIME_DIR;
  delete process.env.DBUS_SESSION_BUS_ADDRESS;
  process.env.XDG_RUNTIME_DIR = tempDir();
  try {
    const f = await findings(tempDir(), 'os');
    assert.equal(f.length, 1);
    assert.equal(f[0]!.level, 'fail');
    assert.match(f[0]!.message, /no session bus/);
  } finally {
    process.env.DBUS_SESSION_BUS_ADDRESS = saved;
    if (savedRuntime === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = savedRuntime;
  }
});

test('pass: a GPG key whose passphrase cannot be asked for stops doctor (warn) and the daemon (one line); a key without one starts it, and it signs after the key is gone', { timeout: 180_000 }, async (t) => {
  if (!requireComponent(t, available(), WHAT)) return;
  delete process.env.ARKEO_KEYRING_SERVICE;
  const home = tempDir();
  usePass({ passphrase: 'gpg-key-passphrase' });
  await Keyring.open({ backend: 'pass', dir: home }).importPrivateKey('alice', secp256k1.utils.randomSecretKey());
  const asked = await findings(home, 'pass');
  assert.ok(asked.some((f) => f.level === 'warn' && /gpg-agent would ask for the GPG key's passphrase/.test(f.message)), JSON.stringify(asked));
  await assert.rejects(startDaemon('pass', home), (e: Error) => /gpg-agent needs the passphrase/.test(e.message) && !e.message.includes('\n'));

  const home2 = tempDir();
  const open = usePass();
  const priv = secp256k1.utils.randomSecretKey();
  await Keyring.open({ backend: 'pass', dir: home2 }).importPrivateKey('bob', priv);
  const ok = await findings(home2, 'pass');
  assert.deepEqual(ok.map((f) => f.level), ['ok', 'ok', 'ok'], JSON.stringify(ok));
  const { daemon, client } = await startDaemon('pass', home2);
  try {
    fs.renameSync(open.gnupgHome, `${open.gnupgHome}.away`); // after the start, no GPG key at all
    const claim = await client.claim(7n, 'bob');
    assert.ok(verifySignature(secp256k1.getPublicKey(priv, true), utf8(claim.preimage), parseHex(claim.signature, 'sig')));
  } finally {
    client.close();
    await daemon.stop();
    fs.renameSync(`${open.gnupgHome}.away`, open.gnupgHome);
  }
  const uninit = PassFixture.create({ init: false });
  fixtures.push(uninit);
  Object.assign(process.env, uninit.env);
  const none = await findings(tempDir(), 'pass');
  assert.equal(none.length, 1);
  assert.equal(none[0]!.level, 'fail');
  assert.match(none[0]!.message, /no GPG key \(no \.gpg-id/);
});
