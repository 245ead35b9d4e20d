/**
 * Cold start: a whole process per signature, as the Go signhere is used today. Each round runs, back to back, a
 * bare `node -e 0`, our signhere, one `arkeo-signer claim sign` (its nonce reserved durably in SQLite) and, with
 * BENCH_GO_SIGNHERE=/path/to/signhere, the Go signhere; the figures are medians over the rounds. Interleaved
 * because this VM's speed drifts by up to a third within seconds: a ratio of figures taken apart measures drift.
 * Goals: signhere at most 1.25 × the bare Node start of the same run (and, on Node 24, at most Go's signhere),
 * claim sign at most 1.5 ×.
 *
 * Every command runs as a user would run it: the shipped bins (dist/bin) executed as an installed command (their
 * launcher line starts the startup snapshot built for this node, src/cli/snapshot-blobs.mjs), HOME pointing at a
 * fresh home with the key in ~/.arkeo/keyring-test, no flags but the message (Go's signhere reads only
 * $HOME/.arkeo). The same bins run as `node dist/bin/…` (the bundles, what runs where no snapshot can be used) are
 * timed in the same rounds. Alone: npm run build && node dist/bench/coldstart.js. Nothing here is asserted.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Keyring } from '../src/keyring/index.js';
import type { Row } from './claims.js';
import { median } from './stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIGNHERE = path.join(ROOT, 'dist', 'bin', 'signhere.js');
const ARKEO_SIGNER = path.join(ROOT, 'dist', 'bin', 'arkeo-signer.js');
const ROUNDS = Math.max(20, Number(process.env.BENCH_COLD_ROUNDS ?? 20));
const MNEMONIC = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art';
const GOAL = { signhere: 1.25, claim: 1.5 };

export interface ColdStart {
  rows: Row[];
  /** The goals' ratios (null when a figure is missing): each command's cold start over the bare Node start, ours over Go's. */
  ratios: { signhereVsNode: number | null; claimSignVsNode: number | null; signhereVsGo: number | null };
  /** signhere's median, for run.ts's in-process comparison. */
  signhereMs: number;
}

interface Command {
  name: string;
  argv: (round: number) => string[];
  times: number[];
}

export async function benchColdStart(): Promise<ColdStart> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-cold-'));
  try {
    await Keyring.open({ backend: 'test', dir: path.join(home, '.arkeo') }).newAccount('alice', MNEMONIC);
    // What a user's shell would hand over, minus anything of ours that would redirect the commands; PATH finds this
    // node first, as it would for a user whose node this is.
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
    for (const v of ['ARKEO_HOME', 'ARKEO_KEYRING_BACKEND', 'ARKEO_SIGNER_DAEMON', 'ARKEO_NONCE_STORE', 'ARKEO_SIGNER_LOG', 'ARKEO_SIGNER_CRYPTO', 'ARKEO_SIGNER_SNAPSHOT']) delete env[v];
    const run = (argv: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
      const t = performance.now();
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...env, ...extraEnv } });
      const ms = performance.now() - t;
      if (r.status !== 0) {
        const what = argv[0] === process.execPath ? path.basename(argv[1]!) : argv[0];
        if (r.error) throw new Error(`${what} did not start: ${r.error.message}`);
        throw new Error(`${what} exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n')[0] || 'nothing on stderr'}`);
      }
      return { ms, stdout: r.stdout, stderr: r.stderr };
    };
    /** Whether the command starts from its snapshot here (it says so at the debug log level). */
    const fromSnapshot = (argv: string[]) => /started from its startup snapshot/.test(run(argv, { ARKEO_SIGNER_LOG: 'debug' }).stderr);

    const node = process.execPath;
    const store = path.join(home, 'nonces.db');
    const bundleStore = path.join(home, 'nonces-bundle.db');
    const commands: Command[] = [
      { name: 'node', argv: () => [node, '-e', '0'], times: [] },
      { name: 'signhere', argv: (i) => [SIGNHERE, '-m', `1:${i}:`], times: [] },
      { name: 'signhere-bundle', argv: (i) => [node, SIGNHERE, '-m', `1:${i}:`], times: [] },
    ];
    const notes: Record<string, string> = {};
    notes.how = fromSnapshot([SIGNHERE, '-m', '1:0:']) ? 'from its startup snapshot' : 'the bundle: no startup snapshot for this node';

    // claim sign: the stores are created once, untimed; every timed run then reserves and signs the next nonce.
    try {
      for (const s of [store, bundleStore]) {
        const first = run([node, ARKEO_SIGNER, 'claim', 'sign', '--contract', '42', '--key', 'alice', '--nonce-store', s, '--create-nonce-store']).stdout;
        if (!/^42:1:[0-9a-f]{128}\n$/.test(first)) throw new Error(`unexpected output ${JSON.stringify(first.slice(0, 40))}`);
      }
      notes.claimHow = fromSnapshot([ARKEO_SIGNER, 'claim', 'sign', '--contract', '43', '--key', 'alice', '--nonce-store', store]) ? 'from its startup snapshot' : 'the bundle: no startup snapshot for this node';
      commands.push({ name: 'claim', argv: () => [ARKEO_SIGNER, 'claim', 'sign', '--contract', '42', '--key', 'alice', '--nonce-store', store], times: [] });
      commands.push({ name: 'claim-bundle', argv: () => [node, ARKEO_SIGNER, 'claim', 'sign', '--contract', '42', '--key', 'alice', '--nonce-store', bundleStore], times: [] });
    } catch (e) {
      notes.claim = `skipped: ${(e as Error).message}`;
    }

    // The Go tool, when given: same key, same message, same bytes out (checked once) before it is timed.
    const go = process.env.BENCH_GO_SIGNHERE;
    if (go) {
      try {
        const theirs = run([go, '-u', 'alice', '-m', '1:1:']).stdout;
        const ours = run([SIGNHERE, '-u', 'alice', '-m', '1:1:']).stdout;
        if (theirs !== ours) throw new Error(`its output differs from ours (${JSON.stringify(theirs.slice(0, 20))}…)`);
        commands.push({ name: 'go', argv: (i) => [go, '-m', `1:${i}:`], times: [] });
      } catch (e) {
        notes.go = `skipped: ${(e as Error).message}`;
      }
    } else notes.go = 'skipped: set BENCH_GO_SIGNHERE=/path/to/Go/signhere';

    for (let round = -3; round < ROUNDS; round++) {
      for (const c of commands) {
        const { ms } = run(c.argv(round + 3));
        if (round >= 0) c.times.push(ms); // three warm-up rounds: the page cache, not a cold disk, is measured
      }
    }

    const med = (name: string) => {
      const c = commands.find((x) => x.name === name);
      return c ? median(c.times) : NaN;
    };
    const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? +(a / b).toFixed(2) : null);
    const bare = med('node');
    const signhere = med('signhere');
    const claim = med('claim');
    const goMs = med('go');
    const each = `median of ${ROUNDS}, interleaved`;
    const loadavg = `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
    const rows: Row[] = [
      { name: 'bare `node -e 0` start, for reference', value: +bare.toFixed(1), unit: 'ms', note: `${each}; ${process.version}; ${loadavg}` },
      { name: 'signhere cold start (process per signature)', value: +signhere.toFixed(1), unit: 'ms', note: `${each}; ${notes.how}` },
      { name: 'signhere / bare node', value: ratio(signhere, bare) ?? NaN, unit: '×', note: `goal ≤ ${GOAL.signhere}` },
      { name: 'signhere as `node dist/bin/signhere.js` (the bundle)', value: +med('signhere-bundle').toFixed(1), unit: 'ms', note: `${ratio(med('signhere-bundle'), bare)} × bare node` },
      { name: 'claim sign cold start (one claim, SQLite nonce)', value: +claim.toFixed(1), unit: 'ms', note: notes.claim ?? `${each}; ${notes.claimHow}` },
      { name: 'claim sign / bare node', value: ratio(claim, bare) ?? NaN, unit: '×', note: notes.claim ? 'skipped' : `goal ≤ ${GOAL.claim}` },
      { name: 'claim sign as `node dist/bin/arkeo-signer.js` (the bundle)', value: +med('claim-bundle').toFixed(1), unit: 'ms', note: notes.claim ? 'skipped' : `${ratio(med('claim-bundle'), bare)} × bare node` },
      { name: 'Go signhere cold start', value: +goMs.toFixed(1), unit: 'ms', note: notes.go ?? each },
      { name: 'signhere / Go signhere', value: ratio(signhere, goMs) ?? NaN, unit: '×', note: notes.go ? 'skipped' : '' },
    ];
    return {
      rows,
      ratios: { signhereVsNode: ratio(signhere, bare), claimSignVsNode: ratio(claim, bare), signhereVsGo: ratio(signhere, goMs) },
      signhereMs: signhere,
    };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

// Run alone: the rows on stderr, the JSON on stdout, like run.ts.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await benchColdStart();
  const width = Math.max(...r.rows.map((x) => x.name.length));
  process.stderr.write(r.rows.map((x) => `${x.name.padEnd(width)}  ${String(Number.isFinite(x.value) ? x.value : '-').padStart(8)} ${x.unit.padEnd(3)} ${x.note ?? ''}`).join('\n') + '\n');
  process.stdout.write(JSON.stringify({ node: process.version, results: r.rows, ratios: r.ratios }, null, 2) + '\n');
}
