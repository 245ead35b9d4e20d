import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Keyring, checkStorableName, decryptPrivateKeyArmor, encryptPrivateKeyArmor, validateKeyName, type PassphraseSource } from '../../src/keyring/index.js';
import { InputError, KeyringError } from '../../src/errors.js';
import { publicKeyFromPrivate, toAddress, toHex, utf8, verifySignature } from '../../src/crypto/index.js';
import { setLogSink } from '../../src/log.js';
import { listFiles, tempDir } from '../helpers.js';
import { openLocalSigner } from '../../src/keys/index.js';

const MNEMONIC = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art';
const fixed = (pass: string): PassphraseSource => ({ interactive: false, get: async () => pass });

function isKeyringError(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof KeyringError || e instanceof InputError, String(e));
    assert.equal((e as KeyringError).code, code, (e as Error).message);
    assert.ok(!(e as Error).message.includes('\n'));
    return true;
  };
}

for (const backend of ['test', 'file', 'memory'] as const) {
  test(`${backend} backend: add, list, show, sign, rename, delete`, { timeout: 120_000 }, async () => {
    const home = tempDir();
    const kr = Keyring.open({ backend, dir: home, passphrase: fixed('a good passphrase') });
    const alice = await kr.newAccount('alice', MNEMONIC);
    const bob = await kr.newAccount('bob', MNEMONIC, { hdPath: "m/44'/118'/0'/0/1" });
    assert.notEqual(alice.address, bob.address);
    assert.deepEqual((await kr.list()).map((k) => k.name), ['alice', 'bob']);
    const signer = await openLocalSigner(kr, 'alice');
    const sig = await signer.sign(utf8('1:1:'));
    assert.ok(verifySignature(alice.publicKey!, utf8('1:1:'), sig));
    signer.destroy();
    await assert.rejects(signer.sign(utf8('x')), /destroyed/);

    await assert.rejects(kr.newAccount('alice', MNEMONIC, { hdPath: "m/44'/118'/0'/0/7" }), isKeyringError('KEY_EXISTS'));
    await assert.rejects(kr.newAccount('carol', MNEMONIC), isKeyringError('ADDRESS_EXISTS'));

    const renamed = await kr.rename('alice', 'alice2');
    assert.equal(renamed.address, alice.address);
    assert.equal((await kr.getByAddress(alice.addressBytes!)).name, 'alice2');
    await assert.rejects(kr.get('alice'), isKeyringError('KEY_NOT_FOUND'));
    await assert.rejects(kr.rename('alice2', 'bob'), isKeyringError('KEY_EXISTS'));

    await kr.delete('bob');
    assert.deepEqual((await kr.list()).map((k) => k.name), ['alice2']);
    await assert.rejects(kr.delete('bob'), isKeyringError('KEY_NOT_FOUND'));
    if (backend !== 'memory') {
      const files = listFiles(kr.location);
      assert.deepEqual(files.filter((f) => f !== 'keyhash'), [`${toHex(alice.addressBytes!)}.address`, 'alice2.info']);
    }
  });
}

test('migrate test → file → test keeps keys, addresses and signatures', { timeout: 120_000 }, async () => {
  const home = tempDir();
  const src = Keyring.open({ backend: 'test', dir: home });
  await src.newAccount('alice', MNEMONIC);
  await src.newAccount('bob', MNEMONIC, { hdPath: "m/44'/118'/0'/0/1" });
  const dst = Keyring.open({ backend: 'file', dir: home, passphrase: fixed('migrate-pass-1') });
  assert.deepEqual(await src.migrateTo(dst), { copied: ['alice', 'bob'], skipped: [] });
  assert.deepEqual(await src.migrateTo(dst), { copied: [], skipped: ['alice', 'bob'].map((name) => ({ name, why: `already in ${dst.location}` })) });
  assert.deepEqual((await dst.list()).map((k) => k.address), (await src.list()).map((k) => k.address));
  const back = Keyring.open({ backend: 'test', dir: tempDir() });
  await dst.migrateTo(back);
  assert.deepEqual(await back.exportPrivateKey('bob'), await src.exportPrivateKey('bob'));
});

test('file backend: wrong passphrase is a clear error; interactive sources get 3 attempts', { timeout: 120_000 }, async () => {
  const home = tempDir();
  await Keyring.open({ backend: 'file', dir: home, passphrase: fixed('first-passphrase') }).newAccount('alice', MNEMONIC);
  await assert.rejects(Keyring.open({ backend: 'file', dir: home, passphrase: fixed('wrong-passphrase') }).get('alice'), isKeyringError('WRONG_PASSPHRASE'));
  const answers = ['nope-nope-1', 'nope-nope-2', 'first-passphrase'];
  const rejections: string[] = [];
  const interactive: PassphraseSource = { interactive: true, get: async () => answers.shift()!, rejected: (r) => rejections.push(r) };
  const info = await Keyring.open({ backend: 'file', dir: home, passphrase: interactive }).get('alice');
  assert.equal(info.name, 'alice');
  assert.deepEqual(rejections, ['incorrect passphrase', 'incorrect passphrase'], 'told before each retry');
  const always = ['x-wrong-1', 'x-wrong-2', 'x-wrong-3', 'never-asked'];
  await assert.rejects(
    Keyring.open({ backend: 'file', dir: home, passphrase: { interactive: true, get: async () => always.shift()! } }).get('alice'),
    (e: unknown) => e instanceof KeyringError && /too many failed passphrase attempts/.test(e.message),
  );
  assert.deepEqual(always, ['never-asked']);
  // A missing key is reported before any passphrase is asked for, as arkeod does.
  let asked = 0;
  await assert.rejects(Keyring.open({ backend: 'file', dir: home, passphrase: { interactive: false, get: async () => (asked++, 'x') } }).get('ghost'), isKeyringError('KEY_NOT_FOUND'));
  assert.equal(asked, 0);
  await assert.rejects(Keyring.open({ backend: 'file', dir: tempDir(), passphrase: fixed('short') }).newAccount('a', MNEMONIC), isKeyringError('PASSPHRASE_TOO_SHORT'));
});

test('key names: what arkeod accepts is stored and read; only what no file name can hold is refused', { timeout: 120_000 }, async () => {
  // arkeod accepts these; each is a legal file name once "/" and "%" are escaped (../x is the file ..%2Fx.info).
  const storable = ['alice', 'my key', 'ünï', 'a%b', 'a.b', '.hidden', '..', '../x', 'a/b', 'a\\b', ' pad', 'x'.repeat(195), 'x'.repeat(250), '%'.repeat(81)];
  for (const ok of storable) checkStorableName(ok);
  for (const bad of ['', 'nul\u0000', 'x'.repeat(251), '%'.repeat(84), 'lone\ud800']) {
    assert.throws(() => checkStorableName(bad), isKeyringError('BAD_KEY_NAME'), JSON.stringify(bad));
  }
  // New names typed at the CLI also refuse control characters (they would break lines of output and errors).
  for (const bad of ['nl\nx', 'tab\tx', 'del\u007f', 'c1\u0085', 'ls\u2028']) assert.throws(() => validateKeyName(bad), /control character/, JSON.stringify(bad));
  // On disk: each storable name round-trips through its file (the 250-byte one makes a 255-byte file name, the
  // longest there is, and is written atomically: the temp name stays short), and is listed, .hidden included.
  const kr = Keyring.open({ backend: 'test', dir: tempDir() });
  for (const [i, name] of storable.entries()) await kr.newAccount(name, MNEMONIC, { hdPath: `m/44'/118'/0'/0/${i}` });
  assert.deepEqual((await kr.list()).map((k) => k.name).sort(), [...storable].sort());
  // A name that cannot exist is said to be that, not "not found".
  await assert.rejects(kr.get('x'.repeat(251)), (e: unknown) => e instanceof Error && /too long for this file system .* 256 bytes, the limit is 255/.test(e.message));
});

test('a symlinked key file is refused, and an exposed directory draws a warning', { timeout: 120_000 }, async () => {
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  await kr.newAccount('alice', MNEMONIC);
  const dir = kr.location;
  fs.renameSync(path.join(dir, 'alice.info'), path.join(home, 'elsewhere'));
  fs.symlinkSync(path.join(home, 'elsewhere'), path.join(dir, 'alice.info'));
  await assert.rejects(kr.get('alice'), isKeyringError('SYMLINK_REFUSED'));

  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  try {
    const exposed = tempDir();
    fs.mkdirSync(path.join(exposed, 'keyring-test'), { mode: 0o755 });
    fs.chmodSync(path.join(exposed, 'keyring-test'), 0o755);
    await Keyring.open({ backend: 'test', dir: exposed }).list();
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^WARNING: .*keyring-test is accessible by group or others \(mode 755\); run: chmod 700/);
  } finally {
    setLogSink((l) => process.stderr.write(l + '\n'));
  }
});

test('corrupt, truncated and hostile files: one-line errors naming the file, nothing rewritten', { timeout: 120_000 }, async () => {
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  await kr.newAccount('alice', MNEMONIC);
  const file = path.join(kr.location, 'alice.info');
  const good = fs.readFileSync(file, 'utf8');
  const [h, ek, iv, ct, tag] = good.split('.') as [string, string, string, string, string];
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const headerWith = (obj: object) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const cases: [string, string, string][] = [
    ['truncated', good.slice(0, good.length - 30), 'CORRUPT_FILE'],
    ['four parts', [h, ek, iv, ct].join('.'), 'CORRUPT_FILE'],
    ['empty', '', 'CORRUPT_FILE'],
    ['garbage', 'not a jwe at all', 'CORRUPT_FILE'],
    ['ciphertext flipped', [h, ek, iv, flip(ct, 5), tag].join('.'), 'CORRUPT_FILE'],
    ['tag flipped', [h, ek, iv, ct, flip(tag, 3)].join('.'), 'CORRUPT_FILE'],
    ['header edited', [headerWith({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', p2c: 8192, p2s: 'AAAAAAAAAAAAAAAA' }), ek, iv, ct, tag].join('.'), 'WRONG_PASSPHRASE'],
    ['p2c as a string', [headerWith({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', p2c: '8192', p2s: 'AAAAAAAAAAAAAAAA' }), ek, iv, ct, tag].join('.'), 'CORRUPT_FILE'],
    ['p2c too large', [headerWith({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', p2c: 1e9, p2s: 'AAAAAAAAAAAAAAAA' }), ek, iv, ct, tag].join('.'), 'CORRUPT_FILE'],
    ['other alg', [headerWith({ alg: 'dir', enc: 'A256GCM' }), ek, iv, ct, tag].join('.'), 'UNSUPPORTED_FILE'],
    ['zip', [headerWith({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', zip: 'DEF', p2c: 8192, p2s: 'AAAAAAAAAAAAAAAA' }), ek, iv, ct, tag].join('.'), 'UNSUPPORTED_FILE'],
    ['header not json', [Buffer.from('{nope').toString('base64url'), ek, iv, ct, tag].join('.'), 'CORRUPT_FILE'],
    ['non-canonical base64url', [h, ek + '=', iv, ct, tag].join('.'), 'CORRUPT_FILE'],
    ['oversized', 'A'.repeat(70_000), 'CORRUPT_FILE'],
  ];
  for (const [what, content, code] of cases) {
    fs.writeFileSync(file, content);
    const before = listFiles(kr.location);
    await assert.rejects(kr.get('alice'), (e: unknown) => {
      assert.ok(e instanceof KeyringError, `${what}: ${String(e)}`);
      assert.equal(e.code, code, `${what}: ${e.message}`);
      assert.ok(e.message.includes(file), `${what}: names the file`);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.deepEqual(listFiles(kr.location), before, `${what}: no file created`);
    assert.equal(fs.readFileSync(file, 'utf8'), content, `${what}: file untouched`);
  }
  fs.writeFileSync(file, good + '\n');
  assert.equal((await kr.get('alice')).name, 'alice', 'a trailing newline is tolerated on read');
  // The list skips what it cannot read, with a warning, as arkeod does, instead of failing.
  fs.writeFileSync(file, 'garbage');
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  try {
    assert.deepEqual(await kr.list(), []);
    assert.match(lines[0] ?? '', /skipping .*alice\.info: .*not a JWE/);
  } finally {
    setLogSink((l) => process.stderr.write(l + '\n'));
  }
});

test('unknown record types and mismatched keys are clear errors', { timeout: 120_000 }, async () => {
  const { encryptJwe, encodeItem } = await import('../../src/keyring/index.js');
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  fs.mkdirSync(kr.location, { recursive: true, mode: 0o700 });
  const write = (data: Uint8Array) => fs.writeFileSync(path.join(kr.location, 'x.info'), encryptJwe(encodeItem({ key: 'x.info', data }), 'test'));
  const any = (url: string, value: number[]) => [0x0a, url.length, ...Buffer.from(url), 0x12, value.length, ...value];
  const ed = any('/cosmos.crypto.ed25519.PubKey', [0x0a, 32, ...new Array(32).fill(1)]);
  write(Uint8Array.from([0x0a, 1, 0x78, 0x12, ed.length, ...ed, 0x1a, 0]));
  await assert.rejects(kr.get('x'), isKeyringError('UNSUPPORTED_KEY_TYPE'));
  write(Uint8Array.from([0x0a, 1, 0x78]));
  await assert.rejects(kr.get('x'), isKeyringError('CORRUPT_RECORD'));
  write(Uint8Array.from([0x0b, 0x0c]));
  await assert.rejects(kr.get('x'), isKeyringError('CORRUPT_RECORD'));
  write(Uint8Array.from([0x0a, 0x7f, 1, 2]));
  await assert.rejects(kr.get('x'), isKeyringError('CORRUPT_RECORD'));
  // A record whose stored public key is not the private key's.
  const priv = new Uint8Array(32).fill(7);
  const pub = publicKeyFromPrivate(new Uint8Array(32).fill(8));
  const pubAny = any('/cosmos.crypto.secp256k1.PubKey', [0x0a, 33, ...pub]);
  const privAny = any('/cosmos.crypto.secp256k1.PrivKey', [0x0a, 32, ...priv]);
  write(Uint8Array.from([0x0a, 1, 0x78, 0x12, pubAny.length, ...pubAny, 0x1a, privAny.length + 2, 0x0a, privAny.length, ...privAny]));
  await assert.rejects(kr.get('x'), isKeyringError('CORRUPT_RECORD'));
  // An offline record lists with its address and cannot sign.
  write(Uint8Array.from([0x0a, 1, 0x78, 0x12, pubAny.length, ...pubAny, 0x32, 0]));
  const offline = await kr.get('x');
  assert.equal(offline.type, 'offline');
  assert.equal(offline.address, toAddress(pub));
  await assert.rejects(openLocalSigner(kr, 'x'), isKeyringError('NOT_LOCAL'));
});

test('armor: our export imports back; wrong passphrase, CRC damage and truncation are clear errors', { timeout: 120_000 }, () => {
  const priv = new Uint8Array(32).fill(9);
  const armor = encryptPrivateKeyArmor(priv, 'export-passphrase');
  assert.match(armor, /^-----BEGIN TENDERMINT PRIVATE KEY-----\nkdf: argon2\nsalt: [0-9A-F]{32}\ntype: secp256k1\n\n[A-Za-z0-9+/]{64}\n[A-Za-z0-9+/=]{8}\n=[A-Za-z0-9+/]{4}\n-----END TENDERMINT PRIVATE KEY-----$/);
  assert.deepEqual(decryptPrivateKeyArmor(armor, 'export-passphrase', 'mem'), priv);
  assert.throws(() => decryptPrivateKeyArmor(armor, 'wrong-passphrase', 'key.armor'), isKeyringError('WRONG_PASSPHRASE'));
  const lines = armor.split('\n');
  const damaged = lines.map((l, i) => (i === 5 ? (l[0] === 'A' ? 'B' : 'A') + l.slice(1) : l)).join('\n');
  assert.throws(() => decryptPrivateKeyArmor(damaged, 'export-passphrase', 'key.armor'), isKeyringError('BAD_ARMOR'));
  assert.throws(() => decryptPrivateKeyArmor(lines.slice(0, 6).join('\n'), 'export-passphrase', 'key.armor'), isKeyringError('BAD_ARMOR'));
  assert.throws(() => decryptPrivateKeyArmor(armor.replace('kdf: argon2', 'kdf: scrypt'), 'export-passphrase', 'k'), isKeyringError('BAD_ARMOR'));
  assert.throws(() => decryptPrivateKeyArmor(armor.replace(/salt: .*\n/, ''), 'export-passphrase', 'k'), isKeyringError('BAD_ARMOR'));
  assert.throws(() => decryptPrivateKeyArmor(armor.replace('type: secp256k1', 'type: ed25519'), 'export-passphrase', 'k'), isKeyringError('UNSUPPORTED_KEY_TYPE'));
  assert.throws(() => decryptPrivateKeyArmor('x'.repeat(70_000), 'p', 'k'), isKeyringError('BAD_ARMOR'));
  assert.throws(() => decryptPrivateKeyArmor('', 'p', 'k'), isKeyringError('BAD_ARMOR'));
  // Header order is random in Go's output: any order must be accepted.
  const reordered = [lines[0], lines[3], lines[1], lines[2], ...lines.slice(4)].join('\r\n');
  assert.deepEqual(decryptPrivateKeyArmor(reordered, 'export-passphrase', 'mem'), priv);
});

test('property: write/read round trip for random names and keys (test backend on disk)', { timeout: 120_000 }, async () => {
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  const nameArb = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 24 })
    .filter((n) => {
      try {
        validateKeyName(n);
        return true;
      } catch {
        return false;
      }
    });
  const keyArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => secp256k1.utils.isValidSecretKey(k));
  await fc.assert(
    fc.asyncProperty(nameArb, keyArb, async (name, priv) => {
      if (await kr.has(name)) return;
      try {
        await kr.importPrivateKey(name, priv);
      } catch (e) {
        if (e instanceof KeyringError && e.code === 'ADDRESS_EXISTS') return;
        throw e;
      }
      const info = await kr.get(name);
      assert.equal(info.name, name);
      assert.deepEqual(await kr.exportPrivateKey(name), priv);
      assert.equal((await kr.getByAddress(info.addressBytes!)).name, name);
      assert.ok((await kr.list()).some((k) => k.name === name));
    }),
    { numRuns: 60 },
  );
  assert.equal(listFiles(kr.location).filter((f) => f.endsWith('.tmp')).length, 0, 'no temp files left');
});
