import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { toHex } from '../crypto/bytes.js';
import { openDatabase } from '../nonces/sqlite.js';
import type { JournalEntry, JournalState } from '../tx/index.js';
import { claimsInTx } from './txclaims.js';
import {
  checkSettleSchema,
  emptyCounts,
  leaseHolder,
  PENDING_STATES,
  processAlive,
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
 * The settler's tables in the nonce store's SQLite file (WAL, synchronous=FULL, as the nonce store itself): a
 * committed write survives power loss. Numbers are decimal text: a uint64 contract id does not fit SQLite's int64.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS arkeo_settle_claims (
  contract_id TEXT NOT NULL,
  nonce       TEXT NOT NULL,
  signature   TEXT NOT NULL,
  spender     TEXT NOT NULL DEFAULT '',
  state       TEXT NOT NULL,
  reason      TEXT,
  detail      TEXT,
  tx_hash     TEXT,
  alone       INTEGER NOT NULL DEFAULT 0,
  chain_paid  TEXT,
  paid        TEXT,
  reserve     TEXT,
  height      TEXT,
  seen_at     INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (contract_id, nonce, signature)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS arkeo_settle_claims_state ON arkeo_settle_claims (state);
CREATE INDEX IF NOT EXISTS arkeo_settle_claims_tx ON arkeo_settle_claims (tx_hash);
CREATE TABLE IF NOT EXISTS arkeo_settle_txs (
  hash           TEXT PRIMARY KEY,
  address        TEXT NOT NULL,
  chain_id       TEXT NOT NULL,
  account_number TEXT NOT NULL,
  sequence       TEXT NOT NULL,
  intent         TEXT NOT NULL,
  tx             TEXT NOT NULL,
  state          TEXT NOT NULL,
  run            TEXT NOT NULL,
  at             TEXT NOT NULL,
  height         TEXT,
  code           INTEGER,
  written        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS arkeo_settle_txs_state ON arkeo_settle_txs (state);
CREATE TABLE IF NOT EXISTS arkeo_settle_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
`;

interface ClaimRow {
  contract_id: string;
  nonce: string;
  signature: string;
  spender: string;
  state: string;
  reason: string | null;
  detail: string | null;
  tx_hash: string | null;
  alone: bigint;
  chain_paid: string | null;
  paid: string | null;
  reserve: string | null;
  height: string | null;
  seen_at: bigint;
}

interface TxRow {
  hash: string;
  address: string;
  chain_id: string;
  account_number: string;
  sequence: string;
  intent: string;
  tx: string;
  state: string;
  run: string;
  at: string;
  height: string | null;
  code: bigint | null;
}

const big = (v: string | null) => (v === null ? undefined : BigInt(v));

export function claimOfRow(r: ClaimRow | (Omit<ClaimRow, 'alone' | 'seen_at'> & { alone: boolean | bigint | number; seen_at: Date | bigint | number })): StoredClaim {
  return {
    contractId: BigInt(r.contract_id),
    nonce: BigInt(r.nonce),
    signature: r.signature,
    spender: r.spender,
    state: r.state as ClaimState,
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.detail !== null ? { detail: r.detail } : {}),
    ...(r.tx_hash !== null ? { txHash: r.tx_hash } : {}),
    alone: Boolean(Number(r.alone)),
    ...(r.chain_paid !== null ? { chainPaid: BigInt(r.chain_paid) } : {}),
    ...(r.paid !== null ? { paid: BigInt(r.paid) } : {}),
    ...(r.reserve !== null ? { reserve: BigInt(r.reserve) } : {}),
    ...(r.height !== null ? { height: BigInt(r.height) } : {}),
    seenAt: r.seen_at instanceof Date ? r.seen_at : new Date(Number(r.seen_at)),
  };
}

export function txOfRow(r: Omit<TxRow, 'code'> & { code: bigint | number | null }): StoredTx {
  return {
    hash: r.hash,
    address: r.address,
    chainId: r.chain_id,
    accountNumber: r.account_number,
    sequence: r.sequence,
    intent: r.intent,
    tx: r.tx,
    state: r.state as JournalState,
    run: r.run,
    at: r.at,
    ...(r.height !== null ? { height: r.height } : {}),
    ...(r.code !== null ? { code: Number(r.code) } : {}),
  };
}

/** The columns a ClaimChange sets, with their values as stored. */
export function changeColumns(change: ClaimChange): [string, string | number | null][] {
  const cols: [string, string | number | null][] = [];
  if (change.state !== undefined) cols.push(['state', change.state]);
  if (change.reason !== undefined) cols.push(['reason', change.reason]);
  if (change.detail !== undefined) cols.push(['detail', change.detail.slice(0, 500)]);
  if (change.txHash !== undefined) cols.push(['tx_hash', change.txHash]);
  if (change.clearTx) cols.push(['tx_hash', null]);
  if (change.alone !== undefined) cols.push(['alone', change.alone ? 1 : 0]);
  if (change.chainPaid !== undefined) cols.push(['chain_paid', String(change.chainPaid)]);
  if (change.paid !== undefined) cols.push(['paid', String(change.paid)]);
  if (change.reserve !== undefined) cols.push(['reserve', String(change.reserve)]);
  if (change.height !== undefined) cols.push(['height', String(change.height)]);
  return cols;
}

export class SqliteSettleStore implements SettleStore {
  readonly description: string;
  readonly run = toHex(randomBytes(8));
  private readonly db: Database.Database;
  private leaseMs = 0;
  private leading = false;

  private constructor(
    readonly file: string,
    options: { readOnly?: boolean },
  ) {
    this.description = `sqlite:${file}`;
    try {
      this.db = openDatabase(file, { readOnly: options.readOnly });
      if (!options.readOnly) this.db.exec(SCHEMA);
    } catch (e) {
      throw storeFailure(this.description, e);
    }
    if (options.readOnly) {
      try {
        checkSettleSchema(this.description, this.columns());
      } catch (e) {
        this.db.close();
        throw e;
      }
    }
  }

  /**
   * `readOnly`: for views (doctor, the console): the file must exist and is opened read-only; no table is created
   * and nothing is written. Its tables must be this version's (checkSettleSchema); every writing method fails.
   */
  static open(file: string, options: { readOnly?: boolean } = {}): SqliteSettleStore {
    return new SqliteSettleStore(file, options);
  }

  /** `table.column` for each of the settler's tables in the file. */
  private columns(): Set<string> {
    try {
      const out = new Set<string>();
      for (const table of ['arkeo_settle_claims', 'arkeo_settle_txs', 'arkeo_settle_meta']) {
        for (const c of this.db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]) out.add(`${table}.${c}`);
      }
      return out;
    } catch (e) {
      throw storeFailure(this.description, e);
    }
  }

  /** Every database call goes through here: a failure is one line naming the store. */
  private io<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (e) {
      return Promise.reject(storeFailure(this.description, e));
    }
  }

  addClaims(claims: readonly SeenClaim[]): Promise<StoredClaim[]> {
    return this.io(() => {
      const insert = this.db.prepare(
        "INSERT INTO arkeo_settle_claims (contract_id, nonce, signature, spender, state, seen_at, updated_at) VALUES (?, ?, ?, ?, 'new', ?, ?) ON CONFLICT DO NOTHING",
      );
      const added: StoredClaim[] = [];
      this.db.transaction(() => {
        const now = Date.now();
        for (const c of claims) {
          if (insert.run(String(c.contractId), String(c.nonce), c.signature, c.spender, now, now).changes === 1) {
            added.push({ ...c, state: 'new', alone: false, seenAt: new Date(now) });
          }
        }
      })();
      return added;
    });
  }

  claimsIn(states: readonly ClaimState[]): Promise<StoredClaim[]> {
    return this.io(() => (this.db.prepare(`SELECT * FROM arkeo_settle_claims WHERE state IN (${states.map(() => '?').join(', ')})`).all(...states) as ClaimRow[]).map(claimOfRow));
  }

  claimsOfTx(hash: string): Promise<StoredClaim[]> {
    return this.io(() => (this.db.prepare('SELECT * FROM arkeo_settle_claims WHERE tx_hash = ?').all(hash) as ClaimRow[]).map(claimOfRow));
  }

  settledNonce(contractId: bigint): Promise<bigint> {
    return this.io(() => {
      const rows = this.db.prepare("SELECT nonce FROM arkeo_settle_claims WHERE contract_id = ? AND state IN ('settled', 'unpaid', 'covered')").pluck().all(String(contractId)) as string[];
      return rows.reduce((max, n) => (BigInt(n) > max ? BigInt(n) : max), 0n);
    });
  }

  updateClaims(changes: readonly { key: ClaimKey; change: ClaimChange }[]): Promise<void> {
    return this.io(() => {
      this.db.transaction(() => {
        for (const { key, change } of changes) this.applyChange(key, change);
      })();
    });
  }

  private applyChange(key: ClaimKey, change: ClaimChange): void {
    const cols = changeColumns(change);
    if (!cols.length) return;
    this.db
      .prepare(`UPDATE arkeo_settle_claims SET ${cols.map(([c]) => `${c} = ?`).join(', ')}, updated_at = ? WHERE contract_id = ? AND nonce = ? AND signature = ?`)
      .run(...cols.map(([, v]) => v), Date.now(), String(key.contractId), String(key.nonce), key.signature);
  }

  tx(hash: string): Promise<StoredTx | undefined> {
    return this.io(() => {
      const r = this.db.prepare('SELECT * FROM arkeo_settle_txs WHERE hash = ?').get(hash) as TxRow | undefined;
      return r && txOfRow(r);
    });
  }

  unfinishedTxs(): Promise<StoredTx[]> {
    return this.io(() => (this.db.prepare("SELECT * FROM arkeo_settle_txs WHERE state = 'sent' ORDER BY written").all() as TxRow[]).map(txOfRow));
  }

  // ---------------------------------------------------------------------------------------- Journal

  unfinished(address: string): Promise<JournalEntry[]> {
    return this.io(() => (this.db.prepare("SELECT * FROM arkeo_settle_txs WHERE state = 'sent' AND address = ? ORDER BY written").all(address) as TxRow[]).map(txOfRow));
  }

  /** The transaction, and its claims marked sent with it, in one commit: durable before the sender broadcasts. */
  record(address: string, entry: Omit<JournalEntry, 'run' | 'at'>): Promise<void> {
    return this.io(() => {
      const claims = claimsInTx(entry.tx);
      this.db.transaction(() => {
        this.db
          .prepare(
            'INSERT INTO arkeo_settle_txs (hash, address, chain_id, account_number, sequence, intent, tx, state, run, at, written) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
              'ON CONFLICT (hash) DO UPDATE SET state = excluded.state',
          )
          .run(entry.hash, address, entry.chainId, entry.accountNumber, entry.sequence, entry.intent, entry.tx, entry.state, this.run, new Date().toISOString(), Date.now());
        const mark = this.db.prepare("UPDATE arkeo_settle_claims SET state = 'sent', tx_hash = ?, updated_at = ? WHERE contract_id = ? AND nonce = ? AND signature = ? AND state IN ('new', 'waiting', 'sent')");
        for (const c of claims) mark.run(entry.hash, Date.now(), String(c.contractId), String(c.nonce), c.signature);
      })();
    });
  }

  /** A dead transaction can never be included: its claims go back to `new`, in the same commit. */
  update(_address: string, entry: JournalEntry, state: JournalState, result: { height?: bigint; code?: number } = {}): Promise<void> {
    return this.io(() => {
      this.db.transaction(() => {
        this.db
          .prepare('UPDATE arkeo_settle_txs SET state = ?, height = coalesce(?, height), code = coalesce(?, code) WHERE hash = ?')
          .run(state, result.height === undefined ? null : String(result.height), result.code ?? null, entry.hash);
        if (state === 'dead') this.db.prepare("UPDATE arkeo_settle_claims SET state = 'new', tx_hash = NULL, updated_at = ? WHERE tx_hash = ? AND state = 'sent'").run(Date.now(), entry.hash);
      })();
    });
  }

  counts(): Promise<Record<ClaimState, number>> {
    return this.io(() => {
      const out = emptyCounts();
      for (const r of this.db.prepare('SELECT state, count(*) AS n FROM arkeo_settle_claims GROUP BY state').all() as { state: ClaimState; n: bigint }[]) out[r.state] = Number(r.n);
      return out;
    });
  }

  recentTxs(limit: number): Promise<StoredTx[]> {
    return this.io(() => (this.db.prepare('SELECT * FROM arkeo_settle_txs ORDER BY written DESC, rowid DESC LIMIT ?').all(limit) as TxRow[]).map(txOfRow));
  }

  pendingContracts(limit: number): Promise<{ contracts: PendingContract[]; total: number }> {
    return this.io(() => {
      const states = PENDING_STATES.map(() => '?').join(', ');
      // Numbers are decimal text here: ordered by length, then as text, they sort as numbers.
      const rows = this.db
        .prepare(
          `SELECT * FROM (SELECT c.*, row_number() OVER (PARTITION BY contract_id ORDER BY length(nonce) DESC, nonce DESC) AS r, count(*) OVER (PARTITION BY contract_id) AS n, ` +
            `min(seen_at) OVER (PARTITION BY contract_id) AS since FROM arkeo_settle_claims c WHERE state IN (${states})) WHERE r = 1 ORDER BY since, length(contract_id), contract_id LIMIT ?`,
        )
        .all(...PENDING_STATES, limit) as (ClaimRow & { n: bigint; since: bigint })[];
      const total = this.db.prepare(`SELECT count(DISTINCT contract_id) FROM arkeo_settle_claims WHERE state IN (${states})`).pluck().get(...PENDING_STATES) as bigint;
      return { contracts: rows.map((r) => ({ contractId: BigInt(r.contract_id), highest: claimOfRow(r), claims: Number(r.n), since: new Date(Number(r.since)) })), total: Number(total) };
    });
  }

  getMeta(key: string): Promise<string | undefined> {
    return this.io(() => (this.db.prepare('SELECT v FROM arkeo_settle_meta WHERE k = ?').pluck().get(key) as string | undefined) ?? undefined);
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.io(() => void this.db.prepare('INSERT INTO arkeo_settle_meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(key, value));
  }

  // ---------------------------------------------------------------------------------------- leadership

  private leaseKey = '';

  private renewal?: NodeJS.Timeout;

  acquireLeadership(scope: string, leaseMs: number): Promise<boolean> {
    this.leaseKey = `leader ${scope}`;
    this.leaseMs = leaseMs;
    return this.io(() => {
      this.leading = this.takeLease(false);
      // Renewed on a timer, not only between cycles: a cycle waiting for blocks must not let its lease go stale.
      if (this.leading && !this.renewal) {
        this.renewal = setInterval(() => {
          try {
            if (this.leading) this.leading = this.takeLease(true);
          } catch {
            this.leading = false;
          }
        }, Math.max(1000, Math.floor(leaseMs / 3)));
        this.renewal.unref();
      }
      return this.leading;
    });
  }

  holdsLeadership(): Promise<boolean> {
    if (!this.leading) return Promise.resolve(false);
    return this.io(() => (this.leading = this.takeLease(true)));
  }

  /** One IMMEDIATE transaction: read the lease, and take or renew it when it is ours, free, stale or its holder is gone. */
  private takeLease(renewOnly: boolean): boolean {
    const me = leaseHolder(this.run);
    return this.db.transaction(() => {
      const text = this.db.prepare('SELECT v FROM arkeo_settle_meta WHERE k = ?').pluck().get(this.leaseKey) as string | undefined;
      let held: { host: string; pid: number; run: string; at: number } | undefined;
      try {
        held = text ? JSON.parse(text) : undefined;
      } catch {
        held = undefined;
      }
      const mine = held?.run === me.run;
      const free = !held || Date.now() - held.at > this.leaseMs || (held.host === me.host && held.pid !== me.pid && !processAlive(held.pid));
      if (!mine && (renewOnly || !free)) return false;
      this.db.prepare('INSERT INTO arkeo_settle_meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(this.leaseKey, JSON.stringify({ ...me, at: Date.now() }));
      return true;
    }).immediate();
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    clearInterval(this.renewal);
    if (this.leading) {
      // Leave the lease free for the next settler at once.
      try {
        this.db.prepare('DELETE FROM arkeo_settle_meta WHERE k = ? AND v LIKE ?').run(this.leaseKey, `%"run":"${this.run}"%`);
      } catch {
        /* the lease expires on its own */
      }
      this.leading = false;
    }
    this.db.close();
  }
}
