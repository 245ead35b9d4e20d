import { hostname } from 'node:os';
import { sha256 } from '../crypto/secp256k1.js';
import type { Journal, JournalEntry } from '../tx/index.js';
import { SettleError } from './errors.js';

/**
 * The settler's record, kept in the nonce store's database (the SQLite file or the PostgreSQL database that
 * `--nonce-store` names), in tables of its own: every claim the sentinel ever listed, and every transaction sent
 * for them. The transactions are the TxSender's journal (a Journal), so a claim is marked sent in the same
 * database transaction that writes down the transaction carrying it, before it leaves: after `kill -9` the next
 * run looks each unfinished transaction up by its hash, and no claim is both forgotten and paid for twice.
 */

/**
 * A claim's life: `new` (listed by the sentinel, not yet judged), `waiting` (sound but not worth a fee yet, or
 * a higher nonce of its contract goes first), `sent` (in a transaction not yet seen in a block), and the ends:
 * `settled` (the chain paid it), `unpaid` (its transaction succeeded and paid nothing), `covered` (a higher nonce
 * of the same contract was settled, which paid for it), `refused` (it can never pay: `reason` says why).
 */
export type ClaimState = 'new' | 'waiting' | 'sent' | 'settled' | 'unpaid' | 'covered' | 'refused';
export const OPEN_STATES: readonly ClaimState[] = ['new', 'waiting'];
/** Not settled yet: still to be judged or sent, or in a transaction not yet seen in a block. */
export const PENDING_STATES: readonly ClaimState[] = ['new', 'waiting', 'sent'];

/** A claim as the sentinel lists it: the key is (contract, nonce, signature), so a second signature is a second claim. */
export interface ClaimKey {
  contractId: bigint;
  nonce: bigint;
  /** Lower-case hex (64 bytes when well formed; kept as given, up to 256 characters, when not). */
  signature: string;
}

export interface SeenClaim extends ClaimKey {
  /** The spender the sentinel recorded (bech32), for the record only: the chain's spender is what counts. */
  spender: string;
}

export interface StoredClaim extends SeenClaim {
  state: ClaimState;
  reason?: string;
  detail?: string;
  txHash?: string;
  /** Send it in a transaction of its own: a batch it was in failed without naming which claim broke it. */
  alone: boolean;
  /** contract.paid when the claim was sent, to see it grow when a node shows no event. */
  chainPaid?: bigint;
  /** What the chain paid for it (the debt settled, reserve included) and the reserve taken. */
  paid?: bigint;
  reserve?: bigint;
  height?: bigint;
  seenAt: Date;
}

export type ClaimChange = Partial<Pick<StoredClaim, 'state' | 'reason' | 'detail' | 'txHash' | 'alone' | 'chainPaid' | 'paid' | 'reserve' | 'height'>> & {
  /** Clear the transaction (a claim going back to `new`). */
  clearTx?: boolean;
};

/** A transaction as the journal holds it, with the account that sent it. */
export interface StoredTx extends JournalEntry {
  address: string;
}

/** A contract with claims not settled yet (PENDING_STATES), as the console and doctor show it. */
export interface PendingContract {
  contractId: bigint;
  /** Its highest pending claim: billing is cumulative, so this one pays for the others. */
  highest: StoredClaim;
  /** How many of its claims are pending. */
  claims: number;
  /** When the longest-waiting of them was first seen. */
  since: Date;
}

export interface SettleStore extends Journal {
  /** 'sqlite:<path>' or the PostgreSQL URL without its password. */
  readonly description: string;
  /** Adds the claims not yet known; returns those that were new. */
  addClaims(claims: readonly SeenClaim[]): Promise<StoredClaim[]>;
  claimsIn(states: readonly ClaimState[]): Promise<StoredClaim[]>;
  claimsOfTx(hash: string): Promise<StoredClaim[]>;
  /** The highest nonce this store saw the chain pay or cover, per contract (0 when none). */
  settledNonce(contractId: bigint): Promise<bigint>;
  /** Apply every change in one database transaction. */
  updateClaims(changes: readonly { key: ClaimKey; change: ClaimChange }[]): Promise<void>;
  tx(hash: string): Promise<StoredTx | undefined>;
  /** Every transaction whose last state is `sent`, of any account, oldest first. */
  unfinishedTxs(): Promise<StoredTx[]>;
  /** How many claims are in each state. */
  counts(): Promise<Record<ClaimState, number>>;
  /** The `limit` transactions written last, of any account and state, newest first (read-only views). */
  recentTxs(limit: number): Promise<StoredTx[]>;
  /**
   * The contracts with pending claims, longest waiting first, at most `limit` of them, and how many there are in
   * all (read-only views: the whole table is never returned).
   */
  pendingContracts(limit: number): Promise<{ contracts: PendingContract[]; total: number }>;
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /**
   * Become the one settler that sends for `scope` (a provider), or return false while another holds it. PostgreSQL:
   * a session advisory lock, released by the server the moment the holder's connection dies (kill -9 included).
   * SQLite: a lease row naming host, pid and run, renewed by holdsLeadership() and free once it is older than
   * `leaseMs` or its process on this host is gone.
   */
  acquireLeadership(scope: string, leaseMs: number): Promise<boolean>;
  /** Whether this process still leads (and, for a lease, renews it). */
  holdsLeadership(): Promise<boolean>;
  close(): Promise<void>;
}

/** A 64-bit advisory lock key for a scope: the same provider, the same lock, on any host. */
export function lockKey(scope: string): bigint {
  const d = sha256(new TextEncoder().encode(`arkeo-signer settle ${scope}`));
  return BigInt.asIntN(64, Buffer.from(d.subarray(0, 8)).readBigUInt64BE());
}

/** This process, as a lease names it. */
export function leaseHolder(run: string): { host: string; pid: number; run: string } {
  return { host: hostname(), pid: process.pid, run };
}

/** Whether a process of this host is still there (a lease from a process that died is free at once). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const CLAIM_STATES: readonly ClaimState[] = ['new', 'waiting', 'sent', 'settled', 'unpaid', 'covered', 'refused'];

export function emptyCounts(): Record<ClaimState, number> {
  return Object.fromEntries(CLAIM_STATES.map((s) => [s, 0])) as Record<ClaimState, number>;
}

/** Every column the settler reads or writes, by table: a store lacking one was made by another version. */
export const SETTLE_COLUMNS: Record<string, readonly string[]> = {
  arkeo_settle_claims: ['contract_id', 'nonce', 'signature', 'spender', 'state', 'reason', 'detail', 'tx_hash', 'alone', 'chain_paid', 'paid', 'reserve', 'height', 'seen_at', 'updated_at'],
  arkeo_settle_txs: ['hash', 'address', 'chain_id', 'account_number', 'sequence', 'intent', 'tx', 'state', 'run', 'at', 'height', 'code', 'written'],
  arkeo_settle_meta: ['k', 'v'],
};

/**
 * A reading open's check of the tables it finds (`table.column` names): none of ours → the settler never ran on
 * this store (SETTLE_STORE_MISSING); some, or a column missing → not this version's schema (SETTLE_STORE_SCHEMA).
 * The settler's tables carry no version number: the columns it uses are its schema.
 */
export function checkSettleSchema(description: string, columns: ReadonlySet<string>): void {
  const tables = Object.keys(SETTLE_COLUMNS);
  const present = tables.filter((t) => [...columns].some((c) => c.startsWith(`${t}.`)));
  if (present.length === 0) throw new SettleError('SETTLE_STORE_MISSING', `settle store ${description}: no settler tables; the settler has not run on this store (it creates them on its first run)`);
  const missing = tables.flatMap((t) => SETTLE_COLUMNS[t]!.filter((c) => !columns.has(`${t}.${c}`)).map((c) => `${t}.${c}`));
  if (missing.length) {
    const shown = missing.length > 4 ? `${missing.slice(0, 4).join(', ')} and ${missing.length - 4} more` : missing.join(', ');
    throw new SettleError('SETTLE_STORE_SCHEMA', `settle store ${description}: not this version's schema (no ${shown}); was it made by another version of arkeo-signer?`);
  }
}

export function storeFailure(description: string, e: unknown): SettleError {
  const detail = String((e as Error)?.message ?? e).split('\n')[0];
  return new SettleError('SETTLE_STORE_UNAVAILABLE', `settle store ${description}: ${detail}; nothing was sent`, { cause: e });
}
