import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { toHex } from '../crypto/bytes.js';
import type { JournalEntry, JournalState } from '../tx/index.js';
import { claimsInTx } from './txclaims.js';
import { changeColumns, claimOfRow, txOfRow } from './sqlite.js';
import {
  checkSettleSchema,
  emptyCounts,
  lockKey,
  PENDING_STATES,
  storeFailure,
  type ClaimChange,
  type ClaimKey,
  type ClaimState,
  type PendingContract,
  type SeenClaim,
  type SettleStore,
  type StoredClaim,
  type StoredTx,
} from './store.js';

/**
 * The settler's tables in the nonce store's PostgreSQL database. The DDL runs under a transaction-level advisory
 * lock (two settlers starting on an empty database would otherwise race on CREATE TABLE IF NOT EXISTS). Leadership
 * is a session advisory lock held on a connection of its own: the server releases it when that connection ends,
 * so a leader killed with -9 frees it as soon as the server sees the socket close.
 */
const SCHEMA = `
SELECT pg_advisory_xact_lock(418463131248);
CREATE TABLE IF NOT EXISTS arkeo_settle_claims (
  contract_id NUMERIC(20) NOT NULL,
  nonce       BIGINT NOT NULL,
  signature   TEXT NOT NULL,
  spender     TEXT NOT NULL DEFAULT '',
  state       TEXT NOT NULL,
  reason      TEXT,
  detail      TEXT,
  tx_hash     TEXT,
  alone       BOOLEAN NOT NULL DEFAULT false,
  chain_paid  NUMERIC,
  paid        NUMERIC,
  reserve     NUMERIC,
  height      BIGINT,
  seen_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (contract_id, nonce, signature)
);
CREATE INDEX IF NOT EXISTS arkeo_settle_claims_state ON arkeo_settle_claims (state);
CREATE INDEX IF NOT EXISTS arkeo_settle_claims_tx ON arkeo_settle_claims (tx_hash);
CREATE TABLE IF NOT EXISTS arkeo_settle_txs (
  hash           TEXT PRIMARY KEY,
  address        TEXT NOT NULL,
  chain_id       TEXT NOT NULL,
  account_number NUMERIC(20) NOT NULL,
  sequence       NUMERIC(20) NOT NULL,
  intent         TEXT NOT NULL,
  tx             TEXT NOT NULL,
  state          TEXT NOT NULL,
  run            TEXT NOT NULL,
  at             TEXT NOT NULL,
  height         BIGINT,
  code           INTEGER,
  written        BIGSERIAL
);
CREATE INDEX IF NOT EXISTS arkeo_settle_txs_state ON arkeo_settle_txs (state);
CREATE TABLE IF NOT EXISTS arkeo_settle_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
`;

const CLAIM_COLUMNS = 'contract_id::text, nonce::text, signature, spender, state, reason, detail, tx_hash, alone, chain_paid::text, paid::text, reserve::text, height::text, seen_at';
const TX_COLUMNS = 'hash, address, chain_id, account_number::text, sequence::text, intent, tx, state, run, at, height::text, code';

type Row = Record<string, unknown>;

export class PostgresSettleStore implements SettleStore {
  readonly run = toHex(randomBytes(8));
  private leader?: pg.Client;
  private leaderLost = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    readonly description: string,
  ) {}

  /**
   * `readOnly`: for views (doctor, the console): no DDL, connections that cannot write (default_transaction_read_only),
   * and the tables must be this version's (checkSettleSchema).
   */
  static async open(url: string, description: string, options: { readOnly?: boolean } = {}): Promise<PostgresSettleStore> {
    const pool = new pg.Pool({ connectionString: url, max: 3, connectionTimeoutMillis: 5000, query_timeout: 30_000, keepAlive: true });
    pool.on('error', () => {});
    // A claim marked sent must be on disk before its transaction leaves, whatever the server's default.
    const setup = options.readOnly ? 'SET synchronous_commit = on; SET default_transaction_read_only = on' : 'SET synchronous_commit = on';
    pool.on('connect', (client) => void client.query(setup).catch(() => {}));
    const store = new PostgresSettleStore(pool, url, description);
    let columns: Set<string> | undefined;
    try {
      if (options.readOnly) {
        const r = await pool.query<{ c: string }>("SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ('arkeo_settle_claims', 'arkeo_settle_txs', 'arkeo_settle_meta')");
        columns = new Set(r.rows.map((x) => x.c));
      } else {
        const present = (await pool.query<{ n: string }>("SELECT count(*)::text AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ('arkeo_settle_claims', 'arkeo_settle_txs', 'arkeo_settle_meta')")).rows[0]!.n;
        if (present !== '3') await pool.query(SCHEMA);
      }
    } catch (e) {
      await pool.end().catch(() => {});
      throw store.failure(e);
    }
    if (columns) {
      try {
        checkSettleSchema(description, columns);
      } catch (e) {
        await pool.end().catch(() => {});
        throw e;
      }
    }
    return store;
  }

  /** A one-line failure that never carries the URL or its password (pg may repeat what it was given). */
  private failure(e: unknown) {
    let message = String((e as Error)?.message ?? e);
    const secrets = [this.url];
    try {
      const u = new URL(this.url);
      if (u.password) secrets.push(u.password, decodeURIComponent(u.password));
    } catch {
      /* only the whole URL is known */
    }
    for (const s of secrets.filter(Boolean).sort((a, b) => b.length - a.length)) message = message.split(s).join('***');
    return storeFailure(this.description, new Error(message));
  }

  private async q<R extends Row>(text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (e) {
      throw this.failure(e);
    }
  }

  /** Statements in one transaction on one connection. */
  private async transaction(work: (c: pg.PoolClient) => Promise<void>): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.failure(e);
    }
    try {
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.failure(e);
    } finally {
      client.release();
    }
  }

  async addClaims(claims: readonly SeenClaim[]): Promise<StoredClaim[]> {
    const added: StoredClaim[] = [];
    if (!claims.length) return added;
    await this.transaction(async (c) => {
      for (let i = 0; i < claims.length; i += 500) {
        const part = claims.slice(i, i + 500);
        const r = await c.query<{ contract_id: string; nonce: string; signature: string; seen_at: Date }>(
          `INSERT INTO arkeo_settle_claims (contract_id, nonce, signature, spender, state)
           SELECT * FROM unnest($1::numeric[], $2::bigint[], $3::text[], $4::text[], $5::text[])
           ON CONFLICT DO NOTHING RETURNING contract_id::text, nonce::text, signature, seen_at`,
          [part.map((x) => String(x.contractId)), part.map((x) => String(x.nonce)), part.map((x) => x.signature), part.map((x) => x.spender), part.map(() => 'new')],
        );
        const key = (cid: string, nonce: string, sig: string) => `${cid}/${nonce}/${sig}`;
        const inserted = new Map(r.rows.map((row) => [key(row.contract_id, row.nonce, row.signature), row.seen_at]));
        for (const x of part) {
          const at = inserted.get(key(String(x.contractId), String(x.nonce), x.signature));
          if (at) added.push({ ...x, state: 'new', alone: false, seenAt: at });
        }
      }
    });
    return added;
  }

  async claimsIn(states: readonly ClaimState[]): Promise<StoredClaim[]> {
    return (await this.q(`SELECT ${CLAIM_COLUMNS} FROM arkeo_settle_claims WHERE state = ANY($1::text[])`, [states])).map((r) => claimOfRow(r as never));
  }

  async claimsOfTx(hash: string): Promise<StoredClaim[]> {
    return (await this.q(`SELECT ${CLAIM_COLUMNS} FROM arkeo_settle_claims WHERE tx_hash = $1`, [hash])).map((r) => claimOfRow(r as never));
  }

  async settledNonce(contractId: bigint): Promise<bigint> {
    const r = await this.q<{ n: string | null }>("SELECT max(nonce)::text AS n FROM arkeo_settle_claims WHERE contract_id = $1 AND state IN ('settled', 'unpaid', 'covered')", [String(contractId)]);
    return BigInt(r[0]?.n ?? 0);
  }

  async updateClaims(changes: readonly { key: ClaimKey; change: ClaimChange }[]): Promise<void> {
    if (!changes.length) return;
    await this.transaction(async (c) => {
      for (const { key, change } of changes) {
        const cols = changeColumns(change);
        if (!cols.length) continue;
        const sets = cols.map(([col], i) => `${col} = $${i + 4}`).join(', ');
        await c.query(`UPDATE arkeo_settle_claims SET ${sets}, updated_at = now() WHERE contract_id = $1 AND nonce = $2 AND signature = $3`, [
          String(key.contractId),
          String(key.nonce),
          key.signature,
          ...cols.map(([col, v]) => (col === 'alone' ? Boolean(v) : v)),
        ]);
      }
    });
  }

  async tx(hash: string): Promise<StoredTx | undefined> {
    const r = await this.q(`SELECT ${TX_COLUMNS} FROM arkeo_settle_txs WHERE hash = $1`, [hash]);
    return r[0] ? txOfRow(r[0] as never) : undefined;
  }

  async unfinishedTxs(): Promise<StoredTx[]> {
    return (await this.q(`SELECT ${TX_COLUMNS} FROM arkeo_settle_txs WHERE state = 'sent' ORDER BY written`)).map((r) => txOfRow(r as never));
  }

  async unfinished(address: string): Promise<JournalEntry[]> {
    return (await this.q(`SELECT ${TX_COLUMNS} FROM arkeo_settle_txs WHERE state = 'sent' AND address = $1 ORDER BY written`, [address])).map((r) => txOfRow(r as never));
  }

  async record(address: string, entry: Omit<JournalEntry, 'run' | 'at'>): Promise<void> {
    const claims = claimsInTx(entry.tx);
    await this.transaction(async (c) => {
      await c.query(
        `INSERT INTO arkeo_settle_txs (hash, address, chain_id, account_number, sequence, intent, tx, state, run, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (hash) DO UPDATE SET state = EXCLUDED.state`,
        [entry.hash, address, entry.chainId, entry.accountNumber, entry.sequence, entry.intent, entry.tx, entry.state, this.run, new Date().toISOString()],
      );
      for (const x of claims) {
        await c.query("UPDATE arkeo_settle_claims SET state = 'sent', tx_hash = $1, updated_at = now() WHERE contract_id = $2 AND nonce = $3 AND signature = $4 AND state IN ('new', 'waiting', 'sent')", [
          entry.hash,
          String(x.contractId),
          String(x.nonce),
          x.signature,
        ]);
      }
    });
  }

  async update(_address: string, entry: JournalEntry, state: JournalState, result: { height?: bigint; code?: number } = {}): Promise<void> {
    await this.transaction(async (c) => {
      await c.query('UPDATE arkeo_settle_txs SET state = $1, height = coalesce($2::bigint, height), code = coalesce($3::integer, code) WHERE hash = $4', [
        state,
        result.height === undefined ? null : String(result.height),
        result.code ?? null,
        entry.hash,
      ]);
      if (state === 'dead') await c.query("UPDATE arkeo_settle_claims SET state = 'new', tx_hash = NULL, updated_at = now() WHERE tx_hash = $1 AND state = 'sent'", [entry.hash]);
    });
  }

  async counts(): Promise<Record<ClaimState, number>> {
    const out = emptyCounts();
    for (const r of await this.q<{ state: ClaimState; n: string }>('SELECT state, count(*)::text AS n FROM arkeo_settle_claims GROUP BY state')) out[r.state] = Number(r.n);
    return out;
  }

  async recentTxs(limit: number): Promise<StoredTx[]> {
    return (await this.q(`SELECT ${TX_COLUMNS} FROM arkeo_settle_txs ORDER BY written DESC LIMIT $1`, [limit])).map((r) => txOfRow(r as never));
  }

  async pendingContracts(limit: number): Promise<{ contracts: PendingContract[]; total: number }> {
    const rows = await this.q<Row & { n: string; since: Date }>(
      `SELECT ${CLAIM_COLUMNS}, n::text AS n, since FROM (SELECT *, row_number() OVER (PARTITION BY contract_id ORDER BY nonce DESC) AS r, count(*) OVER (PARTITION BY contract_id) AS n, ` +
        'min(seen_at) OVER (PARTITION BY contract_id) AS since FROM arkeo_settle_claims WHERE state = ANY($1::text[])) AS pending WHERE r = 1 ORDER BY since, contract_id LIMIT $2',
      [PENDING_STATES, limit],
    );
    const total = await this.q<{ n: string }>('SELECT count(DISTINCT contract_id)::text AS n FROM arkeo_settle_claims WHERE state = ANY($1::text[])', [PENDING_STATES]);
    return { contracts: rows.map((r) => ({ contractId: BigInt(r.contract_id as string), highest: claimOfRow(r as never), claims: Number(r.n), since: r.since })), total: Number(total[0]?.n ?? 0) };
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.q<{ v: string }>('SELECT v FROM arkeo_settle_meta WHERE k = $1', [key]))[0]?.v;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.q('INSERT INTO arkeo_settle_meta (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v', [key, value]);
  }

  async acquireLeadership(scope: string): Promise<boolean> {
    if (this.leader && !this.leaderLost) return this.holdsLeadership();
    await this.leader?.end().catch(() => {});
    this.leader = undefined;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000, query_timeout: 10_000, keepAlive: true });
    client.on('error', () => (this.leaderLost = true));
    client.on('end', () => (this.leaderLost = true));
    try {
      await client.connect();
      const got = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [String(lockKey(scope))])).rows[0]!.ok;
      if (!got) {
        await client.end().catch(() => {});
        return false;
      }
    } catch (e) {
      await client.end().catch(() => {});
      throw this.failure(e);
    }
    this.leader = client;
    this.leaderLost = false;
    return true;
  }

  async holdsLeadership(): Promise<boolean> {
    if (!this.leader || this.leaderLost) return false;
    try {
      await this.leader.query('SELECT 1');
      return true;
    } catch {
      this.leaderLost = true;
      await this.leader.end().catch(() => {});
      this.leader = undefined;
      return false;
    }
  }

  private closed = false;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.leader?.end().catch(() => {});
    this.leader = undefined;
    await this.pool.end();
  }
}
