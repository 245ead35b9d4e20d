import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/**
 * nsmithuk/local-kms, a real AWS KMS emulator (Go), run as a child process: `go install
 * github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6` puts it in $(go env GOPATH)/bin. Found via
 * $LOCAL_KMS_BIN, then GOBIN / GOPATH/bin (asked of `go env` when Go is on PATH or at /usr/local/go/bin).
 */
export function findLocalKms(): string | undefined {
  const candidates: string[] = [];
  if (process.env.LOCAL_KMS_BIN) candidates.push(process.env.LOCAL_KMS_BIN);
  for (const go of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(go, ['env', 'GOBIN', 'GOPATH'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const [gobin, gopath] = r.stdout.split('\n');
    if (gobin) candidates.push(path.join(gobin, 'local-kms'));
    for (const p of (gopath ?? '').split(path.delimiter).filter(Boolean)) candidates.push(path.join(p, 'bin', 'local-kms'));
    break;
  }
  if (process.env.HOME) candidates.push(path.join(process.env.HOME, 'go', 'bin', 'local-kms'));
  return candidates.find((c) => fs.existsSync(c));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface LocalKms {
  endpoint: string;
  port: number;
  region: string;
  /** SIGKILL the emulator (its LevelDB data stays in dataDir). */
  kill(): Promise<void>;
  /** Start it again on the same port and data. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalKms(bin: string, dataDir: string): Promise<LocalKms> {
  const port = await freePort();
  const region = 'eu-west-2';
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    log = '';
    child = spawn(bin, [], { env: { ...process.env, PORT: String(port), KMS_DATA_PATH: dataDir, KMS_REGION: region }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`local-kms exited (${code}): ${log}`))));
    await Promise.race([waitForPort(port), exited]);
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  };
  await start();
  return { endpoint: `http://127.0.0.1:${port}`, port, region, kill, start, stop: kill };
}
