/**
 * Durable claims per second: reserve the nonce durably (SQLite WAL + synchronous=FULL, or PostgreSQL commit),
 * sign, format the header. One process (1 and 32 claims in flight) and four processes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ClaimSigner } from '../src/claims/index.js';
import { openNonceStore } from '../src/nonces/index.js';
import { privateKeyToSigner } from '../src/signers/index.js';
import { sha256, utf8 } from '../src/crypto/index.js';
import { startPostgres } from '../test/support/postgres.js';

export interface Row {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.resolve(HERE, '..', 'test', 'support', 'claim-worker.js');
const SECONDS = Number(process.env.BENCH_CLAIM_SECONDS ?? 3);

async function inProcess(spec: string, contract: bigint, inFlight: number): Promise<number> {
  const store = await openNonceStore(spec, os.tmpdir(), { create: true });
  const claims = await ClaimSigner.create(privateKeyToSigner(sha256(utf8('bench claims'))), store);
  for (let i = 0; i < 50; i++) await claims.signClaim(contract); // warm-up
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await claims.signClaim(contract);
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - start) / 1000);
  await store.close();
  return rate;
}

/** Four worker processes, each signing `perProcess` claims sequentially on the same contract and key. */
async function fourProcesses(spec: string, contract: string, perProcess: number): Promise<number> {
  const start = performance.now();
  await Promise.all(
    Array.from(
      { length: 4 },
      () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, [WORKER, spec, contract, String(perProcess)], { stdio: ['ignore', 'ignore', 'inherit'] });
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exit ${code}`))));
        }),
    ),
  );
  // Includes process start-up (~0.3 s each, in parallel); perProcess is large enough to make that minor.
  return (4 * perProcess) / ((performance.now() - start) / 1000);
}

export async function benchClaims(): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-claims-'));
  const engines: [string, string][] = [['SQLite', path.join(dir, 'nonces.db')]];
  const pg = await startPostgres().catch(() => undefined);
  if (pg) engines.push(['PostgreSQL', pg.url]);
  else rows.push({ name: 'durable claims, PostgreSQL', value: NaN, unit: 'claims/s', note: 'skipped: PostgreSQL server binaries not found' });
  try {
    for (const [name, spec] of engines) {
      rows.push({ name: `durable claims, ${name}, 1 process, 1 in flight`, value: Math.round(await inProcess(spec, 1n, 1)), unit: 'claims/s', note: `${SECONDS} s` });
      rows.push({ name: `durable claims, ${name}, 1 process, 32 in flight`, value: Math.round(await inProcess(spec, 2n, 32)), unit: 'claims/s', note: `${SECONDS} s, ${name === 'SQLite' ? 'group commit' : 'pool of 4 connections'}` });
      rows.push({ name: `durable claims, ${name}, 4 processes`, value: Math.round(await fourProcesses(spec, '3', 2000)), unit: 'claims/s', note: '4 × 2,000 claims, one contract and key, incl. start-up' });
    }
  } finally {
    pg?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
