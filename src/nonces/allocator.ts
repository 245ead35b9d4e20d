import { NonceStoreError, type NonceStore } from './store.js';

/**
 * Hands out nonces from durable reservations. With `blockSize` 1 (the default) every nonce is its own durable
 * reservation. A larger block makes one durable write cover `blockSize` nonces; after a crash the unused rest of
 * the block is skipped, never reused. The trade-off: each skipped nonce is billed if a later one is settled
 * (rate × highest settled nonce), so a block of N can cost up to N−1 requests per crash. Reuse, in contrast,
 * gets "400 bad nonce" and breaks service; this allocator never reuses.
 */
export class NonceAllocator {
  private readonly blocks = new Map<string, { next: bigint; last: bigint }>();
  private readonly refills = new Map<string, Promise<void>>();

  constructor(
    readonly store: NonceStore,
    readonly blockSize = 1,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 1_000_000) {
      throw new NonceStoreError('BAD_BLOCK_SIZE', `nonce block size: expected an integer from 1 to 1000000, got ${blockSize}`);
    }
  }

  /** The next nonce for (contract, signer), durable before it is returned. */
  async next(contractId: bigint, signer: string, ceiling?: bigint): Promise<bigint> {
    if (this.blockSize === 1) return (await this.store.reserve(contractId, signer, 1, ceiling)).first;
    const key = `${contractId}/${signer}`;
    for (;;) {
      const block = this.blocks.get(key);
      if (block && block.next <= block.last && (ceiling === undefined || block.next <= ceiling)) return block.next++;
      const pending = this.refills.get(key);
      if (pending) {
        await pending;
        continue;
      }
      const refill = this.store.reserve(contractId, signer, this.blockSize, ceiling).then((r) => {
        this.blocks.set(key, { next: r.first, last: r.last });
      });
      this.refills.set(key, refill);
      try {
        await refill;
      } finally {
        this.refills.delete(key);
      }
    }
  }

  /** Forget unused block ranges (after `nonce set --force` or a sync elsewhere); they stay skipped. */
  reset(): void {
    this.blocks.clear();
  }
}
