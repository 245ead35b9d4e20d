import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, run, tempDir } from '../helpers.js';
import { openNonceStore } from '../../src/nonces/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { toAddress } from '../../src/crypto/index.js';
import { startSentinelRules, cosmosVerify, type SentinelRules } from '../support/sentinel-rules.js';
import { CLAIM_ONLY, KEY_HEX, KEY_PRIV, SERVICE, payg } from './support.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';

/**
 * Bounded loopback load through the proxy, as a separate process, against the sentinel-rules test server (our
 * code), which processes requests in a random order within JITTER_MS like Go's goroutines do. 16 clients, two
 * contracts, 60 s (PROXY_LOAD_SECONDS), modest rate (each client pauses THINK_MS between requests). Then the same
 * with the proxy killed with SIGKILL twice and restarted.
 */
const SECONDS = Number(process.env.PROXY_LOAD_SECONDS ?? 60);
const CLIENTS = 16;
const THINK_MS = 40;
const JITTER_MS = 5;
const OTHER = 'other-service';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Proxy {
  child: ChildProcess;
  exited: Promise<number | null>;
  lines: () => string[];
}

function startProxy(config: string, home: string, extra: string[] = []): Proxy {
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'proxy', '--config', config, '--home', home, ...extra], { env: { ...process.env, ARKEO_SIGNER_LOG: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let buf = '';
  const lines: string[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return { child, exited: new Promise((r) => child.on('exit', (code) => r(code))), lines: () => lines };
}

async function waitHealthy(ports: number[], deadlineMs = 20_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (const port of ports) {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > until) throw new Error(`proxy on ${port} not healthy in time`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface Tally {
  ok: number;
  other: Map<number, number>;
  connectionErrors: number;
}

function request(agent: http.Agent, port: number, id: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'eth_blockNumber' });
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, timeout: 15_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode === 200 && !/"result":"0x/.test(text) ? reject(new Error(`bad body ${text}`)) : resolve(res.statusCode ?? 0)));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

async function load(ports: number[], seconds: number, tally: Tally, during?: (elapsedMs: number) => Promise<void>): Promise<void> {
  const end = Date.now() + seconds * 1000;
  const agents = Array.from({ length: CLIENTS }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const clients = agents.map(async (agent, i) => {
    const port = ports[i % ports.length]!;
    let id = 0;
    while (Date.now() < end) {
      try {
        const status = await request(agent, port, id++);
        if (status === 200) tally.ok++;
        else tally.other.set(status, (tally.other.get(status) ?? 0) + 1);
      } catch {
        tally.connectionErrors++;
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, THINK_MS));
    }
  });
  const started = Date.now();
  const side = during ? during(Date.now() - started) : Promise.resolve();
  await Promise.all([...clients, side]);
  for (const a of agents) a.destroy();
}

interface Setup {
  sentinel: SentinelRules;
  home: string;
  config: string;
  ports: number[];
  pub: Uint8Array;
  store: string;
  /** With a key daemon: the proxy's extra flags (--daemon, --token-file); the daemon's store is `store`. */
  daemon?: { flags: string[]; test: TestDaemon };
}

async function setup(withDaemon = false): Promise<Setup> {
  const home = tempDir();
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]).status, 0);
  let daemon: Setup['daemon'];
  if (withDaemon) {
    // The daemon holds the key and the nonces; the proxy's token may sign claims and nothing else.
    const test = await startTestDaemon({ k: KEY_HEX }, { proxy: CLAIM_ONLY }, (c) => (c.nonces.block_size = 1));
    const tokenFile = path.join(home, 'token');
    fs.writeFileSync(tokenFile, test.tokens.proxy!, { mode: 0o600 });
    daemon = { flags: ['--daemon', test.socket, '--token-file', tokenFile], test };
  }
  const pub = await privateKeyToSigner(KEY_PRIV).publicKey();
  const sentinel = await startSentinelRules({ services: [SERVICE, OTHER] });
  sentinel.faults.jitterMs = JITTER_MS;
  sentinel.contracts.set(7n, payg(7n, pub));
  sentinel.contracts.set(9n, payg(9n, pub, { service: OTHER }));
  const ports = [await freePort(), await freePort()];
  const store = daemon?.test.config.nonces.store ?? path.join(home, 'nonces.db');
  const config = path.join(home, 'proxy.toml');
  fs.writeFileSync(
    config,
    `nonce_store = "${store}"\n` +
      `[[upstream]]\nname = "a"\nlisten = "127.0.0.1:${ports[0]}"\nsentinel = "${sentinel.url}"\nservice = "${SERVICE}"\ncontract = "auto"\nkey = "k"\n` +
      `[[upstream]]\nname = "b"\nlisten = "127.0.0.1:${ports[1]}"\nsentinel = "${sentinel.url}"\nservice = "${OTHER}"\ncontract = "9"\nkey = "k"\n`,
  );
  // The store is named in the config, so it must exist: create it (and register nothing) the way an operator would.
  assert.equal(run(BIN.arkeoSigner, ['claim', 'contract', 'add', '--id', '9', '--rate', '10', '--deposit', '1000000', '--nonce-store', store, '--create-nonce-store', '--home', home]).status, 0);
  return { sentinel, home, config, ports, pub, store, ...(daemon ? { daemon } : {}) };
}

/** The server-side invariants, and agreement with the local store; returns skipped nonces per contract. */
async function check(s: Setup): Promise<Record<string, number>> {
  assert.equal(s.sentinel.events.filter((e) => /^bad nonce/.test(e.body)).length, 0, 'no claim rejected as bad nonce');
  const skipped: Record<string, number> = {};
  const store = await openNonceStore(s.store, s.home);
  try {
    for (const cid of [7n, 9n]) {
      const accepted = s.sentinel.accepted.filter((c) => c.contractId === cid);
      assert.ok(accepted.length > 0);
      for (let i = 1; i < accepted.length; i++) assert.ok(accepted[i]!.nonce > accepted[i - 1]!.nonce, `contract ${cid}: nonces strictly increasing at the server (${accepted[i - 1]!.nonce} then ${accepted[i]!.nonce})`);
      for (const c of accepted) assert.ok(cosmosVerify(s.pub, new TextEncoder().encode(`${cid}:${c.nonce}:`), Buffer.from(c.signature, 'hex')), `claim ${cid}:${c.nonce} verifies with the client's key`);
      const last = accepted.at(-1)!.nonce;
      assert.equal(await store.current(cid, toAddress(s.pub)), last, `contract ${cid}: local store and sentinel agree`);
      skipped[String(cid)] = Number(last) - accepted.length;
    }
  } finally {
    await store.close();
  }
  return skipped;
}

async function stopGracefully(p: Proxy): Promise<number | null> {
  p.child.kill('SIGTERM');
  const code = await Promise.race([p.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
  if (code === 'hung') {
    p.child.kill('SIGKILL');
    throw new Error('proxy did not stop on SIGTERM');
  }
  return code;
}

// With a local key, then with the key daemon's claim operation behind a claim-only token (for half as long).
for (const mode of ['local', 'daemon'] as const) {
const seconds = mode === 'local' ? SECONDS : Math.ceil(SECONDS / 2);
test(`load (${mode} key): ${CLIENTS} clients, two contracts, ${seconds} s through the proxy: every request answered, no bad nonce, claims verify, stores agree`, { timeout: (seconds + 60) * 1000 }, async () => {
  const s = await setup(mode === 'daemon');
  let p: Proxy | undefined;
  try {
    p = startProxy(s.config, s.home, s.daemon?.flags);
    await waitHealthy(s.ports);
    const tally: Tally = { ok: 0, other: new Map(), connectionErrors: 0 };
    await load(s.ports, seconds, tally);
    assert.equal(await stopGracefully(p), 0);
    const requestLines = p.lines().filter((l) => /^proxy [ab]: POST \/ /.test(l));
    p = undefined;
    const skipped = await check(s);
    console.log(`# load (${mode} key): ${tally.ok} answered 200 in ${seconds} s (${(tally.ok / seconds).toFixed(0)}/s), other ${JSON.stringify([...tally.other])}, connection errors ${tally.connectionErrors}; accepted ${s.sentinel.accepted.length}; skipped ${JSON.stringify(skipped)}`);
    assert.equal(tally.connectionErrors, 0);
    assert.equal(tally.other.size, 0, `only 200s: ${JSON.stringify([...tally.other])}`);
    assert.ok(tally.ok >= seconds * 20, `a modest but real load (${tally.ok})`);
    assert.equal(s.sentinel.accepted.length, tally.ok, 'one stored claim per request');
    assert.deepEqual(skipped, { '7': 0, '9': 0 }, 'a clean run skips nothing');
    assert.equal(requestLines.length, tally.ok, 'one log line per request');
    assert.ok(requestLines.every((l) => !/[0-9a-f]{64}/.test(l)), 'no signature in the log');
  } finally {
    if (p) p.child.kill('SIGKILL');
    await s.daemon?.test.daemon.stop();
    await s.sentinel.close();
  }
});
}

test(`load with kill -9 twice: no nonce reused, at most two skipped per contract per kill`, { timeout: (SECONDS + 90) * 1000 }, async () => {
  const s = await setup();
  let p: Proxy | undefined;
  try {
    p = startProxy(s.config, s.home);
    await waitHealthy(s.ports);
    const tally: Tally = { ok: 0, other: new Map(), connectionErrors: 0 };
    const kills = [SECONDS * 333, SECONDS * 666];
    await load(s.ports, SECONDS, tally, async () => {
      const t0 = Date.now();
      for (const at of kills) {
        await new Promise((r) => setTimeout(r, Math.max(0, at - (Date.now() - t0))));
        p!.child.kill('SIGKILL');
        await p!.exited;
        p = startProxy(s.config, s.home);
        await waitHealthy(s.ports);
      }
    });
    assert.equal(await stopGracefully(p!), 0);
    p = undefined;
    const skipped = await check(s);
    console.log(`# kill -9 ×2: ${tally.ok} answered 200, other ${JSON.stringify([...tally.other])}, connection errors during restarts ${tally.connectionErrors}; skipped ${JSON.stringify(skipped)}`);
    assert.equal(tally.other.size, 0, `only 200s: ${JSON.stringify([...tally.other])}`);
    // With block size 1: the claim in flight when the process died, and the next one, signed ahead.
    for (const [cid, n] of Object.entries(skipped)) assert.ok(n <= 2 * kills.length, `contract ${cid}: ${n} skipped, at most ${2 * kills.length} (two per contract per kill with block size 1)`);
  } finally {
    if (p) p.child.kill('SIGKILL');
    await s.sentinel.close();
  }
});

// Guards the review finding where two upstreams paying with one contract each kept a request in flight, so arrivals
// could swap and cost a `bad nonce` and a skipped (billed) nonce.
test('two upstreams paying with the same contract and key are refused at start', { timeout: 60_000 }, async (t) => {
  const s = await setup();
  t.after(() => s.sentinel.close());
  // Upstream "a" resolves contract 7 with auto; make "b" name contract 7 as well.
  fs.writeFileSync(s.config, fs.readFileSync(s.config, 'utf8').replace(`service = "${OTHER}"\ncontract = "9"`, `service = "${SERVICE}"\ncontract = "7"`));
  const p = startProxy(s.config, s.home);
  t.after(() => void (p.child.exitCode === null && p.child.kill('SIGKILL')));
  assert.equal(await p.exited, 2);
  assert.match(p.lines().join('\n'), /upstreams a and b both pay with contract 7/);
});
