import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { KeyClient } from '@azure/keyvault-keys';
import type { TokenCredential } from '@azure/core-auth';
import { ClaimSigner } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { toAddress, utf8 } from '../../src/crypto/index.js';
import { AzureKvSigner, CloudStats, KmsError, createAzureKvKey, type AzureKvOptions } from '../../src/signers/index.js';
import { requireComponent, tempDir } from '../helpers.js';
import { hasOpenssl, startAzureKvTestServer, type AzureKvTestServer } from '../support/azure-kv-test-server.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { expectKmsError as expectSharedKmsError, expectSelfCheckRefusals, signManyClaims } from '../support/cloud-claims.js';

/**
 * Azure Key Vault signer against OUR AZURE KEY VAULT TEST SERVER (test/support/azure-kv-test-server.ts), not
 * against Azure and not against an emulator: none with P-256K signing is served by the registries here. The SDK
 * (@azure/keyvault-keys) is the real one, with its challenge authentication; the credential is a static
 * TokenCredential made here for the test only (production uses DefaultAzureCredential).
 */
const TOKEN = 'canary-azure-token-8f2c1e'; // a canary: must never appear in an error or a health report
const credential: TokenCredential = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
const VAULT = 'https://arkeo-test.vault.azure.net';
const FAST = { timeoutMs: 3_000, retries: 2, backoffBaseMs: 5, backoffMaxMs: 50 };

async function withServer(t: TestContext, fn: (s: AzureKvTestServer, opts: AzureKvOptions) => Promise<void>): Promise<void> {
  if (!requireComponent(t, hasOpenssl(), 'openssl (for the test server certificate)')) return;
  const server = await startAzureKvTestServer({ token: TOKEN, dir: tempDir('arkeo-azkv-') });
  try {
    await fn(server, { endpoint: server.url, ca: server.ca, credential });
  } finally {
    await server.stop();
  }
}

/** Every cloud error here is also checked for the bearer token. */
const expectKmsError = (e: unknown, code: string, mentions: string) => expectSharedKmsError(e, code, mentions, TOKEN);

test('Azure Key Vault TEST SERVER (ours): create a P-256K key, 1,000 claims through ClaimSigner, low-S and verified; high-S normalised; version pinned', { timeout: 180_000 }, async (t) => {
  await withServer(t, async (server, opts) => {
    const created = await createAzureKvKey({ vaultUrl: VAULT, name: 'claims', ...opts });
    assert.match(created.reference, /^azurekv:https:\/\/arkeo-test\.vault\.azure\.net\/keys\/claims\/[0-9a-f]{32}$/);
    // A reference without a version is pinned to the current one when resolved.
    const signer = new AzureKvSigner(`azurekv:${VAULT}/keys/claims`, opts);
    try {
      assert.equal(signer.kind, 'azure-kv');
      const { address, ms } = await signManyClaims(signer, 1000, 16);
      assert.equal(address, toAddress(created.publicKey));
      assert.equal(signer.reference, created.reference, 'pinned to the version it resolved');
      const s = signer.stats.snapshot();
      t.diagnostic(`address ${address}; 1,000 claims in ${ms.toFixed(0)} ms (16 in flight); raw high-S normalised: ${s.highSNormalised} (test server made ${server.highS} high-S of ${server.signs}); API calls ${s.calls}`);
      assert.equal(s.signatures, 1000);
      assert.ok(s.highSNormalised > 0);
      assert.equal(s.highSNormalised, server.highS);
      assert.equal(s.calls, 1001, 'one get-key, then one sign per claim');
      // A new version of the key (rotation) does not move a pinned signer.
      await new KeyClient(server.url, credential, { disableChallengeResourceVerification: true, tlsOptions: { ca: server.ca } }).createEcKey('claims', { curve: 'P-256K' });
      const sig = await signer.sign(utf8('1:1:'));
      assert.equal(sig.length, 64);
      assert.equal(toAddress(await signer.publicKey()), address);
      const fresh = new AzureKvSigner(`azurekv:${VAULT}/keys/claims`, opts);
      assert.notEqual(toAddress(await fresh.publicKey()), address, 'an unpinned reference now resolves to the new version');
      assert.equal((await signer.health()).ok, true);
    } finally {
      await signer.close();
    }
  });
});

test('Azure Key Vault TEST SERVER stopped mid-run: UNAVAILABLE naming the key, nothing released; claims resume when it is back', { timeout: 120_000 }, async (t) => {
  await withServer(t, async (server, opts) => {
    const created = await createAzureKvKey({ vaultUrl: VAULT, name: 'k1', ...opts });
    const signer = new AzureKvSigner(created.reference, { ...opts, ...FAST });
    const store = SqliteNonceStore.open(path.join(tempDir(), 'nonces.db'));
    try {
      const cs = await ClaimSigner.create(signer, store);
      let last = 0n;
      for (let i = 0; i < 30; i++) last = (await cs.signClaim(3n)).nonce;
      await server.stop();
      const released = signer.stats.signatures;
      await assert.rejects(cs.signClaim(3n), (e) => expectKmsError(e, 'UNAVAILABLE', created.reference.slice('azurekv:'.length)));
      assert.equal(signer.stats.signatures, released);
      assert.equal((await signer.health()).ok, false);
      await server.start();
      const after = await cs.signClaim(3n);
      assert.ok(after.nonce > last + 1n, 'the failed claim\'s nonce is skipped, not reused');
      assert.equal((await signer.health()).ok, true);
      await cs.close();
    } finally {
      await store.close();
      await signer.close();
    }
  });
});

test('429 injected by our fault-injecting proxy: Retry-After honoured, then success; throttles counted', { timeout: 60_000 }, async (t) => {
  await withServer(t, async (server, opts) => {
    const created = await createAzureKvKey({ vaultUrl: VAULT, name: 'k2', ...opts });
    const proxy = await startFaultProxy(server.url, { tls: server.tls, targetCa: server.ca });
    const stats = new CloudStats();
    const signer = new AzureKvSigner(created.reference, { ...opts, endpoint: proxy.url, timeoutMs: 3_000, retries: 4, backoffBaseMs: 5, backoffMaxMs: 2_000, stats });
    try {
      await signer.publicKey();
      const plan = ['1', undefined, undefined];
      proxy.inject = (req) => {
        if (!/\/sign\?/.test(req.url) || plan.length === 0) return undefined;
        const ra = plan.shift();
        return { status: 429, headers: ra ? { 'retry-after': ra } : ({} as Record<string, string>), body: JSON.stringify({ error: { code: 'Throttled', message: 'Request was not processed because too many requests were received.' } }) };
      };
      const started = performance.now();
      const sig = await signer.sign(utf8('8:1:'));
      const ms = performance.now() - started;
      assert.equal(sig.length, 64);
      assert.equal(stats.throttles, 3);
      assert.equal(stats.signatures, 1);
      assert.ok(ms >= 950, `waited for Retry-After: 1 (took ${ms.toFixed(0)} ms)`);
      t.diagnostic(`three 429s (one with Retry-After: 1) then success in ${ms.toFixed(0)} ms`);
      proxy.inject = (req) => (/\/sign\?/.test(req.url) ? { status: 429, body: '{"error":{"code":"Throttled","message":"too many"}}' } : undefined);
      await assert.rejects(signer.sign(utf8('8:2:')), (e) => expectKmsError(e, 'THROTTLED', 'gave up after 5 attempts'));
    } finally {
      await signer.close();
      await proxy.close();
    }
  });
});

test('a disabled key and a deleted key: one clear line naming the key', { timeout: 60_000 }, async (t) => {
  await withServer(t, async (server, opts) => {
    const admin = new KeyClient(server.url, credential, { disableChallengeResourceVerification: true, tlsOptions: { ca: server.ca } });
    const a = await createAzureKvKey({ vaultUrl: VAULT, name: 'disabled', ...opts });
    const sa = new AzureKvSigner(a.reference, { ...opts, ...FAST });
    await sa.sign(utf8('1:1:'));
    const version = a.reference.split('/').at(-1)!;
    await admin.updateKeyProperties('disabled', version, { enabled: false });
    await assert.rejects(sa.sign(utf8('1:2:')), (e) => expectKmsError(e, 'KEY_DISABLED', '/keys/disabled/'));
    const h = await sa.health();
    assert.equal(h.code, 'KEY_DISABLED');
    assert.ok(!JSON.stringify(h).includes(TOKEN));

    const b = await createAzureKvKey({ vaultUrl: VAULT, name: 'deleted', ...opts });
    const sb = new AzureKvSigner(b.reference, { ...opts, ...FAST });
    await sb.sign(utf8('1:1:'));
    await (await admin.beginDeleteKey('deleted', { intervalInMs: 10 })).pollUntilDone();
    await assert.rejects(sb.sign(utf8('1:2:')), (e) => expectKmsError(e, 'KEY_NOT_FOUND', '/keys/deleted/'));
    assert.equal(sb.stats.errors, 1, 'not retried');
  });
});

test('a wrong public key recorded for the key: KEY_MISMATCH, nothing signed; a wrong token: ACCESS_DENIED without the token in the message', { timeout: 60_000 }, async (t) => {
  await withServer(t, async (server, opts) => {
    const a = await createAzureKvKey({ vaultUrl: VAULT, name: 'a', ...opts });
    const b = await createAzureKvKey({ vaultUrl: VAULT, name: 'b', ...opts });
    const signer = new AzureKvSigner(a.reference, { ...opts, ...FAST, expectedPublicKey: b.publicKey });
    const store = SqliteNonceStore.open(path.join(tempDir(), 'nonces.db'));
    try {
      await assert.rejects(ClaimSigner.create(signer, store), (e) => expectKmsError(e, 'KEY_MISMATCH', '/keys/a/'));
      await assert.rejects(signer.sign(utf8('1:1:')), (e) => expectKmsError(e, 'KEY_MISMATCH', 'nothing was signed'));
      assert.equal(signer.stats.signatures, 0);
      const wrong: TokenCredential = { getToken: async () => ({ token: `${TOKEN}-wrong`, expiresOnTimestamp: Date.now() + 3_600_000 }) };
      const denied = new AzureKvSigner(a.reference, { ...opts, ...FAST, credential: wrong });
      await assert.rejects(denied.sign(utf8('1:1:')), (e) => expectKmsError(e, 'ACCESS_DENIED', '/keys/a/'));
    } finally {
      await store.close();
      await signer.close();
    }
  });
});

test('our test server answers a corrupted signature, then one by another key: each refused by the self-check (SELF_CHECK_FAILED, counted, not retried); without a fault the signature is released and verifies', { timeout: 60_000 }, async (t) => {
  await withServer(t, async (server, opts) => {
    const created = await createAzureKvKey({ vaultUrl: VAULT, name: 'faults', ...opts });
    const signer = new AzureKvSigner(created.reference, { ...opts, ...FAST });
    try {
      await expectSelfCheckRefusals(signer, server, created.publicKey, created.reference.slice('azurekv:'.length), TOKEN);
    } finally {
      await signer.close();
    }
  });
});

test('replies are bounded: a sign reply padded past 64 KiB (our test server) is refused, REPLY_TOO_LARGE, not retried; one that stops halfway is ended by the per-call timeout', { timeout: 60_000 }, async (t) => {
  // Guards: the SDK's HTTP client reads a reply of any size; our policy stops at 64 KiB. The padding is a JSON field
  // the SDK ignores, so without the limit the signature would be released. A stalled body is cut by our abort.
  await withServer(t, async (server, opts) => {
    const created = await createAzureKvKey({ vaultUrl: VAULT, name: 'bounded', ...opts });
    const signer = new AzureKvSigner(created.reference, { ...opts, ...FAST, timeoutMs: 1_000, retries: 1 });
    try {
      await signer.publicKey();
      server.oversizedReplies = 1;
      const signs = server.signs;
      await assert.rejects(signer.sign(utf8('6:1:')), (e) => expectKmsError(e, 'REPLY_TOO_LARGE', '/keys/bounded/'));
      assert.equal(server.signs, signs + 1, 'not retried');
      server.stalledReplies = 2;
      await assert.rejects(signer.sign(utf8('6:2:')), (e) => expectKmsError(e, 'TIMEOUT', '/keys/bounded/'));
      assert.equal(signer.stats.timeouts, 2, 'each attempt ended by the per-call timeout');
      assert.equal(signer.stats.signatures, 0);
      assert.equal((await signer.sign(utf8('6:3:'))).length, 64, 'the control: a plain reply is taken');
    } finally {
      await signer.close();
    }
  });
});
