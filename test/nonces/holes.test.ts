import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { NonceAllocator, PostgresNonceStore, SqliteNonceStore, openNonceStore, type NonceStore } from '../../src/nonces/index.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { BIN, listFiles, requireComponent, run, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';

/**
 * Holes found by review (issue 13, items 1–3): a mistyped store silently starting contracts at nonce 1 again, a
 * clean stop skipping a prefetched block, and `nonce set` / `nonce sync` not reaching a process holding a block.
 */
const KEY_HEX = toHex(sha256(utf8('arkeo-signer holes test key')));
const ADDR = 'arkeo1hnyy4gp5tgarpg3xu6w5cw4zsyphx2lyr6fljp';

function keyHome(): string {
  const home = tempDir();
  const r = run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX, '--home', home]);
  assert.equal(r.status, 0, r.stderr);
  return home;
}

/** Run in a chosen working directory with a chosen environment, to see which files a command creates there. */
function runIn(cwd: string, args: string[], env: Record<string, string> = {}) {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('ARKEO_NONCE_STORE' in env)) delete e.ARKEO_NONCE_STORE;
  return spawnSync(process.execPath, [BIN.arkeoSigner, ...args], { cwd, env: e, encoding: 'utf8', input: '', timeout: 60_000 });
}

const sign = (cwd: string, home: string, ...extra: string[]) => runIn(cwd, ['claim', 'sign', '--contract', '42', '--key', 'k', '--home', home, ...extra]);
const nonceOf = (stdout: string) => Number(/^42:(\d+):/.exec(stdout)?.[1]);

let pg: PgServer | undefined;
after(() => pg?.destroy());

// Guards the bug where `--nonce-store mysql://x` made a SQLite file named "mysql:/x" and signed nonce 1 again.
test('a mistyped nonce store is an error, never a new empty store', { timeout: 120_000 }, () => {
  const home = keyHome();
  const cwd = tempDir();
  assert.equal(runIn(cwd, ['nonce', 'set', '--contract', '42', '--key', 'k', '--nonce', '137', '--home', home]).status, 0);
  assert.equal(nonceOf(sign(cwd, home).stdout), 138, 'the default store is created and used');

  const mistyped = sign(cwd, home, '--nonce-store', 'mysql://x');
  assert.equal(mistyped.status, 1);
  assert.equal(mistyped.stdout, '', 'nothing signed');
  assert.match(mistyped.stderr, /unknown scheme "mysql:"/);
  assert.equal(mistyped.stderr.trim().split('\n').length, 1, 'one line');

  const missing = sign(cwd, home, '--nonce-store', '/nonexistent/dir/n.db');
  assert.equal(missing.status, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /sqlite:\/nonexistent\/dir\/n\.db does not exist.*--create-nonce-store/);
  assert.ok(!fs.existsSync('/nonexistent'), 'no directory was created');

  const elsewhere = path.join(tempDir(), 'other.db');
  const env = sign(cwd, home);
  assert.equal(nonceOf(env.stdout), 139);
  const viaEnv = runIn(cwd, ['claim', 'sign', '--contract', '42', '--key', 'k', '--home', home], { ARKEO_NONCE_STORE: elsewhere });
  assert.equal(viaEnv.status, 1, 'ARKEO_NONCE_STORE naming a missing store is refused too');
  assert.ok(!fs.existsSync(elsewhere));
  const created = sign(cwd, home, '--nonce-store', elsewhere, '--create-nonce-store');
  assert.equal(created.status, 0, created.stderr);
  assert.equal(nonceOf(created.stdout), 1, 'asked for explicitly: a new store starts at 1');
  assert.equal(nonceOf(sign(cwd, home, '--nonce-store', `sqlite:${elsewhere}`).stdout), 2, 'and exists from then on');
  assert.deepEqual(listFiles(cwd), [], 'nothing was created in the working directory');
  assert.equal(nonceOf(sign(cwd, home).stdout), 140, 'the default store was never touched by the mistakes');
});

// Guards the bug where `nonce show`, `--help` or a mistyped subcommand created the default store.
test('reading commands and usage errors create no store', { timeout: 60_000 }, () => {
  const home = keyHome();
  const store = path.join(home, 'signer', 'nonces.db');
  for (const args of [['nonce', 'show'], ['nonce', 'show', '-o', 'json'], ['claim', 'contract', 'list'], ['nonce', 'bogus'], ['claim', 'contract', 'bogus'], ['nonce', '--help'], ['claim', 'sign', '--help']]) {
    const r = runIn(home, [...args, '--home', home]);
    assert.ok(r.status === 0 || r.status === 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(!fs.existsSync(store), `${args.join(' ')} created ${store}`);
  }
  assert.equal(runIn(home, ['nonce', 'show', '--home', home]).stdout, '', 'an absent default store reads as empty');
  const named = runIn(home, ['nonce', 'show', '--home', home, '--nonce-store', path.join(home, 'typo.db')]);
  assert.equal(named.status, 1, 'a named store that is missing is an error, even for reading');
  assert.ok(!fs.existsSync(path.join(home, 'typo.db')));
  assert.equal(runIn(home, ['nonce', 'show', '--create-nonce-store', '--home', home]).status, 2, 'create goes with writing commands only');
});

// Guards the bug where a CLI with --block-size 10 skipped 9 nonces per run (the next claim was 11, not 2).
test('claim sign --block-size gives the unused part of its block back at exit', { timeout: 60_000 }, () => {
  const home = keyHome();
  const cwd = tempDir();
  assert.equal(nonceOf(sign(cwd, home, '--block-size', '10').stdout), 1);
  assert.equal(nonceOf(sign(cwd, home, '--block-size', '10').stdout), 2);
  assert.equal(nonceOf(sign(cwd, home).stdout), 3);
  const show = JSON.parse(runIn(cwd, ['nonce', 'show', '--home', home, '-o', 'json']).stdout) as { last_reserved: string }[];
  assert.equal(show[0]!.last_reserved, '3', 'the store holds exactly what was used');
});

/** What every store must do about blocks: give back on close, never past another's reservation or the floor. */
async function blocksAndFloors(open: () => Promise<NonceStore>): Promise<void> {
  const a = await open();
  const other = await open(); // another process or host sharing the store
  try {
    // A clean close gives back the rest of the block.
    let alloc = new NonceAllocator(a, 64);
    assert.equal(await alloc.next(1n, ADDR), 1n);
    assert.equal(await a.current(1n, ADDR), 64n);
    await alloc.close();
    assert.equal(await a.current(1n, ADDR), 1n, 'given back: the next nonce is 2');
    await assert.rejects(alloc.next(1n, ADDR), /closed/, 'a closed allocator hands out nothing');

    // Not when someone reserved past the block meanwhile: the tail stays skipped, nothing is reused.
    alloc = new NonceAllocator(a, 10);
    assert.equal(await alloc.next(2n, ADDR), 1n);
    assert.deepEqual(await other.reserve(2n, ADDR, 1), { first: 11n, last: 11n });
    await alloc.close();
    assert.equal(await a.current(2n, ADDR), 11n);

    // `nonce set` (above the block) and `nonce sync` (inside it) from elsewhere count from the next nonce on.
    alloc = new NonceAllocator(a, 64);
    assert.equal(await alloc.next(3n, ADDR), 1n);
    assert.equal(await alloc.next(3n, ADDR), 2n);
    await other.set(3n, ADDR, 1000n);
    assert.equal(await alloc.next(3n, ADDR), 1001n, 'a floor above the held block');
    await other.raise(3n, ADDR, 1010n);
    assert.equal(await alloc.next(3n, ADDR), 1011n, 'a floor inside the held block');
    assert.equal(await a.floor(3n, ADDR), 1010n);
    await alloc.close();
    assert.equal(await a.current(3n, ADDR), 1011n, 'given back above the floor');
    assert.equal(await a.giveBack(3n, ADDR, 1011n, 1000n), false, 'never below the floor');
    assert.equal(await a.current(3n, ADDR), 1011n);

    // The same store object (one connection: PRAGMA data_version does not move for its own commits), as a
    // process that resyncs its own store does.
    alloc = new NonceAllocator(a, 64);
    assert.equal(await alloc.next(5n, ADDR), 1n);
    assert.equal(await alloc.next(5n, ADDR), 2n); // the floor is now cached after the block's own commit
    await a.raise(5n, ADDR, 30n);
    assert.equal(await alloc.next(5n, ADDR), 31n, 'a floor raised through the allocator\'s own store');
    await a.set(5n, ADDR, 100n);
    assert.equal(await alloc.next(5n, ADDR), 101n);
    await alloc.close();

    // Concurrent callers still get increasing nonces in call order.
    alloc = new NonceAllocator(a, 8);
    const got = await Promise.all(Array.from({ length: 40 }, () => alloc.next(4n, ADDR)));
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
    await alloc.close();
  } finally {
    await a.close();
    await other.close();
  }
}

test('SQLite: blocks are given back on close and obey a floor set by another connection', { timeout: 60_000 }, async () => {
  const file = path.join(tempDir(), 'nonces.db');
  await blocksAndFloors(async () => SqliteNonceStore.open(file, { writerThread: true }));
});

test('PostgreSQL: blocks are given back on close and obey a floor set by another host; a database without tables is not a store', { timeout: 120_000 }, async (t) => {
  pg = await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)')) return;
  await assert.rejects(openNonceStore(pg!.url, '/nonexistent'), (e: Error) => /does not exist.*--create-nonce-store/.test(e.message));
  await (await openNonceStore(pg!.url, '/nonexistent', { create: true })).close();
  await blocksAndFloors(() => PostgresNonceStore.open(pg!.url));
});

test('an old SQLite store without the floor column is upgraded in place, its marks kept', { timeout: 30_000 }, async () => {
  const file = path.join(tempDir(), 'old.db');
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file);
  db.exec(`CREATE TABLE nonces (contract_id TEXT NOT NULL, signer TEXT NOT NULL, reserved INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (contract_id, signer)) WITHOUT ROWID;
           INSERT INTO nonces VALUES ('5', '${ADDR}', 77, 0);`);
  db.close();
  const store = SqliteNonceStore.open(file);
  try {
    assert.equal(await store.floor(5n, ADDR), 0n);
    assert.deepEqual(await store.reserve(5n, ADDR, 1), { first: 78n, last: 78n });
  } finally {
    await store.close();
  }
});

// Guards the review finding where every open ran ALTER TABLE … ADD COLUMN IF NOT EXISTS, which waits for an
// exclusive lock: one long transaction elsewhere stalled every signer's start (and read-only roles failed).
test('PostgreSQL: opening a complete store runs no DDL, so it does not wait behind a long transaction', { timeout: 120_000 }, async (t) => {
  pg ??= await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)')) return;
  await (await openNonceStore(pg!.url, '/nonexistent', { create: true })).close();
  const { default: pgLib } = await import('pg');
  const reader = new pgLib.Client({ connectionString: pg!.url });
  await reader.connect();
  t.after(() => reader.end());
  await reader.query('BEGIN');
  await reader.query('SELECT count(*) FROM arkeo_nonces'); // an ACCESS SHARE lock, held until COMMIT
  const opened = PostgresNonceStore.open(pg!.url).then((s) => s.close().then(() => 'opened'));
  const verdict = await Promise.race([opened, new Promise((r) => setTimeout(() => r('blocked'), 5000))]);
  await reader.query('COMMIT');
  await opened;
  assert.equal(verdict, 'opened');
});

/** An old SQLite store, as the first release wrote it: WAL, no floor column, contracts without their parties. */
async function oldSqliteStore(file: string): Promise<void> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE nonces (contract_id TEXT NOT NULL, signer TEXT NOT NULL, reserved INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (contract_id, signer)) WITHOUT ROWID;
           CREATE TABLE contracts (contract_id TEXT PRIMARY KEY, rate TEXT NOT NULL, deposit TEXT NOT NULL, max_spend TEXT, source TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
           CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
           INSERT INTO nonces VALUES ('5', '${ADDR}', 77, 0);
           INSERT INTO contracts VALUES ('5', '10', '1000', NULL, 'manual', 0);`);
  db.close();
}

const columnsOf = async (file: string, table: string): Promise<string[]> => {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
};

// Guards the review finding where `nonce show` and `claim contract list` ran the schema upgrade (ALTER TABLE) on
// an old store: a reading command wrote to the file, under whatever daemon or older binary was using it.
test('reading commands read an old SQLite store as it is, leaving its bytes and mtime unchanged; a writing command upgrades it', { timeout: 60_000 }, async () => {
  const home = keyHome();
  const file = path.join(tempDir(), 'old.db');
  await oldSqliteStore(file);
  const past = new Date(Date.now() - 3_600_000);
  fs.utimesSync(file, past, past);
  const before = { bytes: fs.readFileSync(file), mtime: fs.statSync(file).mtimeMs };
  const show = runIn(home, ['nonce', 'show', '-o', 'json', '--home', home, '--nonce-store', file]);
  assert.equal(show.status, 0, show.stderr);
  assert.deepEqual(JSON.parse(show.stdout).map((r: { contract_id: string; last_reserved: string }) => [r.contract_id, r.last_reserved]), [['5', '77']]);
  const list = runIn(home, ['claim', 'contract', 'list', '-o', 'json', '--home', home, '--nonce-store', `sqlite:${file}`]);
  assert.equal(list.status, 0, list.stderr);
  assert.equal(JSON.parse(list.stdout)[0].rate, '10');
  // The library's reading open, as the console and doctor use it.
  const reader = await openNonceStore(file, home, { readOnly: true });
  try {
    assert.equal(await reader.current(5n, ADDR), 77n);
    assert.equal(await reader.floor(5n, ADDR), 0n, 'a store without the floor column reads as floor 0');
    assert.equal((await reader.getContract(5n))?.client, undefined, 'parties unknown');
    await assert.rejects(reader.raise(5n, ADDR, 100n), (e: Error & { code?: string }) => e.code === 'READ_ONLY' && /opened for reading/.test(e.message));
  } finally {
    await reader.close();
  }
  assert.deepEqual(fs.readFileSync(file), before.bytes, 'the store file is byte for byte what it was');
  assert.equal(fs.statSync(file).mtimeMs, before.mtime, 'and its mtime did not move');
  assert.deepEqual(await columnsOf(file, 'nonces'), ['contract_id', 'signer', 'reserved', 'updated_at'], 'no column was added');

  const set = runIn(home, ['nonce', 'set', '--contract', '5', '--key', 'k', '--nonce', '80', '--home', home, '--nonce-store', file]);
  assert.equal(set.status, 0, set.stderr);
  assert.ok((await columnsOf(file, 'nonces')).includes('floor'), 'a writing command upgrades the store');
  assert.ok((await columnsOf(file, 'contracts')).includes('delegate'));
});

// The same for PostgreSQL: a reading open never runs DDL (not even the "only when something is missing" upgrade),
// so it needs no DDL rights and takes no exclusive lock; it reads the old tables as they are.
test('PostgreSQL: a reading open of an old store runs no DDL and reads it as it is; a writing open upgrades it', { timeout: 120_000 }, async (t) => {
  pg ??= await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)')) return;
  const { default: pgLib } = await import('pg');
  const admin = new pgLib.Client({ connectionString: pg!.url });
  await admin.connect();
  t.after(() => admin.end());
  await admin.query('DROP DATABASE IF EXISTS old_store');
  await admin.query('CREATE DATABASE old_store');
  const url = pg!.url.replace(/\/postgres$/, '/old_store');
  const db = new pgLib.Client({ connectionString: url });
  await db.connect();
  t.after(() => db.end());
  // The 0.1.0 schema: no floor, no contract parties.
  await db.query(`CREATE TABLE arkeo_nonces (contract_id NUMERIC(20) NOT NULL, signer TEXT NOT NULL, reserved BIGINT NOT NULL CHECK (reserved >= 0), previous BIGINT NOT NULL DEFAULT 0, updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (contract_id, signer));
                  CREATE TABLE arkeo_contracts (contract_id NUMERIC(20) PRIMARY KEY, rate NUMERIC NOT NULL, deposit NUMERIC NOT NULL, max_spend NUMERIC, source TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
                  CREATE TABLE arkeo_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
                  INSERT INTO arkeo_nonces (contract_id, signer, reserved) VALUES (5, '${ADDR}', 77);
                  INSERT INTO arkeo_contracts (contract_id, rate, deposit, source) VALUES (5, 10, 1000, 'manual');`);
  const schema = async () => (await db.query<{ c: string }>("SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_name LIKE 'arkeo_%' ORDER BY 1")).rows.map((r) => r.c);
  const before = await schema();
  const reader = await openNonceStore(url, '/nonexistent', { readOnly: true });
  try {
    assert.equal(await reader.current(5n, ADDR), 77n);
    assert.equal(await reader.floor(5n, ADDR), 0n, 'no floor column reads as floor 0');
    assert.deepEqual((await reader.list()).map((r) => [r.contractId, r.reserved]), [[5n, 77n]]);
    const terms = await reader.listContracts();
    assert.equal(terms.length, 1);
    assert.equal(terms[0]!.rate, 10n);
    assert.equal(terms[0]!.client, undefined);
    await assert.rejects(reader.raise(5n, ADDR, 100n), (e: Error & { code?: string }) => e.code === 'READ_ONLY');
  } finally {
    await reader.close();
  }
  assert.deepEqual(await schema(), before, 'no column was added by a reading open');
  await (await openNonceStore(url, '/nonexistent')).close();
  assert.ok((await schema()).includes('arkeo_nonces.floor'), 'a writing open upgrades the store');
});
