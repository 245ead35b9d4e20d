import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { ensurePrivateDir, FILE_MODE } from '../fsutil.js';
import { backwardError, readOnlyError, spendLimitError, unavailable, NonceStoreError, SpendVelocityError, type ContractTerms, type NonceRow, type NonceStore } from './store.js';
import { admit, bucketOf, keepFrom, scopesOf, type SpendBudget, type SpendBuckets, type VelocityRefusal } from './velocity.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nonces (
  contract_id TEXT NOT NULL,        -- decimal uint64 (TEXT: uint64 does not fit SQLite's int64)
  signer      TEXT NOT NULL,        -- bech32 address of the signing key
  reserved    INTEGER NOT NULL,     -- high-water mark: every nonce <= reserved counts as used
  updated_at  INTEGER NOT NULL,     -- unix ms
  floor       INTEGER NOT NULL DEFAULT 0, -- declared used by nonce set/sync: never issued, even from a held block
  PRIMARY KEY (contract_id, signer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contracts (
  contract_id TEXT PRIMARY KEY,
  rate        TEXT NOT NULL,
  deposit     TEXT NOT NULL,
  max_spend   TEXT,
  source      TEXT NOT NULL,
  updated_at  INTEGER NOT NULL,
  client      TEXT,                 -- hex of the 33-byte client key, when known
  delegate    TEXT,                 -- hex of the 33-byte delegate key, when the contract names one
  max_spend_per_hour TEXT,          -- spend velocity limits (uarkeo), NULL when none
  max_spend_per_day  TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spend (
  contract_id TEXT NOT NULL,
  scope       TEXT NOT NULL,        -- 'contract', or 'token:<name>' for one daemon token's claims
  bucket      INTEGER NOT NULL,     -- unix minute of the reservations
  amount      TEXT NOT NULL,        -- uarkeo reserved in that minute (decimal)
  PRIMARY KEY (contract_id, scope, bucket)
) WITHOUT ROWID;
`;

/** What the read statements select from: the tables themselves, or (read-only, older file) a view of them. */
interface TableSources {
  nonces: string;
  contracts: string;
}
const CURRENT_TABLES: TableSources = { nonces: 'nonces', contracts: 'contracts' };

/** Every column the read statements use, with what a file made before the column existed means by its absence. */
const READ_COLUMNS: Record<keyof TableSources, [string, string][]> = {
  nonces: [['contract_id', 'NULL'], ['signer', 'NULL'], ['reserved', '0'], ['updated_at', '0'], ['floor', '0']],
  contracts: [['contract_id', 'NULL'], ['rate', 'NULL'], ['deposit', 'NULL'], ['max_spend', 'NULL'], ['source', 'NULL'], ['client', 'NULL'], ['delegate', 'NULL'], ['max_spend_per_hour', 'NULL'], ['max_spend_per_day', 'NULL']],
};

/**
 * A read-only open reads the file's schema as it is: a table missing a column the read statements use is read
 * through a subquery that supplies the column's default, and a missing table reads as empty. Nothing is written.
 */
function tableSources(db: Database.Database): TableSources {
  const out = { ...CURRENT_TABLES };
  for (const table of Object.keys(READ_COLUMNS) as (keyof TableSources)[]) {
    const present = new Set((db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as { name: string }[]).map((r) => r.name));
    const wanted = READ_COLUMNS[table];
    if (wanted.every(([c]) => present.has(c))) continue;
    const columns = wanted.map(([c, absent]) => (present.has(c) ? c : `${absent} AS ${c}`)).join(', ');
    out[table] = present.size ? `(SELECT ${columns} FROM ${table})` : `(SELECT ${columns} WHERE 0)`;
  }
  return out;
}

interface Pending {
  contractId: bigint;
  signer: string;
  count: number;
  ceiling?: bigint;
  budget?: SpendBudget;
  resolve: (r: { first: bigint; last: bigint }) => void;
  reject: (e: unknown) => void;
}

export interface SqliteNonceStoreOptions {
  /** Cap the database size in pages (PRAGMA max_page_count); tests use it to emulate a full disk. */
  maxPageCount?: number;
  /** How long to wait for another process's write lock. */
  busyTimeoutMs?: number;
  /**
   * Commit reservations on a second connection in a worker thread, so the fsync of each commit does not stall
   * this thread's event loop (the daemon uses it). Reads stay on this connection.
   */
  writerThread?: boolean;
  /**
   * A reading command (nonce show, claim contract list, the console, doctor): the file is opened read-only and
   * never created, upgraded or written; an older schema is read as it is (columns added since read as their
   * defaults: floor 0, parties unknown), and every writing method refuses with READ_ONLY.
   */
  readOnly?: boolean;
}

/**
 * The embedded default: SQLite in WAL mode with synchronous=FULL, so a committed reservation survives power loss.
 * Reservations made in the same event-loop turn share one transaction (group commit): one fsync for many
 * claims, no gaps. Several processes may share the file; BEGIN IMMEDIATE serialises their reservations.
 */
export class SqliteNonceStore implements NonceStore {
  readonly description: string;
  private readonly db: Database.Database;
  private queue: Pending[] = [];
  private flushScheduled = false;
  /**
   * The writer thread's batch being committed. One at a time: what arrives meanwhile waits and goes in the next
   * batch, so N contracts reserving at different moments share one fsync, not queue N of them in the thread.
   */
  private inFlight: Promise<void> | undefined;
  private readonly stmts;
  private readonly writes;
  private readonly readOnly: boolean;
  private readonly writer: SqliteWriter | undefined;
  /** Contract terms, valid while no other connection has committed (PRAGMA data_version is unchanged). */
  private terms = new Map<string, ContractTerms | undefined>();
  private termsVersion = -1n;
  private termsCheckedAt = -Infinity;
  /** Floors (see floor()), valid while PRAGMA data_version is unchanged. */
  private floors = new Map<string, bigint>();
  private floorsVersion = -1n;

  private constructor(readonly file: string, options: SqliteNonceStoreOptions) {
    this.description = `sqlite:${file}`;
    this.readOnly = Boolean(options.readOnly) && file !== ':memory:';
    let tables: TableSources = CURRENT_TABLES;
    try {
      if (this.readOnly) {
        // Nothing here may change the file: no create, no journal_mode, no schema, no upgrade (docs/decisions/read-only-store-opens.md).
        this.db = openDatabase(file, options);
        tables = tableSources(this.db);
      } else {
        if (file !== ':memory:') {
          ensurePrivateDir(path.dirname(file));
          // Create the file 0600 ourselves; SQLite gives its -wal/-shm files the same mode.
          fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, FILE_MODE));
        }
        this.db = openDatabase(file, options);
        this.db.exec(SCHEMA);
        // Stores made before the floor existed: add it (0: nothing declared yet).
        if (!(this.db.prepare("SELECT 1 FROM pragma_table_info('nonces') WHERE name = 'floor'").get())) this.db.exec('ALTER TABLE nonces ADD COLUMN floor INTEGER NOT NULL DEFAULT 0');
        // Stores made before contract parties were kept: add them (NULL: parties unknown, signed as before).
        // … and before spend velocity limits (NULL: none).
        for (const column of ['client', 'delegate', 'max_spend_per_hour', 'max_spend_per_day']) {
          if (!this.db.prepare("SELECT 1 FROM pragma_table_info('contracts') WHERE name = ?").get(column)) this.db.exec(`ALTER TABLE contracts ADD COLUMN ${column} TEXT`);
        }
      }
    } catch (e) {
      throw unavailable(this.description, e);
    }
    if (options.writerThread && file !== ':memory:' && !this.readOnly) this.writer = new SqliteWriter(file, options);
    const { nonces, contracts } = tables;
    this.stmts = {
      get: this.db.prepare(`SELECT reserved FROM ${nonces} WHERE contract_id = ? AND signer = ?`),
      list: this.db.prepare(`SELECT contract_id, signer, reserved, updated_at FROM ${nonces} ORDER BY CAST(contract_id AS INTEGER), signer`),
      getContract: this.db.prepare(`SELECT ${CONTRACT_COLUMNS} FROM ${contracts} WHERE contract_id = ?`),
      dataVersion: this.db.prepare('PRAGMA data_version').pluck(),
      floor: this.db.prepare(`SELECT floor FROM ${nonces} WHERE contract_id = ? AND signer = ?`).pluck(),
      listContracts: this.db.prepare(`SELECT ${CONTRACT_COLUMNS} FROM ${contracts} ORDER BY CAST(contract_id AS INTEGER)`),
    };
    this.writes = this.readOnly
      ? undefined
      : {
          ...reservationStatements(this.db),
          putContract: this.db.prepare(
            'INSERT INTO contracts (contract_id, rate, deposit, max_spend, source, updated_at, client, delegate, max_spend_per_hour, max_spend_per_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
              'ON CONFLICT (contract_id) DO UPDATE SET rate = excluded.rate, deposit = excluded.deposit, max_spend = excluded.max_spend, source = excluded.source, updated_at = excluded.updated_at, client = excluded.client, delegate = excluded.delegate, ' +
              'max_spend_per_hour = excluded.max_spend_per_hour, max_spend_per_day = excluded.max_spend_per_day',
          ),
          raise: this.db.prepare(
            'INSERT INTO nonces (contract_id, signer, reserved, updated_at, floor) VALUES (@cid, @signer, @value, @now, @value) ' +
              'ON CONFLICT (contract_id, signer) DO UPDATE SET reserved = max(reserved, @value), floor = max(floor, @value), updated_at = @now',
          ),
          set: this.db.prepare(
            'INSERT INTO nonces (contract_id, signer, reserved, updated_at, floor) VALUES (@cid, @signer, @value, @now, @value) ' +
              'ON CONFLICT (contract_id, signer) DO UPDATE SET reserved = @value, floor = @value, updated_at = @now',
          ),
          giveBack: this.db.prepare('UPDATE nonces SET reserved = @to, updated_at = @now WHERE contract_id = @cid AND signer = @signer AND reserved = @expected AND floor <= @to'),
          check: this.db.prepare("INSERT INTO meta (k, v) VALUES ('last_check', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"),
        };
  }

  /** The statements that write; a store opened for reading has none and says so. */
  private get w(): NonNullable<SqliteNonceStore['writes']> {
    if (!this.writes) throw readOnlyError(this.description);
    return this.writes;
  }

  static open(file: string, options: SqliteNonceStoreOptions = {}): SqliteNonceStore {
    return new SqliteNonceStore(file, options);
  }

  reserve(contractId: bigint, signer: string, count: number, ceiling?: bigint, budget?: SpendBudget): Promise<{ first: bigint; last: bigint }> {
    if (!Number.isInteger(count) || count < 1) throw new NonceStoreError('BAD_COUNT', `reserve: count must be a positive integer, got ${count}`);
    if (this.readOnly) return Promise.reject(readOnlyError(this.description));
    return new Promise((resolve, reject) => {
      this.queue.push({ contractId, signer, count, ceiling, ...(budget ? { budget } : {}), resolve, reject });
      if (!this.flushScheduled && !this.inFlight) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** One IMMEDIATE transaction for every reservation queued in this turn; results are released only after COMMIT. */
  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.flushScheduled = false;
    const requests = batch.map(({ contractId, signer, count, ceiling, budget }) => ({ contractId, signer, count, ceiling, ...(budget ? { budget } : {}) }));
    const settle = (outcomes: ReserveOutcome[]) =>
      batch.forEach((p, i) => {
        const o = outcomes[i]!;
        if (!('error' in o)) p.resolve(o);
        else if (o.error === 'SPEND_VELOCITY') p.reject(new SpendVelocityError(p.contractId, o.refusal));
        else p.reject(spendLimitError(p.contractId, o.next, p.ceiling ?? 0n));
      });
    const failAll = (e: unknown) => {
      const err = unavailable(this.description, e);
      for (const p of batch) p.reject(err);
    };
    if (this.writer) {
      this.inFlight = this.writer
        .commit(requests)
        .then(settle, failAll)
        .finally(() => {
          this.inFlight = undefined;
          if (this.queue.length) this.flush();
        });
      return;
    }
    try {
      settle(reserveBatch(this.db, this.w, requests));
    } catch (e) {
      failAll(e);
    }
  }

  async current(contractId: bigint, signer: string): Promise<bigint> {
    try {
      return (this.stmts.get.get(String(contractId), signer) as { reserved: bigint } | undefined)?.reserved ?? 0n;
    } catch (e) {
      throw unavailable(this.description, e);
    }
  }

  async raise(contractId: bigint, signer: string, value: bigint): Promise<bigint> {
    const w = this.w;
    // PRAGMA data_version does not change for this connection's own commits: drop the floor cache ourselves.
    this.floors.clear();
    return this.write(() => {
      w.raise.run({ cid: String(contractId), signer, value, now: BigInt(Date.now()) });
      return (this.stmts.get.get(String(contractId), signer) as { reserved: bigint }).reserved;
    });
  }

  async set(contractId: bigint, signer: string, value: bigint, options: { force?: boolean } = {}): Promise<void> {
    const w = this.w;
    this.floors.clear();
    await this.write(() => {
      const current = (this.stmts.get.get(String(contractId), signer) as { reserved: bigint } | undefined)?.reserved ?? 0n;
      if (value < current && !options.force) throw backwardError(contractId, signer, current, value);
      w.set.run({ cid: String(contractId), signer, value, now: BigInt(Date.now()) });
    });
  }

  /**
   * Read before every nonce handed out of a held block, so a `nonce set` or `nonce sync` made by another process
   * counts from the next claim on. Cached while no other connection has committed (PRAGMA data_version, a few
   * microseconds, checked on every call: unlike the terms cache this one must never be stale).
   */
  async floor(contractId: bigint, signer: string): Promise<bigint> {
    try {
      const version = this.stmts.dataVersion.get() as bigint;
      if (version !== this.floorsVersion) {
        this.floors.clear();
        this.floorsVersion = version;
      }
      const key = `${contractId}/${signer}`;
      let floor = this.floors.get(key);
      if (floor === undefined) {
        floor = (this.stmts.floor.get(String(contractId), signer) as bigint | undefined) ?? 0n;
        this.floors.set(key, floor);
      }
      return floor;
    } catch (e) {
      throw unavailable(this.description, e);
    }
  }

  async giveBack(contractId: bigint, signer: string, expected: bigint, to: bigint): Promise<boolean> {
    const w = this.w;
    return this.write(() => w.giveBack.run({ cid: String(contractId), signer, expected, to, now: BigInt(Date.now()) }).changes === 1);
  }

  /** synchronous and journal_mode of every connection this store writes through (durability is tested, not assumed). */
  async durability(): Promise<{ connection: string; synchronous: bigint; journal_mode: string }[]> {
    const mine = { connection: 'main', synchronous: this.db.pragma('synchronous', { simple: true }) as bigint, journal_mode: this.db.pragma('journal_mode', { simple: true }) as string };
    return this.writer ? [mine, { connection: 'writer thread', ...(await this.writer.durability()) }] : [mine];
  }

  private write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      if (e instanceof NonceStoreError) throw e;
      throw unavailable(this.description, e);
    }
  }

  async list(): Promise<NonceRow[]> {
    return (this.stmts.list.all() as { contract_id: string; signer: string; reserved: bigint; updated_at: bigint }[]).map((r) => ({
      contractId: BigInt(r.contract_id),
      signer: r.signer,
      reserved: r.reserved,
      updatedAt: new Date(Number(r.updated_at)),
    }));
  }

  async putContract(t: ContractTerms): Promise<void> {
    const w = this.w;
    this.terms.clear();
    this.write(() =>
      w.putContract.run(
        String(t.contractId),
        String(t.rate),
        String(t.deposit),
        amountText(t.maxSpend),
        t.source,
        BigInt(Date.now()),
        partyText(t.client),
        partyText(t.delegate),
        amountText(t.maxSpendPerHour),
        amountText(t.maxSpendPerDay),
      ),
    );
  }

  async getContract(contractId: bigint): Promise<ContractTerms | undefined> {
    // Read on every claim: cached, and dropped once another connection has committed anything to this file
    // (checked at most once a millisecond: the PRAGMA is a visible share of a busy daemon's time).
    const now = performance.now();
    if (now - this.termsCheckedAt >= 1) {
      this.termsCheckedAt = now;
      const version = this.stmts.dataVersion.get() as bigint;
      if (version !== this.termsVersion) {
        this.terms.clear();
        this.termsVersion = version;
      }
    }
    const id = String(contractId);
    if (!this.terms.has(id)) {
      const r = this.stmts.getContract.get(id) as ContractRowText | undefined;
      this.terms.set(id, r ? termsFromRow(r) : undefined);
    }
    return this.terms.get(id);
  }

  async listContracts(): Promise<ContractTerms[]> {
    return (this.stmts.listContracts.all() as ContractRowText[]).map(termsFromRow);
  }

  async check(): Promise<void> {
    const w = this.w;
    this.write(() => w.check.run(new Date().toISOString()));
    // Reservations go through the writer thread: it must answer too (an empty batch makes the round trip).
    if (this.writer) await this.writer.commit([]).catch((e) => Promise.reject(unavailable(this.description, e)));
  }

  async close(): Promise<void> {
    if (this.queue.length && !this.inFlight) this.flush();
    while (this.inFlight) await this.inFlight;
    await this.writer?.close();
    this.db.close();
  }
}

/** The contracts columns the read statements select, in both engines' names. */
const CONTRACT_COLUMNS = 'contract_id, rate, deposit, max_spend, source, client, delegate, max_spend_per_hour, max_spend_per_day';

export interface ContractRowText {
  contract_id: string;
  rate: string;
  deposit: string;
  max_spend: string | null;
  source: string;
  client?: string | null;
  delegate?: string | null;
  max_spend_per_hour?: string | null;
  max_spend_per_day?: string | null;
}

/** An optional amount as stored: decimal text, NULL when absent. */
export function amountText(v: bigint | undefined): string | null {
  return v === undefined ? null : String(v);
}

/** A party key as stored: lowercase hex of the 33-byte compressed key, NULL when unknown. */
export function partyText(key: Uint8Array | undefined): string | null {
  return key ? Buffer.from(key).toString('hex') : null;
}

function partyKey(text: string | null | undefined): Uint8Array | undefined {
  return text ? new Uint8Array(Buffer.from(text, 'hex')) : undefined;
}

export function termsFromRow(r: ContractRowText): ContractTerms {
  const terms: ContractTerms = {
    contractId: BigInt(r.contract_id),
    rate: BigInt(r.rate),
    deposit: BigInt(r.deposit),
    maxSpend: r.max_spend === null ? undefined : BigInt(r.max_spend),
    source: r.source,
  };
  if (r.max_spend_per_hour != null) terms.maxSpendPerHour = BigInt(r.max_spend_per_hour);
  if (r.max_spend_per_day != null) terms.maxSpendPerDay = BigInt(r.max_spend_per_day);
  const client = partyKey(r.client);
  const delegate = partyKey(r.delegate);
  if (client) terms.client = client;
  if (delegate) terms.delegate = delegate;
  return terms;
}

/** Both connections (this thread's and the writer thread's) are opened the same way. */
/**
 * Switch to WAL. SQLite answers SQLITE_BUSY to this pragma at once, without its busy handler, while another
 * connection opens or recovers the same file (several processes starting together, or one starting after another
 * was killed): wait and try again, within the busy timeout.
 */
function walMode(db: Database.Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
    }
  }
}

export function openDatabase(file: string, options: SqliteNonceStoreOptions): Database.Database {
  if (options.readOnly && file !== ':memory:') {
    // SQLITE_OPEN_READONLY: the file is never written (a WAL file's readers may leave empty -wal/-shm files beside it).
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: options.busyTimeoutMs ?? 10_000 });
    db.defaultSafeIntegers(true);
    return db;
  }
  const db = new Database(file, { timeout: options.busyTimeoutMs ?? 10_000 });
  db.defaultSafeIntegers(true);
  walMode(db, options.busyTimeoutMs ?? 10_000);
  db.pragma('synchronous = FULL');
  if (options.maxPageCount) db.pragma(`max_page_count = ${Math.floor(options.maxPageCount)}`);
  return db;
}

export interface ReservationStatements {
  get: Database.Statement;
  upsert: Database.Statement;
  spendRows: Database.Statement;
  spendSet: Database.Statement;
  spendPrune: Database.Statement;
}

export function reservationStatements(db: Database.Database): ReservationStatements {
  return {
    get: db.prepare('SELECT reserved FROM nonces WHERE contract_id = ? AND signer = ?'),
    upsert: db.prepare(
      'INSERT INTO nonces (contract_id, signer, reserved, updated_at) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (contract_id, signer) DO UPDATE SET reserved = excluded.reserved, updated_at = excluded.updated_at',
    ),
    spendRows: db.prepare('SELECT bucket, amount FROM spend WHERE contract_id = ? AND scope = ? AND bucket >= ?'),
    spendSet: db.prepare('INSERT INTO spend (contract_id, scope, bucket, amount) VALUES (?, ?, ?, ?) ON CONFLICT (contract_id, scope, bucket) DO UPDATE SET amount = excluded.amount'),
    spendPrune: db.prepare('DELETE FROM spend WHERE contract_id = ? AND scope = ? AND bucket < ?'),
  };
}

export interface ReserveRequest {
  contractId: bigint;
  signer: string;
  count: number;
  ceiling?: bigint;
  budget?: SpendBudget;
}
export type ReserveOutcome = { first: bigint; last: bigint } | { error: 'SPEND_LIMIT'; next: bigint } | { error: 'SPEND_VELOCITY'; refusal: VelocityRefusal };

/**
 * Reserve for every request in one IMMEDIATE transaction; throws (nothing reserved) if the commit fails. A
 * request with a budget is checked against the spend its scopes recorded in the last day, read inside the same
 * transaction (BEGIN IMMEDIATE: no other writer in between), and its cost is recorded there before the commit;
 * requests later in the batch see the earlier ones' spend.
 */
export function reserveBatch(db: Database.Database, stmts: ReservationStatements, batch: ReserveRequest[]): ReserveOutcome[] {
  const outcomes: ReserveOutcome[] = [];
  const at = Date.now();
  const now = BigInt(at);
  const bucket = bucketOf(at);
  db.transaction(() => {
    // Each (contract, scope) the batch touches: its buckets, read once, kept current as the batch charges it.
    const ledgers = new Map<string, SpendBuckets>();
    const ledger = (contractId: string, scope: string): SpendBuckets => {
      const key = `${contractId}/${scope}`;
      let buckets = ledgers.get(key);
      if (!buckets) {
        buckets = new Map();
        for (const r of stmts.spendRows.all(contractId, scope, keepFrom(at)) as { bucket: bigint; amount: string }[]) buckets.set(Number(r.bucket), BigInt(r.amount));
        ledgers.set(key, buckets);
      }
      return buckets;
    };
    for (const p of batch) {
      const cid = String(p.contractId);
      const row = stmts.get.get(cid, p.signer) as { reserved: bigint } | undefined;
      const current = row?.reserved ?? 0n;
      let last = current + BigInt(p.count);
      if (p.ceiling !== undefined && last > p.ceiling) last = p.ceiling;
      if (last <= current) {
        outcomes.push({ error: 'SPEND_LIMIT', next: current + 1n });
        continue;
      }
      if (p.budget) {
        const fit = admit(p.budget, (scope) => ledger(cid, scope), last - current, at);
        if ('refusal' in fit) {
          outcomes.push({ error: 'SPEND_VELOCITY', refusal: fit.refusal });
          continue;
        }
        last = current + fit.count;
        const cost = fit.count * p.budget.rate;
        for (const scope of scopesOf(p.budget)) {
          const buckets = ledger(cid, scope);
          const amount = (buckets.get(bucket) ?? 0n) + cost;
          buckets.set(bucket, amount);
          stmts.spendSet.run(cid, scope, BigInt(bucket), String(amount));
        }
      }
      stmts.upsert.run(cid, p.signer, last, now);
      outcomes.push({ first: current + 1n, last });
    }
    // Buckets older than a day count in no window.
    for (const key of ledgers.keys()) {
      const slash = key.indexOf('/');
      stmts.spendPrune.run(key.slice(0, slash), key.slice(slash + 1), BigInt(keepFrom(at)));
    }
  }).immediate();
  return outcomes;
}

/** The main-thread end of sqlite-writer.ts: batches go in order, one reply per batch. */
class SqliteWriter {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (o: unknown) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(file: string, options: SqliteNonceStoreOptions) {
    // Required here, not imported: only the daemon starts a writer thread, and a `claim sign` process would
    // otherwise load worker_threads (~2 ms of its start) for nothing.
    const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    this.worker = new Worker(new URL('./sqlite-writer.js', import.meta.url), { workerData: { file, options: { ...options, writerThread: false } } });
    this.worker.on('message', (m: { id: number; outcomes?: ReserveOutcome[]; durability?: object; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.outcomes || m.durability) w?.resolve(m.outcomes ?? m.durability);
      else w?.reject(new Error(m.error ?? 'writer failed'));
    });
    const fail = (why: string) => {
      this.failure ??= new Error(why);
      for (const w of this.waiting.values()) w.reject(this.failure);
      this.waiting.clear();
    };
    this.worker.on('error', (e) => fail(`writer thread failed (${e.message})`));
    this.worker.on('exit', () => fail('writer thread stopped'));
  }

  commit(batch: ReserveRequest[]): Promise<ReserveOutcome[]> {
    return this.ask({ batch }) as Promise<ReserveOutcome[]>;
  }

  /** The thread connection's synchronous and journal_mode. */
  durability(): Promise<{ synchronous: bigint; journal_mode: string }> {
    return this.ask({ durability: true }) as unknown as Promise<{ synchronous: bigint; journal_mode: string }>;
  }

  private ask(message: { batch: ReserveRequest[] } | { durability: true }): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (o: unknown) => void, reject });
      this.worker.postMessage({ id, ...message });
    });
  }

  /** Waits for batches in flight (the thread answers in order), then stops the thread. */
  async close(): Promise<void> {
    if (!this.failure) await this.commit([]).catch(() => {});
    await this.worker.terminate();
  }
}
