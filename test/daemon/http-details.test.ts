import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Ajv } from 'ajv';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { auditEntries, rawRequest as request, startTestDaemon, type RawReply, type TestDaemon } from '../support/daemon.js';

/**
 * Issue 13 item 16: the HTTP details. 401 carries `WWW-Authenticate: Bearer`, 429 carries `Retry-After`, a known
 * path with the wrong method is 405 with `Allow`, failed authentication is rate-limited per peer (so it cannot
 * fill the disk with audit lines), and every reply the tests provoke, body and headers, matches the OpenAPI
 * document the daemon serves at /openapi.json.
 */

type Doc = Record<string, any>;

/**
 * Checks a reply against the document: the status must be declared for that path and method (or, for a method or
 * path the document does not list, under x-undeclared-routes), the body must match the declared schema for its
 * media type, every required declared header must be there and match its schema, and the headers that only mean
 * something when declared (WWW-Authenticate, Retry-After, Allow) must not appear undeclared.
 */
function openApiChecker(doc: Doc) {
  const ajv = new Ajv({ allErrors: true, strict: true });
  const resolve = (node: any, seen = new Set<string>()): any => {
    if (Array.isArray(node)) return node.map((n) => resolve(n, seen));
    if (node === null || typeof node !== 'object') return node;
    if (typeof node.$ref === 'string') {
      assert.ok(node.$ref.startsWith('#/') && !seen.has(node.$ref), `unresolvable or circular $ref ${node.$ref}`);
      const target = node.$ref.slice(2).split('/').reduce((o: any, k: string) => o?.[k], doc);
      assert.ok(target !== undefined, `dangling $ref ${node.$ref}`);
      return resolve(target, new Set([...seen, node.$ref]));
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(v, seen)]));
  };
  const valid = (schema: object, value: unknown, what: string) => {
    const ok = ajv.validate(schema, value);
    assert.ok(ok, `${what}: ${ajv.errorsText(ajv.errors)}`);
  };
  return (method: string, path: string, reply: RawReply): void => {
    const what = `${method} ${path} → ${reply.status}`;
    const op = doc.paths[path]?.[method.toLowerCase()];
    const declared = op ? op.responses[String(reply.status)] : doc['x-undeclared-routes'][String(reply.status)];
    assert.ok(declared, `${what}: status not in the OpenAPI document (${reply.body})`);
    const response = resolve(declared);
    const mediaType = String(reply.headers['content-type'] ?? '').split(';')[0]!.trim();
    assert.ok(response.content?.[mediaType], `${what}: content type ${mediaType} not declared`);
    valid(response.content[mediaType].schema, mediaType === 'application/json' ? JSON.parse(reply.body) : reply.body, `${what}: body`);
    const names = Object.keys(response.headers ?? {}).map((h) => h.toLowerCase());
    for (const [name, h] of Object.entries(response.headers ?? {}) as [string, any][]) {
      const value = reply.headers[name.toLowerCase()];
      if (h.required) assert.ok(value !== undefined, `${what}: header ${name} missing`);
      if (value !== undefined) valid(h.schema, h.schema.type === 'integer' ? Number(value) : value, `${what}: header ${name}: ${String(value)}`);
    }
    for (const name of ['www-authenticate', 'retry-after', 'allow']) {
      if (reply.headers[name] !== undefined) assert.ok(names.includes(name), `${what}: header ${name} sent but not declared`);
    }
  };
}

const claimBody = (contract: string, key = 'k') => JSON.stringify({ contract, key });
let d: TestDaemon;
let doc: Doc;
let check: ReturnType<typeof openApiChecker>;

before(async () => {
  d = await startTestDaemon(
    { k: randomBytes(32).toString('hex'), other: randomBytes(32).toString('hex') },
    {
      app: { keys: ['*'], operations: ['claim', 'arkcontract', 'raw'], contracts: ['*'], allow_management_spend: true, rate: { per_second: 1000, burst: 1000 } },
      narrow: { keys: ['k'], operations: ['claim'], contracts: ['1'], rate: { per_second: 1000, burst: 1000 } },
      capped: { keys: ['k'], operations: ['claim'], contracts: ['9'], max_spend: '20', rate: { per_second: 1000, burst: 1000 } },
      slow: { keys: ['k'], operations: ['claim'], contracts: ['*'], rate: { per_second: 0.01, burst: 1 } },
    },
  );
  const terms = SqliteNonceStore.open(d.config.nonces.store);
  try {
    await terms.putContract({ contractId: 9n, rate: 10n, deposit: 1000n, source: 'manual' });
  } finally {
    await terms.close();
  }
  const served = await request(d.socket, 'GET', '/openapi.json');
  assert.equal(served.status, 200);
  doc = served.json as Doc;
  check = openApiChecker(doc);
}, { timeout: 60_000 });
after(() => d?.daemon.stop(), { timeout: 60_000 });

test('every route and status the daemon gives matches /openapi.json, body and headers', { timeout: 60_000 }, async (t) => {
  // Guards the document drifting from the server (issue 13 item 16): before this test the document had no 404,
  // 405, Retry-After or WWW-Authenticate, no schema for /healthz or /v1/keys, and no body for 413 or 429.
  const seen = new Set<number>();
  const expect = async (status: number, method: string, path: string, opts: Parameters<typeof request>[3] = {}): Promise<RawReply> => {
    const r = await request(d.socket, method, path, opts);
    assert.equal(r.status, status, `${method} ${path}: ${r.body}`);
    check(method, path, r);
    seen.add(status);
    return r;
  };
  const { app, narrow, capped, slow } = d.tokens;
  await expect(200, 'GET', '/healthz');
  await expect(200, 'GET', '/metrics');
  await expect(200, 'GET', '/openapi.json');
  await expect(200, 'GET', '/v1/keys', { token: app });
  await expect(200, 'POST', '/v1/claims', { token: app, body: claimBody('1') });
  await expect(200, 'POST', '/v1/arkcontract', { token: app, body: JSON.stringify({ contract: '1', key: 'k', timestamp: '1700000000' }) });
  await expect(200, 'POST', '/v1/sign', { token: app, body: JSON.stringify({ key: 'k', message: 'hello' }) });
  await expect(400, 'POST', '/v1/claims', { token: app, body: '{"contract":' });
  await expect(400, 'POST', '/v1/sign', { token: app, body: JSON.stringify({ key: 'k', message: 'a', message_hex: '00' }) });
  await expect(400, 'POST', '/v1/arkcontract', { token: app, body: JSON.stringify({ contract: '1', key: 'k', timestamp: 'soon' }) });
  await expect(401, 'POST', '/v1/claims', { body: claimBody('1') });
  await expect(401, 'GET', '/v1/keys', { token: 'ark_' + 'A'.repeat(43) });
  await expect(403, 'POST', '/v1/claims', { token: narrow, body: claimBody('2') });
  await expect(403, 'POST', '/v1/sign', { token: narrow, body: JSON.stringify({ key: 'k', message: 'x' }) });
  for (let i = 0; i < 2; i++) await expect(200, 'POST', '/v1/claims', { token: capped, body: claimBody('9') });
  assert.equal((await expect(403, 'POST', '/v1/claims', { token: capped, body: claimBody('9') })).json!.code, 'SPEND_LIMIT');
  assert.equal((await expect(404, 'POST', '/v1/claims', { token: app, body: claimBody('1', 'nope') })).json!.code, 'UNKNOWN_KEY');
  assert.equal((await expect(404, 'GET', '/v2/nothing-here', { token: app })).json!.code, 'NOT_FOUND');
  await expect(405, 'GET', '/v1/claims', { token: app });
  await expect(405, 'POST', '/healthz');
  await expect(405, 'DELETE', '/v1/keys', { token: app });
  await expect(413, 'POST', '/v1/claims', { token: app, body: JSON.stringify({ contract: '1', key: 'k', pad: 'x'.repeat(70 * 1024) }) });
  await expect(200, 'POST', '/v1/claims', { token: slow, body: claimBody('1') });
  await expect(429, 'POST', '/v1/claims', { token: slow, body: claimBody('1') });
  await expect(429, 'GET', '/v1/keys', { token: slow });

  // 503: its own daemon, whose audit log then stops accepting writes (which also turns a 401 into a 503).
  const sick = await startTestDaemon({ k: randomBytes(32).toString('hex') }, { app: { keys: ['k'], operations: ['claim'], contracts: ['*'] } });
  // t.after as well as finally: after a timeout the finally never runs, and a live daemon would keep the file from ending.
  t.after(() => sick.daemon.stop());
  try {
    sick.daemon.audit.io.sync = (_fd, done) => done(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
    const expectSick = async (method: string, path: string, opts: Parameters<typeof request>[3] = {}) => {
      const r = await request(sick.socket, method, path, opts);
      assert.equal(r.status, 503, `${method} ${path}: ${r.body}`);
      check(method, path, r);
      seen.add(503);
      return r;
    };
    await expectSick('POST', '/v1/claims', { token: sick.tokens.app, body: claimBody('1') });
    await expectSick('POST', '/v1/claims', { token: sick.tokens.app, body: claimBody('1') });
    const unauth = await expectSick('POST', '/v1/claims', { body: claimBody('1') });
    assert.equal(unauth.headers['www-authenticate'], undefined, 'a 401 that became a 503 drops the challenge');
    await expectSick('GET', '/healthz');
  } finally {
    await sick.daemon.stop();
  }
  assert.deepEqual([...seen].sort(), [200, 400, 401, 403, 404, 405, 413, 429, 503]);
});

test('401 carries WWW-Authenticate: Bearer; 405 carries Allow; 429 from the token rate carries Retry-After', { timeout: 60_000 }, async () => {
  // Guards the three headers issue 13 item 16 asks for, with their exact values.
  const missing = await request(d.socket, 'GET', '/v1/keys');
  assert.equal(missing.status, 401);
  assert.equal(missing.headers['www-authenticate'], 'Bearer realm="arkeo-signer"');
  const invalid = await request(d.socket, 'POST', '/v1/claims', { token: 'ark_' + 'B'.repeat(43), body: claimBody('1') });
  assert.equal(invalid.status, 401);
  assert.equal(invalid.headers['www-authenticate'], 'Bearer realm="arkeo-signer", error="invalid_token"');
  const wrong = await request(d.socket, 'PUT', '/v1/claims', { token: d.tokens.app, body: claimBody('1') });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.allow, 'POST');
  assert.equal(wrong.json!.code, 'METHOD_NOT_ALLOWED');
  const last = auditEntries(d.config).at(-1)!;
  assert.deepEqual([last.status, last.what.op, last.what.path], [405, 'wrong-method', 'PUT /v1/claims'], 'a 405 is audited like a 404');
  // "slow" has a burst of 1 and refills 0.01/s: by its second request at the latest it is refused, and the next
  // token is at most 1 / 0.01 = 100 s away.
  let limited = await request(d.socket, 'POST', '/v1/claims', { token: d.tokens.slow, body: claimBody('1') });
  if (limited.status === 200) limited = await request(d.socket, 'POST', '/v1/claims', { token: d.tokens.slow, body: claimBody('1') });
  assert.equal(limited.status, 429, limited.body);
  assert.equal(limited.json!.code, 'RATE_LIMITED');
  const retry = Number(limited.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 100, `Retry-After: ${limited.headers['retry-after']}`);
});

test('failed authentication is rate-limited per peer: 429 + Retry-After over the budget, audited once per window, counted in metrics', { timeout: 60_000 }, async (t) => {
  // Guards the disk-filling attack of issue 13 item 16: without the budget every bad token writes an audit line.
  // Its own daemon, so the budget (10 failures, then one per 6 s; see src/daemon/peers.ts) starts full.
  const own = await startTestDaemon({ k: randomBytes(32).toString('hex') }, { app: { keys: ['k'], operations: ['claim'], contracts: ['*'] } });
  // t.after as well as finally: after a timeout the finally never runs, and a live daemon would keep the file from ending.
  t.after(() => own.daemon.stop());
  try {
    const bad = () => request(own.socket, 'POST', '/v1/claims', { token: 'ark_' + 'C'.repeat(43), body: claimBody('1') });
    const start = auditEntries(own.config).length;
    for (let i = 0; i < 10; i++) assert.equal((await bad()).status, 401, `failure ${i + 1} is within the budget`);
    assert.equal(auditEntries(own.config).length, start + 10, 'each failure within the budget is audited');
    const over = await bad();
    assert.equal(over.status, 429, over.body);
    assert.equal(over.json!.code, 'TOO_MANY_FAILURES');
    assert.ok(Number(over.headers['retry-after']) >= 1 && Number(over.headers['retry-after']) <= 6, `Retry-After: ${over.headers['retry-after']}`);
    assert.equal(over.headers['www-authenticate'], undefined);
    check('POST', '/v1/claims', over);
    assert.equal(auditEntries(own.config).length, start + 11, 'the first refusal of the window is audited');
    assert.equal(auditEntries(own.config).at(-1)!.status, 429);
    // More failures of every kind that comes before a token: refused, counted, not audited.
    const more = [bad(), request(own.socket, 'GET', '/v1/keys'), request(own.socket, 'GET', '/nowhere'), request(own.socket, 'GET', '/v1/sign'), bad()];
    for (const r of await Promise.all(more)) {
      assert.equal(r.status, 429, r.body);
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    check('GET', '/nowhere', (await Promise.all(more))[2]!);
    assert.equal(auditEntries(own.config).length, start + 11, 'refusals after the first of the window are not audited');
    const metrics = (await request(own.socket, 'GET', '/metrics')).body;
    assert.match(metrics, /^arkeo_signer_failures_unaudited_total 5$/m);
    assert.match(metrics, /^arkeo_signer_auth_failures_total\{reason="invalid"\} 13$/m);
    // The budget is for failures: a valid token from the same peer is served, and audited.
    const ok = await request(own.socket, 'POST', '/v1/claims', { token: own.tokens.app, body: claimBody('1') });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(auditEntries(own.config).at(-1)!.result, 'ok');
  } finally {
    await own.daemon.stop();
  }
});
