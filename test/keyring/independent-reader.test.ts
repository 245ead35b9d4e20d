import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as jose from 'jose';
import protobuf from 'protobufjs';
import { Keyring, encodeItem } from '../../src/keyring/index.js';
import { deriveKey, publicKeyFromPrivate, toHex } from '../../src/crypto/index.js';
import { tempDir, readVector, requireVectors } from '../helpers.js';

/**
 * Files our keyring writes, read back by code that shares nothing with ours: npm `jose` for the JWE and
 * protobufjs with the SDK's .proto text for the Record.
 */
const RECORD_PROTO = `
syntax = "proto3";
package cosmos.crypto.keyring.v1;
message Any { string type_url = 1; bytes value = 2; }
message PubKey { bytes key = 1; }
message PrivKey { bytes key = 1; }
message Record {
  string name = 1;
  Any pub_key = 2;
  oneof item { Local local = 3; Ledger ledger = 4; Multi multi = 5; Offline offline = 6; }
  message Local { Any priv_key = 1; }
  message Ledger { bytes path = 1; }
  message Multi {}
  message Offline {}
}`;
const root = protobuf.parse(RECORD_PROTO).root;
const RecordT = root.lookupType('cosmos.crypto.keyring.v1.Record');
const KeyT = root.lookupType('cosmos.crypto.keyring.v1.PubKey');

async function independentDecrypt(file: string, password: string) {
  const token = fs.readFileSync(file, 'utf8');
  const { plaintext, protectedHeader } = await jose.compactDecrypt(token, new TextEncoder().encode(password), {
    keyManagementAlgorithms: ['PBES2-HS256+A128KW'],
    contentEncryptionAlgorithms: ['A256GCM'],
    maxPBES2Count: 1_300_000,
  });
  const headerJson = Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8');
  return { token, plaintext, protectedHeader, headerJson };
}

test('files written by our keyring: JWE header, Item JSON and Record bytes, read by jose + protobufjs', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const e = readVector<Record<string, string>>('generated-upstream-libs/expected.json');
  const home = tempDir();
  const kr = Keyring.open({ backend: 'test', dir: home });
  await kr.newAccount('alice', e.mnemonic!);
  const dir = path.join(home, 'keyring-test');
  assert.deepEqual(fs.readdirSync(dir).sort(), [`${e.addressHex}.address`, 'alice.info']);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);

  const info = await independentDecrypt(path.join(dir, 'alice.info'), 'test');
  assert.ok(!info.token.endsWith('\n'), 'no trailing newline');
  assert.ok(info.token.startsWith('eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJjcmVhdGVkIjoi'), 'header prefix as arkeod writes it');
  assert.match(info.headerJson, /^\{"alg":"PBES2-HS256\+A128KW","created":"[^"]+","enc":"A256GCM","p2c":8192,"p2s":"[A-Za-z0-9_-]{16}"\}$/);
  assert.equal(info.protectedHeader.p2c, 8192);
  assert.equal(typeof info.protectedHeader.p2c, 'number');
  assert.equal(Buffer.from(info.protectedHeader.p2s as string, 'base64url').length, 12);
  assert.equal(info.protectedHeader.zip, undefined);
  const segments = info.token.split('.');
  assert.equal(segments.length, 5);
  assert.equal(segments[1]!.length, 54, '40-byte wrapped key');
  assert.equal(segments[2]!.length, 16, '12-byte iv');
  assert.equal(segments[4]!.length, 22, '16-byte tag');

  const itemJson = Buffer.from(info.plaintext).toString('utf8');
  const item = JSON.parse(itemJson) as { Key: string; Data: string };
  assert.equal(
    itemJson,
    `{"Key":"alice.info","Data":"${item.Data}","Label":"","Description":"","KeychainNotTrustApplication":false,"KeychainNotSynchronizable":false}`,
  );
  const recordBytes = Buffer.from(item.Data, 'base64');
  assert.equal(recordBytes.toString('hex'), e.recordProtoHex, 'Record bytes equal the known gogoproto encoding');
  assert.equal(recordBytes.length, 148 + 'alice'.length);
  const rec = RecordT.toObject(RecordT.decode(recordBytes), { bytes: Buffer }) as {
    name: string;
    pubKey: { typeUrl: string; value: Buffer };
    local: { privKey: { typeUrl: string; value: Buffer } };
  };
  assert.equal(rec.name, 'alice');
  assert.equal(rec.pubKey.typeUrl, '/cosmos.crypto.secp256k1.PubKey');
  assert.equal(rec.local.privKey.typeUrl, '/cosmos.crypto.secp256k1.PrivKey');
  const pub = (KeyT.decode(rec.pubKey.value) as unknown as { key: Buffer }).key;
  const priv = (KeyT.decode(rec.local.privKey.value) as unknown as { key: Buffer }).key;
  assert.equal(toHex(priv), e.privKeyHex);
  assert.equal(toHex(pub), e.pubKeyCompressedHex);

  const addr = await independentDecrypt(path.join(dir, `${e.addressHex}.address`), 'test');
  const addrItem = JSON.parse(Buffer.from(addr.plaintext).toString('utf8')) as { Key: string; Data: string };
  assert.equal(addrItem.Key, `${e.addressHex}.address`);
  assert.equal(Buffer.from(addrItem.Data, 'base64').toString('utf8'), 'alice.info');
  for (const f of fs.readdirSync(dir)) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
});

test('file backend: keyhash is a Go-style $2a$10$ bcrypt hash and items open with the passphrase', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const home = tempDir();
  const pass = 'correct horse battery';
  const kr = Keyring.open({ backend: 'file', dir: home, passphrase: { interactive: false, get: async () => pass } });
  const priv = deriveKey(readVector<Record<string, string>>('generated-upstream-libs/expected.json').mnemonic!);
  await kr.importPrivateKey('bob', priv);
  const dir = path.join(home, 'keyring-file');
  const keyhash = fs.readFileSync(path.join(dir, 'keyhash'), 'utf8');
  assert.match(keyhash, /^\$2a\$10\$[./A-Za-z0-9]{53}$/);
  assert.equal(fs.statSync(path.join(dir, 'keyhash')).mode & 0o777, 0o600);
  const bcrypt = (await import('bcryptjs')).default;
  assert.ok(bcrypt.compareSync(pass, keyhash));
  const { plaintext } = await independentDecrypt(path.join(dir, 'bob.info'), pass);
  const item = JSON.parse(Buffer.from(plaintext).toString('utf8')) as { Data: string };
  const rec = RecordT.decode(Buffer.from(item.Data, 'base64')) as unknown as { pubKey: { value: Buffer } };
  assert.equal(toHex((KeyT.decode(rec.pubKey.value) as unknown as { key: Buffer }).key), toHex(publicKeyFromPrivate(priv)));
});

test('Item JSON escapes names exactly as Go encoding/json (HTML-safe)', { timeout: 120_000 }, () => {
  const cases: [string, string][] = [
    ['a<b>&c', 'a\\u003cb\\u003e\\u0026c'],
    ['quote"back\\slash', 'quote\\"back\\\\slash'],
    ['tab\there\nnl\r', 'tab\\there\\nnl\\r'],
    ['\u0001\u001f', '\\u0001\\u001f'],
    ['line\u2028para\u2029', 'line\\u2028para\\u2029'],
    ['ünïcødé 日本', 'ünïcødé 日本'],
    ['lone\ud800', 'lone\\ufffd'],
  ];
  for (const [name, escaped] of cases) {
    const json = Buffer.from(encodeItem({ key: name, data: Uint8Array.of(1, 2, 3) })).toString('utf8');
    assert.equal(json, `{"Key":"${escaped}","Data":"AQID","Label":"","Description":"","KeychainNotTrustApplication":false,"KeychainNotSynchronizable":false}`);
  }
});
