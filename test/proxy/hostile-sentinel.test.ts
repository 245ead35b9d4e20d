import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { BIN, run, runAsync, tempDir } from '../helpers.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { sha256, toAddress, utf8 } from '../../src/crypto/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { ContractPayer } from '../../src/proxy/index.js';
import { claimSignedBy, startSentinelRules, type SentinelRules } from '../support/sentinel-rules.js';
import { auditEntries } from '../support/daemon.js';
import { CLAIM_MODES, KEY_HEX, KEY_PRIV, SERVICE, inProcessProxy, payg, post } from './support.js';

/**
 * A provider's sentinel is paid nonce × rate for the highest claim it settles, so it has every reason to lie about
 * nonces, and it may also stall, flood or redirect. Each test here sets the sentinel-rules test server (our code,
 * test/support/sentinel-rules.ts) to misbehave one way, and runs the honest case beside it as the control.
 */
const CALL = { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' };
const OTHER_PRIV = sha256(utf8('another key, not ours'));
const metricLine = (text: string, name: string) => new RegExp(`${name}\\{upstream="${SERVICE}",contract="7"\\} (\\d+)`).exec(text)?.[1];

for (const mode of CLAIM_MODES) {
  test(`proxy (${mode} key): a sentinel that names nonces nobody signed, on every request, gets one refused claim and then nothing`, { timeout: 30_000 }, async () => {
    const p = await inProcessProxy('auto', () => {}, { mode });
    const addr = toAddress(p.pub);
    try {
      assert.equal((await post(p.url, CALL)).status, 200);
      p.sentinel.faults.inflateNonce = 1000n;
      const replies = [];
      for (let i = 0; i < 5; i++) replies.push(await post(p.url, CALL));
      for (const r of replies) {
        assert.equal(r.status, 402, r.text);
        assert.equal(JSON.parse(r.text).code, 'PROVIDER_UNPROVEN_NONCE');
        assert.equal(JSON.parse(r.text).last_nonce, '1', 'the spend counted is what the sentinel consumed, not what it claims');
      }
      assert.match(JSON.parse(replies[0]!.text).error, /says it holds nonce 1001, but .*not believed .*; nothing more is signed for this contract/);
      assert.equal(await p.store.current(7n, addr), 2n, 'one claim met the lie; the store never moved to the sentinel\'s numbers');
      assert.equal(p.sentinel.events.filter((e) => e.status === 400).length, 1, 'nothing more reached the sentinel once it lied');
      const metrics = await p.metrics.registry.metrics();
      assert.equal(metricLine(metrics, 'arkeo_proxy_unproven_nonce_total'), '1');
      assert.equal(metricLine(metrics, 'arkeo_proxy_contract_stopped'), '1');
      assert.equal(metricLine(metrics, 'arkeo_proxy_resyncs_total') ?? '0', '0');
      const health = await fetch(`${p.url}/healthz`);
      assert.equal(health.status, 503);
      assert.match(await health.text(), /"stopped":"PROVIDER_UNPROVEN_NONCE"/);
      if (p.daemon) {
        // The daemon's tamper-evident log records the provider's claim, refused; no claim was signed for it.
        await new Promise((r) => setTimeout(r, 200));
        const refused = auditEntries(p.daemon.config).filter((e) => e.what?.resync_to !== undefined);
        assert.equal(refused.length, 1, JSON.stringify(refused));
        assert.equal(refused[0]!.result === 'ok', false);
        assert.equal(refused[0]!.what.contract, '7');
      }
    } finally {
      await p.close();
    }
  });
}

test('proxy: at start, a stored claim signed by another key is no proof; signed by a registered party of the contract it is (and we pay as its delegate, 4-part)', { timeout: 30_000 }, async () => {
  const other = await privateKeyToSigner(OTHER_PRIV).publicKey();
  // We are the contract's delegate; the client (another key) also signs claims on it, up to 500.
  const contract = (s: SentinelRules, pub: Uint8Array) => {
    s.contracts.set(7n, payg(7n, other, { delegate: pub }));
    s.claims.set(7n, claimSignedBy(OTHER_PRIV, 7n, 500n));
  };
  const unregistered = await inProcessProxy('auto', contract);
  try {
    const r = await post(unregistered.url, CALL);
    assert.equal(r.status, 402, r.text);
    assert.equal(JSON.parse(r.text).code, 'PROVIDER_UNPROVEN_NONCE', 'the sentinel\'s word about who the client is proves nothing');
    assert.equal(unregistered.sentinel.events.length, 0, 'nothing was sent');
    assert.equal(await unregistered.store.current(7n, toAddress(unregistered.pub)), 0n);
  } finally {
    await unregistered.close();
  }
  const registered = await inProcessProxy('auto', contract, {
    prepare: async (store) => store.putContract({ contractId: 7n, rate: 10n, deposit: 1_000_000n, client: other, delegate: await privateKeyToSigner(KEY_PRIV).publicKey(), source: 'manual' }),
  });
  try {
    const r = await post(registered.url, CALL);
    assert.equal(r.status, 200, r.text);
    const stored = registered.sentinel.accepted.at(-1)!;
    assert.equal(stored.nonce, 501n, 'the first claim is above the registered client\'s');
    assert.deepEqual(stored.spender, registered.pub, 'paid as the delegate: the 4-part form names our key (a 3-part claim would be checked against the client and refused)');
  } finally {
    await registered.close();
  }
});

test('proxy: after N paid requests its state, gauges and 402 body say N; the spend ceiling stops it at the last affordable nonce', { timeout: 30_000 }, async () => {
  const p = await inProcessProxy('auto', (s) => (s.contracts.get(7n)!.deposit = 50n));
  try {
    for (let i = 0; i < 5; i++) assert.equal((await post(p.url, CALL)).status, 200);
    assert.equal(p.payer.state.last_nonce, '5');
    const metrics = await p.metrics.registry.metrics();
    assert.equal(metricLine(metrics, 'arkeo_proxy_last_nonce'), '5');
    assert.equal(metricLine(metrics, 'arkeo_proxy_spend_used'), '50');
    const spent = await post(p.url, CALL);
    assert.equal(spent.status, 402);
    assert.deepEqual([JSON.parse(spent.text).code, JSON.parse(spent.text).last_nonce], ['CONTRACT_SPENT', '5']);
  } finally {
    await p.close();
  }
});

test('proxy: a clean stop gives back the unused rest of a nonce block', { timeout: 30_000 }, async () => {
  const p = await inProcessProxy('auto', () => {}, { blockSize: 16 });
  const addr = toAddress(p.pub);
  let closed = false;
  try {
    for (let i = 0; i < 3; i++) assert.equal((await post(p.url, CALL)).status, 200);
    assert.ok((await p.store.current(7n, addr)) >= 16n, 'a block is held while running');
    await p.proxy.stop(1000);
    assert.equal(await p.store.current(7n, addr), 3n, 'the next process starts right after the last claim sent');
    await p.close().catch(() => {});
    closed = true;
  } finally {
    if (!closed) await p.close();
  }
});

test('lookups: an endless or oversized /claim reply without Content-Length is cut off at the limit, with one line naming the URL', { timeout: 30_000 }, async () => {
  const sentinel = await startSentinelRules({ services: [SERVICE] });
  const signer = privateKeyToSigner(KEY_PRIV);
  sentinel.contracts.set(7n, payg(7n, await signer.publicKey()));
  const store = await openNonceStore(path.join(tempDir(), 'n.db'), tempDir(), { create: true });
  try {
    for (const kind of [{ kind: 'endless' as const }, { kind: 'oversized' as const, bytes: 8 * 1024 * 1024 }]) {
      sentinel.faults.claimRoute = kind;
      const started = performance.now();
      await assert.rejects(ContractPayer.open({ claims: signer, store, sentinel: sentinel.url, service: SERVICE, contract: 7n }), (e: Error) => {
        assert.match(e.message, new RegExp(`^sentinel ${sentinel.url}/claim/7: sent more than 1048576 bytes; not reading the rest`));
        return true;
      });
      assert.ok(performance.now() - started < 4000, `${kind.kind}: cut off as the bytes arrive, not at the 5 s time limit`);
    }
    sentinel.faults.claimRoute = undefined;
    const payer = await ContractPayer.open({ claims: signer, store, sentinel: sentinel.url, service: SERVICE, contract: 7n });
    await payer.close();
  } finally {
    await store.close();
    await sentinel.close();
  }
});

test('lookups: a redirect on /claim is not followed (proxy and curl), and says so', { timeout: 60_000 }, async () => {
  let elsewhere = 0;
  const trap = http.createServer((_req, res) => (elsewhere++, res.end('{"nonce":0}')));
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
  const sentinel = await startSentinelRules({ services: [SERVICE] });
  const signer = privateKeyToSigner(KEY_PRIV);
  sentinel.contracts.set(7n, payg(7n, await signer.publicKey()));
  const store = await openNonceStore(path.join(tempDir(), 'n.db'), tempDir(), { create: true });
  try {
    sentinel.faults.claimRoute = { kind: 'redirect', to: `http://127.0.0.1:${(trap.address() as AddressInfo).port}/claim/7` };
    await assert.rejects(ContractPayer.open({ claims: signer, store, sentinel: sentinel.url, service: SERVICE, contract: 7n }), /answered a redirect \(HTTP 302 to http:\/\/127\.0\.0\.1:\d+\/claim\/7\); lookups follow no redirects/);
    const home = tempDir();
    assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]).status, 0);
    const c = await runAsync(BIN.arkeoSigner, ['curl', `${sentinel.url}/${SERVICE}/`, '-d', JSON.stringify(CALL), '--key', 'k', '--home', home, '--contract', '7', '--nonce-store', path.join(home, 'n.db'), '--create-nonce-store']);
    assert.notEqual(c.status, 0);
    assert.match(c.stderr, /lookups follow no redirects/);
    assert.equal(c.stderr.split('\n').filter((l) => l.startsWith('arkeo-signer:')).length, 1, c.stderr);
    assert.equal(elsewhere, 0, 'no request reached the other host');
  } finally {
    trap.close();
    await store.close();
    await sentinel.close();
  }
});

test('proxy: the sentinel\'s verdicts are recognised without Content-Length (chunked): bad nonce resyncs, contract spent stops', { timeout: 30_000 }, async () => {
  const p = await inProcessProxy();
  try {
    p.sentinel.faults.chunkedErrors = true;
    assert.equal((await post(p.url, CALL)).status, 200);
    p.sentinel.claims.set(7n, claimSignedBy(KEY_PRIV, 7n, 40n));
    const r = await post(p.url, CALL);
    assert.equal(r.status, 200, `a chunked "400 bad nonce" is a refusal, answered by a resync: ${r.text}`);
    assert.equal(p.sentinel.claims.get(7n)!.nonce, 41n);
    p.sentinel.contracts.get(7n)!.deposit = 0n;
    const spent = await post(p.url, CALL);
    assert.equal(spent.status, 402);
    assert.equal(p.payer.state.stopped, 'CONTRACT_SPENT');
  } finally {
    await p.close();
  }
});

test('proxy: a sentinel that never sends response headers holds a contract for --headers-timeout only; queued requests are told at once', { timeout: 30_000 }, async () => {
  const p = await inProcessProxy('auto', () => {}, { headersTimeoutMs: 400 });
  try {
    assert.equal((await post(p.url, CALL)).status, 200, 'control: served while the sentinel answers');
    p.sentinel.faults.hangPaid = true;
    const started = performance.now();
    const replies = await Promise.all(Array.from({ length: 4 }, () => post(p.url, CALL)));
    const elapsed = performance.now() - started;
    const codes = replies.map((r) => [r.status, JSON.parse(r.text).code]);
    assert.deepEqual(codes[0], [502, 'SENTINEL_UNREACHABLE']);
    for (const c of codes.slice(1)) assert.ok((c[0] === 504 && c[1] === 'SENTINEL_BUSY') || (c[0] === 502 && c[1] === 'SENTINEL_UNREACHABLE'), JSON.stringify(c));
    assert.ok(codes.some((c) => c[1] === 'SENTINEL_BUSY'), 'a queued request was answered without being sent');
    assert.ok(elapsed < 5000, `all answered in ${elapsed.toFixed(0)} ms, far below the 30 s idle limit`);
    assert.match(JSON.parse(replies[0]!.text).error, /no response headers within 400 ms/);
  } finally {
    await p.close();
  }
});

test('curl: three runs against a sentinel that inflates nonces move our store by one claim at most', { timeout: 60_000 }, async () => {
  const sentinel = await startSentinelRules({ services: [SERVICE] });
  sentinel.contracts.set(7n, payg(7n, await privateKeyToSigner(KEY_PRIV).publicKey()));
  sentinel.faults.inflateNonce = 3000n;
  const home = tempDir();
  const storePath = path.join(home, 'n.db');
  try {
    assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]).status, 0);
    for (let i = 0; i < 3; i++) {
      const c = await runAsync(BIN.arkeoSigner, ['curl', '-f', `${sentinel.url}/${SERVICE}/`, '-d', JSON.stringify(CALL), '--key', 'k', '--home', home, '--contract', '7', '--nonce-store', storePath, ...(i === 0 ? ['--create-nonce-store'] : [])]);
      assert.equal(c.status, 22, c.stderr);
      assert.equal(JSON.parse(c.stdout).code, 'PROVIDER_UNPROVEN_NONCE');
    }
    const store = await openNonceStore(storePath, home);
    try {
      assert.equal(await store.current(7n, toAddress(await privateKeyToSigner(KEY_PRIV).publicKey())), 1n);
    } finally {
      await store.close();
    }
  } finally {
    await sentinel.close();
  }
});

test('nonce sync: a sentinel nonce without our signed claim changes nothing and fails; with it, the store is raised', { timeout: 60_000 }, async () => {
  const sentinel = await startSentinelRules({ services: [SERVICE] });
  const home = tempDir();
  const storeFlags = ['--nonce-store', path.join(home, 'n.db'), '--home', home];
  try {
    assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]).status, 0);
    assert.equal(run(BIN.arkeoSigner, ['nonce', 'set', '--contract', '7', '--key', 'k', '--nonce', '3', ...storeFlags, '--create-nonce-store']).status, 0);
    sentinel.claims.set(7n, { ...claimSignedBy(OTHER_PRIV, 7n, 900n) });
    // Asynchronously: the sentinel runs in this process and must answer while the command runs.
    const lie = await runAsync(BIN.arkeoSigner, ['nonce', 'sync', '--contract', '7', '--key', 'k', '--sentinel', sentinel.url, ...storeFlags]);
    assert.equal(lie.status, 1);
    assert.match(lie.stderr, /says it holds nonce 900, but the claim it stored at that nonce is not signed by this key/);
    assert.equal(lie.stderr.trim().split('\n').length, 1);
    const show = () => run(BIN.arkeoSigner, ['nonce', 'show', '--contract', '7', '--key', 'k', '-o', 'json', ...storeFlags]);
    assert.equal(JSON.parse(show().stdout)[0].last_reserved, '3');
    sentinel.claims.set(7n, claimSignedBy(KEY_PRIV, 7n, 900n));
    const honest = await runAsync(BIN.arkeoSigner, ['nonce', 'sync', '--contract', '7', '--key', 'k', '--sentinel', sentinel.url, '-o', 'json', ...storeFlags]);
    assert.equal(honest.status, 0, honest.stderr);
    assert.equal(JSON.parse(honest.stdout).now, '900');
  } finally {
    await sentinel.close();
  }
});
