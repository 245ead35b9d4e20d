import type { NonceStore } from '../nonces/store.js';
import type { VelocityLimits } from '../nonces/velocity.js';
import type { Signer } from '../signers/index.js';
import { ClaimSigner } from './service.js';
import type { ProvenNonce, UnprovenNonceError } from './proof.js';

/** A claim ready to send: its nonce is durable wherever the claims come from. */
export interface PaidClaim {
  contractId: bigint;
  nonce: bigint;
  arkauth: string;
}


/**
 * Where a paying client (the proxy, `curl`) gets its claims: a ClaimSigner over a nonce store it opens itself, or
 * the key daemon's claim operation, whose nonces live in the daemon's store. Errors carry the ClaimSigner's codes
 * (SPEND_LIMIT, PROVIDER_UNPROVEN_NONCE, …) either way.
 */
export interface ClaimSource {
  readonly address: string;
  readonly publicKey: Uint8Array;
  sign(contractId: bigint, request: { delegate: boolean }): Promise<PaidClaim>;
  /** Move past a nonce the sentinel proved it holds, so the next claim is above it. */
  raise(contractId: bigint, proven: ProvenNonce): Promise<void>;
  /** The highest nonce known to be used for the contract (0 when none). */
  current(contractId: bigint): Promise<bigint>;
  /** A claim the sentinel never stored may be handed out again, if nothing was reserved after it. */
  giveBack(claim: PaidClaim): Promise<void>;
  /** False where giveBack keeps nothing (the key daemon takes no claim back): a claim signed ahead would be lost. */
  readonly takesBack?: boolean;
  /** Record a provider's unproven nonce where this source keeps its audit trail (the key daemon does). */
  reportUnproven?(e: UnprovenNonceError): Promise<void>;
  close(): Promise<void>;
}

/** Claims signed here, with nonces from the given store. */
export class LocalClaimSource implements ClaimSource {
  private constructor(
    private readonly claims: ClaimSigner,
    private readonly store: NonceStore,
    readonly publicKey: Uint8Array,
  ) {}

  get address(): string {
    return this.claims.address;
  }

  static async create(signer: Signer, store: NonceStore, options: { blockSize?: number; pubPrefix?: string; contractVelocity?: VelocityLimits } = {}): Promise<LocalClaimSource> {
    return new LocalClaimSource(await ClaimSigner.create(signer, store, options), store, await signer.publicKey());
  }

  sign(contractId: bigint, request: { delegate: boolean }): Promise<PaidClaim> {
    return this.claims.signClaim(contractId, request);
  }

  async raise(contractId: bigint, proven: ProvenNonce): Promise<void> {
    await this.store.raise(contractId, this.address, proven.nonce);
  }

  current(contractId: bigint): Promise<bigint> {
    return this.store.current(contractId, this.address);
  }

  async giveBack(claim: PaidClaim): Promise<void> {
    // Compare-and-set, never below the floor: only if no nonce was reserved after this one.
    await this.store.giveBack(claim.contractId, this.address, claim.nonce, claim.nonce - 1n).catch(() => false);
  }

  close(): Promise<void> {
    return this.claims.close();
  }
}
