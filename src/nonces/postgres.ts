import pg from 'pg';
import { backwardError, missingStoreError, readOnlyError, spendLimitError, unavailable, NonceStoreError, SpendVelocityError, type ContractTerms, type NonceRow, type NonceStore } from './store.js';
import { amountText, partyText, termsFromRow, type ContractRowText } from './sqlite.js';
import { admit, bucketOf, keepFrom, scopesOf, type SpendBudget, type SpendBuckets } from './velocity.js';

// One multi-statement query runs as one transaction. The advisory lock (key: "arkeo" in ASCII) serialises first
// opens: CREATE TABLE IF NOT EXISTS is not safe against itself in PostgreSQL, and two signer processes starting
// on an empty database would otherwise fail with a duplicate key in pg_type.
const SCHEMA = `
SELECT pg_advisory_xact_lock(418463131247);
CREATE TABLE IF NOT EXISTS arkeo_nonces (
  contract_id NUMERIC(20) NOT NULL,
  signer      TEXT NOT NULL,
  reserved    BIGINT NOT NULL CHECK (reserved >= 0),
  previous    BIGINT NOT NULL DEFAULT 0,   -- the mark before the last reservation, returned by RESERVE
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (contract_id, signer)
);
CREATE TABLE IF NOT EXISTS arkeo_contracts (
  contract_id NUMERIC(20) PRIMARY KEY,
  rate        NUMERIC NOT NULL,
  deposit     NUMERIC NOT NULL,
  max_spend   NUMERIC,
  source      TEXT NOT NULL,
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS arkeo_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
-- declared used by nonce set/sync: never issued, even from a block a process holds (added after 0.1.0)
ALTER TABLE arkeo_nonces ADD COLUMN IF NOT EXISTS floor BIGINT NOT NULL DEFAULT 0;
-- the contract's parties, hex of the 33-byte keys; NULL when unknown (added after 0.1.0)
ALTER TABLE arkeo_contracts ADD COLUMN IF NOT EXISTS client TEXT;
ALTER TABLE arkeo_contracts ADD COLUMN IF NOT EXISTS delegate TEXT;
-- spend velocity: the contract's limits (uarkeo; NULL when none), and what each scope reserved per minute
ALTER TABLE arkeo_contracts ADD COLUMN IF NOT EXISTS max_spend_per_hour NUMERIC;
ALTER TABLE arkeo_contracts ADD COLUMN IF NOT EXISTS max_spend_per_day NUMERIC;
CREATE TABLE IF NOT EXISTS arkeo_spend (
  contract_id NUMERIC(20) NOT NULL,
  scope       TEXT NOT NULL,      -- 'contract', or 'token:<name>' for one daemon token's claims
  bucket      BIGINT NOT NULL,    -- unix minute of the reservations (the server's clock)
  amount      NUMERIC NOT NULL,   -- uarkeo reserved in that minute
  PRIMARY KEY (contract_id, scope, bucket)
);
`;

/** Whether our tables exist, and which columns they have (the newest schema adds SCHEMA_MARKERS). */
const SCHEMA_MARKERS = ['arkeo_nonces.floor', 'arkeo_contracts.client', 'arkeo_contracts.delegate', 'arkeo_meta.v', 'arkeo_contracts.max_spend_per_hour', 'arkeo_contracts.max_spend_per_day', 'arkeo_spend.amount'];
const SCHEMA_STATE = `
SELECT to_regclass('arkeo_nonces') IS NOT NULL AS exists,
       ARRAY(SELECT table_name || '.' || column_name FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name IN ('arkeo_nonces', 'arkeo_contracts', 'arkeo_meta', 'arkeo_spend')) AS columns`;

/** Every column the read statements use, with what a database made before the column existed means by its absence. */
const READ_COLUMNS: Record<'arkeo_nonces' | 'arkeo_contracts', [string, string][]> = {
  arkeo_nonces: [['contract_id', 'NULL::numeric'], ['signer', 'NULL::text'], ['reserved', '0::bigint'], ['updated_at', 'now()'], ['floor', '0::bigint']],
  arkeo_contracts: [
    ['contract_id', 'NULL::numeric'],
    ['rate', 'NULL::numeric'],
    ['deposit', 'NULL::numeric'],
    ['max_spend', 'NULL::numeric'],
    ['source', 'NULL::text'],
    ['client', 'NULL::text'],
    ['delegate', 'NULL::text'],
    ['max_spend_per_hour', 'NULL::numeric'],
    ['max_spend_per_day', 'NULL::numeric'],
  ],
};

/**
 * What the read statements select from. A writing open has upgraded the tables, so they are used as they are; a
 * reading open never runs DDL, so a table missing a column is read through a subquery (under the table's name)
 * that supplies the column's default, and a missing table reads as empty.
 */
function tableSources(columns: Set<string>, upgraded: boolean): Record<keyof typeof READ_COLUMNS, string> {
  const out = { arkeo_nonces: 'arkeo_nonces', arkeo_contracts: 'arkeo_contracts' };
  if (upgraded) return out;
  for (const table of Object.keys(READ_COLUMNS) as (keyof typeof READ_COLUMNS)[]) {
    const wanted = READ_COLUMNS[table];
    if (wanted.every(([c]) => columns.has(`${table}.${c}`))) continue;
    const list = wanted.map(([c, absent]) => (columns.has(`${table}.${c}`) ? c : `${absent} AS ${c}`)).join(', ');
    out[table] = wanted.some(([c]) => columns.has(`${table}.${c}`)) ? `(SELECT ${list} FROM ${table}) AS ${table}` : `(SELECT ${list} WHERE false) AS ${table}`;
  }
  return out;
}

/**
 * Reserve in ONE statement: insert or bump the high-water mark, capped at the ceiling, and return the marks
 * before and after. Row locking makes concurrent reservations from any number of processes and hosts serialise
 * on the row, so no two callers ever get the same nonce. `previous = n.reserved` reads the pre-update value in
 * the same statement, so the range is exact even when the ceiling cuts a block short. No row back means the
 * ceiling was already reached. $1 contract, $2 signer, $3 count, $4 ceiling (NULL: none).
 */
const RESERVE = `
INSERT INTO arkeo_nonces AS n (contract_id, signer, reserved, previous, updated_at)
SELECT $1::numeric, $2, LEAST($3::bigint, COALESCE($4::bigint, $3::bigint)), 0, now()
WHERE COALESCE($4::bigint, 1) >= 1
ON CONFLICT (contract_id, signer) DO UPDATE
  SET previous = n.reserved,
      reserved = LEAST(n.reserved + $3::bigint, COALESCE($4::bigint, n.reserved + $3::bigint)),
      updated_at = now()
  WHERE n.reserved < COALESCE($4::bigint, n.reserved + 1)
RETURNING previous::text, reserved::text`;

/**
 * Reservations under a spend budget serialise per contract on this transaction-scoped advisory lock (class
 * "arke", key the contract id hashed): the spend read, the nonce taken and the spend recorded are one transaction,
 * and no other budgeted reservation for the contract, from any process or host, runs between them. Plain
 * reservations do not take it (they lock only their nonce row, which a budgeted one locks after this).
 */
const VELOCITY_LOCK = `SELECT pg_advisory_xact_lock(1634889061, hashtext($1::text)), (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS now`;

const CONTRACT_SELECT = 'contract_id::text, rate::text, deposit::text, max_spend::text, source, client, delegate, max_spend_per_hour::text, max_spend_per_day::text';

const ignoreError = () => {};

/** Query parameters of a libpq/pg URL that carry a secret, redacted like the password in `user:pass@`. */
const SECRET_PARAMS = ['password', 'sslpassword'];

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const p of SECRET_PARAMS) if (u.searchParams.has(p)) u.searchParams.set(p, '***');
    // URLSearchParams re-encodes '*'; keep the mark readable.
    return u.toString().replace(/%2A%2A%2A/g, '***');
  } catch {
    return 'postgres://(unparseable url)';
  }
}

/** Every form in which the URL's secrets could appear in a message: the URL itself, raw and decoded passwords. */
function secretsOf(url: string): string[] {
  const out = [url];
  try {
    const u = new URL(url);
    const values = [u.password, ...SECRET_PARAMS.map((p) => u.searchParams.get(p) ?? '')];
    for (const v of values) {
      if (!v) continue;
      out.push(v);
      try {
        out.push(decodeURIComponent(v));
      } catch {
        /* not percent-encoded */
      }
    }
  } catch {
    /* unparseable: only the whole URL is known */
  }
  // Longest first, so that the URL goes before the password inside it.
  return [...new Set(out.filter(Boolean))].sort((a, b) => b.length - a.length);
}

/**
 * pg's own errors can repeat what they were given (a host, a parameter, the connection string); nothing from the
 * URL's secrets may reach a message, /healthz or the audit log. Only the scrubbed text and the code travel on.
 */
function scrubbed(e: unknown, url: string, description: string): { message: string; code?: string } {
  let message = String((e as Error)?.message ?? e);
  for (const secret of secretsOf(url)) message = message.split(secret).join(secret === url ? description : '***');
  return { message, code: (e as { code?: string })?.code };
}

export interface PostgresNonceStoreOptions {
  /** Pool size; the daemon's concurrency. */
  max?: number;
  connectionTimeoutMs?: number;
  /**
   * Create the tables when the database has none (default true). `openNonceStore` passes false unless the user
   * asked for a new store: a mistyped database must not become an empty store that starts every contract at 1.
   */
  create?: boolean;
  /** Client-side limit on one query (default 30 s). */
  queryTimeoutMs?: number;
  /**
   * A reading command: no DDL at all (not even the upgrade of an older schema, which is read as it is), every
   * connection read-only (default_transaction_read_only), and every writing method refuses with READ_ONLY.
   */
  readOnly?: boolean;
}

/**
 * The shared engine: several signer processes on several hosts draw from one sequence per (contract, signer).
 * Each reservation is one autocommitted statement, durable when it returns (synchronous_commit as configured on
 * the server; keep it `on`).
 */
export class PostgresNonceStore implements NonceStore {
  readonly description: string;
  private readOnly = false;
  private tables = { arkeo_nonces: 'arkeo_nonces', arkeo_contracts: 'arkeo_contracts' };
  /** Each connection's first query (its durability settings), in flight or done. */
  private readonly setups = new WeakMap<pg.ClientBase, Promise<void>>();
  private constructor(private readonly pool: pg.Pool, private readonly url: string) {
    this.description = redact(url);
  }

  /** Refuses on a store opened for reading; called first by every method that writes. */
  private writable(): void {
    if (this.readOnly) throw readOnlyError(this.description);
  }

  static async open(url: string, options: PostgresNonceStoreOptions = {}): Promise<PostgresNonceStore> {
    // A query that never answers (a silent network) must fail, not hang claims and shutdown: a reservation that
    // timed out may still have committed, which only skips nonces.
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 4, connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000, query_timeout: options.queryTimeoutMs ?? 30_000, keepAlive: true });
    // An idle client losing its server must not crash the process; the next query reports the failure.
    pool.on('error', () => {});
    // Every connection commits synchronously whatever the server's, role's or URL's (?options=) default: a
    // reservation must be on disk before its nonce is signed. Queued first on each new client, so it runs first.
    const readOnly = Boolean(options.readOnly);
    // A reading open's connections cannot write at all, whatever a bug might ask of them.
    const store = new PostgresNonceStore(pool, url);
    pool.on('connect', (client) => {
      const setup = client.query(readOnly ? 'SET synchronous_commit = on; SET default_transaction_read_only = on' : 'SET synchronous_commit = on').then(
        () => {},
        () => {},
      );
      // A transaction on a checked-out client (reserveWithin) waits for it rather than queueing behind it.
      store.setups.set(client, setup);
    });
    store.readOnly = readOnly;
    let exists = true;
    try {
      // The DDL (and its locks: ALTER TABLE takes an exclusive one even when the column exists) runs only when
      // something is missing, so an ordinary open neither waits behind long transactions nor needs DDL rights.
      // A reading open never runs it: an older schema is read as it is (docs/decisions/read-only-store-opens.md).
      const r = (await store.query<{ exists: boolean; columns: string[] }>(SCHEMA_STATE, [])).rows[0]!;
      const columns = new Set(r.columns);
      const complete = SCHEMA_MARKERS.every((m) => columns.has(m));
      exists = r.exists || (options.create !== false && !readOnly);
      if (exists && !complete && !readOnly) await store.query(SCHEMA, []);
      store.tables = tableSources(columns, !readOnly);
    } catch (e) {
      await pool.end().catch(() => {});
      throw unavailable(store.description, scrubbed(e, url, store.description));
    }
    if (!exists) {
      await pool.end().catch(() => {});
      throw missingStoreError(store.description);
    }
    let d: { synchronous_commit: string; fsync: string };
    try {
      d = await store.durability();
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    if (d.fsync !== 'on' || !['on', 'remote_write', 'remote_apply'].includes(d.synchronous_commit)) {
      await pool.end().catch(() => {});
      throw new NonceStoreError('NOT_DURABLE', `nonce store ${store.description}: the server runs with fsync = ${d.fsync}, synchronous_commit = ${d.synchronous_commit}, so a reserved nonce could be lost in a crash and reused; turn both on`);
    }
    return store;
  }

  /**
   * pool.query, on a connection whose first query (its settings, sent on connect) has finished: a query queued
   * behind one in flight is what pg deprecates, and it warns on stderr about it.
   */
  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    const client = await this.checkOut();
    let failed: Error | undefined;
    try {
      await this.setups.get(client);
      return await client.query<R>(text, values);
    } catch (e) {
      failed = e instanceof Error ? e : new Error(String(e));
      throw e;
    } finally {
      this.checkIn(client, failed);
    }
  }

  /**
   * A connection of the pool, for one query or one transaction. A lost server makes a checked-out client emit
   * 'error', which would be an uncaught exception without a listener; the query in flight fails with it anyway.
   */
  private async checkOut(): Promise<pg.PoolClient> {
    const client = await this.pool.connect();
    client.on('error', ignoreError);
    return client;
  }

  /** Back to the pool; a client whose query failed may be broken, so the pool drops it (as pool.query does). */
  private checkIn(client: pg.PoolClient, failed: Error | undefined): void {
    client.off('error', ignoreError);
    client.release(failed);
  }

  private async q<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.query<R>(text, values);
    } catch (e) {
      throw unavailable(this.description, scrubbed(e, this.url, this.description));
    }
  }

  async reserve(contractId: bigint, signer: string, count: number, ceiling?: bigint, budget?: SpendBudget): Promise<{ first: bigint; last: bigint }> {
    this.writable();
    if (!Number.isInteger(count) || count < 1) throw new NonceStoreError('BAD_COUNT', `reserve: count must be a positive integer, got ${count}`);
    if (budget) return this.reserveWithin(contractId, signer, count, ceiling, budget);
    const r = await this.q<{ previous: string; reserved: string }>(RESERVE, [String(contractId), signer, count, ceiling === undefined ? null : String(ceiling)]);
    const row = r.rows[0];
    if (!row) throw spendLimitError(contractId, (await this.current(contractId, signer)) + 1n, ceiling ?? 0n);
    return { first: BigInt(row.previous) + 1n, last: BigInt(row.reserved) };
  }

  /**
   * A reservation under a spend budget: one transaction that takes the contract's velocity lock, reads the time
   * (the server's clock: every host's claims are bucketed by one clock), the nonce row and the scopes' spend in the
   * last day, cuts the block to what the ceiling and the budget admit, and writes the mark and the spend.
   */
  private async reserveWithin(contractId: bigint, signer: string, count: number, ceiling: bigint | undefined, budget: SpendBudget): Promise<{ first: bigint; last: bigint }> {
    const cid = String(contractId);
    const scopes = scopesOf(budget);
    let client: pg.PoolClient;
    try {
      client = await this.checkOut();
    } catch (e) {
      throw unavailable(this.description, scrubbed(e, this.url, this.description));
    }
    let failed: unknown;
    try {
      await this.setups.get(client);
      await client.query('BEGIN');
      const at = Number((await client.query<{ now: string }>(VELOCITY_LOCK, [cid])).rows[0]!.now);
      const row = (await client.query<{ reserved: string }>('SELECT reserved::text FROM arkeo_nonces WHERE contract_id = $1 AND signer = $2 FOR UPDATE', [cid, signer])).rows[0];
      const current = row ? BigInt(row.reserved) : 0n;
      let last = current + BigInt(count);
      if (ceiling !== undefined && last > ceiling) last = ceiling;
      if (last <= current) {
        await client.query('ROLLBACK');
        throw spendLimitError(contractId, current + 1n, ceiling ?? 0n);
      }
      const ledgers = new Map<string, SpendBuckets>(scopes.map((s) => [s, new Map()]));
      const rows = await client.query<{ scope: string; bucket: string; amount: string }>('SELECT scope, bucket::text, amount::text FROM arkeo_spend WHERE contract_id = $1 AND scope = ANY($2::text[]) AND bucket >= $3', [cid, scopes, keepFrom(at)]);
      for (const r of rows.rows) ledgers.get(r.scope)!.set(Number(r.bucket), BigInt(r.amount));
      const fit = admit(budget, (scope) => ledgers.get(scope)!, last - current, at);
      if ('refusal' in fit) {
        await client.query('ROLLBACK');
        throw new SpendVelocityError(contractId, fit.refusal);
      }
      last = current + fit.count;
      await client.query(
        `INSERT INTO arkeo_nonces AS n (contract_id, signer, reserved, previous, updated_at) VALUES ($1::numeric, $2, $3::bigint, $4::bigint, now())
         ON CONFLICT (contract_id, signer) DO UPDATE SET previous = n.reserved, reserved = $3::bigint, updated_at = now()`,
        [cid, signer, String(last), String(current)],
      );
      await client.query(
        `INSERT INTO arkeo_spend AS s (contract_id, scope, bucket, amount) SELECT $1::numeric, scope, $3::bigint, $4::numeric FROM unnest($2::text[]) AS scope
         ON CONFLICT (contract_id, scope, bucket) DO UPDATE SET amount = s.amount + EXCLUDED.amount`,
        [cid, scopes, bucketOf(at), String(fit.count * budget.rate)],
      );
      // Buckets older than a day count in no window.
      await client.query('DELETE FROM arkeo_spend WHERE contract_id = $1 AND scope = ANY($2::text[]) AND bucket < $3', [cid, scopes, keepFrom(at)]);
      await client.query('COMMIT');
      return { first: current + 1n, last };
    } catch (e) {
      if (e instanceof NonceStoreError) throw e;
      failed = e;
      // A commit that may or may not have happened only skips nonces; the rollback of one that failed is best effort.
      await client.query('ROLLBACK').catch(() => {});
      throw unavailable(this.description, scrubbed(e, this.url, this.description));
    } finally {
      this.checkIn(client, failed instanceof Error ? failed : failed === undefined ? undefined : new Error(String(failed)));
    }
  }

  async current(contractId: bigint, signer: string): Promise<bigint> {
    const r = await this.q<{ reserved: string }>(`SELECT reserved::text FROM ${this.tables.arkeo_nonces} WHERE contract_id = $1 AND signer = $2`, [String(contractId), signer]);
    return r.rows[0] ? BigInt(r.rows[0].reserved) : 0n;
  }

  async raise(contractId: bigint, signer: string, value: bigint): Promise<bigint> {
    this.writable();
    const r = await this.q<{ reserved: string }>(
      `INSERT INTO arkeo_nonces AS n (contract_id, signer, reserved, floor) VALUES ($1, $2, $3, $3)
       ON CONFLICT (contract_id, signer) DO UPDATE SET reserved = GREATEST(n.reserved, $3::bigint), floor = GREATEST(n.floor, $3::bigint), updated_at = now()
       RETURNING reserved::text`,
      [String(contractId), signer, String(value)],
    );
    return BigInt(r.rows[0]!.reserved);
  }

  async set(contractId: bigint, signer: string, value: bigint, options: { force?: boolean } = {}): Promise<void> {
    this.writable();
    const r = await this.q<{ reserved: string }>(
      `INSERT INTO arkeo_nonces AS n (contract_id, signer, reserved, floor) VALUES ($1, $2, $3, $3)
       ON CONFLICT (contract_id, signer) DO UPDATE SET reserved = $3::bigint, floor = $3::bigint, updated_at = now()
       WHERE $4::boolean OR n.reserved <= $3::bigint
       RETURNING reserved::text`,
      [String(contractId), signer, String(value), Boolean(options.force)],
    );
    if (!r.rows[0]) throw backwardError(contractId, signer, await this.current(contractId, signer), value);
  }

  /** One read per nonce taken from a held block: another host's `nonce set` must count from the next claim on. */
  async floor(contractId: bigint, signer: string): Promise<bigint> {
    const r = await this.q<{ floor: string }>(`SELECT floor::text FROM ${this.tables.arkeo_nonces} WHERE contract_id = $1 AND signer = $2`, [String(contractId), signer]);
    return r.rows[0] ? BigInt(r.rows[0].floor) : 0n;
  }

  async giveBack(contractId: bigint, signer: string, expected: bigint, to: bigint): Promise<boolean> {
    this.writable();
    const r = await this.q(
      'UPDATE arkeo_nonces SET reserved = $4::bigint, updated_at = now() WHERE contract_id = $1 AND signer = $2 AND reserved = $3::bigint AND floor <= $4::bigint',
      [String(contractId), signer, String(expected), String(to)],
    );
    return r.rowCount === 1;
  }

  async list(): Promise<NonceRow[]> {
    const r = await this.q<{ contract_id: string; signer: string; reserved: string; updated_at: Date }>(
      `SELECT contract_id::text, signer, reserved::text, updated_at FROM ${this.tables.arkeo_nonces} ORDER BY arkeo_nonces.contract_id, signer`,
      [],
    );
    return r.rows.map((x) => ({ contractId: BigInt(x.contract_id), signer: x.signer, reserved: BigInt(x.reserved), updatedAt: x.updated_at }));
  }

  async putContract(t: ContractTerms): Promise<void> {
    this.writable();
    await this.q(
      `INSERT INTO arkeo_contracts (contract_id, rate, deposit, max_spend, source, client, delegate, max_spend_per_hour, max_spend_per_day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (contract_id) DO UPDATE SET rate = $2, deposit = $3, max_spend = $4, source = $5, client = $6, delegate = $7, max_spend_per_hour = $8, max_spend_per_day = $9, updated_at = now()`,
      [String(t.contractId), String(t.rate), String(t.deposit), amountText(t.maxSpend), t.source, partyText(t.client), partyText(t.delegate), amountText(t.maxSpendPerHour), amountText(t.maxSpendPerDay)],
    );
  }

  async getContract(contractId: bigint): Promise<ContractTerms | undefined> {
    const r = await this.q<ContractRowText>(
      `SELECT ${CONTRACT_SELECT} FROM ${this.tables.arkeo_contracts} WHERE contract_id = $1`,
      [String(contractId)],
    );
    return r.rows[0] ? termsFromRow(r.rows[0]) : undefined;
  }

  async listContracts(): Promise<ContractTerms[]> {
    // The table-qualified name orders by the NUMERIC column: a bare contract_id would be the ::text output column, "11" < "9".
    const r = await this.q<ContractRowText>(`SELECT ${CONTRACT_SELECT} FROM ${this.tables.arkeo_contracts} ORDER BY arkeo_contracts.contract_id`, []);
    return r.rows.map(termsFromRow);
  }

  async check(): Promise<void> {
    this.writable();
    await this.q("INSERT INTO arkeo_meta (k, v) VALUES ('last_check', now()::text) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", []);
  }

  /** What a commit promises on this server, as this store's connections see it. */
  async durability(): Promise<{ synchronous_commit: string; fsync: string }> {
    const r = await this.q<{ synchronous_commit: string; fsync: string }>("SELECT current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync", []);
    return r.rows[0]!;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
