import { NonceStoreError, type NonceStore } from './store.js';
import type { SpendBudget } from './velocity.js';

interface Range {
  next: bigint;
  last: bigint;
}

/**
 * Hands out nonces from durable reservations. With `blockSize` 1 (the default) every nonce is its own durable
 * reservation, written before it is returned. A larger block makes one durable write cover `blockSize` nonces,
 * and the next block is reserved in the background once half of the current one is used, so in steady state no
 * caller waits for the disk. After a crash the unused reservations (at most two blocks) are skipped, never
 * reused. The trade-off: each skipped nonce is billed if a later one is settled (rate × highest settled nonce),
 * so a block of N can cost up to 2N−1 requests per crash. Reuse, in contrast, gets "400 bad nonce" and breaks
 * service; this allocator never reuses.
 *
 * A claim under a spend budget (velocity.ts) reserves its one nonce alone, in the transaction that checks and
 * records its cost: a block would count as spent when reserved, unused tail and all, and a held block serves every
 * caller of the key, whoever's budget paid for it (docs/decisions/spend-velocity.md).
 */
export class NonceAllocator {
  /** Per (contract, signer): durable, not yet used ranges, in order. */
  private readonly ranges = new Map<string, Range[]>();
  private readonly refills = new Map<string, Promise<void>>();
  private closed = false;
  /** Per (contract, signer): the last caller's turn, so callers are served in call order. */
  private readonly turns = new Map<string, Promise<void>>();

  constructor(
    readonly store: NonceStore,
    readonly blockSize = 1,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 1_000_000) {
      throw new NonceStoreError('BAD_BLOCK_SIZE', `nonce block size: expected an integer from 1 to 1000000, got ${blockSize}`);
    }
  }

  /** The next nonce for (contract, signer), durable before it is returned; with a budget, its cost recorded too. */
  async next(contractId: bigint, signer: string, ceiling?: bigint, budget?: SpendBudget): Promise<bigint> {
    if (this.closed) throw closedError();
    if (this.blockSize === 1) return (await this.store.reserve(contractId, signer, 1, ceiling, budget)).first;
    const key = `${contractId}/${signer}`;
    if (budget) return this.alone(key, contractId, signer, ceiling, budget);
    // The store is the truth and a held block only a cache of it: nonces an operator has since declared used
    // (`nonce set`, `nonce sync`, from any process or host) are dropped from the block, never handed out. The
    // floor is read from the moment of the call (so a set that returned before it counts); callers are then
    // served in call order, so concurrent claims still get increasing nonces.
    const floorRead = this.store.floor(contractId, signer);
    try {
      return await this.inTurn(key, async () => {
        this.dropThrough(key, await floorRead);
        for (;;) {
          // close() may have given the held block back while this call waited: hand out nothing after that.
          if (this.closed) throw closedError();
          const nonce = this.take(key, ceiling);
          if (nonce !== undefined) {
            if (this.remaining(key) < this.blockSize / 2 && !this.refills.has(key)) {
              // Prefetch: errors here (a spend ceiling, a store outage) surface on the next foreground refill.
              this.refill(key, contractId, signer, ceiling).catch(() => {});
            }
            return nonce;
          }
          await (this.refills.get(key) ?? this.refill(key, contractId, signer, ceiling));
        }
      });
    } finally {
      floorRead.catch(() => {}); // its failure, if any, was thrown above
    }
  }

  /** Run `work` when the calls for `key` made before it are done: callers are served in call order. */
  private async inTurn<T>(key: string, work: () => Promise<T>): Promise<T> {
    const earlier = this.turns.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    this.turns.set(key, mine);
    try {
      if (earlier) await earlier;
      return await work();
    } finally {
      done();
      if (this.turns.get(key) === mine) this.turns.delete(key);
    }
  }

  /**
   * One nonce reserved on its own under a budget. Nonces of a held block are below it, so a block held for this
   * (contract, signer) is given back first (or, if another writer reserved past it, dropped: skipped, never
   * handed out after a higher nonce). With no block held or coming, no turn is needed: the store serves
   * reservations in call order.
   */
  private async alone(key: string, contractId: bigint, signer: string, ceiling: bigint | undefined, budget: SpendBudget): Promise<bigint> {
    if (!this.ranges.get(key)?.length && !this.refills.has(key) && !this.turns.has(key)) return (await this.store.reserve(contractId, signer, 1, ceiling, budget)).first;
    return this.inTurn(key, async () => {
      await this.refills.get(key)?.catch(() => {});
      if (this.closed) throw closedError();
      await this.giveBackHeld(key);
      return (await this.store.reserve(contractId, signer, 1, ceiling, budget)).first;
    });
  }

  /** Give back the unused tail of the block held for `key` (compare-and-set, never below the floor) and forget the block. */
  private async giveBackHeld(key: string): Promise<void> {
    const list = this.ranges.get(key);
    this.ranges.delete(key);
    const tail = list?.[list.length - 1];
    if (!tail || tail.next > tail.last) return;
    const slash = key.indexOf('/');
    await this.store.giveBack(BigInt(key.slice(0, slash)), key.slice(slash + 1), tail.last, tail.next - 1n).catch(() => false);
  }

  private take(key: string, ceiling?: bigint): bigint | undefined {
    const list = this.ranges.get(key);
    while (list?.length) {
      const r = list[0]!;
      if (r.next <= r.last) return ceiling === undefined || r.next <= ceiling ? r.next++ : undefined;
      list.shift();
    }
    return undefined;
  }

  private dropThrough(key: string, floor: bigint): void {
    const list = this.ranges.get(key);
    while (list?.length && list[0]!.next <= floor) {
      const r = list[0]!;
      if (r.last <= floor) list.shift();
      else r.next = floor + 1n;
    }
  }

  private remaining(key: string): number {
    return (this.ranges.get(key) ?? []).reduce((n, r) => n + Number(r.last - r.next + 1n), 0);
  }

  private refill(key: string, contractId: bigint, signer: string, ceiling?: bigint): Promise<void> {
    const p = this.store
      .reserve(contractId, signer, this.blockSize, ceiling)
      .then((r) => {
        // Contiguous with what we hold unless another process reserved in between (then the gap is skipped).
        const list = this.ranges.get(key) ?? [];
        const tail = list[list.length - 1];
        if (tail && tail.last + 1n === r.first) tail.last = r.last;
        else list.push({ next: r.first, last: r.last });
        this.ranges.set(key, list);
      })
      .finally(() => this.refills.delete(key));
    this.refills.set(key, p);
    return p;
  }

  /**
   * On a clean stop: give back the unused tail of each held block, so that only a crash skips nonces. A
   * compare-and-set in the store: it happens only if nobody reserved past the block meanwhile (otherwise the
   * tail stays skipped) and never below the floor. Call it when no `next()` is in flight; later calls fail.
   */
  async close(): Promise<void> {
    this.closed = true;
    // Calls already past their entry check finish (or fail) before the tails are computed.
    await Promise.allSettled([...this.turns.values(), ...this.refills.values()]);
    for (const key of [...this.ranges.keys()]) await this.giveBackHeld(key);
  }
}

const closedError = () => new NonceStoreError('ALLOCATOR_CLOSED', 'nonce allocator closed (shutting down); nothing was signed');
