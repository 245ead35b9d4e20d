import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { PostgresNonceStore, SqliteNonceStore } from '../../src/nonces/index.js';
import { requireComponent, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';

/**
 * Durability settings, asserted rather than assumed (issue 17, item 6). `kill -9` keeps the page cache, so the
 * crash tests cannot tell `synchronous=OFF` from `FULL`: only power loss could, and it cannot be produced here.
 * So every connection that commits reservations is asked what it promises. (The audit log's counterpart, an
 * fdatasync spy and a power-cut simulation, is in test/audit/holes.test.ts.)
 */
let pg: PgServer | undefined;
after(() => pg?.destroy());

// Guards against synchronous=OFF/NORMAL or another journal mode on either SQLite connection, the writer thread's
// included (it commits the daemon's reservations).
test('SQLite: every connection runs WAL with synchronous=FULL, the writer thread included', { timeout: 30_000 }, async () => {
  const dir = tempDir();
  for (const writerThread of [false, true]) {
    const store = SqliteNonceStore.open(path.join(dir, `n-${writerThread}.db`), { writerThread });
    try {
      const conns = await store.durability();
      assert.equal(conns.length, writerThread ? 2 : 1);
      for (const c of conns) {
        assert.equal(c.synchronous, 2n, `${c.connection}: synchronous = FULL (2)`);
        assert.equal(c.journal_mode, 'wal', `${c.connection}: journal_mode = WAL`);
      }
    } finally {
      await store.close();
    }
  }
});

// Guards against a reservation acknowledged before it is on disk because the server or the role defaults to
// synchronous_commit = off: our connections set it on for themselves.
test('PostgreSQL: our connections commit synchronously even when the role defaults to synchronous_commit = off', { timeout: 120_000 }, async (t) => {
  pg = await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)')) return;
  const { default: pgLib } = await import('pg');
  const admin = new pgLib.Client({ connectionString: pg!.url });
  await admin.connect();
  await admin.query('ALTER ROLE arkeo SET synchronous_commit = off');
  await admin.end();
  const store = await PostgresNonceStore.open(pg!.url);
  try {
    assert.deepEqual(await store.durability(), { synchronous_commit: 'on', fsync: 'on' });
    await store.reserve(1n, 'arkeo1x', 1); // and the pool's other connections as well
    const all = await Promise.all(Array.from({ length: 8 }, () => store.durability()));
    for (const d of all) assert.equal(d.synchronous_commit, 'on');
  } finally {
    await store.close();
  }
  // Nor can the URL's own options turn it off (pg merges ?options= over the pool's settings).
  const viaUrl = await PostgresNonceStore.open(`${pg!.url}?options=${encodeURIComponent('-c synchronous_commit=off')}`);
  try {
    assert.equal((await viaUrl.durability()).synchronous_commit, 'on');
  } finally {
    await viaUrl.close();
  }
});
