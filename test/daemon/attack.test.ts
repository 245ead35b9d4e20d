import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { verifyAuditLog } from '../../src/audit/index.js';
import { DaemonClient, DaemonSigner, TokenStore } from '../../src/daemon/index.js';
import { parseBech32PubKey, parseHex, utf8, verifySignature } from '../../src/crypto/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { readVector, requireComponent, requireVectors, type ClaimVectors } from '../helpers.js';
import { peerCredentialsAvailable } from '../../src/daemon/peercred.js';
import { auditEntries, rawRequest, slowHeaders, startTestDaemon, type TestDaemon } from '../support/daemon.js';

/**
 * The daemon under attack. Every hostile request gets the right status, no signature, an audit entry, and the
 * daemon keeps serving. Keys are the public vector keys dog and cat.
 */
let d: TestDaemon;
let v: ClaimVectors;
const SIG = /[0-9a-f]{128}/;

before(async () => {
  v = readVector<ClaimVectors>('arkeo-claims.json');
  d = await startTestDaemon(
    { dog: v.keys.dog!.priv, cat: v.keys.cat!.priv },
    {
      app: { keys: ['dog'], operations: ['claim'], contracts: ['1', '2', '3'], rate: { per_second: 1000, burst: 1000 } },
      ops: { keys: ['*'], operations: ['claim', 'arkcontract', 'raw'], contracts: ['*'], allow_management_spend: true, rate: { per_second: 1000, burst: 1000 } },
      capped: { keys: ['dog'], operations: ['claim'], contracts: ['9'], max_spend: '20', rate: { per_second: 1000, burst: 1000 } },
      slow: { keys: ['dog'], operations: ['claim'], contracts: ['*'], rate: { per_second: 0.001, burst: 2 } },
      gone: { keys: ['dog'], operations: ['claim'], contracts: ['*'] },
    },
    (c) => {
      c.limits.header_timeout_ms = 600;
      c.limits.request_timeout_ms = 2000;
    },
  );
}, { timeout: 60_000 });
after(() => d?.daemon.stop(), { timeout: 60_000 });

async function claimOk(token = d.tokens.app!) {
  const r = await rawRequest(d.socket, 'POST', '/v1/claims', { token, body: JSON.stringify({ contract: '1', key: 'dog' }) });
  assert.equal(r.status, 200, r.body);
  return r.json!;
}

test('happy path: claims with increasing nonces, keys, health, metrics, OpenAPI; DaemonSigner is a Signer', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const a = await claimOk();
  const b = await claimOk();
  assert.equal(a.preimage, `1:${a.nonce}:`);
  assert.equal(BigInt(b.nonce as string), BigInt(a.nonce as string) + 1n);
  assert.ok(verifySignature(parseHex(v.keys.dog!.pub, 'p'), utf8(a.preimage as string), parseHex(a.signature as string, 's', 64)));
  assert.equal(a.arkauth, `1:${a.nonce}:${a.signature}`);
  const keys = await rawRequest(d.socket, 'GET', '/v1/keys', { token: d.tokens.app });
  assert.deepEqual(keys.json, [{ name: 'dog', address: v.keys.dog!.address, pubkey: v.keys.dog!.bech32PubKey, pubkey_hex: v.keys.dog!.pub }]);
  const health = await rawRequest(d.socket, 'GET', '/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.json!.ok, true);
  const metrics = await rawRequest(d.socket, 'GET', '/metrics');
  assert.match(metrics.body, /arkeo_signer_signatures_total\{key="dog",operation="claim",result="ok"\} \d+/);
  assert.match(metrics.body, /arkeo_signer_request_seconds_bucket/);
  assert.match(metrics.body, /arkeo_signer_audit_flush_seconds_count \d+/);
  const api = await rawRequest(d.socket, 'GET', '/openapi.json');
  assert.equal((api.json as { openapi: string }).openapi, '3.0.3');
  assert.ok((api.json as { paths: Record<string, unknown> }).paths['/v1/claims']);
  // The caller's uid and pid (SO_PEERCRED through native/peercred) are in the audit entry.
  if (requireComponent(t, peerCredentialsAvailable(), 'the native/peercred addon (npm install builds it)')) {
    const claimEntry = auditEntries(d.config).find((e) => e.what.op === 'claim' && e.result === 'ok')!;
    assert.equal(claimEntry.who.uid, process.getuid!());
    assert.equal(claimEntry.who.pid, process.pid);
  }

  const client = new DaemonClient(d.socket, { token: d.tokens.ops! });
  const signer = new DaemonSigner(client, 'cat');
  assert.equal(Buffer.from(await signer.publicKey()).toString('hex'), v.keys.cat!.pub);
  const s = v.signatures.find((x) => x.key === 'cat' && x.message === '1:1:')!;
  assert.equal(Buffer.from(await signer.sign(utf8(s.message))).toString('hex'), s.signature, 'the daemon signs the vector bytes');
  const ac = await client.arkcontract(1n, 'dog', 1700000000n);
  assert.equal(ac.arkcontract, v.headers.find((h) => h.kind === 'arkcontract')!.value);
  client.close();
  assert.deepEqual(parseBech32PubKey(v.keys.cat!.bech32PubKey), await signer.publicKey());
});

test('attack suite: each hostile request gets the right status, no signature, an audit entry; serving goes on', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  // Revoke "gone" and reload (SIGHUP's code path).
  TokenStore.load(d.config.tokens.path).revoke('gone');
  await d.daemon.reload();
  const big = JSON.stringify({ contract: '1', key: 'dog', pad: 'x'.repeat(70 * 1024) });
  const cases: [string, () => Promise<{ status: number; body: string }>, number, string][] = [
    ['no token', () => rawRequest(d.socket, 'POST', '/v1/claims', { body: '{"contract":"1","key":"dog"}' }), 401, 'unauthenticated'],
    ['bad token', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: 'ark_' + 'A'.repeat(43), body: '{"contract":"1","key":"dog"}' }), 401, 'unauthenticated'],
    ['not a bearer header', () => rawRequest(d.socket, 'POST', '/v1/claims', { headers: { authorization: `Basic ${d.tokens.app}` }, body: '{"contract":"1","key":"dog"}' }), 401, 'unauthenticated'],
    ['revoked token', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.gone, body: '{"contract":"1","key":"dog"}' }), 401, 'unauthenticated'],
    ['token for another key', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":"1","key":"cat"}' }), 403, 'denied'],
    ['contract outside the policy', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":"99","key":"dog"}' }), 403, 'denied'],
    ['raw signing not allowed', () => rawRequest(d.socket, 'POST', '/v1/sign', { token: d.tokens.app, body: '{"key":"dog","message":"1:999:"}' }), 403, 'denied'],
    ['arkcontract not allowed', () => rawRequest(d.socket, 'POST', '/v1/arkcontract', { token: d.tokens.app, body: '{"contract":"1","key":"dog"}' }), 403, 'denied'],
    ['spend ceiling on an unregistered contract', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.capped, body: '{"contract":"9","key":"dog"}' }), 403, 'denied'],
    ['body over 64 KiB', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: big }), 413, 'error'],
    ['body over 64 KiB, chunked', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: big, headers: { 'transfer-encoding': 'chunked' } }), 413, 'error'],
    ['malformed JSON', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":' }), 400, 'error'],
    ['JSON that is not an object', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '[1,2]' }), 400, 'error'],
    ['unknown field', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":"1","key":"dog","nonce":"5"}' }), 400, 'error'],
    ['hostile contract id', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":"01","key":"dog"}' }), 400, 'error'],
    ['key name too long', () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: JSON.stringify({ contract: '1', key: 'k'.repeat(500) }) }), 400, 'error'],
    ['unknown route', () => rawRequest(d.socket, 'DELETE', '/v1/nothing', { token: d.tokens.app }), 404, 'error'],
  ];
  for (const [what, send, status, result] of cases) {
    const before = auditEntries(d.config).length;
    const r = await send();
    assert.equal(r.status, status, `${what}: ${r.body}`);
    assert.doesNotMatch(r.body, SIG, `${what}: no signature in the reply`);
    const entries = auditEntries(d.config);
    assert.equal(entries.length, before + 1, `${what}: one audit entry`);
    assert.equal(entries[entries.length - 1]!.result, result, what);
    assert.equal(entries[entries.length - 1]!.status, status, what);
    await claimOk(); // still serving
  }
  // Rate limit: burst 2, then 429.
  const codes = [];
  for (let i = 0; i < 4; i++) codes.push((await rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.slow, body: '{"contract":"2","key":"dog"}' })).status);
  assert.deepEqual(codes, [200, 200, 429, 429]);
  // Slow headers are cut off by the header timeout (600 ms here), not held open.
  const slow = await slowHeaders(d.socket, 5000);
  assert.ok(slow.closedAfterMs < 2500, `slow-header connection closed after ${Math.round(slow.closedAfterMs)} ms`);
  await claimOk();
  // The socket is 0600 and its folder 0700.
  assert.equal(fs.statSync(d.socket).mode & 0o777, 0o600);
  assert.equal(fs.statSync(d.config.listen.socket.replace(/\/keyd\.sock$/, '')).mode & 0o777, 0o700);
  // The chain holds after all of it.
  assert.equal(verifyAuditLog(d.config.audit.path, new Uint8Array(Buffer.from(fs.readFileSync(d.config.audit.path + '.key', 'utf8').trim(), 'hex'))).ok, true);
  const metrics = await rawRequest(d.socket, 'GET', '/metrics');
  assert.match(metrics.body, /arkeo_signer_auth_failures_total\{reason="missing"\} [1-9]/);
  assert.match(metrics.body, /arkeo_signer_auth_failures_total\{reason="invalid"\} [1-9]/);
});

test('spend ceilings per token and per contract; audit failure and nonce store failure fail closed', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const terms = SqliteNonceStore.open(d.config.nonces.store);
  await terms.putContract({ contractId: 9n, rate: 10n, deposit: 1000n, source: 'manual' });
  await terms.close();
  const capped = () => rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.capped, body: '{"contract":"9","key":"dog"}' });
  assert.equal((await capped()).status, 200);
  assert.equal((await capped()).status, 200);
  const third = await capped();
  assert.equal(third.status, 403);
  assert.match(third.json!.error as string, /nonce 3 × rate 10 = 30 exceeds the max spend 20/);

  // The audit log stops accepting writes: nothing is signed, /healthz says so, and it stays that way.
  const audit = d.daemon.audit;
  const realSync = audit.io.sync;
  audit.io.sync = (_fd, done) => done(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
  const refused = await rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":"3","key":"dog"}' });
  assert.equal(refused.status, 503);
  assert.doesNotMatch(refused.body, SIG);
  const again = await rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":"3","key":"dog"}' });
  assert.equal(again.status, 503);
  assert.match(again.json!.error as string, /audit log unavailable .*refusing to sign/);
  const health = await rawRequest(d.socket, 'GET', '/healthz');
  assert.equal(health.status, 503);
  assert.match(health.json!.audit as string, /ENOSPC/);
  assert.match((await rawRequest(d.socket, 'GET', '/metrics')).body, /arkeo_signer_audit_healthy 0/);
  audit.io.sync = realSync;
});

test('the signing thread dies: claims get 503 with no signature, the failure is audited, /healthz says why', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const own = await startTestDaemon({ dog: v.keys.dog!.priv }, { app: { keys: ['dog'], operations: ['claim', 'raw'], contracts: ['*'] } });
  // t.after as well as finally: after a timeout the finally never runs, and a live daemon would keep the file from ending.
  t.after(() => own.daemon.stop());
  try {
    assert.equal((await rawRequest(own.socket, 'POST', '/v1/claims', { token: own.tokens.app, body: '{"contract":"4","key":"dog"}' })).status, 200);
    // As an out-of-memory abort or a crash in native code would end it.
    await (own.daemon as unknown as { signingThread: { worker: { terminate(): Promise<number> } } }).signingThread.worker.terminate();
    for (const body of ['{"contract":"4","key":"dog"}', '{"message":"4:9:","key":"dog"}']) {
      const r = await rawRequest(own.socket, 'POST', body.includes('message') ? '/v1/sign' : '/v1/claims', { token: own.tokens.app, body });
      assert.equal(r.status, 503, r.body);
      assert.equal(r.json!.code, 'SIGNER_UNAVAILABLE');
      assert.doesNotMatch(r.body, SIG);
    }
    const health = await rawRequest(own.socket, 'GET', '/healthz');
    assert.equal(health.status, 503);
    assert.match(String(health.json!.keys), /^error: signing thread exited/);
    const last = auditEntries(own.config).slice(-2);
    assert.deepEqual(last.map((e) => [e.what.op, e.result, e.status]), [['claim', 'error', 503], ['raw', 'error', 503]]);
  } finally {
    await own.daemon.stop();
  }
});

test('a truncated body (the client stops mid-body): no signature, a 400 in the audit log, the daemon keeps serving', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  // Its own daemon: an earlier test leaves the shared one's audit log failed on purpose.
  const own = await startTestDaemon({ dog: v.keys.dog!.priv }, { app: { keys: ['dog'], operations: ['claim'], contracts: ['*'] } });
  // t.after as well as finally: after a timeout the finally never runs, and a live daemon would keep the file from ending.
  t.after(() => own.daemon.stop());
  try {
    const { connect } = await import('node:net');
    const before = auditEntries(own.config).length;
    const reply = await new Promise<string>((resolve) => {
      const s = connect(own.socket, () => {
        s.write(`POST /v1/claims HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${own.tokens.app}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"contract":"1",`);
        s.end(); // half-close: 17 of the 100 announced bytes, then nothing
      });
      let got = '';
      s.on('data', (b) => (got += b));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    assert.doesNotMatch(reply, SIG);
    for (let i = 0; i < 50 && auditEntries(own.config).length === before; i++) await new Promise((r) => setTimeout(r, 20));
    const added = auditEntries(own.config).slice(before);
    assert.equal(added.length, 1, JSON.stringify(added));
    assert.equal(added[0]!.status, 400);
    assert.match(added[0]!.reason, /request body not complete/);
    const ok = await rawRequest(own.socket, 'POST', '/v1/claims', { token: own.tokens.app, body: '{"contract":"1","key":"dog"}' });
    assert.equal(ok.status, 200, ok.body);
  } finally {
    await own.daemon.stop();
  }
});
