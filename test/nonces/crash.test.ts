import { test, after, type TestContext } from 'node:test';
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

/**
 * The workers a test started. t.after (which runs however the test ends: a failed assertion, an exception, its
 * timeout) stops the loops that start more and SIGKILLs every worker still running, so a failure is reported
 * instead of the file running on with live children.
 */
class Fleet {
  readonly live = new Set<ChildProcess>();
  stopped = false;

  constructor(t: TestContext) {
    t.after(() => this.stop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const closed = [...this.live].map((c) => new Promise((r) => c.once('close', r)));
    for (const c of this.live) c.kill('SIGKILL');
    await Promise.all(closed);
  }
}

/**
 * One worker. `exited` resolves once the worker has ended the way it was meant to: killed by our SIGKILL
 * (`killed: true`, a crash-loop worker) or exit code 0 (a worker given a count). Anything else rejects, and so
 * fails the test that awaits it: an exit code, another signal (a worker dying of SIGSEGV or SIGABRT is a bug, not
 * a simulated crash), or a partial last line. (An assert.fail in the listener itself would be an uncaught
 * exception, not a test failure.)
 */
function runWorker(fleet: Fleet, store: string, contract: string, count: number, onLine: (l: string) => void): { child: ChildProcess; firstClaim: Promise<void>; exited: Promise<void>; kill: () => void } {
  const child = spawn(process.execPath, [WORKER, store, contract, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
  fleet.live.add(child);
  let killed = false;
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
  // 'close', not 'exit': only then has everything the worker wrote to its pipes been read.
  const exited = new Promise<void>((resolve, reject) =>
    child.on('close', (code, signal) => {
      fleet.live.delete(child);
      markFirst();
      // A partial last line was never released (the write is one syscall of <4 KiB; it cannot be partial).
      if (buf.length) return reject(new Error(`worker left a partial line: ${JSON.stringify(buf)}`));
      if (signal === 'SIGKILL' && killed) return resolve();
      if (signal) return reject(new Error(`worker killed by ${signal}, which the test did not send: ${stderr}`));
      if (code !== 0) return reject(new Error(`worker failed (exit code ${code}): ${stderr}`));
      if (killed) return reject(new Error('worker exited by itself before the SIGKILL meant for it'));
      resolve();
    }),
  );
  // Awaited later (after the kill); until then a failure must not count as an unhandled rejection.
  exited.catch(() => {});
  const kill = () => {
    killed = true;
    child.kill('SIGKILL');
  };
  return { child, firstClaim, exited, kill };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function crashLoop(fleet: Fleet, store: string, kills: number, slots: number): Promise<{ released: Released[]; midLoopKills: number }> {
  const released: Released[] = [];
  let midLoopKills = 0;
  let maxReleased = 0n;
  let next = 0;
  const slot = async () => {
    while (next < kills && !fleet.stopped) {
      const id = next++;
      const floor = maxReleased; // everything released before this worker started
      const mine: bigint[] = [];
      const w = runWorker(fleet, store, '1', 0, (line) => {
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
      w.kill();
      await w.exited;
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i]! > mine[i - 1]!, `worker ${id}: nonce went backward`);
      if (mine.length) assert.ok(mine[0]! > floor, `worker ${id}: first nonce ${mine[0]} not above ${floor}, released before it started`);
    }
  };
  // The first failure stops the other slot too, rather than letting it start the rest of the workers.
  await Promise.all(Array.from({ length: slots }, () => slot().catch((e) => ((fleet.stopped = true), Promise.reject(e)))));
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

async function concurrent(fleet: Fleet, store: string, processes: number, total: number): Promise<void> {
  const released: Released[] = [];
  const workers = Array.from({ length: processes }, (_, i) =>
    runWorker(fleet, store, '2', total / processes, (line) => {
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

test('SQLite: 1,000 SIGKILLs at random points; no nonce released twice or going backward', { timeout: 15 * 60_000 }, async (t) => {
  const db = path.join(tempDir(), 'crash.db');
  const { released, midLoopKills } = await crashLoop(new Fleet(t), db, 1000, 2);
  assert.ok(midLoopKills > 500 && released.length >= midLoopKills, `kills landed mid-loop (${midLoopKills}, ${released.length} claims)`);
  checkReleased(released);
  await finalCheck(db, released);
});

test('SQLite: 4 processes on one file, 10,000 claims, no duplicates', { timeout: 5 * 60_000 }, async (t) => {
  await concurrent(new Fleet(t), path.join(tempDir(), 'conc.db'), 4, 10_000);
});

let pg: PgServer | undefined;
// After the test's own t.after has killed its workers: the server goes last.
after(() => pg?.destroy());

test('PostgreSQL: 200 SIGKILLs at random points, then 4 processes and 10,000 claims', { timeout: 15 * 60_000 }, async (t) => {
  pg = await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)') || !pg) return;
  const fleet = new Fleet(t);
  const { released, midLoopKills } = await crashLoop(fleet, pg.url, 200, 2);
  assert.ok(midLoopKills > 100 && released.length >= midLoopKills, `kills landed mid-loop (${midLoopKills}, ${released.length} claims)`);
  checkReleased(released);
  await finalCheck(pg.url, released);
  await concurrent(fleet, pg.url, 4, 10_000);
});
