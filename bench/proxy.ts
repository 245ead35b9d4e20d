/**
 * The signing proxy on loopback: requests/s and latency through `arkeo-signer proxy` (a separate process, SQLite
 * nonce store, block size 1, the sentinel-rules test server and its JSON-RPC upstream behind it), against direct
 * requests to the same upstream, with 1 and 16 closed-loop clients on one contract. The added latency is the
 * difference of the two medians (and p99s) from the same run.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sha256, utf8, toHex } from '../src/crypto/index.js';
import { privateKeyToSigner } from '../src/signers/index.js';
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

export async function benchProxy(): Promise<{ rows: Row[]; ratios: Record<string, number> }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-proxy-'));
  const priv = sha256(utf8('bench proxy key'));
  const rows: Row[] = [];
  const ratios: Record<string, number> = {};
  const sentinel = await startSentinelRules({ services: [SERVICE] });
  const pub = await privateKeyToSigner(priv).publicKey();
  sentinel.contracts.set(7n, { id: 7n, service: SERVICE, client: pub, type: 'PAY_AS_YOU_GO', rate: 1n, deposit: 10n ** 12n, queriesPerMinute: 1e9 });
  spawnSync(process.execPath, [CLI, 'keys', 'import-hex', 'k', toHex(priv), '--home', home]);
  const port = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
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
