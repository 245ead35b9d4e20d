import * as path from 'node:path';
import assert from 'node:assert/strict';
import { ClaimSigner, type SignedClaim } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { isLowS, toAddress, utf8, verifySignature } from '../../src/crypto/index.js';
import { CryptoError } from '../../src/errors.js';
import { KmsError, type CloudSigner, type Signer } from '../../src/signers/index.js';
import { tempDir } from '../helpers.js';
import type { SignatureFaults } from './cloud-faults.js';

/**
 * Signs `count` claims for one contract through ClaimSigner with a fresh SQLite nonce store, `inFlight` at a time,
 * and checks every one independently: low-S, verified by verifySignature over the preimage, nonces 1..count once each.
 */
export async function signManyClaims(signer: Signer, count: number, inFlight: number, contractId = 42n): Promise<{ claims: SignedClaim[]; address: string; ms: number }> {
  const store = SqliteNonceStore.open(path.join(tempDir('arkeo-cloud-'), 'nonces.db'));
  try {
    const cs = await ClaimSigner.create(signer, store);
    const pub = await signer.publicKey();
    const address = toAddress(pub);
    assert.equal(cs.address, address);
    assert.match(address, /^arkeo1[02-9ac-hj-np-z]{38}$/);
    const claims: SignedClaim[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          next++;
          claims.push(await cs.signClaim(contractId));
        }
      }),
    );
    const ms = performance.now() - started;
    await cs.close();
    assert.equal(claims.length, count);
    const nonces = claims.map((c) => Number(c.nonce)).sort((a, b) => a - b);
    assert.deepEqual(nonces, Array.from({ length: count }, (_, i) => i + 1), 'nonces 1..count, each once');
    for (const c of claims) {
      assert.equal(c.signature.length, 64);
      assert.ok(isLowS(c.signature), `claim ${c.nonce}: low-S`);
      assert.ok(verifySignature(pub, utf8(c.preimage), c.signature), `claim ${c.nonce}: verifies`);
      assert.equal(c.arkauth, `${contractId}:${c.nonce}:${Buffer.from(c.signature).toString('hex')}`);
    }
    return { claims, address, ms };
  } finally {
    await store.close();
  }
}

/** A cloud signer error: the expected code, naming `mentions` (the key), on one line, without `secret` if given. */
export function expectKmsError(e: unknown, code: string, mentions: string, secret?: string): true {
  assert.ok(e instanceof KmsError, `a KmsError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.ok(e.message.includes(mentions), `names ${mentions}: ${e.message}`);
  assert.ok(!e.message.includes('\n'), 'one line');
  if (secret !== undefined) assert.ok(!e.message.includes(secret), 'no secret in the message');
  return true;
}

/**
 * The self-check against one of our test servers' signature faults: without a fault a signature is released and
 * verifies (the control); a corrupted one and one by another key are each refused with SELF_CHECK_FAILED, asked
 * for once (never retried), counted, and not released. Fails if the verify in finalizeSignature is skipped.
 */
export async function expectSelfCheckRefusals(signer: CloudSigner, server: SignatureFaults & { signs: number }, publicKey: Uint8Array, mentions: string, secret?: string): Promise<void> {
  const released = async (msg: Uint8Array) => assert.ok(verifySignature(publicKey, msg, await signer.sign(msg)), 'no fault: released, and it verifies');
  await released(utf8('9:1:'));
  for (const fault of ['corruptSignature', 'otherKeySignature'] as const) {
    const before = { signs: server.signs, signatures: signer.stats.signatures, selfCheckFailures: signer.stats.selfCheckFailures };
    server[fault] = 1;
    await assert.rejects(signer.sign(utf8(`9:${fault}:`)), (e) => {
      assert.ok(e instanceof CryptoError, `a CryptoError, got ${String(e)}`);
      assert.equal(e.code, 'SELF_CHECK_FAILED', e.message);
      assert.ok(e.message.includes(mentions) && e.message.endsWith('not released') && !e.message.includes('\n'), e.message);
      if (secret !== undefined) assert.ok(!e.message.includes(secret), 'no secret in the message');
      return true;
    });
    assert.equal(server[fault], 0, `the server answered with the ${fault} fault`);
    assert.equal(server.signs, before.signs + 1, 'asked once: a signature that fails its self-check is not retried');
    assert.equal(signer.stats.selfCheckFailures, before.selfCheckFailures + 1, 'counted');
    assert.equal(signer.stats.signatures, before.signatures, 'not released');
  }
  await released(utf8('9:2:'));
}
