import pg from 'pg';
import { backwardError, missingStoreError, spendLimitError, unavailable, NonceStoreError, type ContractTerms, type NonceRow, type NonceStore } from './store.js';
import { partyText, termsFromRow, type ContractRowText } from './sqlite.js';

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
`;

/** Whether our tables exist, and how many of the columns the newest schema adds are there already. */
const SCHEMA_MARKERS = 4;
const SCHEMA_STATE = `
SELECT to_regclass('arkeo_nonces') IS NOT NULL AS exists,
       (SELECT count(*)::int FROM information_schema.columns
         WHERE table_schema = current_schema()
           AND (table_name, column_name) IN (('arkeo_nonces', 'floor'), ('arkeo_contracts', 'client'), ('arkeo_contracts', 'delegate'), ('arkeo_meta', 'v'))) AS n`;

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
}

/**
 * The shared engine: several signer processes on several hosts draw from one sequence per (contract, signer).
 * Each reservation is one autocommitted statement, durable when it returns (synchronous_commit as configured on
 * the server; keep it `on`).
 */
export class PostgresNonceStore implements NonceStore {
  readonly description: string;
  private constructor(private readonly pool: pg.Pool, private readonly url: string) {
    this.description = redact(url);
  }

  static async open(url: string, options: PostgresNonceStoreOptions = {}): Promise<PostgresNonceStore> {
    // A query that never answers (a silent network) must fail, not hang claims and shutdown: a reservation that
    // timed out may still have committed, which only skips nonces.
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 4, connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000, query_timeout: options.queryTimeoutMs ?? 30_000, keepAlive: true });
    // An idle client losing its server must not crash the process; the next query reports the failure.
    pool.on('error', () => {});
    // Every connection commits synchronously whatever the server's, role's or URL's (?options=) default: a
    // reservation must be on disk before its nonce is signed. Queued first on each new client, so it runs first.
    pool.on('connect', (client) => void client.query('SET synchronous_commit = on').catch(() => {}));
    const store = new PostgresNonceStore(pool, url);
    let exists = true;
    try {
      // The DDL (and its locks: ALTER TABLE takes an exclusive one even when the column exists) runs only when
      // something is missing, so an ordinary open neither waits behind long transactions nor needs DDL rights.
      const r = (await pool.query<{ exists: boolean; n: number }>(SCHEMA_STATE)).rows[0]!;
      exists = r.exists || options.create !== false;
      if (exists && r.n < SCHEMA_MARKERS) await pool.query(SCHEMA);
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

  private async q<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (e) {
      throw unavailable(this.description, scrubbed(e, this.url, this.description));
    }
  }

  async reserve(contractId: bigint, signer: string, count: number, ceiling?: bigint): Promise<{ first: bigint; last: bigint }> {
    if (!Number.isInteger(count) || count < 1) throw new NonceStoreError('BAD_COUNT', `reserve: count must be a positive integer, got ${count}`);
    const r = await this.q<{ previous: string; reserved: string }>(RESERVE, [String(contractId), signer, count, ceiling === undefined ? null : String(ceiling)]);
    const row = r.rows[0];
    if (!row) throw spendLimitError(contractId, (await this.current(contractId, signer)) + 1n, ceiling ?? 0n);
    return { first: BigInt(row.previous) + 1n, last: BigInt(row.reserved) };
  }

  async current(contractId: bigint, signer: string): Promise<bigint> {
    const r = await this.q<{ reserved: string }>('SELECT reserved::text FROM arkeo_nonces WHERE contract_id = $1 AND signer = $2', [String(contractId), signer]);
    return r.rows[0] ? BigInt(r.rows[0].reserved) : 0n;
  }

  async raise(contractId: bigint, signer: string, value: bigint): Promise<bigint> {
    const r = await this.q<{ reserved: string }>(
      `INSERT INTO arkeo_nonces AS n (contract_id, signer, reserved, floor) VALUES ($1, $2, $3, $3)
       ON CONFLICT (contract_id, signer) DO UPDATE SET reserved = GREATEST(n.reserved, $3::bigint), floor = GREATEST(n.floor, $3::bigint), updated_at = now()
       RETURNING reserved::text`,
      [String(contractId), signer, String(value)],
    );
    return BigInt(r.rows[0]!.reserved);
  }

  async set(contractId: bigint, signer: string, value: bigint, options: { force?: boolean } = {}): Promise<void> {
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
    const r = await this.q<{ floor: string }>('SELECT floor::text FROM arkeo_nonces WHERE contract_id = $1 AND signer = $2', [String(contractId), signer]);
    return r.rows[0] ? BigInt(r.rows[0].floor) : 0n;
  }

  async giveBack(contractId: bigint, signer: string, expected: bigint, to: bigint): Promise<boolean> {
    const r = await this.q(
      'UPDATE arkeo_nonces SET reserved = $4::bigint, updated_at = now() WHERE contract_id = $1 AND signer = $2 AND reserved = $3::bigint AND floor <= $4::bigint',
      [String(contractId), signer, String(expected), String(to)],
    );
    return r.rowCount === 1;
  }

  async list(): Promise<NonceRow[]> {
    const r = await this.q<{ contract_id: string; signer: string; reserved: string; updated_at: Date }>(
      'SELECT contract_id::text, signer, reserved::text, updated_at FROM arkeo_nonces ORDER BY arkeo_nonces.contract_id, signer',
      [],
    );
    return r.rows.map((x) => ({ contractId: BigInt(x.contract_id), signer: x.signer, reserved: BigInt(x.reserved), updatedAt: x.updated_at }));
  }

  async putContract(t: ContractTerms): Promise<void> {
    await this.q(
      `INSERT INTO arkeo_contracts (contract_id, rate, deposit, max_spend, source, client, delegate) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (contract_id) DO UPDATE SET rate = $2, deposit = $3, max_spend = $4, source = $5, client = $6, delegate = $7, updated_at = now()`,
      [String(t.contractId), String(t.rate), String(t.deposit), t.maxSpend === undefined ? null : String(t.maxSpend), t.source, partyText(t.client), partyText(t.delegate)],
    );
  }

  async getContract(contractId: bigint): Promise<ContractTerms | undefined> {
    const r = await this.q<ContractRowText>(
      'SELECT contract_id::text, rate::text, deposit::text, max_spend::text, source, client, delegate FROM arkeo_contracts WHERE contract_id = $1',
      [String(contractId)],
    );
    return r.rows[0] ? termsFromRow(r.rows[0]) : undefined;
  }

  async listContracts(): Promise<ContractTerms[]> {
    // The table-qualified name orders by the NUMERIC column: a bare contract_id would be the ::text output column, "11" < "9".
    const r = await this.q<ContractRowText>('SELECT contract_id::text, rate::text, deposit::text, max_spend::text, source, client, delegate FROM arkeo_contracts ORDER BY arkeo_contracts.contract_id', []);
    return r.rows.map(termsFromRow);
  }

  async check(): Promise<void> {
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
