import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { toAddress } from '../../src/crypto/index.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { LocalClaimSource } from '../../src/claims/index.js';
import { ContractPayer, ProxyAudit, SigningProxy, createProxyMetrics } from '../../src/proxy/index.js';
import { startFileReceiver } from '../../src/audit/ship/receiver.js';
import { BIN, run, runAsync, tempDir } from '../helpers.js';
import { startSentinelRules, type SentinelRules } from '../support/sentinel-rules.js';
import { KEY_HEX, KEY_PRIV, SERVICE, payg, post } from './support.js';

/**
 * The proxy's audit log when it signs with its own key: one `claim` entry per claim signed (contract, nonce, key
 * address, upstream; never the signature), in the log and released before the claim reaches the sentinel, and one
 * `claim-reply` entry with the sentinel's status; `audit verify` passes. A log that cannot be written stops
 * signing (503) with nothing sent. The CLI writes it by default (<home>/signer/proxy-audit.log), not with
 * --no-audit-log, never with --daemon, and ships it with [audit.ship] in --config.
 */
const CALL = { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' };

type Entry = { seq: number; what: Record<string, string>; result: string; status?: number; reason?: string };

function entriesOf(file: string): Entry[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.pop();
  return lines.map((l) => JSON.parse(l) as Entry);
}

/** A proxy in this process in front of the sentinel-rules server (contract 7 for our key), with or without an audit log. */
async function proxyWith(t: { after: (fn: () => Promise<void> | void) => void }, audited: boolean) {
  const sentinel = await startSentinelRules({ services: [SERVICE] });
  t.after(() => sentinel.close());
  const signer = privateKeyToSigner(KEY_PRIV);
  sentinel.contracts.set(7n, payg(7n, await signer.publicKey()));
  const store = await openNonceStore(path.join(tempDir(), 'nonces.db'), tempDir(), { create: true });
  await store.putContract({ contractId: 7n, rate: 10n, deposit: 1_000_000n, source: 'manual' });
  const audit = audited ? await ProxyAudit.open(path.join(tempDir(), 'proxy-audit.log')) : undefined;
  const metrics = createProxyMetrics();
  audit?.registerMetrics(metrics.registry);
  const claims = audit ? audit.claims(await LocalClaimSource.create(signer, store), { upstream: 'eth', keyName: 'k', backend: signer.kind }) : signer;
  const payer = await ContractPayer.open({ claims, store, sentinel: sentinel.url, service: SERVICE, contract: 7n, metrics, name: 'eth' });
  const proxy = await SigningProxy.start({ routes: [{ listen: { host: '127.0.0.1', port: 0 }, payer }], store, metrics, ...(audit ? { audit } : {}) });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await proxy.stop(1000);
    await store.close();
    await audit?.close();
  };
  t.after(stop);
  return { sentinel, audit, url: proxy.addresses()[0]!, address: toAddress(await signer.publicKey()), stop };
}

/**
 * As each claim reaches the sentinel: is its `claim` entry in the log file, and released (its fdatasync done)?
 * The sentinel-rules server hands every arkauth value to `mangle` on the way in.
 */
function probe(sentinel: SentinelRules, audit: ProxyAudit | undefined): boolean[] {
  const seen: boolean[] = [];
  sentinel.faults.mangle = (value) => {
    const parts = value.split(':');
    const nonce = parts[parts.length - 2];
    const entry = audit && entriesOf(audit.file).find((e) => e.what.op === 'claim' && e.what.contract === parts[0] && e.what.nonce === nonce);
    seen.push(entry !== undefined && entry.seq <= audit!.log.durable.seq);
    return value;
  };
  return seen;
}

test('proxy with its own key: one claim entry per paid request (nonces 1..N, key address, upstream, no signature), in the log and released before the claim reaches the sentinel, then the sentinel\'s status; audit verify passes; control: without the log the claims arrive with no entry', { timeout: 60_000 }, async (t) => {
  const N = 20;
  for (const audited of [true, false]) {
    const p = await proxyWith(t, audited);
    const seen = probe(p.sentinel, p.audit);
    for (let i = 0; i < N; i++) assert.equal((await post(p.url, CALL)).status, 200);
    await p.stop();
    assert.equal(p.sentinel.accepted.length, N);
    assert.deepEqual(seen, Array(N).fill(audited), audited ? 'each claim: its entry released before it left' : 'control: no entry');
    if (!p.audit) continue;
    const file = p.audit.file;
    const entries = entriesOf(file);
    const claims = entries.filter((e) => e.what.op === 'claim');
    const replies = entries.filter((e) => e.what.op === 'claim-reply');
    assert.deepEqual(claims.map((e) => e.what.nonce), Array.from({ length: N }, (_, i) => String(i + 1)));
    assert.deepEqual(p.sentinel.accepted.map((c) => String(c.nonce)), claims.map((e) => e.what.nonce), 'the nonces the sentinel stored');
    for (const e of claims) {
      assert.deepEqual(e.what, { op: 'claim', contract: '7', nonce: e.what.nonce, key: p.address, key_name: 'k', backend: 'local', upstream: 'eth' });
      assert.equal(e.result, 'ok');
      const reply = replies.find((r) => r.what.nonce === e.what.nonce)!;
      assert.ok(reply.seq > e.seq, 'the reply follows its claim');
      assert.equal(reply.status, 200);
      assert.equal(reply.result, 'ok');
      assert.equal(reply.what.consumed, 'yes');
      assert.equal(reply.what.tier, 'paid');
    }
    assert.equal(replies.length, N);
    const text = fs.readFileSync(file, 'utf8').toLowerCase();
    for (const c of p.sentinel.accepted) assert.ok(!text.includes(c.signature.toLowerCase()), 'no signature in the log');
    const v = run(BIN.arkeoSigner, ['audit', 'verify', file]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.equal(v.stdout, `ok: ${entries.length} entries, chain and MACs intact\n`);
  }
});

test('latency added by the audit log (measured, not asserted): sequential paid requests through the proxy with and without it, and the log\'s write + fdatasync', { timeout: 180_000 }, async (t) => {
  const N = 150;
  const times: Record<'plain' | 'audited', number[]> = { plain: [], audited: [] };
  const flushes: number[] = [];
  // Alternating runs, so that a busy moment of the machine falls on both.
  for (const audited of [false, true, false, true, false, true]) {
    const p = await proxyWith(t, audited);
    for (let i = 0; i < 10; i++) await post(p.url, CALL); // warm-up
    if (p.audit) p.audit.log.onFlush = (seconds) => flushes.push(seconds * 1000);
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      assert.equal((await post(p.url, CALL)).status, 200);
      times[audited ? 'audited' : 'plain'].push(performance.now() - t0);
    }
    await p.stop();
  }
  const at = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!;
  for (const [mode, xs] of Object.entries(times)) t.diagnostic(`${mode}: ${xs.length} requests, median ${at(xs, 0.5).toFixed(2)} ms, p90 ${at(xs, 0.9).toFixed(2)} ms, p99 ${at(xs, 0.99).toFixed(2)} ms`);
  t.diagnostic(`audit flushes (write + fdatasync, what a claim waits for): ${flushes.length}, median ${at(flushes, 0.5).toFixed(2)} ms, p90 ${at(flushes, 0.9).toFixed(2)} ms`);
  t.diagnostic(`the audit log adds ${(at(times.audited, 0.5) - at(times.plain, 0.5)).toFixed(2)} ms to the median request`);
});

test('a log that cannot be written stops signing: 503 AUDIT_UNAVAILABLE, nothing reaches the sentinel, /healthz 503 naming the log (control: 200 before)', { timeout: 30_000 }, async (t) => {
  const p = await proxyWith(t, true);
  assert.equal((await post(p.url, CALL)).status, 200);
  const health = async () => {
    const r = await fetch(new URL('/healthz', p.url));
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const ok = await health();
  assert.equal(ok.status, 200);
  assert.equal(ok.body.audit, 'ok');
  fs.rmSync(p.audit!.file);
  const refused = await post(p.url, CALL);
  assert.equal(refused.status, 503, refused.text);
  const body = JSON.parse(refused.text) as { code: string; error: string };
  assert.equal(body.code, 'AUDIT_UNAVAILABLE');
  assert.match(body.error, /^audit log .*proxy-audit\.log: the log file was deleted while open; restart the daemon to open a new log; refusing to sign$/);
  assert.equal(p.sentinel.accepted.length, 1, 'the refused request never reached the sentinel');
  const after = await health();
  assert.equal(after.status, 503);
  assert.match(String(after.body.reason), /proxy-audit\.log: the log file was deleted while open/);
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `arkeo-signer proxy …` until /healthz answers; `stop()` sends SIGTERM and returns the exit code and stderr. */
async function startCli(t: { after: (fn: () => void) => void }, args: string[], port: number) {
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'proxy', ...args], { env: { ...process.env, ARKEO_SIGNER_LOG: 'info', ARKEO_SIGNER_DAEMON: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(() => void (child.exitCode === null && child.kill('SIGKILL')));
  for (let i = 0; ; i++) {
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
    assert.ok(i < 200 && child.exitCode === null, `proxy did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    stop: async () => {
      child.kill('SIGTERM');
      return { code: await exited, stderr };
    },
  };
}

test('arkeo-signer proxy: the audit log by default at <home>/signer/proxy-audit.log, verified; audit_log and [audit.ship] from --config (app name arkeo-proxy, the copy agrees); --no-audit-log keeps none (control); with --daemon no log, and --audit-log refused', { timeout: 120_000 }, async (t) => {
  const sentinel = await startSentinelRules({ services: [SERVICE] });
  t.after(() => sentinel.close());
  sentinel.contracts.set(7n, payg(7n, await privateKeyToSigner(KEY_PRIV).publicKey()));
  const home = tempDir();
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]).status, 0);
  const common = ['--sentinel', sentinel.url, '--service', SERVICE, '--key', 'k', '--contract', '7', '--home', home, '--create-nonce-store'];

  // The default: <home>/signer/proxy-audit.log.
  let port = await freePort();
  let cli = await startCli(t, ['--listen', `127.0.0.1:${port}`, ...common], port);
  for (let i = 0; i < 5; i++) assert.equal((await post(`http://127.0.0.1:${port}/`, CALL)).status, 200);
  let done = await cli.stop();
  assert.equal(done.code, 0, done.stderr);
  const file = path.join(home, 'signer', 'proxy-audit.log');
  let entries = entriesOf(file);
  // Each request's claim is signed while the one before it is in flight, so the sixth was signed ahead and is given
  // back at the clean stop (a claim's entry is before its reply's; the two runs interleave).
  const ops = entries.map((e) => e.what.op);
  assert.equal(ops[0], 'start');
  assert.equal(ops.at(-1), 'stop');
  assert.deepEqual(entries.filter((e) => e.what.op === 'claim').map((e) => e.what.nonce), ['1', '2', '3', '4', '5', '6']);
  assert.deepEqual(entries.filter((e) => e.what.op === 'claim-reply').map((e) => e.what.nonce), ['1', '2', '3', '4', '5']);
  assert.deepEqual(entries.filter((e) => e.what.op === 'claim-returned').map((e) => e.what.nonce), ['6']);
  assert.equal(ops.length, 1 + 6 + 5 + 1 + 1);
  for (const reply of entries.filter((e) => e.what.op === 'claim-reply')) {
    assert.ok(entries.findIndex((e) => e.what.op === 'claim' && e.what.nonce === reply.what.nonce) < entries.indexOf(reply), `claim ${reply.what.nonce}: its entry before its reply's`);
  }
  assert.equal(run(BIN.arkeoSigner, ['audit', 'verify', file]).status, 0);

  // Control: --no-audit-log writes nothing more (and the requests are still paid).
  port = await freePort();
  cli = await startCli(t, ['--listen', `127.0.0.1:${port}`, ...common, '--no-audit-log'], port);
  assert.equal((await post(`http://127.0.0.1:${port}/`, CALL)).status, 200);
  done = await cli.stop();
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stderr, /arkeo-signer proxy: no audit log of its own \(--no-audit-log\)/);
  assert.equal(entriesOf(file).length, entries.length, '--no-audit-log: nothing written');
  assert.equal(sentinel.accepted.at(-1)!.nonce, 6n);

  // From the config: audit_log relative to it, and [audit.ship] to a syslog receiver.
  const copy = path.join(tempDir(), 'received.log');
  const receiver = await startFileReceiver(copy);
  t.after(() => receiver.close());
  port = await freePort();
  const config = path.join(home, 'proxy.toml');
  fs.writeFileSync(config, `audit_log = "audit/proxy.log"\n\n[audit.ship]\ntarget = "tcp"\naddress = "127.0.0.1:${receiver.port}"\n\n[[upstream]]\nname = "eth"\nlisten = "127.0.0.1:${port}"\nsentinel = "${sentinel.url}"\nservice = "${SERVICE}"\ncontract = 7\nkey = "k"\n`);
  cli = await startCli(t, ['--config', config, '--home', home], port);
  for (let i = 0; i < 3; i++) assert.equal((await post(`http://127.0.0.1:${port}/`, CALL)).status, 200);
  done = await cli.stop();
  assert.equal(done.code, 0, done.stderr);
  const shippedLog = path.join(home, 'audit', 'proxy.log');
  entries = entriesOf(shippedLog);
  assert.deepEqual(entries.filter((e) => e.what.op === 'claim').map((e) => [e.what.nonce, e.what.upstream]), [['7', 'eth'], ['8', 'eth'], ['9', 'eth'], ['10', 'eth']]);
  assert.deepEqual(entries.filter((e) => e.what.op === 'claim-returned').map((e) => e.what.nonce), ['10'], 'the claim signed ahead, given back');
  assert.ok(fs.readFileSync(copy, 'utf8').split('\n').some((l) => / arkeo-proxy \d+ audit - \{"seq":1,/.test(l)), 'shipped with app name arkeo-proxy');
  const against = run(BIN.arkeoSigner, ['audit', 'verify', shippedLog, '--against', copy]);
  assert.equal(against.status, 0, against.stdout + against.stderr);
  assert.match(against.stdout, new RegExp(`ok: agrees with the shipped copy \\(entries 1–${entries.length}`));

  // With --daemon the daemon audits: --audit-log is refused before anything starts; so is --no-audit-log with --audit-log.
  for (const [extra, why] of [
    [['--daemon', '/nonexistent.sock', '--token-file', '/dev/null', '--audit-log', '/tmp/x.log'], /^arkeo-signer: proxy: --audit-log does not go with --daemon: the daemon audits each claim it signs, in its own log\n$/],
    [['--no-audit-log', '--audit-log', '/tmp/x.log'], /^arkeo-signer: proxy: --audit-log does not go with --no-audit-log: there is no audit log\n$/],
  ] as const) {
    const r = await runAsync(BIN.arkeoSigner, ['proxy', '--listen', '127.0.0.1:1', '--sentinel', sentinel.url, '--service', SERVICE, '--key', 'k', '--home', home, ...extra]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, why);
  }
});
