/**
 * The key daemon under load, over its unix socket, nonce durable and audit on: claims/s and latency with 1, 8
 * and 64 concurrent clients, p99 at a fixed 1,000 claims/s, and the same work as one `signhere` process per claim.
 * The daemon runs in its own process (its own core); this process generates the load.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Keyring } from '../src/keyring/index.js';
import { TokenStore, parsePolicy } from '../src/daemon/index.js';
import { exampleConfig } from '../src/daemon/index.js';
import { sha256, utf8 } from '../src/crypto/index.js';
import type { Row } from './claims.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(HERE, '..', 'src', 'cli', 'arkeo-signer.js');
const SIGNHERE = path.resolve(HERE, '..', 'src', 'cli', 'signhere.js');
const SECONDS = Number(process.env.BENCH_DAEMON_SECONDS ?? 4);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

function claimOnce(agent: http.Agent, socket: string, token: string, contract: number): Promise<number> {
  const body = `{"contract":"${contract}","key":"bench"}`;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, agent, method: 'POST', path: '/v1/claims', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function closedLoop(socket: string, token: string, clients: number, contract: number): Promise<{ rate: number; p50: number; p99: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < end) lat.push(await claimOnce(agent, socket, token, contract));
  }));
  const rate = lat.length / ((performance.now() - start) / 1000);
  agent.destroy();
  return { rate, p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** Open loop: one claim every 1/rate s regardless of replies, so queueing shows in the latency. */
async function fixedRate(socket: string, token: string, perSecond: number, contract: number): Promise<{ p50: number; p99: number; done: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const lat: number[] = [];
  const pending: Promise<void>[] = [];
  const total = perSecond * SECONDS;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(claimOnce(agent, socket, token, contract).then((ms) => void lat.push(ms)));
  }
  await Promise.all(pending);
  agent.destroy();
  return { p50: pct(lat, 50), p99: pct(lat, 99), done: lat.length };
}

export async function benchDaemon(): Promise<Row[]> {
  const rows: Row[] = [];
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-daemon-'));
  await Keyring.open({ backend: 'test', dir: home }).importPrivateKey('bench', sha256(utf8('bench daemon key')));
  const signer = path.join(home, 'signer');
  fs.mkdirSync(signer, { recursive: true, mode: 0o700 });
  const blockSize = Number(process.env.BENCH_DAEMON_BLOCK ?? 1);
  fs.writeFileSync(path.join(signer, 'daemon.toml'), exampleConfig(home).replace('block_size = 1', `block_size = ${blockSize}`), { mode: 0o600 });
  const token = TokenStore.load(path.join(signer, 'tokens.json')).create('bench', parsePolicy({ keys: ['bench'], rate: { per_second: 1e6, burst: 1e6 } }));
  const socket = path.join(signer, 'keyd.sock');
  const daemon = spawn(process.execPath, [CLI, 'daemon', 'start'], { env: { ...process.env, ARKEO_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  daemon.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 200 && !/listening on/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
  try {
    const note = `unix socket, nonce durable (SQLite, block ${blockSize}), audit fdatasync`;
    await closedLoop(socket, token, 8, 100); // warm-up
    let contract = 1;
    for (const clients of [1, 8, 64]) {
      const r = await closedLoop(socket, token, clients, contract++);
      rows.push({ name: `daemon claims, ${clients} client${clients > 1 ? 's' : ''}`, value: Math.round(r.rate), unit: 'claims/s', note: `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms; ${note}` });
    }
    const fixed = await fixedRate(socket, token, 1000, contract++);
    rows.push({ name: 'daemon claims at a fixed 1,000/s: p99 latency', value: +fixed.p99.toFixed(2), unit: 'ms', note: `p50 ${fixed.p50.toFixed(2)} ms over ${fixed.done} claims; ${note}` });
    // Today's pattern: one process per signature (the keyring is opened and a key decrypted each time).
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [SIGNHERE, '-home', home, '-u', 'bench', '-m', `9:${i + 1}:`]);
      if (r.status !== 0) throw new Error(`signhere failed: ${r.stderr}`);
      times.push(performance.now() - t0);
    }
    const spawnRate = 1000 / pct(times, 50);
    rows.push({ name: 'signhere spawned once per claim', value: +spawnRate.toFixed(1), unit: 'claims/s', note: 'median of 20 processes; no durable nonce, no audit' });
    const best = Math.max(...rows.filter((r) => r.name.startsWith('daemon claims,')).map((r) => r.value));
    rows.push({ name: 'daemon / signhere-per-claim', value: Math.round(best / spawnRate), unit: '×', note: 'best daemon row vs one process per claim' });
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.on('exit', r));
    fs.rmSync(home, { recursive: true, force: true });
  }
  return rows;
}
