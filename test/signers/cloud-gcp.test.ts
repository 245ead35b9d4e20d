import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { ClaimSigner } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { toAddress, utf8 } from '../../src/crypto/index.js';
import { CloudStats, GcpKmsSigner, KmsError, createGcpKmsKey, type GcpKmsOptions } from '../../src/signers/index.js';
import { tempDir } from '../helpers.js';
import { startGcpKmsTestServer, startGrpcFaultProxy, type GcpKmsTestServer } from '../support/gcp-kms-test-server.js';
import { expectKmsError, expectSelfCheckRefusals, signManyClaims } from '../support/cloud-claims.js';

/**
 * Google Cloud KMS signer against OUR CLOUD KMS TEST SERVER (test/support/gcp-kms-test-server.ts: plain gRPC
 * with Google's own service definition), not against Cloud KMS and not an emulator: none with secp256k1 is
 * served by the registries here. The client is the real @google-cloud/kms (google-gax over @grpc/grpc-js).
 */
const RING = 'projects/arkeo-test/locations/global/keyRings/ring';
const FAST = { timeoutMs: 3_000, retries: 2, backoffBaseMs: 5, backoffMaxMs: 50 };

async function withServer(fn: (s: GcpKmsTestServer, endpoint: NonNullable<GcpKmsOptions['endpoint']>) => Promise<void>): Promise<void> {
  const server = await startGcpKmsTestServer();
  try {
    await fn(server, { host: '127.0.0.1', port: server.port, insecure: true });
  } finally {
    await server.stop();
  }
}

test('Cloud KMS TEST SERVER (ours): create an EC_SIGN_SECP256K1_SHA256 key, 1,000 claims through ClaimSigner, low-S and verified; high-S normalised', { timeout: 180_000 }, async (t) => {
  await withServer(async (server, endpoint) => {
    const created = await createGcpKmsKey({ keyRing: RING, keyId: 'claims', createKeyRing: true, endpoint });
    assert.equal(created.reference, `gcpkms:${RING}/cryptoKeys/claims/cryptoKeyVersions/1`);
    const signer = new GcpKmsSigner(created.reference, { endpoint });
    try {
      assert.equal(signer.kind, 'gcp-kms');
      const { address, ms } = await signManyClaims(signer, 1000, 16);
      assert.equal(address, toAddress(created.publicKey));
      const s = signer.stats.snapshot();
      t.diagnostic(`address ${address}; 1,000 claims in ${ms.toFixed(0)} ms (16 in flight); raw high-S normalised: ${s.highSNormalised} (test server made ${server.highS} high-S of ${server.signs}); API calls ${s.calls}`);
      assert.equal(s.signatures, 1000);
      assert.ok(s.highSNormalised > 0);
      assert.equal(s.highSNormalised, server.highS);
      assert.equal(s.calls, 1001, 'one GetPublicKey, then one AsymmetricSign per claim');
      assert.equal((await signer.health()).ok, true);
    } finally {
      await signer.close();
    }
  });
});

test('CRC32C integrity as Google documents: a bad signature_crc32c or verified_digest_crc32c=false is discarded and retried, then succeeds', { timeout: 60_000 }, async () => {
  await withServer(async (server, endpoint) => {
    const created = await createGcpKmsKey({ keyRing: RING, keyId: 'crc', createKeyRing: true, endpoint });
    const signer = new GcpKmsSigner(created.reference, { ...FAST, endpoint });
    try {
      await signer.publicKey();
      server.corruptSignatureCrc = 1;
      assert.equal((await signer.sign(utf8('1:1:'))).length, 64);
      assert.equal(signer.stats.errors, 1, 'the answer with the bad signature CRC32C was discarded');
      server.unverifiedDigest = 1;
      assert.equal((await signer.sign(utf8('1:2:'))).length, 64);
      assert.equal(signer.stats.errors, 2, 'the answer with verified_digest_crc32c false was discarded');
      assert.equal(signer.stats.signatures, 2);
      server.corruptSignatureCrc = 10;
      await assert.rejects(signer.sign(utf8('1:3:')), (e) => expectKmsError(e, 'INTEGRITY', created.reference));
    } finally {
      await signer.close();
    }
  });
});

test('Cloud KMS TEST SERVER stopped mid-run: UNAVAILABLE naming the key, nothing released; claims resume when it is back', { timeout: 120_000 }, async () => {
  await withServer(async (server, endpoint) => {
    const created = await createGcpKmsKey({ keyRing: RING, keyId: 'k1', createKeyRing: true, endpoint });
    const signer = new GcpKmsSigner(created.reference, { ...FAST, timeoutMs: 1_000, endpoint });
    const store = SqliteNonceStore.open(path.join(tempDir(), 'nonces.db'));
    try {
      const cs = await ClaimSigner.create(signer, store);
      let last = 0n;
      for (let i = 0; i < 30; i++) last = (await cs.signClaim(4n)).nonce;
      await server.stop();
      const released = signer.stats.signatures;
      // gRPC reports a dead server as UNAVAILABLE, or, while its channel is reconnecting, as a deadline.
      await assert.rejects(cs.signClaim(4n), (e) => expectKmsError(e, (e as KmsError).code === 'TIMEOUT' ? 'TIMEOUT' : 'UNAVAILABLE', created.reference));
      assert.equal(signer.stats.signatures, released);
      assert.equal((await signer.health()).ok, false);
      await server.start();
      // gRPC reconnects with its own backoff; the claim after that succeeds.
      const deadline = Date.now() + 20_000;
      let after;
      while (!after) {
        try {
          after = await cs.signClaim(4n);
        } catch (e) {
          if (Date.now() > deadline || !['UNAVAILABLE', 'TIMEOUT'].includes((e as KmsError).code)) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.ok(after.nonce > last + 1n, 'failed claims\' nonces are skipped, not reused');
      await cs.close();
    } finally {
      await store.close();
      await signer.close();
    }
  });
});

test('RESOURCE_EXHAUSTED and UNAVAILABLE injected by our fault-injecting gRPC proxy: backoff, then success; throttles counted', { timeout: 60_000 }, async (t) => {
  await withServer(async (server, endpoint) => {
    const created = await createGcpKmsKey({ keyRing: RING, keyId: 'k2', createKeyRing: true, endpoint });
    const proxy = await startGrpcFaultProxy(server.port);
    const stats = new CloudStats();
    const signer = new GcpKmsSigner(created.reference, { ...FAST, retries: 4, endpoint: { host: '127.0.0.1', port: proxy.port, insecure: true }, stats });
    try {
      await signer.publicKey();
      const plan: grpc.status[] = [grpc.status.RESOURCE_EXHAUSTED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.UNAVAILABLE];
      proxy.inject = (method) => {
        if (method !== 'AsymmetricSign' || plan.length === 0) return undefined;
        const code = plan.shift()!;
        return { code, details: code === grpc.status.RESOURCE_EXHAUSTED ? 'Quota exceeded for quota metric cryptographic requests' : 'connection reset' };
      };
      assert.equal((await signer.sign(utf8('2:1:'))).length, 64);
      assert.equal(stats.throttles, 2);
      assert.equal(stats.errors, 1);
      assert.equal(stats.retries, 3);
      assert.equal(stats.signatures, 1);
      t.diagnostic(`proxy forwarded ${proxy.forwarded}, injected ${proxy.injected}`);
      proxy.inject = (method) => (method === 'AsymmetricSign' ? { code: grpc.status.RESOURCE_EXHAUSTED, details: 'quota' } : undefined);
      await assert.rejects(signer.sign(utf8('2:2:')), (e) => expectKmsError(e, 'THROTTLED', 'gave up after 5 attempts'));
    } finally {
      await signer.close();
      await proxy.close();
    }
  });
});

test('a disabled key version, a destroyed one, one that does not exist: one clear line naming the key', { timeout: 60_000 }, async () => {
  await withServer(async (_server, endpoint) => {
    const admin = new KeyManagementServiceClient({ apiEndpoint: endpoint.host, port: endpoint.port, sslCreds: grpc.credentials.createInsecure() });
    try {
      const a = await createGcpKmsKey({ keyRing: RING, keyId: 'disabled', createKeyRing: true, endpoint });
      const sa = new GcpKmsSigner(a.reference, { ...FAST, endpoint });
      await sa.sign(utf8('1:1:'));
      await admin.updateCryptoKeyVersion({ cryptoKeyVersion: { name: a.reference.slice('gcpkms:'.length), state: 'DISABLED' }, updateMask: { paths: ['state'] } });
      await assert.rejects(sa.sign(utf8('1:2:')), (e) => expectKmsError(e, 'KEY_DISABLED', a.reference));
      assert.equal((await sa.health()).code, 'KEY_DISABLED');
      await sa.close();

      const b = await createGcpKmsKey({ keyRing: RING, keyId: 'destroyed', endpoint });
      const sb = new GcpKmsSigner(b.reference, { ...FAST, endpoint });
      await sb.sign(utf8('1:1:'));
      await admin.destroyCryptoKeyVersion({ name: b.reference.slice('gcpkms:'.length) });
      await assert.rejects(sb.sign(utf8('1:2:')), (e) => expectKmsError(e, 'KEY_DISABLED', 'DESTROY_SCHEDULED'));
      await sb.close();

      const sm = new GcpKmsSigner(`gcpkms:${RING}/cryptoKeys/nope/cryptoKeyVersions/1`, { ...FAST, endpoint });
      await assert.rejects(sm.sign(utf8('1:1:')), (e) => expectKmsError(e, 'KEY_NOT_FOUND', '/cryptoKeys/nope/'));
      assert.equal(sm.stats.calls, 1, 'not retried');
      await sm.close();
    } finally {
      await admin.close();
    }
  });
});

test('a wrong public key recorded for the key: KEY_MISMATCH, nothing signed', { timeout: 60_000 }, async () => {
  await withServer(async (_server, endpoint) => {
    const a = await createGcpKmsKey({ keyRing: RING, keyId: 'a', createKeyRing: true, endpoint });
    const b = await createGcpKmsKey({ keyRing: RING, keyId: 'b', endpoint });
    const signer = new GcpKmsSigner(a.reference, { ...FAST, endpoint, expectedPublicKey: b.publicKey });
    const store = SqliteNonceStore.open(path.join(tempDir(), 'nonces.db'));
    try {
      await assert.rejects(ClaimSigner.create(signer, store), (e) => expectKmsError(e, 'KEY_MISMATCH', a.reference));
      await assert.rejects(signer.sign(utf8('1:1:')), (e) => expectKmsError(e, 'KEY_MISMATCH', 'nothing was signed'));
      assert.equal(signer.stats.signatures, 0);
    } finally {
      await store.close();
      await signer.close();
    }
  });
});

test('our test server answers a corrupted signature, then one by another key (CRC32C intact): each refused by the self-check (SELF_CHECK_FAILED, counted, not retried); without a fault the signature is released and verifies', { timeout: 60_000 }, async () => {
  await withServer(async (server, endpoint) => {
    const created = await createGcpKmsKey({ keyRing: RING, keyId: 'faults', createKeyRing: true, endpoint });
    const signer = new GcpKmsSigner(created.reference, { ...FAST, endpoint });
    try {
      await expectSelfCheckRefusals(signer, server, created.publicKey, created.reference);
    } finally {
      await signer.close();
    }
  });
});

test('replies are bounded: an AsymmetricSign reply past 64 KiB (our test server appends an unknown field) is refused, REPLY_TOO_LARGE, not retried; no reply at all ends at the deadline', { timeout: 60_000 }, async () => {
  // Guards: gax lifts gRPC's receive limit to none; ours is 64 KiB. The padding is a field the decoder skips, so
  // without the limit the signature would be released; grpc-js's refusal must not count as quota (throttling).
  await withServer(async (server, endpoint) => {
    const created = await createGcpKmsKey({ keyRing: RING, keyId: 'bounded', createKeyRing: true, endpoint });
    const signer = new GcpKmsSigner(created.reference, { ...FAST, timeoutMs: 1_000, retries: 1, endpoint });
    try {
      await signer.publicKey();
      server.oversizedReplies = 1;
      const signs = server.signs;
      await assert.rejects(signer.sign(utf8('6:1:')), (e) => expectKmsError(e, 'REPLY_TOO_LARGE', created.reference));
      assert.equal(server.signs, signs + 1, 'not retried');
      assert.equal(signer.stats.throttles, 0);
      server.stalledReplies = 2;
      await assert.rejects(signer.sign(utf8('6:2:')), (e) => expectKmsError(e, 'TIMEOUT', created.reference));
      assert.equal(signer.stats.timeouts, 2, 'each attempt ended by its deadline');
      assert.equal(signer.stats.signatures, 0);
      assert.equal((await signer.sign(utf8('6:3:'))).length, 64, 'the control: a plain reply is taken');
    } finally {
      await signer.close();
    }
  });
});
