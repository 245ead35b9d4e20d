/**
 * The signing proxy on loopback: requests/s and latency through `arkeo-signer proxy` (a separate process, SQLite
 * nonce store, block size 1, the sentinel-rules test server and its JSON-RPC upstream behind it), against direct
 * requests to the same upstream, with 1 and 16 closed-loop clients on one contract. The added latency is the
 * difference of the two medians (and p99s) from the same run.
 *
 * The pool rows (benchProxyPool): requests/s through the proxy paying with a pool of 1, 4 and 16 contracts
 * (`--contract pool:NAME`), 64 closed-loop clients, an upstream that takes 5 ms to answer (it and the sentinel in a
 * process of their own), and how close N contracts come to N times one: rate(N) / (N × rate(1)), goal ≥ 0.8. Only
 * these: `node dist/bench/proxy.js pool`.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sha256, utf8, toHex, verifySignature } from '../src/crypto/index.js';
import { generateMnemonic } from '../src/crypto/hd.js';
import { privateKeyToSigner } from '../src/signers/index.js';
import { Keyring } from '../src/keyring/index.js';
import { openNonceStore } from '../src/nonces/index.js';
import { writePool } from '../src/claims/pools.js';
import { startSentinelRules } from '../test/support/sentinel-rules.js';
import type { Row } from './claims.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(HERE, '..', 'bin', 'arkeo-signer.js');
const SECONDS = Number(process.env.BENCH_PROXY_SECONDS ?? 5);
const SERVICE = 'eth-mainnet-fullnode';

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

async function closedLoop(url: URL, clients: number, seconds: number): Promise<{ rate: number; p50: number; p99: number; errors: number }> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' });
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const agents = Array.from({ length: clients }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  await Promise.all(
    agents.map(async (agent) => {
      while (performance.now() < end) {
        const t = performance.now();
        const ok = await new Promise<boolean>((resolve) => {
          const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, timeout: 10_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode === 200));
          });
          req.on('error', () => resolve(false));
          req.on('timeout', () => req.destroy());
          req.end(body);
        });
        if (ok) lat.push(performance.now() - t);
        else errors++;
      }
    }),
  );
  for (const a of agents) a.destroy();
  lat.sort((a, b) => a - b);
  return { rate: lat.length / seconds, p50: pct(lat, 0.5), p99: pct(lat, 0.99), errors };
}

async function freePort(): Promise<number> {
  return new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
}

async function waitHealthy(port: number, child: ReturnType<typeof spawn>): Promise<void> {
  for (let i = 0; ; i++) {
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return;
    if (i > 200 || child.exitCode !== null) throw new Error('proxy did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const POOL_SIZES = [1, 4, 16];
const POOL_CLIENTS = 64;
const UPSTREAM_MS = 5;
/** The proxy's --block-size for the pool rows (its default, 1: a durable store write per claim). */
const POOL_BLOCK_SIZE = process.env.BENCH_POOL_BLOCK_SIZE ?? '1';

/**
 * `--contract pool:NAME` with 1, 4 and 16 contracts: one proxy process per size, the same 64 clients, the same
 * sentinel-rules server with an upstream 5 ms away, both in a process of their own (bench/sentinel-process.ts).
 */
export async function benchProxyPool(): Promise<{ rows: Row[]; ratios: Record<string, number> }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-pool-'));
  const rows: Row[] = [];
  const ratios: Record<string, number> = {};
  const client = await privateKeyToSigner(sha256(utf8('bench pool client'))).publicKey();
  const keyring = Keyring.open({ backend: 'test', dir: home });
  const members: { key: string; pub: Uint8Array }[] = [];
  for (let i = 1; i <= Math.max(...POOL_SIZES); i++) members.push({ key: `bench-${i}`, pub: (await keyring.newAccount(`bench-${i}`, generateMnemonic())).publicKey! });
  // Each size gets fresh contracts (nonces from 1): n × 1000 + member.
  const contractOf = (n: number, i: number) => BigInt(n * 1000 + i + 1);
  const contractsFile = path.join(home, 'contracts.json');
  fs.writeFileSync(contractsFile, JSON.stringify(POOL_SIZES.flatMap((n) => members.slice(0, n).map((m, i) => ({ id: String(contractOf(n, i)), client: toHex(client), delegate: toHex(m.pub) })))));
  const far = spawn(process.execPath, [path.join(HERE, 'sentinel-process.js'), SERVICE, String(UPSTREAM_MS), contractsFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rates = new Map<number, number>();
  try {
    const sentinel = await new Promise<{ url: string; provider: string }>((resolve, reject) => {
      let out = '';
      far.stdout!.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))) as { url: string; provider: string });
      });
      far.on('exit', (code) => reject(new Error(`bench/sentinel-process.ts exited ${code}`)));
    });
    for (const n of POOL_SIZES) {
      const name = `pool-${n}`;
      const pool = { name, provider: sentinel.provider, service: SERVICE, members: members.slice(0, n).map((m, i) => ({ contractId: contractOf(n, i), key: m.key })) };
      const store = await openNonceStore(undefined, home, { create: true });
      try {
        for (const [i, m] of pool.members.entries()) await store.putContract({ contractId: m.contractId, rate: 1n, deposit: 10n ** 12n, client, delegate: members[i]!.pub, source: 'bench' });
      } finally {
        await store.close();
      }
      writePool(home, pool);
      const port = await freePort();
      const child = spawn(process.execPath, [CLI, 'proxy', '--listen', `127.0.0.1:${port}`, '--sentinel', sentinel.url, '--service', SERVICE, '--contract', `pool:${name}`, '--block-size', POOL_BLOCK_SIZE, '--home', home], { env: { ...process.env, ARKEO_SIGNER_LOG: 'warn' }, stdio: 'ignore' });
      try {
        await waitHealthy(port, child);
        const url = new URL(`http://127.0.0.1:${port}/`);
        await closedLoop(url, POOL_CLIENTS, 1); // warm-up
        const r = await closedLoop(url, POOL_CLIENTS, SECONDS);
        rates.set(n, r.rate);
        rows.push({ name: `proxy pool of ${n}, ${POOL_CLIENTS} clients, upstream ${UPSTREAM_MS} ms: requests/s`, value: Math.round(r.rate), unit: 'req/s', note: `${SECONDS} s closed loop, block size ${POOL_BLOCK_SIZE}; p50 ${r.p50.toFixed(1)} / p99 ${r.p99.toFixed(1)} ms${r.errors ? `; ${r.errors} errors` : ''}` });
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => (child.exitCode !== null ? r(null) : child.on('exit', r)));
      }
    }
    const one = rates.get(1)!;
    for (const n of POOL_SIZES.filter((k) => k > 1)) {
      const ratio = +(rates.get(n)! / (n * one)).toFixed(3);
      ratios[`proxyPool${n}VsOne`] = ratio;
      rows.push({ name: `proxy pool of ${n}: rate / (${n} × rate of 1)`, value: ratio, unit: '×', note: `goal ≥ 0.8: ${Math.round(rates.get(n)!)} / (${n} × ${Math.round(one)})` });
    }
  } finally {
    far.kill('SIGTERM');
    fs.rmSync(home, { recursive: true, force: true });
  }
  return { rows, ratios };
}

export async function benchProxy(): Promise<{ rows: Row[]; ratios: Record<string, number> }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-proxy-'));
  const priv = sha256(utf8('bench proxy key'));
  const rows: Row[] = [];
  const ratios: Record<string, number> = {};
  // As in the pool rows: the test sentinel checks claims with the fastest engine here (the real one's Go library
  // takes some 50 µs), so the figure is the proxy's, not @noble/curves' 1.6 ms verification in the test server.
  const sentinel = await startSentinelRules({ services: [SERVICE], verify: verifySignature });
  const pub = await privateKeyToSigner(priv).publicKey();
  sentinel.contracts.set(7n, { id: 7n, service: SERVICE, client: pub, type: 'PAY_AS_YOU_GO', rate: 1n, deposit: 10n ** 12n, queriesPerMinute: 1e9 });
  spawnSync(process.execPath, [CLI, 'keys', 'import-hex', 'k', toHex(priv), '--home', home]);
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'proxy', '--listen', `127.0.0.1:${port}`, '--sentinel', sentinel.url, '--service', SERVICE, '--key', 'k', '--home', home], { env: { ...process.env, ARKEO_SIGNER_LOG: 'warn' }, stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
      if (i > 200) throw new Error('proxy did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const proxyUrl = new URL(`http://127.0.0.1:${port}/`);
    const directUrl = new URL(sentinel.upstream.url + '/');
    await closedLoop(proxyUrl, 4, 1); // warm-up (JIT, SQLite pages, keep-alive pools)
    await closedLoop(directUrl, 4, 1);
    for (const clients of [1, 16]) {
      const direct = await closedLoop(directUrl, clients, SECONDS);
      const viaProxy = await closedLoop(proxyUrl, clients, SECONDS);
      const note = `${SECONDS} s closed loop, one contract${viaProxy.errors + direct.errors ? `; ${viaProxy.errors + direct.errors} errors` : ''}`;
      rows.push({ name: `proxy, ${clients} client(s): requests/s through the proxy`, value: Math.round(viaProxy.rate), unit: 'req/s', note: `${note}; direct to the upstream: ${Math.round(direct.rate)} req/s` });
      rows.push({ name: `proxy, ${clients} client(s): latency through the proxy`, value: +viaProxy.p50.toFixed(2), unit: 'ms', note: `p50; p99 ${viaProxy.p99.toFixed(2)} ms; direct p50 ${direct.p50.toFixed(2)} / p99 ${direct.p99.toFixed(2)} ms` });
      rows.push({ name: `proxy, ${clients} client(s): latency added per request`, value: +(viaProxy.p50 - direct.p50).toFixed(2), unit: 'ms', note: `p50 difference; p99 difference ${(viaProxy.p99 - direct.p99).toFixed(2)} ms (claim: durable nonce + sign; the sentinel hop)` });
      ratios[`proxyVsDirectRate_${clients}`] = +(viaProxy.rate / direct.rate).toFixed(3);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    await sentinel.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
  return { rows, ratios };
}

// `node dist/bench/proxy.js pool`: the pool rows only (the JSON on stdout, a table on stderr), without `npm run bench`.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv[2] === 'pool') {
  const { rows, ratios } = await benchProxyPool();
  const width = Math.max(...rows.map((r) => r.name.length));
  process.stderr.write(rows.map((r) => `${r.name.padEnd(width)}  ${String(r.value).padStart(8)} ${r.unit.padEnd(5)} ${r.note ?? ''}`).join('\n') + '\n');
  process.stdout.write(JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version }, results: rows, ratios }, null, 2) + '\n');
}
