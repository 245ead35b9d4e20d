/**
 * `npm run bench:engines`: what each kind of user gets from the secp256k1 engines, to decide whether the npm
 * `secp256k1` addon (an optional dependency) stays. Three installs of the same build:
 *   system: this checkout, native/libsecp256k1 built (libsecp256k1-dev and a compiler were there at install);
 *   addon:  a copy without native builds (no libsecp256k1-dev or no compiler): the npm addon's prebuilt binary;
 *   noble:  the same copy with ARKEO_SIGNER_CRYPTO=noble: what that user would get if the addon were dropped.
 * For each: the engine `arkeo-signer version` reports, signatures/s on one core in process, and `signhere`
 * cold start (a whole process per signature). Rounds are interleaved, because this VM's speed drifts by up to a
 * third within seconds. Prints a table on stderr and JSON on stdout; nothing is asserted.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Keyring } from '../src/keyring/index.js';
import { median } from './stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROUNDS = Number(process.env.BENCH_REPS ?? 5);
const COLD_PER_ROUND = 6;
const MNEMONIC = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art';

// The "addon" install: dist/ and package.json copied, node_modules shared, no native/ folder at all.
const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-install-'));
fs.cpSync(path.join(ROOT, 'dist'), path.join(copy, 'dist'), { recursive: true });
fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(copy, 'package.json'));
fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));

const users = [
  { user: 'system', root: ROOT, crypto: 'system', engine: 'system-libsecp256k1' },
  { user: 'addon', root: copy, crypto: 'native', engine: 'native-libsecp256k1' },
  { user: 'noble', root: copy, crypto: 'noble', engine: 'noble-curves' },
];

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
function run(root: string, crypto: string, args: string[]) {
  const argv = [process.execPath, ...args.map((a) => (a.startsWith('dist/') ? path.join(root, a) : a))];
  const [cmd, ...rest] = hasTaskset ? ['taskset', '-c', '0', ...argv] : argv;
  const t = performance.now();
  const r = spawnSync(cmd!, rest, { encoding: 'utf8', env: { ...process.env, ARKEO_SIGNER_CRYPTO: crypto } });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${args.join(' ')} (ARKEO_SIGNER_CRYPTO=${crypto}) failed: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-home-'));
await Keyring.open({ backend: 'test', dir: home }).newAccount('alice', MNEMONIC);

const results = users.map((u) => ({
  ...u,
  version: run(u.root, u.crypto, ['dist/bin/arkeo-signer.js', 'version']).stdout.trim().split('\n')[1]!,
  rates: [] as number[],
  cold: [] as number[],
}));
for (const r of results) for (let i = 0; i < 3; i++) run(r.root, r.crypto, ['dist/bin/signhere.js', '-home', home, '-m', 'warm']);
for (let round = 0; round < ROUNDS; round++) {
  for (const r of results) {
    const out = JSON.parse(run(r.root, r.crypto, ['dist/bench/sign-loop.js', r.engine, '1', '1', 'sign']).stdout) as { rates?: number[]; error?: string };
    if (!out.rates) throw new Error(`${r.user}: ${out.error}`);
    r.rates.push(...out.rates);
    for (let i = 0; i < COLD_PER_ROUND; i++) r.cold.push(run(r.root, r.crypto, ['dist/bin/signhere.js', '-home', home, '-m', `1:${round}:${i}`]).ms);
  }
}
const bare = Array.from({ length: 20 }, () => run(ROOT, 'noble', ['-e', '0']).ms);

const rows = results.map((r) => ({ user: r.user, engine: r.version, sigPerSec: Math.round(median(r.rates)), signhereColdMs: +median(r.cold).toFixed(1) }));
const noble = rows[2]!;
process.stderr.write(`node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0]!.toFixed(1)}; ${ROUNDS} interleaved rounds (1 s of signing, ${COLD_PER_ROUND} signhere runs each)\n`);
for (const r of rows) {
  process.stderr.write(
    `${r.user.padEnd(7)} ${String(r.sigPerSec).padStart(7)} sig/s (${(r.sigPerSec / noble.sigPerSec).toFixed(1)}× noble)  signhere cold start ${r.signhereColdMs} ms (${(r.signhereColdMs - noble.signhereColdMs).toFixed(0)} ms against noble)  [${r.engine}]\n`,
  );
}
process.stderr.write(`bare node -e 0: ${median(bare).toFixed(1)} ms\n`);
process.stdout.write(JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, loadavg1: os.loadavg()[0], rounds: ROUNDS, rows, bareNodeMs: +median(bare).toFixed(1) }) + '\n');
fs.rmSync(copy, { recursive: true, force: true });
fs.rmSync(home, { recursive: true, force: true });
