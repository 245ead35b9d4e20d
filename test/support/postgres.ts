import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

/**
 * A private, real PostgreSQL server for one test file: initdb into a temp dir, pg_ctl start on a free loopback
 * port, and stop/start/crash controls so tests can take the database away. Uses Debian's server binaries
 * (package `postgresql`, which .ci/run installs); runs them as the `postgres` user when we are root.
 */
export interface PgServer {
  url: string;
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  destroy(): void;
}

export function findPgBin(): string | undefined {
  if (process.env.ARKEO_TEST_PG_BIN) return process.env.ARKEO_TEST_PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function startPostgres(): Promise<PgServer | undefined> {
  const bin = findPgBin();
  if (!bin) return undefined;
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-pg-'));
  const data = path.join(dir, 'data');
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const run = (cmd: string, args: string[]) => {
    const full = path.join(bin, cmd);
    // Synchronous, so a test timeout cannot interrupt it: bounded here (pg_ctl itself waits at most 60 s).
    const o = { stdio: 'pipe', timeout: 120_000, killSignal: 'SIGKILL' } as const;
    return asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', full, ...args], o) : execFileSync(full, args, o);
  };
  run('initdb', ['-D', data, '-U', 'arkeo', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=60 -c fsync=on -c synchronous_commit=on`;
  const start = () => run('pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start']);
  try {
    start();
  } catch (e) {
    // The server may be up even though pg_ctl failed or timed out; no caller holds it yet, so stop it here.
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      /* it was not running */
    }
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `postgres://arkeo@127.0.0.1:${port}/postgres`,
    start,
    stop: (mode = 'fast') => {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    },
    destroy: () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already stopped */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
