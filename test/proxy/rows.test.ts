import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, run, runAsync, tempDir } from '../helpers.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { toAddress } from '../../src/crypto/index.js';
import { inProcessProxy, post, KEY_HEX, SERVICE, payg, CLAIM_MODES } from './support.js';
import { claimSignedBy, startSentinelRules, type SentinelRules } from '../support/sentinel-rules.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { KEY_PRIV } from './support.js';

/**
 * Every row of arkeo-claims.md §11 as the proxy and `arkeo-signer curl` see it, against the sentinel-rules test
 * server (test/support/sentinel-rules.ts, our code). For each row: the status and body the application gets, and
 * what happened to the nonce: consumed (the sentinel stored it; the next request uses the next nonce), not
 * consumed (the same signed claim goes out with the next request, so no nonce is paid for twice), or the
 * contract stopped (402 from the proxy itself, nothing more signed).
 *
 * Rows our client cannot reach by itself (an empty or over-long signature, an unparseable value) are provoked by
 * the server's `mangle` hook: an intermediary that rewrites the arkauth header on the way in.
 * Not covered: "paidTier: spender pubkey not parseable" (needs a corrupt contract.client on chain; with our
 * 3-part claims the sentinel parses contract.client, never our input).
 */
type Effect = 'consumed' | 'not-consumed' | 'stops';
interface Row {
  name: string;
  arrange(s: SentinelRules): void;
  restore(s: SentinelRules): void;
  status: number;
  body: RegExp;
  effect: Effect;
  tier?: string;
  /** For not-consumed rows: the reason label in arkeo_proxy_nonce_not_consumed_total. */
  reason?: string;
}

const swapSig = (v: string, sig: string) => v.replace(/[0-9a-f]{128}$/, sig);
const ROWS: Row[] = [
  { name: 'arkauth unparseable → 400 Go parse error', arrange: (s) => (s.faults.mangle = (v) => swapSig(v, 'zz')), restore: (s) => (s.faults.mangle = undefined), status: 400, body: /^encoding\/hex: invalid byte/, effect: 'not-consumed', reason: 'sentinel_400' },
  { name: 'subscription contract expired → 402', arrange: (s) => Object.assign(s.contracts.get(7n)!, { type: 'SUBSCRIPTION', expired: true }), restore: (s) => Object.assign(s.contracts.get(7n)!, { type: 'PAY_AS_YOU_GO', expired: false }), status: 402, body: /"code":"CONTRACT_EXPIRED"/, effect: 'stops' },
  { name: 'PAYG and empty signature → 401', arrange: (s) => (s.faults.mangle = (v) => swapSig(v, '')), restore: (s) => (s.faults.mangle = undefined), status: 401, body: /^Signature required for pay-as-you-go contracts\n$/, effect: 'not-consumed', reason: 'sentinel_401' },
  { name: 'service mismatch → 401', arrange: (s) => (s.contracts.get(7n)!.service = 'other-service'), restore: (s) => (s.contracts.get(7n)!.service = SERVICE), status: 401, body: /^Service mismatch\n$/, effect: 'not-consumed', reason: 'sentinel_401' },
  { name: 'paidTier contract lookup error → 500', arrange: (s) => s.faults.lookupError.add(7n), restore: (s) => s.faults.lookupError.clear(), status: 500, body: /^internal server error: /, effect: 'not-consumed', tier: 'paid', reason: 'sentinel_500' },
  { name: 'paidTier contract expired → 402 open a contract', arrange: (s) => (s.contracts.get(7n)!.expired = true), restore: (s) => (s.contracts.get(7n)!.expired = false), status: 402, body: /"code":"CONTRACT_EXPIRED"/, effect: 'stops' },
  { name: 'paidTier deposit < nonce × rate → 402 contract spent', arrange: (s) => (s.contracts.get(7n)!.deposit = 0n), restore: (s) => (s.contracts.get(7n)!.deposit = 1_000_000n), status: 402, body: /"code":"CONTRACT_SPENT"/, effect: 'stops' },
  { name: 'paidTier rate limit → 429 (Retry-After added)', arrange: (s) => (s.contracts.get(7n)!.queriesPerMinute = 0), restore: (s) => (s.contracts.get(7n)!.queriesPerMinute = 1_000_000), status: 429, body: /^paid client is rate limited \(Too Many Requests\)\n$/, effect: 'not-consumed', tier: 'paid', reason: 'rate_limited' },
  { name: 'paidTier invalid signature → 401', arrange: (s) => (s.faults.mangle = (v) => v.replace(/[0-9a-f]$/, (c) => (c === '0' ? '1' : '0'))), restore: (s) => (s.faults.mangle = undefined), status: 401, body: /^invalid signature for client\n$/, effect: 'not-consumed', tier: 'paid', reason: 'sentinel_401' },
  { name: 'paidTier claim store failure → 500', arrange: (s) => (s.faults.storeFails = true), restore: (s) => (s.faults.storeFails = false), status: 500, body: /^internal server error: /, effect: 'not-consumed', tier: 'paid', reason: 'sentinel_500' },
  { name: 'PAYG not paid-eligible (signature > 100 bytes) → 401', arrange: (s) => (s.faults.mangle = (v) => v + v.slice(-128)), restore: (s) => (s.faults.mangle = undefined), status: 401, body: /^Pay-as-you-go contracts do not fall through to free tier\.\n$/, effect: 'not-consumed', reason: 'sentinel_401' },
  { name: 'unknown contract, free tier over its limit → 429 free', arrange: (s) => ((s.faults.freeRateLimit = 0), s.contracts.delete(7n)), restore: (s) => ((s.faults.freeRateLimit = 1_000_000), s.contracts.set(7n, payg(7n, s.contracts.get(8n)!.client))), status: 429, body: /^free client is rate limited/, effect: 'not-consumed', reason: 'free_rate_limited' },
  { name: 'unknown contract served as free tier → 200 tier free', arrange: (s) => s.contracts.delete(7n), restore: (s) => s.contracts.set(7n, payg(7n, s.contracts.get(8n)!.client)), status: 200, body: /"result":"0x/, effect: 'not-consumed', tier: 'free', reason: 'tier_free' },
  { name: 'auth passed, unknown service → 400 could not find service', arrange: (s) => s.services.delete(SERVICE), restore: (s) => s.services.set(SERVICE, s.upstream.url), status: 400, body: /^\{"error":"could not find service"\}$/, effect: 'consumed', tier: 'paid' },
  { name: 'auth passed, upstream failure → 502 Proxy error', arrange: (s) => s.services.set(SERVICE, 'http://127.0.0.1:9'), restore: (s) => s.services.set(SERVICE, s.upstream.url), status: 502, body: /^Proxy error: /, effect: 'consumed', tier: 'paid' },
  { name: 'success → upstream status, tier paid', arrange: () => {}, restore: () => {}, status: 200, body: /"result":"0x/, effect: 'consumed', tier: 'paid' },
];

const CALL = { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' };
/** Another client of the key keeps running 100 ahead of every claim on contract 7; returns how many it saw. */
function keepRunningAhead(s: SentinelRules): () => number {
  let bumps = 0;
  s.faults.mangle = (v) => {
    s.claims.set(7n, claimSignedBy(KEY_PRIV, 7n, s.claims.get(7n)!.nonce + 100n));
    bumps++;
    return v;
  };
  return () => bumps;
}
/** Contract 8 holds a copy of our key's pubkey so rows that delete contract 7 can put it back. */
const keep = (s: SentinelRules, pub: Uint8Array) => s.contracts.set(8n, payg(8n, pub, { service: 'unused' }));

// With a local key, and with the key daemon's claim operation behind a claim-only token: the same rows.
for (const mode of CLAIM_MODES) for (const row of ROWS) {
  test(`proxy (${mode} key), §11 row: ${row.name}`, { timeout: 30_000 }, async () => {
    const p = await inProcessProxy('auto', keep, { mode });
    try {
      row.arrange(p.sentinel);
      const r = await post(p.url, CALL);
      assert.equal(r.status, row.status, r.text);
      assert.match(r.text, row.body);
      if (row.tier) assert.equal(r.headers.get('tier'), row.tier);
      if (row.status === 429) assert.ok(Number(r.headers.get('retry-after')) >= 1, 'a 429 carries Retry-After');
      const storedAfterRow = p.sentinel.claims.get(7n)?.nonce ?? 0n;
      row.restore(p.sentinel);
      const eventsBefore = p.sentinel.events.length;
      const next = await post(p.url, CALL);
      const metrics = await p.metrics.registry.metrics();
      if (row.effect === 'stops') {
        assert.equal(storedAfterRow, 0n);
        assert.equal(next.status, 402, 'the proxy keeps answering 402 after the sentinel said the contract cannot pay');
        assert.equal(p.sentinel.events.length, eventsBefore, 'nothing more reaches the sentinel for a stopped contract');
        assert.match(metrics, /arkeo_proxy_contract_stopped\{upstream="eth-mainnet-fullnode",contract="7"\} 1/);
        assert.equal(await p.store.current(7n, toAddress(p.pub)), 1n, 'exactly one nonce was signed');
        return;
      }
      assert.equal(next.status, 200, next.text);
      if (row.effect === 'consumed') {
        assert.equal(storedAfterRow, 1n, 'the sentinel stored the claim before proxying');
        assert.equal(p.sentinel.claims.get(7n)?.nonce, 2n, 'the next request uses the next nonce');
      } else {
        assert.equal(storedAfterRow, 0n, 'nothing stored');
        assert.equal(p.sentinel.claims.get(7n)?.nonce, 1n, 'the unconsumed claim (nonce 1) is sent again with the next request');
        assert.match(metrics, new RegExp(`arkeo_proxy_nonce_not_consumed_total\\{upstream="eth-mainnet-fullnode",contract="7",reason="${row.reason}"\\} 1`));
      }
      assert.equal(await p.store.current(7n, toAddress(p.pub)), p.sentinel.claims.get(7n)!.nonce, 'local store and sentinel agree');
    } finally {
      await p.close();
    }
  });
}

test('proxy: 400 bad nonce (x/y) → resync to y, one retry, served; a second bad nonce is passed on', { timeout: 30_000 }, async () => {
  const p = await inProcessProxy();
  try {
    assert.equal((await post(p.url, CALL)).status, 200);
    // Another client of the same key (or a lost local store) moved the sentinel to 50.
    p.sentinel.claims.set(7n, claimSignedBy(KEY_PRIV, 7n, 50n));
    const r = await post(p.url, CALL);
    assert.equal(r.status, 200, r.text);
    assert.equal(p.sentinel.claims.get(7n)!.nonce, 51n);
    assert.deepEqual(p.sentinel.events.filter((e) => e.status === 400).map((e) => [e.nonce, e.body]), [[2n, 'bad nonce (2/50)']]);
    assert.equal(await p.store.current(7n, toAddress(p.pub)), 51n);
    assert.match(await p.metrics.registry.metrics(), /arkeo_proxy_resyncs_total\{upstream="eth-mainnet-fullnode",contract="7"\} 1/);
    // The retry also loses (the other client keeps running ahead): the 400 goes to the application, once.
    const bumps = keepRunningAhead(p.sentinel);
    const twice = await post(p.url, CALL);
    assert.equal(twice.status, 400);
    assert.match(twice.text, /^bad nonce \(\d+\/\d+\)\n$/);
    assert.equal(bumps(), 2, 'exactly one retry');
  } finally {
    await p.close();
  }
});

// Guards the review finding where a sentinel variant's `400 nonce must increase` (a refusal that does not name
// the sentinel's nonce) fell through as an upstream 400 with `tier: paid` and so counted as consumed: no resync,
// the 400 went to the application, and every later request signed the next nonce and was refused again.
test('proxy: a sentinel variant\'s "400 nonce must increase" is not consumed: resync from GET /claim/{cid}, capped, one retry', { timeout: 30_000 }, async () => {
  const p = await inProcessProxy();
  const addr = toAddress(p.pub);
  try {
    p.sentinel.faults.badNonceBody = () => 'nonce must increase';
    assert.equal((await post(p.url, CALL)).status, 200);
    p.sentinel.claims.set(7n, claimSignedBy(KEY_PRIV, 7n, 50n));
    const r = await post(p.url, CALL);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(p.sentinel.events.filter((e) => e.status === 400).map((e) => [e.nonce, e.body]), [[2n, 'nonce must increase']]);
    assert.equal(p.sentinel.claims.get(7n)!.nonce, 51n, 'the retry went out just above the nonce the sentinel holds');
    assert.equal(await p.store.current(7n, addr), 51n);
    assert.match(await p.metrics.registry.metrics(), /arkeo_proxy_resyncs_total\{upstream="eth-mainnet-fullnode",contract="7"\} 1/);
    // The retry is refused too (another client keeps running ahead): the 400 reaches the application, unconsumed.
    const bumps = keepRunningAhead(p.sentinel);
    const twice = await p.payer.send({ method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(CALL)) });
    assert.equal(twice.status, 400);
    assert.equal(twice.consumed, 'no', 'a refused nonce is not consumed');
    assert.equal(twice.resynced, true);
    assert.equal(bumps(), 2, 'exactly one retry');
    assert.equal(p.payer.state.last_nonce, String(p.sentinel.claims.get(7n)!.nonce), 'the spend counted is the sentinel\'s nonce, not the refused one');
    // curl, the same engine in a subprocess: the sentinel moves on between curl's start-up sync and its claim.
    const home = tempDir();
    assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]).status, 0);
    let once = true;
    p.sentinel.faults.mangle = (v) => {
      if (once) p.sentinel.claims.set(7n, claimSignedBy(KEY_PRIV, 7n, p.sentinel.claims.get(7n)!.nonce + 5n));
      once = false;
      return v;
    };
    const c = await runAsync(BIN.arkeoSigner, ['curl', '-v', '-H', 'content-type: application/json', '-d', JSON.stringify(CALL), `${p.sentinel.url}/${SERVICE}/`, '--key', 'k', '--home', home, '--contract', '7', '--nonce-store', path.join(home, 'n.db'), '--create-nonce-store']);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stderr, /\* summary: 200 tier paid; contract 7 nonce \d+ consumed yes, resynced once/, c.stderr);
    // The proof rule holds for this reply too: a nonce without our signed claim stops the contract.
    p.sentinel.faults.mangle = undefined;
    const before = await p.store.current(7n, addr);
    p.sentinel.claims.set(7n, { ...p.sentinel.claims.get(7n)!, nonce: 100_000n });
    const far = await post(p.url, CALL);
    assert.equal(far.status, 402, far.text);
    assert.equal(JSON.parse(far.text).code, 'PROVIDER_UNPROVEN_NONCE');
    assert.equal(await p.store.current(7n, addr), before + 1n, 'only the claim that met the lie was signed; the store was not moved to the sentinel\'s number');
  } finally {
    await p.close();
  }
});

// A resync is believed for what it proves, not for how far it goes: a claim our key really signed far ahead
// (another machine with the same key) is followed, however far.
test('proxy: a far resync proven by our own signed claim is followed', { timeout: 30_000 }, async () => {
  const p = await inProcessProxy();
  try {
    assert.equal((await post(p.url, CALL)).status, 200);
    p.sentinel.claims.set(7n, claimSignedBy(KEY_PRIV, 7n, 50_000n));
    const r = await post(p.url, CALL);
    assert.equal(r.status, 200, r.text);
    assert.equal(p.sentinel.claims.get(7n)!.nonce, 50_001n);
    assert.equal(await p.store.current(7n, toAddress(p.pub)), 50_001n);
    assert.equal(p.payer.state.last_nonce, '50001');
  } finally {
    await p.close();
  }
});

test('proxy: OPTIONS preflight costs no nonce; arkauth from the client is replaced; batches and bodies pass unchanged; streaming', { timeout: 30_000 }, async () => {
  const p = await inProcessProxy();
  try {
    const pre = await fetch(p.url + '/', { method: 'OPTIONS', signal: AbortSignal.timeout(5000) });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.equal(await p.store.current(7n, toAddress(p.pub)), 0n, 'no nonce for a preflight');
    const batch = [{ jsonrpc: '2.0', id: 1, method: 'echo', params: ['a'] }, { jsonrpc: '2.0', id: 2, method: 'eth_blockNumber' }];
    const r = await post(p.url + '/?arkauth=1:1:00&x=1', batch, { arkauth: '1:1:' + '00'.repeat(64) });
    assert.equal(r.status, 200, r.text);
    const out = JSON.parse(r.text);
    assert.deepEqual(out[0], { jsonrpc: '2.0', id: 1, result: ['a'] });
    assert.equal(out.length, 2);
    const seen = p.sentinel.upstream.received.at(-1)!;
    assert.equal(seen.path, '/?x=1', 'the client\'s arkauth query is dropped, the rest kept');
    assert.match(seen.arkauth!, /^7:1:[0-9a-f]{128}$/, 'our claim, not the client\'s');
    // A 1 MiB body passes (the sentinel's cap); one byte more is refused before any nonce is taken.
    const big = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'size', params: 'x'.repeat(1024 * 1024 - 60) });
    const ok = await fetch(p.url, { method: 'POST', body: big, signal: AbortSignal.timeout(10_000) });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(await ok.text()).result, Buffer.byteLength(big));
    const used = await p.store.current(7n, toAddress(p.pub));
    const tooBig = await fetch(p.url, { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1), signal: AbortSignal.timeout(10_000) });
    assert.equal(tooBig.status, 413);
    assert.equal(await p.store.current(7n, toAddress(p.pub)), used, 'no nonce for a refused body');
    // Streaming: the first chunk arrives long before the upstream has finished.
    const t0 = Date.now();
    const s = await fetch(p.url + '/stream?n=4&ms=300', { signal: AbortSignal.timeout(10_000) });
    const reader = s.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - t0;
    let rest = '';
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += Buffer.from(c.value).toString();
    assert.match(Buffer.from(first.value!).toString(), /^chunk 0/);
    assert.ok(firstAt < 600, `first chunk after ${firstAt} ms, the whole stream takes ≥ 900 ms`);
    assert.match(rest, /chunk 3/);
    // Keep-alive: several requests on one connection.
    const health = (await (await fetch(p.url + '/healthz')).json()) as { status: string };
    assert.equal(health.status, 'ok');
    const ws = await fetch(p.url, { headers: { connection: 'upgrade', upgrade: 'websocket' } }).catch((e) => e);
    assert.ok(ws instanceof Error || ws.status === 501, 'websocket upgrades are refused clearly');
  } finally {
    await p.close();
  }
});

test('proxy: the deposit runs out: the last affordable nonce is served, then 402 from the proxy; a sentinel 402 stops it too', { timeout: 60_000 }, async () => {
  // Our ceiling: deposit 200, rate 10 → nonce 20 is the last affordable one, registered by --contract auto.
  const p = await inProcessProxy('auto', (s, pub) => s.contracts.set(7n, payg(7n, pub, { deposit: 200n })));
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await post(p.url, CALL)).status);
    assert.deepEqual(statuses, [...Array(20).fill(200), ...Array(5).fill(402)]);
    assert.equal(p.sentinel.claims.get(7n)!.nonce, 20n, 'the sentinel stored exactly the last affordable nonce');
    assert.equal(p.sentinel.events.filter((e) => e.status === 402).length, 0, 'our ceiling stopped first; the sentinel never had to refuse');
    assert.equal(await p.store.current(7n, toAddress(p.pub)), 20n, 'no nonce reserved past the ceiling');
    const last = await post(p.url, CALL);
    assert.equal(JSON.parse(last.text).code, 'CONTRACT_SPENT');
    assert.equal((await fetch(p.url + '/healthz')).status, 503, 'health says no contract can pay');
  } finally {
    await p.close();
  }
  // No terms registered (explicit contract id): the sentinel's 402 contract spent stops it at its deposit.
  const q = await inProcessProxy(7n, (s, pub) => s.contracts.set(7n, payg(7n, pub, { deposit: 50n })));
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post(q.url, CALL)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 402, 402, 402]);
    assert.deepEqual(q.sentinel.events.filter((e) => e.status === 402).map((e) => e.nonce), [6n], 'one 402 from the sentinel, then the proxy answers itself');
    assert.equal(q.sentinel.claims.get(7n)!.nonce, 5n);
  } finally {
    await q.close();
  }
});

/** curl: each row as a subprocess sees it; the nonce effect is read from the next invocation's -v line. */
test('curl: every §11 row, exit codes, and what the next invocation signs', { timeout: 240_000 }, async () => {
  const home = tempDir();
  const env = { ARKEO_HOME: home };
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home], { env }).status, 0);
  const pub = await privateKeyToSigner(KEY_PRIV).publicKey();
  let n = 0;
  for (const row of ROWS) {
    const s = await startSentinelRules({ services: [SERVICE, 'other-service'] });
    try {
      s.contracts.set(7n, payg(7n, pub));
      s.contracts.set(8n, payg(8n, pub, { service: 'unused' }));
      const storeFile = path.join(home, `nonces-${n++}.db`);
      const curl = (extra: string[]) =>
        runAsync(BIN.arkeoSigner, ['curl', '-v', '-H', 'content-type: application/json', '-d', JSON.stringify(CALL), `${s.url}/${SERVICE}/`, '--key', 'k', '--home', home, '--contract', '7', '--nonce-store', storeFile, '--create-nonce-store', ...extra], { env });
      row.arrange(s);
      const r = await curl(row.effect === 'stops' ? ['-f'] : []);
      assert.equal(r.status, row.effect === 'stops' ? 22 : 0, `${row.name}: ${r.stderr}`);
      assert.match(r.stdout, row.body, row.name);
      assert.match(r.stderr, new RegExp(`\\* summary: ${row.status} tier ${row.tier ?? '(paid|none|free)'}; contract 7 nonce (1|-) consumed ${row.effect === 'consumed' ? 'yes' : 'no'}`), `${row.name}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr + r.stdout, /[0-9a-f]{128}/, 'the signature is never shown');
      row.restore(s);
      const next = await curl([]);
      assert.equal(next.status, 0, next.stderr);
      const expected = row.effect === 'not-consumed' ? 1 : 2; // a stopped contract's refused claim is not sent again
      assert.match(next.stderr, new RegExp(`\\* claim: contract 7 nonce ${expected}\\b`), `${row.name}: ${next.stderr}`);
      const store = await openNonceStore(storeFile, home);
      try {
        assert.equal(await store.current(7n, toAddress(pub)), BigInt(expected), `${row.name}: local store`);
      } finally {
        await store.close();
      }
    } finally {
      await s.close();
    }
  }
  // auto: contract found at the sentinel, terms registered, -i prints the status line and headers.
  const s = await startSentinelRules({ services: [SERVICE] });
  try {
    s.contracts.set(7n, payg(7n, pub, { deposit: 30n }));
    const storeFile = path.join(home, 'auto.db');
    const args = ['curl', '-i', '-X', 'POST', '--data-binary', JSON.stringify(CALL), `${s.url}/${SERVICE}/`, '--key', 'k', '--home', home, '--nonce-store', storeFile, '--create-nonce-store'];
    for (let i = 1; i <= 3; i++) {
      const r = await runAsync(BIN.arkeoSigner, args, { env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^HTTP\/1\.1 200\r\n(.*\r\n)*tier: paid\r\n/);
    }
    const spent = await runAsync(BIN.arkeoSigner, args, { env });
    assert.match(spent.stdout, /^HTTP\/1\.1 402\r\n/);
    assert.match(spent.stdout, /"code":"CONTRACT_SPENT"/);
    assert.equal(s.claims.get(7n)!.nonce, 3n);
    const down = await runAsync(BIN.arkeoSigner, ['curl', 'http://127.0.0.1:9/' + SERVICE + '/', '--key', 'k', '--home', home, '--nonce-store', storeFile], { env });
    assert.equal(down.status, 7, down.stderr);
    assert.equal(down.stderr.trim().split('\n').length, 1);
    const bad = await runAsync(BIN.arkeoSigner, ['curl', 'http://127.0.0.1:9/', '--key', 'k'], { env });
    assert.equal(bad.status, 2);
    assert.ok(fs.existsSync(storeFile));
  } finally {
    await s.close();
  }
});
