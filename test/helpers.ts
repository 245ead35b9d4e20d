import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** Compiled tests live in dist/test/…; the repository root is two levels above dist/test. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The project's shared folder beside the repository, when there is one: only to check the copy below against it. */
export const SHARED_DIR = process.env.ARKEO_SHARED_DIR ?? path.resolve(REPO_ROOT, '..', 'shared');
/**
 * The tests' copy of ../shared/vectors, inside the repository so that a clone standing alone runs every test
 * (provenance and SHA-256 in test/vectors/README.md, checked by test/interop/shared-vectors.test.ts).
 */
export const VECTORS = path.join(REPO_ROOT, 'test', 'vectors', 'shared');
/** The bins as shipped (package.json `bin`): the bundles npm run build writes to dist/bin. */
export const BIN = {
  arkeoSigner: path.join(REPO_ROOT, 'dist', 'bin', 'arkeo-signer.js'),
  signhere: path.join(REPO_ROOT, 'dist', 'bin', 'signhere.js'),
};

/**
 * Skip with a visible reason when an outside component is missing; under CI=true a missing component is a
 * failure, not a skip.
 */
export function requireComponent(t: TestContext, present: boolean, what: string): boolean {
  if (present) return true;
  if (process.env.CI === 'true') throw new Error(`required test component missing under CI: ${what}`);
  t.skip(`missing: ${what}`);
  return false;
}

/**
 * The vectors are part of the repository now, so a missing file is a broken checkout: fail, never skip. Kept as a
 * function (always true) so the many call sites stay as they are while other suites are being edited.
 */
export function requireVectors(_t: TestContext): boolean {
  if (!fs.existsSync(path.join(VECTORS, 'arkeo-claims.json'))) {
    throw new Error(`test vectors missing at ${VECTORS}: they are part of the repository; restore them with git checkout -- test/vectors/shared`);
  }
  return true;
}

export function readVector<T = unknown>(rel: string): T {
  return JSON.parse(fs.readFileSync(path.join(VECTORS, rel), 'utf8')) as T;
}

export interface ClaimVectors {
  keys: Record<string, { mnemonic: string; priv: string; pub: string; pubBase64: string; address: string; testnetAddress: string; bech32PubKey: string; testnetBech32PubKey: string }>;
  signatures: { key: string; message: string; signature: string; note: string }[];
  prehashedSignatures: { key: string; message_sha256_of: string; signature: string }[];
  headers: { kind: string; key: string; contractId: number; nonce?: number; timestamp?: number; value: string }[];
  curveOrder: string;
}

export interface UpstreamSignature {
  privHex: string;
  msgHex: string;
  sha256Hex: string;
  sigHex: string;
}

const tempDirs: string[] = [];
// Each test file runs in its own process: remove its temp dirs when it exits.
process.on('exit', () => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'arkeo-signer-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Copy a vector folder into a fresh temp dir (0700/0600), so tests may write beside read-only vectors. */
export function copyVectorDir(rel: string, destRoot = tempDir()): string {
  fs.cpSync(path.join(VECTORS, rel), destRoot, { recursive: true });
  for (const entry of fs.readdirSync(destRoot, { recursive: true, withFileTypes: true })) {
    const p = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    fs.chmodSync(p, entry.isDirectory() ? 0o700 : 0o600);
  }
  fs.chmodSync(destRoot, 0o700);
  return destRoot;
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string | undefined>;
}

/** The test's environment without passphrase variables (a test passes its own), plus the overrides; undefined removes. */
function childEnv(options: RunOptions): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = { ...process.env, ARKEO_KEYRING_PASSPHRASE: undefined, ARKEO_ARMOR_PASSPHRASE: undefined, ...options.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env as NodeJS.ProcessEnv;
}

/** Run one of our CLIs as a subprocess, as a user would. */
export function run(bin: string, args: string[], options: RunOptions = {}): SpawnSyncReturns<string> {
  const env = childEnv(options);
  return spawnSync(process.execPath, [bin, ...args], { input: options.input ?? '', encoding: 'utf8', env, timeout: 60_000 });
}

/** Like run(), without blocking the event loop: for tests whose in-process servers must answer the child. */
export function runAsync(bin: string, args: string[], options: RunOptions = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env = childEnv(options);
  return new Promise((resolve, reject) => {
    // Bounded like run(): a child that hangs is killed, so the test fails instead of the file never ending.
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Every file (recursively) under dir, for "no partial file left behind" checks. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}
