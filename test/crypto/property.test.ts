import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { requireComponent } from '../helpers.js';
import { availableEngines, highSTwin, isLowS, normalizeLowS, publicKeyFromPrivate, sha256, signMessage, verifySignature } from '../../src/crypto/index.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';

const secretKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => secp256k1.utils.isValidSecretKey(k));
const message = fc.uint8Array({ maxLength: 256 });

test('property: sign → verify round trip; signatures are 64 bytes and low-S', () => {
  fc.assert(
    fc.property(secretKey, message, (priv, msg) => {
      const sig = signMessage(priv, msg);
      assert.equal(sig.length, 64);
      assert.ok(isLowS(sig));
      assert.ok(verifySignature(publicKeyFromPrivate(priv), msg, sig));
    }),
    { numRuns: 300 },
  );
});

test('property: the high-S twin of a valid signature is rejected, and normalises back', () => {
  fc.assert(
    fc.property(secretKey, message, (priv, msg) => {
      const sig = signMessage(priv, msg);
      const twin = highSTwin(sig);
      assert.equal(verifySignature(publicKeyFromPrivate(priv), msg, twin), false);
      assert.deepEqual(normalizeLowS(twin), sig);
      // The twin is a valid ECDSA signature: only the low-S rule rejects it.
      assert.ok(secp256k1.verify(twin, sha256(msg), publicKeyFromPrivate(priv), { prehash: false, lowS: false }));
    }),
    { numRuns: 200 },
  );
});

test('property: every available engine gives identical RFC 6979 signatures, public keys and verdicts', (t) => {
  const engines = availableEngines();
  const names = engines.map((e) => e.name);
  if (!requireComponent(t, names.includes('native-libsecp256k1'), 'the native secp256k1 addon (npm optional dependency secp256k1)')) return;
  if (!requireComponent(t, names.includes('system-libsecp256k1'), 'native/libsecp256k1 (built by npm install; needs libsecp256k1-dev and a C compiler)')) return;
  fc.assert(
    fc.property(secretKey, message, (priv, msg) => {
      const d = sha256(msg);
      const sigs = engines.map((e) => e.signDigest(d, priv));
      const pubs = engines.map((e) => Buffer.from(e.publicKey(priv)).toString('hex'));
      for (let i = 1; i < engines.length; i++) {
        assert.equal(Buffer.from(sigs[i]!).toString('hex'), Buffer.from(sigs[0]!).toString('hex'), names[i]);
        assert.equal(pubs[i], pubs[0], names[i]);
      }
      const pub = engines[0]!.publicKey(priv);
      for (const e of engines) {
        assert.ok(e.verifyDigest(sigs[0]!, d, pub), `${e.name} accepts`);
        assert.ok(!e.verifyDigest(highSTwin(sigs[0]!), d, pub), `${e.name} rejects the high-S twin`);
        const flipped = Uint8Array.from(d);
        flipped[0]! ^= 1;
        assert.ok(!e.verifyDigest(sigs[0]!, flipped, pub), `${e.name} rejects another digest`);
      }
    }),
    { numRuns: 500 },
  );
});
