import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { openNonceStore } from '../../src/nonces/index.js';
import { parseHex, publicKeyFromPrivate, sha256, toAddress, utf8, verifySignature } from '../../src/crypto/index.js';
import { REPO_ROOT, requireComponent, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';

/**
 * Crash safety and concurrency with real processes. Workers (test/support/claim-worker.ts) sign claims in a loop
 * and print each released claim; we SIGKILL them at random points and then check that no nonce was released
 * twice, none went backward, and every released signature is valid for its nonce.
 */
const WORKER = path.join(REPO_ROOT, 'dist', 'test', 'support', 'claim-worker.js');
const KEY = sha256(utf8('arkeo-signer crash test key'));
const PUB = publicKeyFromPrivate(KEY);
const SIGNER = toAddress(PUB);

interface Released {
  nonce: bigint;
  preimage: string;
  sig: string;
  worker: number;
}

function runWorker(store: string, contract: string, count: number, onLine: (l: string) => void): { child: ChildProcess; firstClaim: Promise<void>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [WORKER, store, contract, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  let stderr = '';
  let markFirst!: () => void;
  const firstClaim = new Promise<void>((r) => (markFirst = r));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line !== 'ready') {
        onLine(line);
        markFirst();
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      // A partial last line was never released (the write is one syscall of <4 KiB; it cannot be partial).
      if (buf.length) assert.fail(`worker left a partial line: ${JSON.stringify(buf)}`);
      if (code && code !== 0) assert.fail(`worker failed (${code}): ${stderr}`);
      markFirst();
      resolve(signal ? null : code);
    }),
  );
  return { child, firstClaim, exited };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function crashLoop(store: string, kills: number, slots: number): Promise<{ released: Released[]; midLoopKills: number }> {
  const released: Released[] = [];
  let midLoopKills = 0;
  let maxReleased = 0n;
  let next = 0;
  const slot = async () => {
    while (next < kills) {
      const id = next++;
      const floor = maxReleased; // everything released before this worker started
      const mine: bigint[] = [];
      const w = runWorker(store, '1', 0, (line) => {
        const [n, preimage, sig] = line.split(' ') as [string, string, string];
        const nonce = BigInt(n);
        mine.push(nonce);
        released.push({ nonce, preimage, sig, worker: id });
        if (nonce > maxReleased) maxReleased = nonce;
      });
      // Kill at a random point: most mid-loop (after its first released claim, plus a random delay), some
      // during start-up itself.
      if (Math.random() < 0.25) await sleep(Math.random() * 300);
      else {
        await w.firstClaim;
        midLoopKills++;
        await sleep(Math.random() * 15);
      }
      w.child.kill('SIGKILL');
      await w.exited;
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i]! > mine[i - 1]!, `worker ${id}: nonce went backward`);
      if (mine.length) assert.ok(mine[0]! > floor, `worker ${id}: first nonce ${mine[0]} not above ${floor}, released before it started`);
    }
  };
  await Promise.all(Array.from({ length: slots }, slot));
  return { released, midLoopKills };
}

function checkReleased(released: Released[], contract = '1'): void {
  const seen = new Set<bigint>();
  for (const r of released) {
    assert.ok(!seen.has(r.nonce), `nonce ${r.nonce} released twice`);
    seen.add(r.nonce);
    assert.equal(r.preimage, `${contract}:${r.nonce}:`);
    assert.ok(verifySignature(PUB, utf8(r.preimage), parseHex(r.sig, 'sig', 64)), `signature for nonce ${r.nonce}`);
  }
}

async function concurrent(store: string, processes: number, total: number): Promise<void> {
  const released: Released[] = [];
  const workers = Array.from({ length: processes }, (_, i) =>
    runWorker(store, '2', total / processes, (line) => {
      const [n, preimage, sig] = line.split(' ') as [string, string, string];
      released.push({ nonce: BigInt(n), preimage, sig, worker: i });
    }),
  );
  await Promise.all(workers.map((w) => w.exited));
  assert.equal(released.length, total);
  checkReleased(released, '2');
  const sorted = released.map((r) => r.nonce).sort((a, b) => (a < b ? -1 : 1));
  assert.equal(sorted[0], 1n);
  assert.equal(sorted[total - 1], BigInt(total), 'no gaps without crashes (block size 1)');
}

async function finalCheck(storeSpec: string, released: Released[]): Promise<void> {
  const store = await openNonceStore(storeSpec, '/nonexistent', { create: true });
  const max = released.reduce((m, r) => (r.nonce > m ? r.nonce : m), 0n);
  assert.ok((await store.current(1n, SIGNER)) >= max, 'the store is at or above every released nonce');
  await store.close();
}

test('SQLite: 1,000 SIGKILLs at random points; no nonce released twice or going backward', async () => {
  const db = path.join(tempDir(), 'crash.db');
  const { released, midLoopKills } = await crashLoop(db, 1000, 2);
  assert.ok(midLoopKills > 500 && released.length >= midLoopKills, `kills landed mid-loop (${midLoopKills}, ${released.length} claims)`);
  checkReleased(released);
  await finalCheck(db, released);
});

test('SQLite: 4 processes on one file, 10,000 claims, no duplicates', async () => {
  await concurrent(path.join(tempDir(), 'conc.db'), 4, 10_000);
});

let pg: PgServer | undefined;
after(() => pg?.destroy());

test('PostgreSQL: 200 SIGKILLs at random points, then 4 processes and 10,000 claims', async (t) => {
  pg = await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)') || !pg) return;
  const { released, midLoopKills } = await crashLoop(pg.url, 200, 2);
  assert.ok(midLoopKills > 100 && released.length >= midLoopKills, `kills landed mid-loop (${midLoopKills}, ${released.length} claims)`);
  checkReleased(released);
  await finalCheck(pg.url, released);
  await concurrent(pg.url, 4, 10_000);
});
