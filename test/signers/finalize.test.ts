import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalizeSignature } from '../../src/signers/index.js';
import { CryptoError } from '../../src/errors.js';
import { parseHex, sha256, utf8 } from '../../src/crypto/index.js';
import { readVector, requireVectors, type ClaimVectors } from '../helpers.js';

/**
 * finalizeSignature is the one place that turns an HSM's or KMS's raw r||s into a Cosmos signature: low-S, and
 * verified against the key before release. Issue 17 item 2: nothing called it, so dropping the low-S step (or the
 * self-check) would have gone unnoticed. The expected bytes are the shared vectors' RFC 6979 signatures, and the
 * curve order is the vectors' own, so these tests do not lean on the code's low-S helpers.
 */

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const scalar = (n: bigint) => n.toString(16).padStart(64, '0');

function expectCryptoError(fn: () => unknown, code: string, what: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CryptoError, `${what}: a CryptoError, got ${String(e)}`);
    assert.equal((e as CryptoError).code, code, `${what}: ${(e as Error).message}`);
    return true;
  }, what);
}

function load() {
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  const n = BigInt('0x' + v.curveOrder);
  const cases = v.signatures.map((s) => ({
    message: s.message,
    digest: sha256(utf8(s.message)),
    pub: parseHex(v.keys[s.key]!.pub, 'pub'),
    other: parseHex(v.keys[s.key === 'dog' ? 'cat' : 'dog']!.pub, 'pub'),
    sig: fromHex(s.signature),
  }));
  return { n, cases };
}

test('the high-S twin of a valid signature comes back low-S and equal to the RFC 6979 one; a low-S one unchanged', { timeout: 60_000 }, (t) => {
  // Guards issue 17 item 2: a finalizeSignature that skips low-S normalisation throws SELF_CHECK_FAILED here
  // (Cosmos verification rejects high-S), or would release the high-S bytes if the check went too.
  if (!requireVectors(t)) return;
  const { n, cases } = load();
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const r = hex(c.sig.subarray(0, 32));
    const s = BigInt('0x' + hex(c.sig.subarray(32)));
    assert.ok(s <= n / 2n, `${c.message}: the vector is low-S`);
    const twin = fromHex(r + scalar(n - s));
    const out = finalizeSignature(twin, c.digest, c.pub, 'test-hsm');
    assert.equal(hex(out), hex(c.sig), `${c.message}: normalised to the RFC 6979 signature`);
    assert.equal(hex(finalizeSignature(c.sig, c.digest, c.pub, 'test-hsm')), hex(c.sig), `${c.message}: low-S passes unchanged`);
  }
});

test('a corrupted signature, another message or another key: SELF_CHECK_FAILED, nothing released', { timeout: 60_000 }, (t) => {
  // Guards the self-check half of finalizeSignature: without it these bytes would be returned as a signature.
  if (!requireVectors(t)) return;
  const { cases } = load();
  const c = cases[0]!;
  for (const at of [5, 40, 63]) {
    const bad = Uint8Array.from(c.sig);
    bad[at]! ^= 0x01;
    expectCryptoError(() => finalizeSignature(bad, c.digest, c.pub, 'test-hsm'), 'SELF_CHECK_FAILED', `bit flipped in byte ${at}`);
  }
  expectCryptoError(() => finalizeSignature(c.sig, sha256(utf8(c.message + 'x')), c.pub, 'test-hsm'), 'SELF_CHECK_FAILED', 'signature over another message');
  expectCryptoError(() => finalizeSignature(c.sig, c.digest, c.other, 'test-hsm'), 'SELF_CHECK_FAILED', "another key's public key");
});

test('hostile shapes: wrong lengths, r or s zero or not below n, a bad public key or digest: a clear CryptoError', { timeout: 60_000 }, (t) => {
  // Guards the boundary checks: each of these must be refused with its own code, never released, and never a
  // TypeError or a RangeError from deeper down (s >= n used to reach the low-S arithmetic as a negative number).
  if (!requireVectors(t)) return;
  const { n, cases } = load();
  const c = cases[0]!;
  const r = hex(c.sig.subarray(0, 32));
  const s = hex(c.sig.subarray(32));
  for (const len of [0, 32, 63, 65, 70, 72]) {
    expectCryptoError(() => finalizeSignature(new Uint8Array(len).fill(1), c.digest, c.pub, 'test-hsm'), 'BAD_SIGNATURE', `${len} bytes`);
  }
  const shapes: [string, string][] = [
    ['r = 0', scalar(0n) + s],
    ['s = 0', r + scalar(0n)],
    ['r = n', scalar(n) + s],
    ['r = n + 1', scalar(n + 1n) + s],
    ['r = 2^256 - 1', 'f'.repeat(64) + s],
    ['s = n', r + scalar(n)],
    ['s = n + 1', r + scalar(n + 1n)],
    ['s = 2^256 - 1', r + 'f'.repeat(64)],
  ];
  for (const [what, sigHex] of shapes) expectCryptoError(() => finalizeSignature(fromHex(sigHex), c.digest, c.pub, 'test-hsm'), 'BAD_SIGNATURE', what);
  const uncompressedLike = new Uint8Array(65).fill(4);
  const notAPoint = Uint8Array.from(c.pub);
  notAPoint[0] = 5;
  for (const [what, pub] of [['32 bytes', c.pub.subarray(1)], ['65 bytes', uncompressedLike], ['bad prefix', notAPoint], ['x not on the curve', fromHex('02' + 'f'.repeat(64))]] as const) {
    expectCryptoError(() => finalizeSignature(c.sig, c.digest, pub, 'test-hsm'), 'BAD_PUBLIC_KEY', `public key: ${what}`);
  }
  expectCryptoError(() => finalizeSignature(c.sig, c.digest.subarray(0, 31), c.pub, 'test-hsm'), 'BAD_DIGEST', 'digest of 31 bytes');
  expectCryptoError(() => finalizeSignature('00'.repeat(64) as unknown as Uint8Array, c.digest, c.pub, 'test-hsm'), 'BAD_SIGNATURE', 'a string, not bytes');
});
