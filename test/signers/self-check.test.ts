import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setLogSink } from '../../src/log.js';
import { curveEngine, curveEngineNote, publicKeyFromPrivate, sha256, signMessage, toHex, utf8, verifySignature } from '../../src/crypto/index.js';
import { TEST_FAULT_ENV } from '../../src/crypto/secp256k1.js';
import { SigningThread, privateKeyToSigner } from '../../src/signers/index.js';
import { auditEntries, rawRequest, startTestDaemon } from '../support/daemon.js';

/**
 * The verify-after-sign self-check (issue 17): with the test-only fault ARKEO_SIGNER_TEST_FAULT=corrupt-signature
 * the engine returns every signature with one bit of s flipped (still low-S and in range, so only a real verify
 * catches it). LocalSigner, the signing thread and POST /v1/claims must then refuse with SELF_CHECK_FAILED,
 * release nothing, and (the daemon) audit the failure. Each test below fails if the self-check is removed from
 * LocalSigner.signDigestSync, or if the signing thread is given keys with `verify: false`.
 *
 * The fault is read when the engine is chosen, once per thread, so it is set here before anything signs: this
 * file runs in its own process under `node --test`, and the first test checks that the fault really is active.
 * The signing thread (a worker) reads its own copy of this environment when it starts.
 */
process.env[TEST_FAULT_ENV] = 'corrupt-signature';
const logged: string[] = [];
setLogSink((line) => logged.push(line));

const KEY = sha256(utf8('arkeo-signer self-check test key'));
const PUB = publicKeyFromPrivate(KEY);
const SIG_HEX = /[0-9a-f]{128}/i;
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('the fault is active, says so, and is confined to LocalSigner: curveEngine() and signMessage() stay correct', { timeout: 30_000 }, () => {
  // Guards a fault that silently does nothing (a test that passes because nothing was corrupted) and one that
  // leaks into the public primitives, which do not verify and would then hand out a bad signature.
  assert.match(curveEngineNote(), /TEST-ONLY FAULT ARKEO_SIGNER_TEST_FAULT=corrupt-signature active/);
  assert.ok(logged.some((l) => /WARNING: ARKEO_SIGNER_TEST_FAULT=corrupt-signature is set/.test(l)), 'a warning is logged');
  const msg = utf8('1:1:');
  assert.ok(verifySignature(PUB, msg, signMessage(KEY, msg)), 'signMessage uses the real engine');
  const digest = sha256(msg);
  assert.ok(curveEngine().verifyDigest(curveEngine().signDigest(digest, KEY), digest, PUB), 'curveEngine() is the real engine');
});

test('LocalSigner refuses a corrupted signature with SELF_CHECK_FAILED; with verify: false it refuses too', { timeout: 30_000 }, async () => {
  // Guards: the verify step in LocalSigner.signDigestSync removed (the bit-flipped signature would be returned).
  const signer = privateKeyToSigner(KEY);
  await assert.rejects(signer.sign(utf8('7:1:')), code('SELF_CHECK_FAILED'));
  assert.throws(() => signer.signDigestSync(sha256(utf8('7:2:'))), code('SELF_CHECK_FAILED'));
  // Guards the hook itself: a signer built without its self-check must not release what the fault corrupted.
  const unchecked = privateKeyToSigner(KEY, { verify: false });
  assert.throws(() => unchecked.signDigestSync(sha256(utf8('7:3:'))), code('TEST_FAULT_UNCHECKED'));
});

test('the signing thread refuses with SELF_CHECK_FAILED, one job or a batch, and keeps serving', { timeout: 30_000 }, async (t) => {
  // Guards: the self-check removed from the path the worker thread signs on (LocalSigner.signDigestSync in
  // signing-thread.ts), or the worker given keys with verify off (it would then answer TEST_FAULT_UNCHECKED).
  const thread = new SigningThread();
  t.after(() => thread.close());
  const signer = await thread.adopt(privateKeyToSigner(KEY));
  await assert.rejects(signer.sign(utf8('8:1:')), code('SELF_CHECK_FAILED'));
  const batch = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => signer.sign(utf8(`8:${i + 2}:`))));
  for (const r of batch) {
    assert.equal(r.status, 'rejected', 'no signature released from a batch');
    assert.ok(code('SELF_CHECK_FAILED')((r as PromiseRejectedResult).reason));
  }
  assert.equal(thread.problem, undefined, 'a failed self-check refuses that signature; the thread itself is fine');
});

test('POST /v1/claims: 500 SELF_CHECK_FAILED, no signature in the reply, and the audit log has ok then error for the nonce', { timeout: 60_000 }, async (t) => {
  // Guards: the self-check removed (the daemon would answer 200 with a signature that does not verify), and an
  // unaudited failure (README: "an ok entry followed by an error entry with the same nonce means nothing was
  // released").
  const d = await startTestDaemon({ dog: toHex(KEY) }, { app: { keys: ['dog'], operations: ['claim'], contracts: ['*'] } });
  t.after(() => d.daemon.stop());
  for (let i = 0; i < 2; i++) {
    const r = await rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: JSON.stringify({ contract: '42', key: 'dog' }) });
    assert.equal(r.status, 500, r.body);
    assert.equal(r.json?.code, 'SELF_CHECK_FAILED', r.body);
    assert.doesNotMatch(r.body, SIG_HEX, 'no signature in the body');
    assert.equal(r.json?.signature, undefined);
    assert.equal(r.json?.arkauth, undefined);
  }
  const claims = auditEntries(d.config).filter((e) => e.what?.op === 'claim');
  const nonces = [...new Set(claims.map((e) => e.what.nonce as string))];
  assert.equal(nonces.length, 2, `two nonces were reserved: ${JSON.stringify(claims)}`);
  for (const nonce of nonces) {
    const mine = claims.filter((e) => e.what.nonce === nonce);
    assert.deepEqual(mine.map((e) => e.result), ['ok', 'error'], `nonce ${nonce}: the ok entry is followed by an error entry`);
    assert.equal(mine[1]!.status, 500);
    assert.equal(mine[1]!.what.contract, '42');
    assert.match(mine[1]!.reason, /self-check/);
  }
  // A failed self-check is one refused request, not a broken daemon.
  const health = await rawRequest(d.socket, 'GET', '/healthz');
  assert.equal(health.status, 200, health.body);
});

test('an unknown ARKEO_SIGNER_TEST_FAULT is an error on every call, not ignored after the first', { timeout: 30_000 }, () => {
  // Guards a misspelt fault that silently leaves the real engine in place (a self-check test would then pass
  // without testing anything), and one that throws once and is then forgotten because the engine got cached.
  const index = new URL('../../src/index.js', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(index)});
for (let i = 0; i < 2; i++) {
  try { m.privateKeyToSigner(new Uint8Array(32).fill(7)); console.log('made a signer'); } catch (e) { console.log(e.code); }
}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, [TEST_FAULT_ENV]: 'corupt-signature' }, timeout: 20_000, killSignal: 'SIGKILL' });
  assert.equal(r.stdout, 'BAD_TEST_FAULT\nBAD_TEST_FAULT\n', r.stderr);
});
