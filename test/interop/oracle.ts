import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers.js';

/**
 * Builds and runs the Go interop oracle (test/interop/oracle), which links cosmos-sdk v0.50.11's real keyring.
 * The binary is cached beside its sources and rebuilt when main.go, go.mod or go.sum are newer.
 */
export const ORACLE_DIR = path.join(REPO_ROOT, 'test', 'interop', 'oracle');
export const ORACLE_BIN = path.join(ORACLE_DIR, 'oracle');

export function goAvailable(): boolean {
  return spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
}

// GOTOOLCHAIN defaults to local (no downloads); .ci/run sets auto only when the installed Go is too old.
const GO_ENV = { ...process.env, GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local', GOFLAGS: '-mod=readonly -buildvcs=false' };

export function buildOracle(): string {
  const sources = ['main.go', 'go.mod', 'go.sum'].map((f) => fs.statSync(path.join(ORACLE_DIR, f)).mtimeMs);
  const built = fs.existsSync(ORACLE_BIN) ? fs.statSync(ORACLE_BIN).mtimeMs : 0;
  if (built > Math.max(...sources)) return ORACLE_BIN;
  execFileSync('go', ['build', '-o', ORACLE_BIN, '.'], { cwd: ORACLE_DIR, env: GO_ENV, stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60_000 });
  return ORACLE_BIN;
}

export interface OracleOptions {
  input?: string;
  passphrase?: string;
  /** More environment: the session bus of a Secret Service, a pass store and GnuPG home, ORACLE_APP_NAME. */
  env?: Record<string, string>;
}

/** Run an oracle command; throws with its stderr when it fails. */
export function oracle(args: string[], options: OracleOptions = {}): string {
  const r = spawnSync(ORACLE_BIN, args, {
    input: options.input ?? '',
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    // Synchronous, so a test timeout cannot interrupt it: a hung oracle is killed here instead.
    timeout: 10 * 60_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, ...options.env, ORACLE_PASSPHRASE: options.passphrase ?? '' },
  });
  if (r.status !== 0) throw new Error(`oracle ${args[0]} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function oracleJson<T>(args: string[], options?: OracleOptions): T {
  return JSON.parse(oracle(args, options)) as T;
}

export function oracleLines(args: string[], inputLines: string[], options: OracleOptions = {}): string[] {
  const out = oracle(args, { ...options, input: inputLines.join('\n') + '\n' }).trimEnd();
  return out === '' ? [] : out.split('\n');
}

export interface GoKey {
  name: string;
  type: string;
  address: string;
  pubkey_hex: string;
  mnemonic?: string;
}
