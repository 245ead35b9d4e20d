import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import pgLib from 'pg';
import { NonceAllocator, NonceStoreError, PostgresNonceStore, SpendVelocityError, SqliteNonceStore, SPEND_BUCKET_MS, WINDOW_MS, spendBudget, type NonceStore, type SpendBudget } from '../../src/nonces/index.js';
import { admit, retryAt, spentIn, type SpendBuckets } from '../../src/nonces/velocity.js';
import { requireComponent, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';

/**
 * Spend velocity in the nonce stores: a reservation under a budget is checked against, and recorded in, each
 * scope's spend of the last hour and day, in the transaction that takes the nonce. Both engines, the same contract.
 */
const ADDR = 'arkeo1hnyy4gp5tgarpg3xu6w5cw4zsyphx2lyr6fljp';
const B = SPEND_BUCKET_MS;
const HOUR = WINDOW_MS.hour;
const DAY = WINDOW_MS.day;
const bucket = (ms: number) => Math.floor(ms / B);

const hourly = (limit: bigint, scope = 'contract', rate = 10n): SpendBudget => ({ rate, limits: [{ scope, window: 'hour', limit }] });

function velocityRefusal(window: 'hour' | 'day') {
  return (e: unknown) => e instanceof SpendVelocityError && e.code === 'SPEND_VELOCITY' && e.window === window && !e.message.includes('\n') && /nothing was signed$/.test(e.message);
}

/** What the refusal must say: a charge made between `from` and `to` frees the window at the end of its minute + the window. */
function assertRetry(e: SpendVelocityError, from: number, to: number, window: number, what: string): void {
  assert.ok(e.retryAt, `${what}: a retry time`);
  const at = e.retryAt.getTime();
  assert.ok(at >= (bucket(from) + 1) * B + window && at <= (bucket(to) + 1) * B + window, `${what}: retry at ${e.retryAt.toISOString()}`);
  assert.ok(e.message.includes(e.retryAt.toISOString().replace('.000Z', 'Z')), `${what}: the message names the time: ${e.message}`);
  assert.ok(e.retryAfterSeconds! >= Math.floor((at - to) / 1000) && e.retryAfterSeconds! <= Math.ceil((at - from) / 1000) + 1, `${what}: Retry-After ${e.retryAfterSeconds}`);
}

async function refusalOf(p: Promise<unknown>): Promise<SpendVelocityError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof SpendVelocityError, `expected a velocity refusal, got ${e === undefined ? 'a reservation' : String(e)}`);
  return e;
}

test('velocity arithmetic: sliding windows over minute buckets, the retry time, the binding limit', () => {
  const now = 1_700_000_000_000;
  const b = bucket(now);
  const buckets: SpendBuckets = new Map([
    [b - 61, 40n], // ended 60 min ago or more: out of the hour, in the day
    [b - 59, 10n],
    [b, 30n],
    [bucket(now - DAY) - 1, 1000n], // out of every window
  ]);
  assert.equal(spentIn(buckets, 'hour', now), 40n);
  assert.equal(spentIn(buckets, 'day', now), 80n);
  // 40 spent, limit 50, cost 10: fits now.
  assert.equal(retryAt(buckets, 'hour', 50n, 10n, now), now);
  // limit 45: the 59-minute-old bucket must leave: at its end + 1 h.
  assert.equal(retryAt(buckets, 'hour', 45n, 10n, now), (b - 58) * B + HOUR);
  // limit 35: that one is not enough, the current minute must leave too.
  assert.equal(retryAt(buckets, 'hour', 35n, 10n, now), (b + 1) * B + HOUR);
  assert.equal(retryAt(buckets, 'hour', 5n, 10n, now), undefined, 'a limit below one claim: no wait helps');
  // admit: how many fit, and which refusal is reported (the one that frees last).
  const budget: SpendBudget = { rate: 10n, limits: [{ scope: 'contract', window: 'hour', limit: 70n }, { scope: 'contract', window: 'day', limit: 100n }] };
  assert.deepEqual(admit(budget, () => buckets, 10n, now), { count: 2n }, 'the day (20 left) binds before the hour (30 left)');
  const tight: SpendBudget = { rate: 10n, limits: [{ scope: 'contract', window: 'hour', limit: 45n }, { scope: 'contract', window: 'day', limit: 85n }] };
  const r = admit(tight, () => buckets, 1n, now);
  assert.ok('refusal' in r);
  // The hour frees at (b-58)·B + 1 h; the day only when the 40 of b-61 leaves: (b-60)·B + 1 d.
  assert.equal(r.refusal.window, 'day');
  assert.equal(r.refusal.retryAt, (b - 60) * B + DAY);
  // Control: the same buckets under looser limits admit the whole request.
  assert.deepEqual(admit({ rate: 10n, limits: [{ scope: 'contract', window: 'hour', limit: 1000n }] }, () => buckets, 10n, now), { count: 10n });
  assert.equal(spendBudget(10n, undefined, undefined), undefined, 'no limits, no budget');
  assert.deepEqual(spendBudget(10n, { perHour: 5n }, { name: 'a', perDay: 7n })?.limits, [
    { scope: 'contract', window: 'hour', limit: 5n },
    { scope: 'token:a', window: 'day', limit: 7n },
  ]);
});

interface Engine {
  open(): Promise<NonceStore>;
  /** Write spend the store did not record itself (an older minute), as another process would have. */
  plant(contractId: bigint, scope: string, bucket: number, amount: bigint): Promise<void>;
  buckets(contractId: bigint, scope: string): Promise<number[]>;
}

async function storeVelocity(engine: Engine): Promise<void> {
  const store = await engine.open();
  try {
    // Five claims of 10 fit an hourly 50; the sixth is refused before any nonce is taken.
    const t0 = Date.now();
    for (let i = 1n; i <= 5n; i++) assert.deepEqual(await store.reserve(1n, ADDR, 1, undefined, hourly(50n)), { first: i, last: i });
    const t1 = Date.now();
    const refused = await refusalOf(store.reserve(1n, ADDR, 1, undefined, hourly(50n)));
    assert.ok(velocityRefusal('hour')(refused));
    assert.match(refused.message, /^contract 1: the contract's limit \(max_spend_per_hour\) is 50 uarkeo per hour, 50 is spent in the last hour and a claim costs 10; the next claim is possible at /);
    assertRetry(refused, t0, t1, HOUR, 'hourly');
    assert.equal(await store.current(1n, ADDR), 5n, 'the refusal took no nonce');
    // Control: the same spend under a larger budget is signed, and a reservation without one is not counted.
    assert.deepEqual(await store.reserve(1n, ADDR, 1, undefined, hourly(1000n)), { first: 6n, last: 6n });
    assert.deepEqual(await store.reserve(1n, ADDR, 1), { first: 7n, last: 7n });
    await refusalOf(store.reserve(1n, ADDR, 1, undefined, hourly(60n)));
    assert.deepEqual(await store.reserve(1n, ADDR, 1, undefined, hourly(70n)), { first: 8n, last: 8n }, '60 counted, the unbudgeted one not');

    // A block is cut to what fits, and counts whole when reserved.
    assert.deepEqual(await store.reserve(2n, ADDR, 10, undefined, hourly(30n)), { first: 1n, last: 3n });
    await refusalOf(store.reserve(2n, ADDR, 1, undefined, hourly(30n)));
    // The ceiling (max spend) is checked first: what no wait changes is said as such.
    await assert.rejects(store.reserve(2n, ADDR, 1, 3n, hourly(1000n)), (e: unknown) => e instanceof NonceStoreError && e.code === 'SPEND_LIMIT');
    // A limit below one claim's cost: refused with no retry time.
    const never = await refusalOf(store.reserve(2n, ADDR, 1, undefined, hourly(5n, 'token:tiny')));
    assert.equal(never.retryAt, undefined);
    assert.match(never.message, /token tiny's limit on it \(max_spend_per_hour\) is 5 uarkeo per hour.*below the cost of one claim/);

    // Scopes: each token has its own window on the contract; the contract's window counts them all.
    const both = (token: string, tokenLimit: bigint, contractLimit: bigint): SpendBudget => ({ rate: 10n, limits: [{ scope: `token:${token}`, window: 'hour', limit: tokenLimit }, { scope: 'contract', window: 'hour', limit: contractLimit }] });
    await store.reserve(3n, ADDR, 1, undefined, both('a', 20n, 50n));
    await store.reserve(3n, ADDR, 1, undefined, both('a', 20n, 50n));
    const tokenA = await refusalOf(store.reserve(3n, ADDR, 1, undefined, both('a', 20n, 50n)));
    assert.equal(tokenA.scope, 'token:a');
    await store.reserve(3n, ADDR, 1, undefined, both('b', 20n, 50n));
    await store.reserve(3n, ADDR, 1, undefined, both('b', 20n, 50n));
    await store.reserve(3n, ADDR, 1, undefined, both('c', 20n, 50n));
    const contract = await refusalOf(store.reserve(3n, ADDR, 1, undefined, both('c', 20n, 50n)));
    assert.equal(contract.scope, 'contract', 'token c has room, the contract has none');

    // The day window.
    const daily = (limit: bigint): SpendBudget => ({ rate: 10n, limits: [{ scope: 'contract', window: 'hour', limit: 1000n }, { scope: 'contract', window: 'day', limit }] });
    const d0 = Date.now();
    await store.reserve(4n, ADDR, 2, undefined, daily(20n));
    const d1 = Date.now();
    const day = await refusalOf(store.reserve(4n, ADDR, 1, undefined, daily(20n)));
    assert.ok(velocityRefusal('day')(day));
    assertRetry(day, d0, d1, DAY, 'daily');

    // The window slides: spend of 62 minutes ago is out of the hour and in the day; of 59 minutes ago, in both.
    const now = Date.now();
    await engine.plant(5n, 'contract', bucket(now - 62 * 60_000), 40n);
    await engine.plant(5n, 'contract', bucket(now - 59 * 60_000), 10n);
    await engine.plant(5n, 'contract', bucket(now - 25 * HOUR), 999n); // older than a day: counts nowhere, and is pruned
    for (let i = 1n; i <= 4n; i++) await store.reserve(5n, ADDR, 1, undefined, hourly(50n));
    const slid = await refusalOf(store.reserve(5n, ADDR, 1, undefined, hourly(50n)));
    // 10 (59 min ago) + 40 (now) = 50: the next 10 fits once the 59-minute-old minute leaves the hour.
    assert.equal(slid.retryAt!.getTime(), (bucket(now - 59 * 60_000) + 1) * B + HOUR);
    assert.ok(slid.retryAfterSeconds! <= 120, `in a minute or two: ${slid.retryAfterSeconds}`);
    assert.deepEqual(
      (await engine.buckets(5n, 'contract')).filter((x) => x < bucket(now - DAY)),
      [],
      'buckets older than a day are deleted by the next reservation',
    );
    await refusalOf(store.reserve(5n, ADDR, 1, undefined, { rate: 10n, limits: [{ scope: 'contract', window: 'day', limit: 90n }] }));
    assert.deepEqual(await store.reserve(5n, ADDR, 1, undefined, { rate: 10n, limits: [{ scope: 'contract', window: 'day', limit: 100n }] }), { first: 5n, last: 5n }, 'the day counts 40 + 10 + 40');

    // Concurrent reservations: exactly the budget, each nonce once, the rest refused.
    const results = await Promise.allSettled(Array.from({ length: 64 }, () => store.reserve(6n, ADDR, 1, undefined, hourly(200n))));
    const got = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ first: bigint }>).value.first);
    assert.deepEqual(got.sort((a, b) => (a < b ? -1 : 1)), Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof SpendVelocityError));
    assert.equal(await store.current(6n, ADDR), 20n);
  } finally {
    await store.close();
  }
  // Counted in the store: a new connection (a restart) sees the same spend and refuses the same way.
  const again = await engine.open();
  try {
    await refusalOf(again.reserve(1n, ADDR, 1, undefined, hourly(70n)));
    assert.deepEqual(await again.reserve(1n, ADDR, 1, undefined, hourly(80n)), { first: 9n, last: 9n });
    await refusalOf(again.reserve(6n, ADDR, 1, undefined, hourly(200n)));
  } finally {
    await again.close();
  }
}

function sqliteEngine(file: string, options: { writerThread?: boolean } = {}): Engine {
  const direct = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(file);
    try {
      db.defaultSafeIntegers(true);
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    open: async () => SqliteNonceStore.open(file, options),
    plant: async (cid, scope, b, amount) => void direct((db) => db.prepare('INSERT INTO spend (contract_id, scope, bucket, amount) VALUES (?, ?, ?, ?)').run(String(cid), scope, BigInt(b), String(amount))),
    buckets: async (cid, scope) => direct((db) => (db.prepare('SELECT bucket FROM spend WHERE contract_id = ? AND scope = ? ORDER BY bucket').pluck().all(String(cid), scope) as bigint[]).map(Number)),
  };
}

function pgEngine(url: string): Engine {
  const direct = async <T>(fn: (c: pgLib.Client) => Promise<T>): Promise<T> => {
    const c = new pgLib.Client({ connectionString: url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  return {
    open: () => PostgresNonceStore.open(url),
    plant: (cid, scope, b, amount) => direct(async (c) => void (await c.query('INSERT INTO arkeo_spend (contract_id, scope, bucket, amount) VALUES ($1, $2, $3, $4)', [String(cid), scope, b, String(amount)]))),
    buckets: (cid, scope) => direct(async (c) => (await c.query<{ bucket: string }>('SELECT bucket::text FROM arkeo_spend WHERE contract_id = $1 AND scope = $2 ORDER BY bucket', [String(cid), scope])).rows.map((r) => Number(r.bucket))),
  };
}

test('SQLite: spend velocity is checked and recorded with the reservation, inline and in the writer thread', { timeout: 120_000 }, async () => {
  const dir = tempDir();
  await storeVelocity(sqliteEngine(path.join(dir, 'inline.db')));
  await storeVelocity(sqliteEngine(path.join(dir, 'threaded.db'), { writerThread: true }));
});

let pg: PgServer | undefined;
after(() => pg?.destroy());

test('PostgreSQL: spend velocity is checked and recorded with the reservation, on a real server', { timeout: 120_000 }, async (t) => {
  pg = await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)')) return;
  await storeVelocity(pgEngine(pg!.url));
});

test('PostgreSQL: two stores (two hosts) drawing on one budget sign exactly the budget between them', { timeout: 120_000 }, async (t) => {
  pg ??= await startPostgres();
  const server = pg;
  if (!requireComponent(t, server !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)') || !server) return;
  const [a, b] = [await PostgresNonceStore.open(server.url, { max: 8 }), await PostgresNonceStore.open(server.url, { max: 8 })];
  try {
    for (const [limit, expected] of [
      [250n, 25],
      [100_000n, 64], // control: a budget larger than the demand signs everything
    ] as const) {
      const cid = 40n + limit;
      const results = await Promise.allSettled(Array.from({ length: 64 }, (_, i) => (i % 2 ? a : b).reserve(cid, ADDR, 1, undefined, hourly(limit))));
      const got = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ first: bigint }>).value.first);
      assert.equal(got.length, expected, `limit ${limit}`);
      assert.equal(new Set(got).size, expected, 'each nonce once');
      assert.equal(await a.current(cid, ADDR), BigInt(expected));
    }
  } finally {
    await a.close();
    await b.close();
  }
});

test('allocator: a budgeted claim reserves its nonce alone, after giving back a held block; nonces keep increasing', { timeout: 60_000 }, async () => {
  const store = SqliteNonceStore.open(path.join(tempDir(), 'alloc.db'));
  try {
    const alloc = new NonceAllocator(store, 64);
    const budget = hourly(30n);
    const seq: bigint[] = [];
    seq.push(await alloc.next(1n, ADDR)); // a block of 64 held: 1..64
    assert.equal(await store.current(1n, ADDR), 64n);
    seq.push(await alloc.next(1n, ADDR, undefined, budget)); // gives 2..64 back, reserves 2 alone
    assert.equal(await store.current(1n, ADDR), 2n, 'the held block went back; the budgeted claim took one nonce');
    seq.push(await alloc.next(1n, ADDR)); // a fresh block from 3
    seq.push(...(await Promise.all([alloc.next(1n, ADDR, undefined, budget), alloc.next(1n, ADDR, undefined, budget), alloc.next(1n, ADDR)])));
    assert.deepEqual(seq, [1n, 2n, 3n, 4n, 5n, 6n], 'call order, no nonce twice, none skipped');
    // Three budgeted claims (30 at rate 10): the fourth is refused, whatever the held block.
    await refusalOf(alloc.next(1n, ADDR, undefined, budget));
    assert.equal(await alloc.next(1n, ADDR), 7n, 'an unbudgeted claim still signs');
    await alloc.close();
    assert.equal(await store.current(1n, ADDR), 7n, 'a clean stop gives the rest back');
  } finally {
    await store.close();
  }
});
