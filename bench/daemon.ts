/**
 * The key daemon under load over its unix socket, nonces durable and audit on: claims/s and latency with 1, 8 and
 * 64 concurrent clients and at a fixed 1,000 claims/s, with the default nonce block (64) and with block 1; the
 * same load against a do-nothing server (the floor this machine and generator set); and one `signhere` process per
 * claim. The load comes from bench/c/loadgen.c (cheap, and it counts latency from when a request was due).
 * This VM's speed drifts from run to run, so every daemon figure is the median of BENCH_DAEMON_RUNS runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Keyring } from '../src/keyring/index.js';
import { TokenStore, parsePolicy, exampleConfig } from '../src/daemon/index.js';
import { sha256, utf8 } from '../src/crypto/index.js';
import type { Row } from './claims.js';
import { median } from './stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const CLI = path.resolve(HERE, '..', 'bin', 'arkeo-signer.js');
const SIGNHERE = path.resolve(HERE, '..', 'bin', 'signhere.js');
const SECONDS = Number(process.env.BENCH_DAEMON_SECONDS ?? 4);
const RUNS = Number(process.env.BENCH_DAEMON_RUNS ?? 3);

interface Load {
  ok: number;
  errors: number;
  rate: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  /** Share of all cores busy during the run, and CPU per request across every process (from /proc/stat). */
  cpu?: { busy: number; usPerRequest: number };
}

/** Busy and total CPU time of the whole machine, in clock ticks; undefined where /proc/stat does not exist. */
function cpuTicks(): { busy: number; total: number } | undefined {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

export const cpuNote = (r: Load) => (r.cpu ? `; cores ${Math.round(r.cpu.busy * 100)}% busy, ${Math.round(r.cpu.usPerRequest)} µs CPU per claim (all processes)` : '');


export function buildLoadgen(dir: string): string | undefined {
  const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version']).status === 0);
  const exe = path.join(dir, 'loadgen');
  return cc && spawnSync(cc, ['-O2', '-o', exe, path.join(ROOT, 'bench', 'c', 'loadgen.c')]).status === 0 ? exe : undefined;
}

export function load(loadgen: string, socket: string, request: string, connections: number, rate: number, seconds = SECONDS): Promise<Load> {
  const before = cpuTicks();
  return new Promise((resolve, reject) => {
    const p = spawn(loadgen, [socket, request, String(connections), String(rate), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('exit', (code) => {
      const r = out.trim() ? (JSON.parse(out) as Load) : undefined;
      if (!r || code !== 0) return reject(new Error(`loadgen: exit ${code}, ${r ? `${r.errors} errors` : ''} ${err.trim()}`));
      const after = cpuTicks();
      if (before && after && r.ok > 0) {
        const busy = after.busy - before.busy;
        // /proc/stat counts in USER_HZ, 100 per second on Linux.
        r.cpu = { busy: busy / (after.total - before.total), usPerRequest: ((busy / 100) * 1e6) / r.ok };
      }
      resolve(r);
    });
  });
}

/** RUNS runs; the one with the median of `by` stands for all, and the spread goes in the note. */
export async function repeated(run: () => Promise<Load>, by: 'rate' | 'p99_ms'): Promise<{ mid: Load; spread: string }> {
  const all: Load[] = [];
  for (let i = 0; i < RUNS; i++) all.push(await run());
  all.sort((a, b) => a[by] - b[by]);
  return { mid: all[(all.length - 1) >> 1]!, spread: `${RUNS} runs: ${all.map((r) => (by === 'rate' ? Math.round(r[by]) : r[by].toFixed(2))).join(' / ')}` };
}

function requestFile(dir: string, token: string, contract: number): string {
  const body = `{"contract":"${contract}","key":"bench"}`;
  const file = path.join(dir, `claim-${contract}.http`);
  fs.writeFileSync(file, `POST /v1/claims HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  return file;
}

export async function waitFor(child: ReturnType<typeof spawn>, pattern: RegExp): Promise<void> {
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d));
  for (let i = 0; i < 200 && !pattern.test(err); i++) await new Promise((r) => setTimeout(r, 50));
  if (!pattern.test(err)) throw new Error(`did not start: ${err}`);
}

export async function stop(child: ReturnType<typeof spawn>): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
}

export async function benchDaemon(): Promise<Row[]> {
  const rows: Row[] = [];
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-daemon-'));
  const loadgen = buildLoadgen(home);
  if (!loadgen) return [{ name: 'daemon claims', value: NaN, unit: 'claims/s', note: 'skipped: needs a C compiler for bench/c/loadgen.c' }];
  try {
    // The floor: the same generator against a do-nothing Node server in its own process.
    const nullSock = path.join(home, 'null.sock');
    const nullServer = spawn(process.execPath, ['-e', `require('http').createServer((q, s) => { q.resume(); q.on('end', () => s.end('{}')); }).listen(${JSON.stringify(nullSock)}, () => console.error('listening'))`], { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitFor(nullServer, /listening/);
    const nullReq = requestFile(home, 'none', 0);
    await load(loadgen, nullSock, nullReq, 64, 1000, 2);
    const floor = await repeated(() => load(loadgen, nullSock, nullReq, 64, 1000), 'p99_ms');
    rows.push({ name: 'do-nothing server at a fixed 1,000/s: p99 (the floor)', value: +floor.mid.p99_ms.toFixed(2), unit: 'ms', note: `p50 ${floor.mid.p50_ms.toFixed(2)} ms; ${floor.spread}` });
    await stop(nullServer);

    await Keyring.open({ backend: 'test', dir: home }).importPrivateKey('bench', sha256(utf8('bench daemon key')));
    const signer = path.join(home, 'signer');
    fs.mkdirSync(signer, { recursive: true, mode: 0o700 });
    const token = TokenStore.load(path.join(signer, 'tokens.json')).create('bench', parsePolicy({ keys: ['bench'], rate: { per_second: 1e6, burst: 1e6 } }));
    const socket = path.join(signer, 'keyd.sock');
    let contract = 1;
    for (const block of [64, 1]) {
      fs.writeFileSync(path.join(signer, 'daemon.toml'), exampleConfig(home).replace(/^block_size = \d+/m, `block_size = ${block}`), { mode: 0o600 });
      const daemon = spawn(process.execPath, [CLI, 'daemon', 'start'], { env: { ...process.env, ARKEO_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        await waitFor(daemon, /listening on/);
        const note = `nonce block ${block}${block === 64 ? ' (default)' : ''}, SQLite, audit fdatasync`;
        const request = requestFile(home, token, contract++);
        await load(loadgen, socket, request, 64, 1000, 3); // warm-up (JIT)
        for (const clients of block === 64 ? [1, 8, 64] : [64]) {
          const r = await repeated(() => load(loadgen, socket, request, clients, 0), 'rate');
          rows.push({ name: `daemon claims, ${clients} client${clients > 1 ? 's' : ''}, block ${block}`, value: Math.round(r.mid.rate), unit: 'claims/s', note: `p50 ${r.mid.p50_ms.toFixed(2)} ms, p99 ${r.mid.p99_ms.toFixed(2)} ms${cpuNote(r.mid)}; ${note}; ${r.spread}` });
        }
        const fixed = await repeated(() => load(loadgen, socket, request, 64, 1000), 'p99_ms');
        rows.push({ name: `daemon claims at a fixed 1,000/s, block ${block}: p99`, value: +fixed.mid.p99_ms.toFixed(2), unit: 'ms', note: `p50 ${fixed.mid.p50_ms.toFixed(2)} ms, p99.9 ${fixed.mid.p999_ms.toFixed(2)} ms${cpuNote(fixed.mid)}; ${note}; ${fixed.spread}` });
      } finally {
        await stop(daemon);
      }
    }
    // The same fixed load with [audit.ship] on: every entry also sent over TCP to a receiver that reads and
    // discards (and closes each connection in answer, as rsyslog does). Beside the block-64 row above: the cost of
    // shipping on signing latency, which should be none (the shipper is never awaited by a request).
    const receiver = spawn(process.execPath, ['-e', `const s = require('net').createServer((c) => { c.resume(); c.on('end', () => c.end()); c.on('error', () => {}); }).listen(0, '127.0.0.1', () => console.error('port ' + s.address().port))`], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let port = '';
      receiver.stderr!.on('data', (d: Buffer) => (port ||= /port (\d+)/.exec(d.toString())?.[1] ?? ''));
      await waitFor(receiver, /port \d+/);
      fs.writeFileSync(path.join(signer, 'daemon.toml'), exampleConfig(home) + `\n[audit.ship]\ntarget = "tcp"\naddress = "127.0.0.1:${port}"\n`, { mode: 0o600 });
      const daemon = spawn(process.execPath, [CLI, 'daemon', 'start'], { env: { ...process.env, ARKEO_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        await waitFor(daemon, /listening on/);
        const request = requestFile(home, token, contract++);
        await load(loadgen, socket, request, 64, 1000, 3); // warm-up (JIT)
        const fixed = await repeated(() => load(loadgen, socket, request, 64, 1000), 'p99_ms');
        rows.push({ name: 'daemon claims at a fixed 1,000/s, block 64, audit shipped over TCP: p99', value: +fixed.mid.p99_ms.toFixed(2), unit: 'ms', note: `p50 ${fixed.mid.p50_ms.toFixed(2)} ms, p99.9 ${fixed.mid.p999_ms.toFixed(2)} ms${cpuNote(fixed.mid)}; compare the block-64 row without shipping; ${fixed.spread}` });
      } finally {
        await stop(daemon);
      }
    } finally {
      await stop(receiver);
    }
    // Today's pattern: one process per signature (the keyring is opened and a key decrypted each time).
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [SIGNHERE, '-home', home, '-u', 'bench', '-m', `9:${i + 1}:`]);
      if (r.status !== 0) throw new Error(`signhere failed: ${r.stderr}`);
      times.push(performance.now() - t0);
    }
    const spawnRate = 1000 / median(times);
    rows.push({ name: 'signhere spawned once per claim', value: +spawnRate.toFixed(1), unit: 'claims/s', note: 'median of 20 processes; no durable nonce, no audit' });
    const best = Math.max(...rows.filter((r) => r.name.startsWith('daemon claims,')).map((r) => r.value));
    rows.push({ name: 'daemon / signhere-per-claim', value: Math.round(best / spawnRate), unit: '×', note: 'best daemon row vs one process per claim' });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  return rows;
}
