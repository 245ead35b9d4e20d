import { ArkeoSignerError } from '../errors.js';
import { CONTRACT_SCOPE, type SpendBudget, type VelocityRefusal, type VelocityWindow } from './velocity.js';

/**
 * Nonce stores. A nonce is reserved — made durable — BEFORE any signature over it exists, and a store that
 * cannot persist refuses (fail closed): no reservation, no signature. Nonces are kept per (contract, signer
 * address) and never move backward except through an explicit `set(…, { force: true })`.
 */
export class NonceStoreError extends ArkeoSignerError {}

/** The terms that bound what a client may sign for a contract (arkeo-claims.md §8). */
export interface ContractTerms {
  contractId: bigint;
  /** rate.amount in the rate's denom (uarkeo) per request. */
  rate: bigint;
  deposit: bigint;
  /** An extra ceiling below the deposit, if the operator wants one. */
  maxSpend?: bigint;
  /** Spend velocity: at most this much (uarkeo) reserved for the contract in any hour / any day (velocity.ts). */
  maxSpendPerHour?: bigint;
  maxSpendPerDay?: bigint;
  /** 'manual' (claim contract add) or the LCD URL it was read from. */
  source: string;
  /**
   * The contract's parties (33-byte compressed keys), when known: the client, who opened it and manages it, and
   * the delegate, whose claims the chain settles instead of the client's. They decide which key may sign and in
   * which header form (claims/parties.ts).
   */
  client?: Uint8Array;
  delegate?: Uint8Array;
}

/** The highest nonce whose cost (nonce × rate) stays within min(deposit, maxSpend). */
export function maxNonceFor(terms: ContractTerms): bigint {
  const limit = terms.maxSpend !== undefined && terms.maxSpend < terms.deposit ? terms.maxSpend : terms.deposit;
  return terms.rate > 0n ? limit / terms.rate : 0n;
}

export interface NonceRow {
  contractId: bigint;
  signer: string;
  /** The highest nonce ever reserved (issued, or skipped by a block reservation or a sync). */
  reserved: bigint;
  updatedAt: Date;
}

export interface NonceStore {
  /** 'sqlite:<path>' or 'postgres://…' with the password removed, for messages and /healthz. */
  readonly description: string;
  /**
   * Atomically reserve up to `count` nonces after the current high-water mark, never above `ceiling` and never
   * more than `budget` admits, and make the reservation durable. With a budget, the same transaction reads each
   * scope's spend in its windows, cuts the block to what fits, and records the reserved nonces' cost (count ×
   * rate) in every scope: a reserved nonce counts as spent. Returns the first and last nonce reserved. Throws
   * SPEND_LIMIT when the ceiling leaves nothing, SPEND_VELOCITY (SpendVelocityError) when the budget does,
   * NONCE_STORE_UNAVAILABLE when it cannot persist.
   */
  reserve(contractId: bigint, signer: string, count: number, ceiling?: bigint, budget?: SpendBudget): Promise<{ first: bigint; last: bigint }>;
  /** The high-water mark (0 when nothing was ever reserved). */
  current(contractId: bigint, signer: string): Promise<bigint>;
  /** Raise the high-water mark and the floor to at least `value`; never lowers them. Returns the new mark. */
  raise(contractId: bigint, signer: string, value: bigint): Promise<bigint>;
  /** Set the mark and the floor exactly. Lowering requires `force` (it risks reuse: the sentinel will answer 400 bad nonce). */
  set(contractId: bigint, signer: string, value: bigint, options?: { force?: boolean }): Promise<void>;
  /**
   * The floor: the highest nonce an operator declared used (`set`, `raise`: `nonce set`, `nonce sync`). Nonces at
   * or below it must not be issued even if a process holds them in a reserved block; reservations never move it.
   */
  floor(contractId: bigint, signer: string): Promise<bigint>;
  /**
   * Give back the unused tail of a block: move the mark from `expected` down to `to`, only if the mark is still
   * `expected` (nobody reserved past the block) and `to` is not below the floor. Returns whether it did.
   */
  giveBack(contractId: bigint, signer: string, expected: bigint, to: bigint): Promise<boolean>;
  list(): Promise<NonceRow[]>;
  putContract(terms: ContractTerms): Promise<void>;
  getContract(contractId: bigint): Promise<ContractTerms | undefined>;
  listContracts(): Promise<ContractTerms[]>;
  /** Throws unless a durable write can be made now (used by health checks). */
  check(): Promise<void>;
  close(): Promise<void>;
}

export function spendLimitError(contractId: bigint, next: bigint, ceiling: bigint): NonceStoreError {
  return new NonceStoreError(
    'SPEND_LIMIT',
    `contract ${contractId}: nonce ${next} would exceed the spend ceiling (highest allowed nonce is ${ceiling}); nothing was signed`,
  );
}

/**
 * A claim over a spend velocity limit, refused before any nonce was taken. `retryAt` is when one claim fits again
 * (by the store's clock), undefined when the limit is below the cost of one claim and no wait helps.
 */
export class SpendVelocityError extends NonceStoreError {
  readonly scope: string;
  readonly window: VelocityWindow;
  readonly retryAt: Date | undefined;
  /** Whole seconds from the refusal to `retryAt` (at least 1), measured on the store's clock: a Retry-After. */
  readonly retryAfterSeconds: number | undefined;

  constructor(contractId: bigint, r: VelocityRefusal) {
    const who = r.scope === CONTRACT_SCOPE ? `the contract's limit (max_spend_per_${r.window})` : `${r.scope.replace(':', ' ')}'s limit on it (max_spend_per_${r.window})`;
    const seconds = r.retryAt === undefined ? undefined : Math.max(1, Math.ceil((r.retryAt - r.now) / 1000));
    const when =
      r.retryAt === undefined
        ? `the limit is below the cost of one claim, so no claim fits it; raise it`
        : `the next claim is possible at ${new Date(r.retryAt).toISOString().replace('.000Z', 'Z')} (in ${seconds} s)`;
    super('SPEND_VELOCITY', `contract ${contractId}: ${who} is ${r.limit} uarkeo per ${r.window}, ${r.spent} is spent in the last ${r.window} and a claim costs ${r.cost}; ${when}; nothing was signed`, {
      context: { velocity_scope: r.scope.startsWith('token:') ? 'token' : 'contract', velocity_window: r.window, ...(r.retryAt !== undefined ? { retry_at: new Date(r.retryAt).toISOString() } : {}) },
    });
    this.scope = r.scope;
    this.window = r.window;
    this.retryAt = r.retryAt === undefined ? undefined : new Date(r.retryAt);
    this.retryAfterSeconds = seconds;
  }
}

export function unavailable(description: string, cause: unknown): NonceStoreError {
  const detail = (cause as { code?: string; message?: string })?.message ?? String(cause);
  return new NonceStoreError('NONCE_STORE_UNAVAILABLE', `nonce store ${description}: cannot persist (${detail.split('\n')[0]}); no signature released`, { cause });
}

export function missingStoreError(description: string): NonceStoreError {
  return new NonceStoreError(
    'NO_NONCE_STORE',
    `nonce store ${description} does not exist; check --nonce-store / ARKEO_NONCE_STORE (a new store would start every contract at nonce 1, without its spend terms). To start a new one there, add --create-nonce-store`,
  );
}

export function backwardError(contractId: bigint, signer: string, current: bigint, value: bigint): NonceStoreError {
  return new NonceStoreError(
    'NONCE_BACKWARD',
    `contract ${contractId} / ${signer}: refusing to move the nonce back from ${current} to ${value} (reuse gets "400 bad nonce"); use --force if you are sure`,
  );
}

/** A writing method called on a store opened for reading (`readOnly`): nothing is written, nothing is upgraded. */
export function readOnlyError(description: string): NonceStoreError {
  return new NonceStoreError('READ_ONLY', `nonce store ${description}: opened for reading only; nothing was written`);
}
