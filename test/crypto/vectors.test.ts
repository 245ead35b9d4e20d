import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CURVE_ORDER,
  availableEngines,
  deriveKey,
  highSTwin,
  parseAddress,
  parseBech32PubKey,
  parseHex,
  publicKeyFromPrivate,
  sha256,
  signMessage,
  toAddress,
  toBech32PubKey,
  toHex,
  utf8,
  verifySignature,
} from '../../src/crypto/index.js';
import { VECTORS, readVector, requireVectors, type ClaimVectors, type UpstreamSignature } from '../helpers.js';

const hex = (s: string) => parseHex(s, 'vector');

test('arkeo-claims.json keys: mnemonic → private key, public key, addresses and bech32 pubkeys', { timeout: 60_000 }, (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  for (const [name, k] of Object.entries(v.keys)) {
    const priv = deriveKey(k.mnemonic);
    assert.equal(toHex(priv), k.priv, `${name} private key`);
    const pub = publicKeyFromPrivate(priv);
    assert.equal(toHex(pub), k.pub, `${name} public key`);
    assert.equal(Buffer.from(pub).toString('base64'), k.pubBase64);
    assert.equal(toAddress(pub), k.address);
    assert.equal(toAddress(pub, 'tarkeo'), k.testnetAddress);
    assert.equal(toBech32PubKey(pub), k.bech32PubKey);
    assert.equal(toBech32PubKey(pub, 'tarkeopub'), k.testnetBech32PubKey);
    assert.deepEqual(parseBech32PubKey(k.bech32PubKey), pub);
    assert.deepEqual(parseBech32PubKey(k.testnetBech32PubKey, 'tarkeopub'), pub);
    assert.equal(toHex(parseAddress(k.address)), toHex(parseAddress(k.testnetAddress, 'tarkeo')));
  }
});

test('arkeo-claims.json signatures are reproduced byte for byte by every engine', { timeout: 60_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  assert.equal(CURVE_ORDER, BigInt('0x' + v.curveOrder), 'the curve order written out in src/crypto/secp256k1.ts');
  for (const engine of await availableEngines()) {
    for (const s of v.signatures) {
      const priv = hex(v.keys[s.key]!.priv);
      const sig = engine.signDigest(sha256(utf8(s.message)), priv);
      assert.equal(toHex(sig), s.signature, `${engine.name}: ${s.key} "${s.message}"`);
    }
    for (const s of v.prehashedSignatures) {
      const sig = engine.signDigest(sha256(sha256(utf8(s.message_sha256_of))), hex(v.keys[s.key]!.priv));
      assert.equal(toHex(sig), s.signature, `${engine.name}: prehashed ${s.message_sha256_of}`);
    }
  }
  for (const s of v.signatures) {
    const k = v.keys[s.key]!;
    assert.equal(toHex(signMessage(hex(k.priv), utf8(s.message))), s.signature);
    assert.ok(verifySignature(hex(k.pub), utf8(s.message), hex(s.signature)));
  }
});

test('high-S twins of every vector signature are rejected by verify (Cosmos VerifySignature)', { timeout: 60_000 }, (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  for (const s of v.signatures) {
    const twin = highSTwin(hex(s.signature));
    assert.notEqual(toHex(twin), s.signature);
    assert.equal(verifySignature(hex(v.keys[s.key]!.pub), utf8(s.message), twin), false, `high-S twin of ${s.message} must fail`);
  }
});

test('generated-upstream-libs: signatures.json and expected.json (decred v4.3.0 output)', { timeout: 60_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const sigs = readVector<UpstreamSignature[]>('generated-upstream-libs/signatures.json');
  assert.ok(sigs.length >= 8);
  for (const engine of await availableEngines()) {
    for (const s of sigs) {
      const msg = hex(s.msgHex);
      assert.equal(toHex(sha256(msg)), s.sha256Hex);
      assert.equal(toHex(engine.signDigest(sha256(msg), hex(s.privHex))), s.sigHex, `${engine.name} ${s.msgHex.slice(0, 16)}`);
    }
  }
  const e = readVector<Record<string, string>>('generated-upstream-libs/expected.json');
  const priv = deriveKey(e.mnemonic!, { hdPath: e.hdPath, bip39Passphrase: e.bip39Passphrase });
  assert.equal(toHex(priv), e.privKeyHex);
  const pub = publicKeyFromPrivate(priv);
  assert.equal(toHex(pub), e.pubKeyCompressedHex);
  assert.equal(toAddress(pub), e.arkeoAddress);
  assert.equal(toAddress(pub, 'tarkeo'), e.tarkeoAddress);
  assert.equal(toBech32PubKey(pub), e.legacyAminoBech32PubKey);
});

test('LocalOrai wallets: mnemonics re-derive the stored keys and orai addresses', { timeout: 60_000 }, (t) => {
  if (!requireVectors(t)) return;
  const wallets = fs.readFileSync(path.join(VECTORS, 'localorai', 'wallets.txt'), 'utf8');
  const blocks = wallets.split('- name: ').slice(1);
  assert.equal(blocks.length, 2);
  for (const block of blocks) {
    const address = /address: (\S+)/.exec(block)![1]!;
    const pubkey = /pubkey: (\S+)/.exec(block)![1]!;
    const mnemonic = block.trim().split('\n').filter((l) => l.trim().split(' ').length === 24).pop()!.trim();
    const pub = publicKeyFromPrivate(deriveKey(mnemonic));
    assert.equal(toAddress(pub, 'orai'), address);
    assert.equal(toBech32PubKey(pub, 'oraipub'), pubkey);
  }
});

test('verify rejects wrong lengths, wrong messages, wrong keys', { timeout: 60_000 }, (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  const s = v.signatures[0]!;
  const pub = hex(v.keys[s.key]!.pub);
  const sig = hex(s.signature);
  assert.ok(verifySignature(pub, utf8(s.message), sig));
  assert.equal(verifySignature(pub, utf8(s.message + 'x'), sig), false);
  assert.equal(verifySignature(pub, utf8(s.message), sig.subarray(0, 63)), false);
  assert.equal(verifySignature(pub, utf8(s.message), new Uint8Array([...sig, 0])), false);
  assert.equal(verifySignature(pub, utf8(s.message), new Uint8Array(64)), false);
  assert.equal(verifySignature(hex(v.keys.cat!.pub), utf8(s.message), sig), false);
  assert.equal(verifySignature(pub.subarray(1), utf8(s.message), sig), false);
});
