import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CreateKeyCommand, DisableKeyCommand, GetPublicKeyCommand, KMSClient, ScheduleKeyDeletionCommand, SignCommand } from '@aws-sdk/client-kms';
import { ClaimSigner } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { sha256, toAddress, utf8 } from '../../src/crypto/index.js';
import { AwsKmsSigner, CloudStats, KmsError, createAwsKmsKey, type AwsKmsOptions } from '../../src/signers/index.js';
import { requireComponent, tempDir } from '../helpers.js';
import { findLocalKms, freePort, startLocalKms, waitForPort, type LocalKms } from '../support/local-kms.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { expectKmsError, signManyClaims } from '../support/cloud-claims.js';
import * as path from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * AWS KMS signer against nsmithuk/local-kms, a real AWS KMS emulator (Go, run as a child process), and, for
 * throttling and a corrupted answer, our fault-injecting proxy in front of it. The SDK finds credentials through
 * its default chain: here the environment, with dummy values the emulator does not check.
 */
process.env.AWS_ACCESS_KEY_ID ??= 'local-kms-test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'local-kms-test';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const LOCAL_KMS = findLocalKms();
const FAST: AwsKmsOptions = { timeoutMs: 3_000, retries: 2, backoffBaseMs: 5, backoffMaxMs: 50 };

async function withLocalKms(t: import('node:test').TestContext, fn: (kms: LocalKms) => Promise<void>): Promise<void> {
  if (!requireComponent(t, LOCAL_KMS !== undefined, 'local-kms (go install github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6, or $LOCAL_KMS_BIN)')) return;
  const kms = await startLocalKms(LOCAL_KMS!, tempDir('arkeo-local-kms-'));
  try {
    await fn(kms);
  } finally {
    await kms.stop();
  }
}

test('local-kms (real AWS KMS emulator): create a key, 1,000 claims through ClaimSigner, every one low-S and verified; high-S normalised', { timeout: 180_000 }, async (t) => {
  await withLocalKms(t, async (kms) => {
    const key = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint, alias: 'alias/arkeo-test' });
    assert.match(key.reference, /^awskms:arn:aws:kms:eu-west-2:\d{12}:key\/[0-9a-f-]{36}$/);
    const signer = new AwsKmsSigner(key.reference, { endpoint: kms.endpoint });
    try {
      assert.equal(signer.kind, 'aws-kms');
      const { address, ms } = await signManyClaims(signer, 1000, 16);
      assert.equal(address, toAddress(key.publicKey));
      const s = signer.stats.snapshot();
      t.diagnostic(`address ${address}; 1,000 claims in ${ms.toFixed(0)} ms (16 in flight); raw high-S normalised: ${s.highSNormalised}; API calls ${s.calls}; latency max ${s.latency.maxMs.toFixed(1)} ms`);
      assert.equal(s.signatures, 1000);
      assert.ok(s.highSNormalised > 0, 'local-kms does not normalise S, so some raw signatures were high-S');
      assert.ok(s.highSNormalised < 1000);
      assert.equal(s.calls, 1001, 'one GetPublicKey, then one Sign per claim');
      assert.equal(s.errors + s.throttles, 0);
      assert.equal((await signer.health()).ok, true);
      // The alias reference reaches the same key.
      const viaAlias = new AwsKmsSigner(key.aliasReference!, { endpoint: kms.endpoint });
      assert.equal(toAddress(await viaAlias.publicKey()), address);
      await signManyClaims(viaAlias, 20, 4);
      await viaAlias.close();
    } finally {
      await signer.close();
    }
  });
});

test('local-kms killed mid-run: a clear UNAVAILABLE error naming the key, no signature released; claims resume when it is back', { timeout: 120_000 }, async (t) => {
  await withLocalKms(t, async (kms) => {
    const key = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
    const signer = new AwsKmsSigner(key.reference, { ...FAST, endpoint: kms.endpoint });
    const store = SqliteNonceStore.open(path.join(tempDir(), 'nonces.db'));
    try {
      const cs = await ClaimSigner.create(signer, store);
      const before = [];
      for (let i = 0; i < 50; i++) before.push(await cs.signClaim(7n));
      await kms.kill();
      const released = signer.stats.signatures;
      await assert.rejects(cs.signClaim(7n), (e) => expectKmsError(e, 'UNAVAILABLE', key.arn));
      await assert.rejects(cs.signClaim(7n), (e) => expectKmsError(e, 'UNAVAILABLE', 'gave up after 3 attempts'));
      assert.equal(signer.stats.signatures, released, 'nothing released while the emulator was down');
      const h = await signer.health();
      assert.equal(h.ok, false);
      assert.equal(h.code, 'UNAVAILABLE');
      await kms.start();
      const after = await cs.signClaim(7n);
      assert.ok(after.nonce > before.at(-1)!.nonce + 2n, 'the two nonces spent on failed claims are skipped, never reused');
      assert.equal((await signer.health()).ok, true);
      t.diagnostic(`failed attempts counted: ${signer.stats.errors}; resumed at nonce ${after.nonce}`);
      await cs.close();
    } finally {
      await store.close();
      await signer.close();
    }
  });
});

test('throttling injected by our fault-injecting proxy: backoff, then success; throttles counted; a persistent throttle gives up with THROTTLED', { timeout: 60_000 }, async (t) => {
  await withLocalKms(t, async (kms) => {
    const key = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
    const proxy = await startFaultProxy(kms.endpoint);
    const stats = new CloudStats();
    const signer = new AwsKmsSigner(key.reference, { ...FAST, retries: 4, endpoint: proxy.url, stats });
    try {
      let throttleNext = 3;
      proxy.inject = (req) => {
        if (req.headers['x-amz-target'] !== 'TrentService.Sign' || throttleNext <= 0) return undefined;
        throttleNext--;
        return { status: 400, headers: { 'x-amzn-errortype': 'ThrottlingException', 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }) };
      };
      const sig = await signer.sign(utf8('5:1:'));
      assert.equal(sig.length, 64);
      assert.equal(stats.throttles, 3);
      assert.equal(stats.retries, 3);
      assert.equal(stats.signatures, 1);
      throttleNext = 100;
      await assert.rejects(signer.sign(utf8('5:2:')), (e) => expectKmsError(e, 'THROTTLED', key.arn));
      assert.equal(stats.throttles, 3 + 5, 'five attempts: the first and four retries');
      t.diagnostic(`stats after throttling: ${JSON.stringify({ ...stats.snapshot(), latency: undefined })}`);
    } finally {
      await signer.close();
      await proxy.close();
    }
  });
});

test('a corrupted signature (rewritten by our fault-injecting proxy): SELF_CHECK_FAILED, never retried, never released', { timeout: 60_000 }, async (t) => {
  await withLocalKms(t, async (kms) => {
    const key = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
    const proxy = await startFaultProxy(kms.endpoint);
    const signer = new AwsKmsSigner(key.reference, { ...FAST, endpoint: proxy.url });
    try {
      await signer.publicKey();
      proxy.rewrite = (req, status, body) => {
        if (req.headers['x-amz-target'] !== 'TrentService.Sign' || status !== 200) return body;
        const json = JSON.parse(body.toString()) as { Signature: string };
        const compact = secp256k1.Signature.fromBytes(Buffer.from(json.Signature, 'base64'), 'der').toBytes('compact');
        compact[10]! ^= 0x01; // still a well-formed signature, over nothing we asked for
        json.Signature = Buffer.from(secp256k1.Signature.fromBytes(compact, 'compact').toBytes('der')).toString('base64');
        return Buffer.from(JSON.stringify(json));
      };
      const callsBefore = signer.stats.calls;
      await assert.rejects(signer.sign(utf8('9:1:')), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'SELF_CHECK_FAILED', e.message);
        assert.ok(e.message.includes(key.arn));
        return true;
      });
      assert.equal(signer.stats.calls - callsBefore, 1, 'exactly one Sign call: a signature that fails verification is not retried');
      assert.equal(signer.stats.selfCheckFailures, 1);
      assert.equal(signer.stats.signatures, 0);
    } finally {
      await signer.close();
      await proxy.close();
    }
  });
});

test('a disabled key, a key pending deletion, a key that does not exist: one clear line naming the key', { timeout: 60_000 }, async (t) => {
  await withLocalKms(t, async (kms) => {
    const admin = new KMSClient({ region: kms.region, endpoint: kms.endpoint });
    try {
      const a = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
      const signer = new AwsKmsSigner(a.reference, { ...FAST, endpoint: kms.endpoint });
      await signer.sign(utf8('1:1:'));
      await admin.send(new DisableKeyCommand({ KeyId: a.keyId }));
      await assert.rejects(signer.sign(utf8('1:2:')), (e) => expectKmsError(e, 'KEY_DISABLED', a.arn));
      const h = await signer.health();
      assert.equal(h.ok, false);
      assert.equal(h.code, 'KEY_DISABLED');
      await signer.close();

      const b = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
      const sb = new AwsKmsSigner(b.reference, { ...FAST, endpoint: kms.endpoint });
      await sb.publicKey();
      await admin.send(new ScheduleKeyDeletionCommand({ KeyId: b.keyId, PendingWindowInDays: 7 }));
      await assert.rejects(sb.sign(utf8('1:1:')), (e) => expectKmsError(e, 'KEY_UNUSABLE', b.arn));
      await sb.close();

      const missing = a.reference.replace(/key\/.*/, 'key/00000000-0000-4000-8000-000000000000');
      const sm = new AwsKmsSigner(missing, { ...FAST, endpoint: kms.endpoint });
      await assert.rejects(sm.sign(utf8('1:1:')), (e) => expectKmsError(e, 'KEY_NOT_FOUND', '00000000-0000-4000-8000-000000000000'));
      assert.equal(sm.stats.calls, 1, 'not retried');
      await sm.close();
    } finally {
      admin.destroy();
    }
  });
});

test('a wrong public key recorded for the key: KEY_MISMATCH, nothing signed, no nonce spent', { timeout: 60_000 }, async (t) => {
  await withLocalKms(t, async (kms) => {
    const a = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
    const b = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
    const signer = new AwsKmsSigner(a.reference, { ...FAST, endpoint: kms.endpoint, expectedPublicKey: b.publicKey });
    const store = SqliteNonceStore.open(path.join(tempDir(), 'nonces.db'));
    try {
      await assert.rejects(ClaimSigner.create(signer, store), (e) => expectKmsError(e, 'KEY_MISMATCH', a.arn));
      await assert.rejects(signer.sign(utf8('1:1:')), (e) => expectKmsError(e, 'KEY_MISMATCH', 'nothing was signed'));
      assert.equal(signer.stats.signatures, 0);
      assert.equal(await store.current(1n, toAddress(a.publicKey)), 0n);
      assert.equal((await signer.health()).code, 'KEY_MISMATCH');
    } finally {
      await store.close();
      await signer.close();
    }
  });
});

test('moto_server (a real AWS emulator) has a DIGEST defect: it hashes the digest again; our self-check refuses its signatures', { timeout: 60_000 }, async (t) => {
  // A defect of the emulator, shown here, not worked around: moto 5.2.x reads MessageType and ignores it, so a
  // DIGEST request is signed as SHA-256(digest) (open upstream PR getmoto/moto#10202). Real AWS KMS and
  // local-kms sign the digest as given. This test asserts moto's wrong behaviour, and that our signer, which
  // sends DIGEST as AWS documents, refuses what moto returns instead of releasing it.
  const moto = spawnSync('moto_server', ['--help'], { encoding: 'utf8' }).status === 0;
  if (!requireComponent(t, moto, 'moto_server (pip install "moto[server]")')) return;
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new KMSClient({ region: 'us-east-1', endpoint });
  try {
    await waitForPort(port, 30_000);
    const k = await client.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }));
    const pub = await client.send(new GetPublicKeyCommand({ KeyId: k.KeyMetadata!.KeyId }));
    const { spkiToCompressed } = await import('../../src/signers/index.js');
    const pub33 = spkiToCompressed(pub.PublicKey!, 'moto key');
    const digest = sha256(utf8('42:1:'));
    const out = await client.send(new SignCommand({ KeyId: k.KeyMetadata!.KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    const compact = secp256k1.Signature.fromBytes(out.Signature!, 'der').toBytes('compact');
    const verifies = (d: Uint8Array) => secp256k1.verify(compact, d, pub33, { prehash: false, lowS: false });
    assert.equal(verifies(digest), false, 'moto defect: the signature is not over the digest we sent');
    assert.equal(verifies(sha256(digest)), true, 'moto defect: it is over SHA-256 of the digest (hashed twice)');
    const signer = new AwsKmsSigner(`awskms:${k.KeyMetadata!.Arn}`, { ...FAST, endpoint });
    await assert.rejects(signer.sign(utf8('42:1:')), (e: Error & { code?: string }) => e.code === 'SELF_CHECK_FAILED');
    assert.equal(signer.stats.signatures, 0);
    await signer.close();
    t.diagnostic('moto signs SHA-256(digest) for MessageType=DIGEST: an emulator defect; use local-kms for AWS tests');
  } finally {
    client.destroy();
    child.kill('SIGKILL');
  }
});

test('replies are bounded: a Sign reply padded past 64 KiB (by our fault-injecting proxy) is refused, REPLY_TOO_LARGE, not retried; one that stops halfway is ended by the per-call timeout', { timeout: 60_000 }, async (t) => {
  // Guards: the SDK reads a reply of any size; our middleware stops at 64 KiB. The padding is a JSON member the SDK
  // ignores, so without the limit the signature would be released. A stalled body is cut by our abort.
  await withLocalKms(t, async (kms) => {
    const key = await createAwsKmsKey({ region: kms.region, endpoint: kms.endpoint });
    const proxy = await startFaultProxy(kms.endpoint);
    const signer = new AwsKmsSigner(key.reference, { ...FAST, endpoint: proxy.url });
    // A server that answers every request with its headers and the start of a body, then nothing.
    const stalling = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': '200' });
      res.write('{"KeyId":');
    });
    await new Promise<void>((r) => stalling.listen(0, '127.0.0.1', () => r()));
    const stalled = new AwsKmsSigner(key.reference, { ...FAST, timeoutMs: 1_000, retries: 1, endpoint: `http://127.0.0.1:${(stalling.address() as AddressInfo).port}` });
    try {
      await signer.publicKey();
      proxy.rewrite = (req, status, body) => {
        if (req.headers['x-amz-target'] !== 'TrentService.Sign' || status !== 200) return body;
        return Buffer.from(JSON.stringify({ ...JSON.parse(body.toString()), Padding: 'x'.repeat(256 * 1024) }));
      };
      const calls = signer.stats.calls;
      await assert.rejects(signer.sign(utf8('6:1:')), (e) => expectKmsError(e, 'REPLY_TOO_LARGE', key.arn));
      assert.equal(signer.stats.calls - calls, 1, 'not retried');
      proxy.rewrite = undefined;
      assert.equal((await signer.sign(utf8('6:2:'))).length, 64, 'the control: a plain reply is taken');

      await assert.rejects(stalled.publicKey(), (e) => expectKmsError(e, 'TIMEOUT', key.arn));
      assert.equal(stalled.stats.timeouts, 2, 'each attempt ended by the per-call timeout');
    } finally {
      await signer.close();
      await stalled.close();
      stalling.closeAllConnections();
      stalling.close();
      await proxy.close();
    }
  });
});
