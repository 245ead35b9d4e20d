import type * as http from 'node:http';
import { InputError } from '../errors.js';
import { PREFIXES, parseBech32PubKey } from '../crypto/address.js';
import { equalBytes } from '../crypto/bytes.js';
import type { ClaimSource } from '../claims/index.js';
import type { Pool } from '../claims/pools.js';
import type { Signer } from '../signers/index.js';
import { ContractPayer, PayerError, type ContractState, type OutgoingRequest, type PaidReply, type Payer, type PayerOptions } from './payer.js';
import { fetchMetadata, sentinelBase } from './sentinel.js';

/**
 * A pool's contracts used as one (`--contract pool:NAME`): each member is a ContractPayer, so each contract still
 * carries one request at a time in nonce order, signed by its own key, and N members carry N requests at once.
 *
 * Which member takes a request (docs/decisions/contract-pools.md): the one with the fewest requests waiting or in
 * flight; among equals, the next in turn after the one chosen last. A stopped member (spent, expired, a provider's
 * unproven nonce) is passed over; a request that meets a member as it stops (nothing consumed) goes to the next.
 */
export interface PoolPayerOptions extends Omit<PayerOptions, 'claims' | 'contract' | 'delegate' | 'keyName' | 'chain'> {
  pool: Pool;
  /** A member key's claims: the keyring's signer, or the key daemon's claim operation. Called one key at a time. */
  claimsOf(key: string): Promise<ClaimSource | Signer>;
}

/**
 * A pool's contracts are with one provider for one service: a sentinel of another provider would serve nothing it
 * can be paid for, and a claim for another service is refused (401 Service mismatch). Checked before anything is
 * signed; reads the sentinel's /metadata.json.
 */
export async function checkPoolSentinel(pool: Pool, sentinel: string, service: string, pubPrefix: string = PREFIXES.accountPub): Promise<void> {
  const base = sentinelBase(sentinel);
  if (pool.service !== service) throw new InputError('POOL_SERVICE', `pool ${pool.name}: its contracts are for service "${pool.service}", not "${service}"; use a pool opened for "${service}"`);
  const meta = await fetchMetadata(base, pubPrefix);
  let provider: Uint8Array;
  try {
    provider = parseBech32PubKey(pool.provider, pubPrefix);
  } catch (e) {
    throw new InputError('BAD_POOL', `pool ${pool.name}: provider "${pool.provider.slice(0, 80)}" is not a public key (${(e as Error).message})`);
  }
  if (!equalBytes(provider, parseBech32PubKey(meta.providerPubkey, pubPrefix))) {
    throw new PayerError('POOL_PROVIDER', `pool ${pool.name}: its contracts are with provider ${pool.provider}, and the sentinel ${base} is provider ${meta.providerPubkey}; point it at that provider's sentinel`);
  }
}

export class PoolPayer implements Payer {
  /** Where the search for the next member starts: ties go round. */
  private cursor = 0;

  private constructor(
    readonly name: string,
    readonly base: string,
    readonly pool: Pool,
    readonly payers: readonly ContractPayer[],
  ) {}

  /**
   * Check the pool against the sentinel (its service, its provider) and open every member: a member that cannot
   * be opened (a missing key, an unreachable sentinel) fails the whole start, naming it.
   */
  static async open(options: PoolPayerOptions): Promise<PoolPayer> {
    const { pool, claimsOf, ...common } = options;
    const base = sentinelBase(common.sentinel);
    await checkPoolSentinel(pool, base, common.service, common.pubPrefix);
    // Keys one after another (a keyring passphrase is asked once), then every contract's start-up sync at once.
    const claims: (ClaimSource | Signer)[] = [];
    for (const m of pool.members) claims.push(await claimsOf(m.key));
    const name = common.name ?? common.service;
    const opened = await Promise.allSettled(
      pool.members.map((m, i) => ContractPayer.open({ ...common, name, claims: claims[i]!, contract: m.contractId, keyName: m.key, delegate: true })),
    );
    const payers = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = opened.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      await Promise.allSettled(payers.map((p) => p.close()));
      throw (opened[failed] as PromiseRejectedResult).reason;
    }
    for (const p of payers) options.metrics?.poolMember.set({ upstream: name, pool: pool.name, contract: String(p.contractId), key: p.state.key ?? '' }, 1);
    return new PoolPayer(name, base, pool, payers);
  }

  /** The member for the next request: not stopped, not yet tried for it, fewest pending; ties in turn. */
  private pick(tried: ReadonlySet<ContractPayer>): ContractPayer | undefined {
    const n = this.payers.length;
    let best: ContractPayer | undefined;
    let at = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.cursor + k) % n;
      const p = this.payers[i]!;
      if (p.isStopped || tried.has(p)) continue;
      if (!best || p.pending < best.pending) [best, at] = [p, i];
    }
    if (best) this.cursor = (at + 1) % n;
    return best;
  }

  async send(req: OutgoingRequest): Promise<PaidReply> {
    const tried = new Set<ContractPayer>();
    let last: PaidReply | undefined;
    for (;;) {
      const member = this.pick(tried);
      // Every member has stopped: the application gets a stopped contract's 402, which says why.
      if (!member) return last ?? this.payers[0]!.send(req);
      tried.add(member);
      const reply = await member.send(req);
      // The member stopped before this request was sent (or as the sentinel refused its claim): nothing was
      // consumed, so another member can serve it.
      if (!(reply.status === 402 && reply.nonce === undefined && member.isStopped)) return reply;
      last = reply;
    }
  }

  sendUnpaid(req: OutgoingRequest): Promise<http.IncomingMessage> {
    return (this.payers.find((p) => !p.isStopped) ?? this.payers[0]!).sendUnpaid(req);
  }

  contracts(): ContractState[] {
    return this.payers.map((p) => ({ ...p.state, pool: this.pool.name }));
  }

  async close(): Promise<void> {
    const results = await Promise.allSettled(this.payers.map((p) => p.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
