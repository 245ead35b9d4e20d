/**
 * `node dist/bench/profile-daemon.js [CLIENTS] [RATE] [SECONDS]`: the daemon under the bench's load with
 * `--cpu-prof`, and where its CPU went, per claim: each thread's profile (the event loop and the signing thread
 * write one each) is summed by self time into the parts of a claim's path, and divided by the claims served.
 * This is how the breakdown in bench/README.md was made; run it on an idle machine. PROFILE_OFF=1
 * runs the same load without the profiler (its figures alone).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Keyring } from '../src/keyring/index.js';
import { TokenStore, parsePolicy, exampleConfig } from '../src/daemon/index.js';
import { sha256, utf8 } from '../src/crypto/index.js';
import { buildLoadgen, load, stop, waitFor, cpuNote } from './daemon.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// The unbundled build of the same code (dist/src), so that each frame's file names its part of the path.
const CLI = path.resolve(HERE, '..', 'src', 'cli', 'arkeo-signer.js');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The part of a claim's path a frame belongs to, from its function and file (first match wins). */
const PARTS: [string, RegExp][] = [
  ['idle', /^\(idle\)$/],
  ['GC', /^\(garbage collector\)$/],
  ['signing (sign + self-check)', /libsecp256k1|secp256k1|signDigest|verifyDigest|noble/],
  ['audit (hash, HMAC, write, sync)', /\/audit\/|createHmac|createHash|fdatasync|writeSync|appendFile/],
  ['nonce store', /\/nonces\//],
  ['thread hand-offs (postMessage)', /postMessage|worker_threads|MessagePort|structuredClone|onmessage|emitMessage/],
  ['HTTP parse and write', /_http_|node:http|net\.js|node:net|stream|writev|onStreamRead|parserOnHeaders|Socket/],
  ['JSON', /JSON|stringify|parse$/],
  ['policy and routing (daemon)', /\/daemon\//],
  ['claims (preimage, header)', /\/claims\//],
  ['program / other native', /^\((program|root)\)$/],
];

function partOf(n: ProfileNode): string {
  const s = `${n.callFrame.functionName} ${n.callFrame.url}`;
  for (const [name, re] of PARTS) if (re.test(n.callFrame.functionName) || re.test(n.callFrame.url) || re.test(s)) return name;
  return 'other JavaScript';
}

/** Self time per part, in µs, attributing each sample to its leaf frame's part. */
function summarise(p: Profile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const part = partOf(byId.get(id)!);
    out.set(part, (out.get(part) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
  });
  return out;
}

const clients = Number(process.argv[2] ?? 64);
const rate = Number(process.argv[3] ?? 0);
// At a fixed rate keep it under the daemon's keep-alive timeout (5 s): loadgen spreads a low rate over few of its
// connections, and one left idle that long is closed by the server, which loadgen counts as a failure.
const seconds = Number(process.argv[4] ?? 4);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-profile-'));
/** PROFILE_KEEP=DIR keeps the .cpuprofile files there (open them in Chrome's DevTools). */
const profDir = process.env.PROFILE_KEEP ? path.resolve(process.env.PROFILE_KEEP) : path.join(home, 'prof');
try {
  const loadgen = buildLoadgen(home);
  if (!loadgen) throw new Error('needs a C compiler for bench/c/loadgen.c');
  await Keyring.open({ backend: 'test', dir: home }).importPrivateKey('bench', sha256(utf8('bench daemon key')));
  const dir = path.join(home, 'signer');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const token = TokenStore.load(path.join(dir, 'tokens.json')).create('bench', parsePolicy({ keys: ['bench'], rate: { per_second: 1e6, burst: 1e6 } }));
  // PROFILE_BLOCK=N: the nonce block size (default 64, the daemon's).
  fs.writeFileSync(path.join(dir, 'daemon.toml'), exampleConfig(home).replace(/^block_size = \d+/m, `block_size = ${process.env.PROFILE_BLOCK ?? 64}`), { mode: 0o600 });
  const body = '{"contract":"1","key":"bench"}';
  const request = path.join(home, 'claim.http');
  fs.writeFileSync(request, `POST /v1/claims HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const daemon = spawn(process.execPath, [...(process.env.PROFILE_OFF ? [] : ['--cpu-prof', '--cpu-prof-dir', profDir]), ...(process.env.PROFILE_NODE_ARGS?.split(' ').filter(Boolean) ?? []), CLI, 'daemon', 'start'], {
    env: { ...process.env, ARKEO_HOME: home },
    // PROFILE_NODE_ARGS may ask for tracing (--trace-gc): the daemon's stdout then comes through.
    stdio: ['ignore', process.env.PROFILE_NODE_ARGS ? 'inherit' : 'ignore', 'pipe'],
  });
  let r;
  let metricsText = '';
  try {
    await waitFor(daemon, /listening on/);
    await load(loadgen, path.join(dir, 'keyd.sock'), request, 64, 1000, 2); // warm-up (JIT)
    r = await load(loadgen, path.join(dir, 'keyd.sock'), request, clients, rate, seconds);
    metricsText = await new Promise<string>((resolve, reject) => {
      http.get({ socketPath: path.join(dir, 'keyd.sock'), path: '/metrics' }, (res) => {
        let t = '';
        res.on('data', (d: Buffer) => (t += d)).on('end', () => resolve(t));
      }).on('error', reject);
    });
  } finally {
    await stop(daemon);
  }
  const total = r.ok + 2000;
  console.log(`${clients} clients${rate ? ` at ${rate}/s` : ''}: ${Math.round(r.rate)} claims/s, p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms${cpuNote(r)}`);
  // The daemon's own histograms (warm-up included): where a slow claim waited.
  for (const [name, label] of [['arkeo_signer_request_seconds', 'request'], ['arkeo_signer_nonce_store_seconds', 'nonce store'], ['arkeo_signer_audit_flush_seconds', 'audit write + fdatasync']]) {
    const buckets = [...metricsText.matchAll(new RegExp(`^${name}_bucket\\{(?:operation="POST /v1/claims",)?le="([^"]+)"[^}]*\\} (\\d+)`, 'gm'))].map((m) => [Number(m[1]), Number(m[2])] as const);
    const count = buckets.at(-1)?.[1] ?? 0;
    const at = (q: number) => buckets.find(([, n]) => n >= q * count)?.[0];
    if (count) console.log(`${label}: ${count} observed; p50 ≤ ${at(0.5)! * 1000} ms, p99 ≤ ${at(0.99)! * 1000} ms, p99.9 ≤ ${at(0.999)! * 1000} ms`);
  }
  console.log(`profiles cover the warm-up too: µs per claim over ${total} claims\n`);
  for (const file of process.env.PROFILE_OFF ? [] : fs.readdirSync(profDir).sort()) {
    const p = JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8')) as Profile;
    const parts = [...summarise(p)].sort((a, b) => b[1] - a[1]);
    const busy = parts.filter(([k]) => k !== 'idle').reduce((a, [, v]) => a + v, 0);
    const wall = p.endTime - p.startTime;
    console.log(`${file.includes('.0.') ? 'event loop' : `thread ${file.split('.').at(-2)}`}: ${Math.round((busy / wall) * 100)}% busy, ${(busy / total).toFixed(1)} µs per claim`);
    for (const [k, v] of parts) if (k !== 'idle' && v / total >= 0.5) console.log(`  ${k.padEnd(36)} ${(v / total).toFixed(1).padStart(7)} µs  ${((v / busy) * 100).toFixed(0).padStart(3)}%`);
    if (process.env.PROFILE_TOP) {
      const byId = new Map(p.nodes.map((n) => [n.id, n]));
      const self = new Map<string, number>();
      p.samples.forEach((id, i) => {
        const n = byId.get(id)!;
        const k = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '')}:${n.callFrame.lineNumber}`;
        self.set(k, (self.get(k) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
      });
      for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.PROFILE_TOP))) console.log(`    ${(v / total).toFixed(1).padStart(6)} µs  ${k}`);
    }
  }
} finally {
  fs.rmSync(home, { recursive: true, force: true });
}
