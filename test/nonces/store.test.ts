import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { writeFileSync } from 'node:fs';
import { NonceAllocator, NonceStoreError, PostgresNonceStore, SqliteNonceStore, maxNonceFor, type NonceStore } from '../../src/nonces/index.js';
import { requireComponent, runAsync, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';

/** One contract, both engines: what every NonceStore must do. */
const ADDR = 'arkeo1hnyy4gp5tgarpg3xu6w5cw4zsyphx2lyr6fljp';
const OTHER = 'arkeo1uhapc6jjq6ns0ydnk7zld5x7f5kl2uke5hhwct';

function isCode(code: string) {
  return (e: unknown) => e instanceof NonceStoreError && e.code === code && !e.message.includes('\n');
}

async function storeContract(open: () => Promise<NonceStore>): Promise<void> {
  const store = await open();
  try {
    assert.equal(await store.current(1n, ADDR), 0n);
    assert.deepEqual(await store.reserve(1n, ADDR, 1), { first: 1n, last: 1n });
    assert.deepEqual(await store.reserve(1n, ADDR, 1), { first: 2n, last: 2n });
    assert.deepEqual(await store.reserve(1n, OTHER, 1), { first: 1n, last: 1n }, 'per signer');
    assert.deepEqual(await store.reserve(2n, ADDR, 1), { first: 1n, last: 1n }, 'per contract');
    const big = (1n << 64n) - 1n;
    assert.deepEqual(await store.reserve(big, ADDR, 1), { first: 1n, last: 1n }, 'uint64 contract ids');

    // Ceilings: a block is cut short at the ceiling; past it nothing is reserved and nothing changes.
    assert.deepEqual(await store.reserve(1n, ADDR, 5, 4n), { first: 3n, last: 4n });
    await assert.rejects(store.reserve(1n, ADDR, 1, 4n), isCode('SPEND_LIMIT'));
    await assert.rejects(store.reserve(3n, ADDR, 1, 0n), isCode('SPEND_LIMIT'));
    assert.equal(await store.current(1n, ADDR), 4n);
    assert.equal(await store.current(3n, ADDR), 0n);

    // raise never lowers; set lowers only with force.
    assert.equal(await store.raise(1n, ADDR, 2n), 4n);
    assert.equal(await store.raise(1n, ADDR, 10n), 10n);
    await assert.rejects(store.set(1n, ADDR, 5n), isCode('NONCE_BACKWARD'));
    assert.equal(await store.current(1n, ADDR), 10n);
    await store.set(1n, ADDR, 5n, { force: true });
    assert.deepEqual(await store.reserve(1n, ADDR, 1), { first: 6n, last: 6n });
    await store.set(1n, ADDR, 20n);
    assert.equal(await store.current(1n, ADDR), 20n);

    // Many concurrent reservations: each nonce exactly once, no gaps (group commit / row locks).
    const got = await Promise.all(Array.from({ length: 300 }, () => store.reserve(7n, ADDR, 1)));
    assert.deepEqual(got.map((r) => r.first).sort((a, b) => (a < b ? -1 : 1)), Array.from({ length: 300 }, (_, i) => BigInt(i + 1)));

    // Contract terms.
    await store.putContract({ contractId: 9n, rate: 10n, deposit: 1005n, source: 'manual' });
    await store.putContract({ contractId: 9n, rate: 10n, deposit: 1005n, maxSpend: 500n, source: 'manual' });
    const terms = (await store.getContract(9n))!;
    assert.equal(terms.maxSpend, 500n);
    assert.equal(maxNonceFor(terms), 50n);
    assert.equal(maxNonceFor({ ...terms, maxSpend: undefined }), 100n);
    assert.equal(await store.getContract(10n), undefined);
    assert.equal(terms.client, undefined, 'parties unknown unless given');
    // The contract's parties (client, delegate) are part of its terms, in both engines.
    const [client, delegate] = [new Uint8Array(33).fill(2), new Uint8Array(33).fill(3)];
    await store.putContract({ contractId: 11n, rate: 1n, deposit: 5n, source: 'manual', client, delegate });
    const withParties = (await store.getContract(11n))!;
    assert.deepEqual([withParties.client, withParties.delegate], [client, delegate]);
    await store.putContract({ contractId: 11n, rate: 1n, deposit: 5n, source: 'manual', client });
    assert.equal((await store.getContract(11n))!.delegate, undefined, 'registering again without a delegate clears it');
    assert.deepEqual((await store.listContracts()).map((t) => [t.contractId, t.client]), [[9n, undefined], [11n, client]]);
    await store.check();
    const rows = await store.list();
    assert.ok(rows.some((r) => r.contractId === big && r.reserved === 1n));
  } finally {
    await store.close();
  }
  // Durable: a new connection sees every reservation.
  const again = await open();
  try {
    assert.equal(await again.current(1n, ADDR), 20n);
    assert.equal(await again.current(7n, ADDR), 300n);
    // Blocks: one reservation covers the block; a restart skips the unused rest, never reuses it.
    const alloc = new NonceAllocator(again, 10);
    const first = await Promise.all(Array.from({ length: 4 }, () => alloc.next(8n, ADDR)));
    assert.deepEqual(first, [1n, 2n, 3n, 4n]);
    assert.equal(await again.current(8n, ADDR), 10n, 'the whole block is durable');
    const restarted = new NonceAllocator(again, 10);
    assert.equal(await restarted.next(8n, ADDR), 11n);
    assert.equal(await restarted.next(8n, ADDR, 11n).catch((e) => e.code), 'SPEND_LIMIT', 'a block never hands out nonces above the ceiling');
    assert.throws(() => new NonceAllocator(again, 0), isCode('BAD_BLOCK_SIZE'));
    // Prefetch: past half a block the next one is reserved in the background; a reservation made meanwhile by
    // another writer leaves a gap that is skipped, and nothing is handed out twice.
    const pre = new NonceAllocator(again, 10);
    const got: bigint[] = [];
    for (let i = 0; i < 6; i++) got.push(await pre.next(12n, ADDR));
    assert.deepEqual(got, [1n, 2n, 3n, 4n, 5n, 6n]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await again.current(12n, ADDR), 20n, 'the second block was reserved before the first ran out');
    await again.reserve(12n, ADDR, 5); // another writer: 21..25
    for (let i = 0; i < 20; i++) got.push(await pre.next(12n, ADDR));
    assert.deepEqual(got.slice(6, 20), [7n, 8n, 9n, 10n, 11n, 12n, 13n, 14n, 15n, 16n, 17n, 18n, 19n, 20n]);
    assert.ok(got.slice(20).every((n) => n > 25n), `after the gap: ${got.slice(20).join(',')}`);
    assert.equal(new Set(got).size, got.length);
    assert.ok(got.every((n, i) => i === 0 || n > got[i - 1]!), 'strictly increasing');
  } finally {
    await again.close();
  }
}

test('SQLite nonce store: the NonceStore contract, with commits inline and in the writer thread', { timeout: 120_000 }, async () => {
  const file = path.join(tempDir(), 'signer', 'nonces.db');
  await storeContract(async () => SqliteNonceStore.open(file));
  await storeContract(async () => SqliteNonceStore.open(path.join(path.dirname(file), 'threaded.db'), { writerThread: true }));
  const { statSync } = await import('node:fs');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
});

let pg: PgServer | undefined;
after(() => pg?.destroy());

test('PostgreSQL nonce store: the NonceStore contract, on a real server', { timeout: 120_000 }, async (t) => {
  pg = await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)')) return;
  await storeContract(() => PostgresNonceStore.open(pg!.url));
});

test('PostgreSQL: eight processes opening an empty database at once all succeed (the schema is created once)', { timeout: 120_000 }, async (t) => {
  pg ??= await startPostgres();
  const server = pg;
  if (!requireComponent(t, server !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)') || !server) return;
  const admin = await PostgresNonceStore.open(server.url);
  await admin.close();
  const { default: pgLib } = await import('pg');
  const client = new pgLib.Client({ connectionString: server.url });
  await client.connect();
  await client.query('CREATE DATABASE fresh_open_race');
  await client.end();
  const url = server.url.replace(/\/[^/?]*(\?|$)/, '/fresh_open_race$1');
  // Separate processes, as signers on several hosts would be: each opens (creating the schema) at the same moment.
  const script = path.join(tempDir(), 'open.mjs');
  writeFileSync(script, `import { PostgresNonceStore } from ${JSON.stringify(new URL('../../src/nonces/index.js', import.meta.url).href)};\nawait (await PostgresNonceStore.open(process.argv[2])).close();\n`);
  const opened = await Promise.all(Array.from({ length: 8 }, () => runAsync(script, [url])));
  for (const r of opened) assert.equal(r.status, 0, r.stderr);
});
