import { ArkeoSignerError } from '../errors.js';

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
   * Atomically reserve up to `count` nonces after the current high-water mark, never above `ceiling`, and make
   * the reservation durable. Returns the first and last nonce reserved. Throws SPEND_LIMIT when nothing fits,
   * NONCE_STORE_UNAVAILABLE when it cannot persist.
   */
  reserve(contractId: bigint, signer: string, count: number, ceiling?: bigint): Promise<{ first: bigint; last: bigint }>;
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
