import type { Registry } from 'prom-client';
import { openShippedLog, type AuditLog, type AuditShipper, type AuditInput, type AuditShipConfig, type AuditWhat } from '../audit/index.js';
import { registerAuditMetrics } from '../audit/ship/metrics.js';
import type { ClaimSource, PaidClaim, ProvenNonce, UnprovenNonceError } from '../claims/index.js';
import { log } from '../log.js';
import type { PaidReply } from './payer.js';

/**
 * The proxy's audit log, when it signs with keys of its own (with --daemon the daemon audits each claim it signs):
 * the daemon's tamper-evident log (hash chain, MACs, head file, group commit). Per claim signed, a `claim` entry
 * (contract, nonce, key address, upstream; never the signature), durable before the claim leaves for the sentinel;
 * per claim sent, a `claim-reply` entry with the sentinel's status and whether it consumed the claim, written as the
 * reply goes back (nothing waits for it). A nonce moved past a provider's proven claim, a provider's unproven one
 * and a claim given back at stop have entries too. With [audit.ship], every entry also goes off the host.
 */
export const PROXY_APP_NAME = 'arkeo-proxy';

const LOCAL = { transport: 'local' } as const;

/** Who a claim source signs for: the upstream (its name in the config) and the key (name, kind). */
export interface ClaimLabels {
  upstream: string;
  keyName: string;
  backend: string;
}

export class ProxyAudit {
  private warned = false;

  private constructor(
    readonly log: AuditLog,
    private readonly shipper: AuditShipper | undefined,
  ) {}

  /**
   * Open (creating if needed) the log at `file`, checked against its head as the daemon's is at start, and with
   * `ship` start shipping it (a bad certificate file stops the start; an unreachable receiver does not).
   */
  static async open(file: string, options: { ship?: AuditShipConfig; acceptMismatch?: boolean } = {}): Promise<ProxyAudit> {
    const { log, shipper } = await openShippedLog(file, options);
    return new ProxyAudit(log, shipper);
  }

  get file(): string {
    return this.log.file;
  }

  append(what: AuditWhat, result: AuditInput['result'], extra: { status?: number; reason?: string } = {}): Promise<void> {
    return this.log.append({ who: LOCAL, what, result, ...(extra.status !== undefined ? { status: extra.status } : {}), ...(extra.reason !== undefined ? { reason: extra.reason.slice(0, 300) } : {}) });
  }

  /** The arkeo_signer_audit_* metrics, read from the log and the shipper at each scrape. */
  registerMetrics(registry: Registry): void {
    registerAuditMetrics(registry, this.log, this.shipper);
  }

  /** For /healthz: the log's state (a log that cannot be written stops signing) and, with shipping, the shipper's. */
  health(): { problem?: string; fields: Record<string, string | number> } {
    const problem = this.log.checkFile();
    return {
      ...(problem ? { problem: `audit log ${this.log.file}: ${problem}` } : {}),
      fields: {
        audit: problem ? `error: ${problem}` : 'ok',
        audit_entries: this.log.lastSeq,
        ...(this.shipper ? { audit_ship: this.shipper.health(), audit_ship_acked: this.shipper.status().acked } : {}),
      },
    };
  }

  /** Claims from `inner`, each released only once its entry is durable. */
  claims(inner: ClaimSource, labels: ClaimLabels): ClaimSource {
    return new AuditedClaims(inner, this, labels);
  }

  /**
   * The sentinel's answer to a claim (or a request that could not reach it after the claim was signed). Not waited
   * for: nothing is released by it. A failure here fails the log, and the next claim is refused.
   */
  replied(upstream: string, key: string | undefined, reply: PaidReply | { error: string }): void {
    const written =
      'error' in reply
        ? this.append({ op: 'claim-reply', upstream }, 'error', { status: 502, reason: reply.error })
        : this.append(
            {
              op: 'claim-reply',
              contract: String(reply.contractId),
              nonce: reply.nonce === undefined ? undefined : String(reply.nonce),
              key,
              upstream,
              consumed: reply.consumed,
              tier: reply.tier,
              ...(reply.reused ? { resent: 'true' } : {}),
              ...(reply.resynced ? { resynced: 'true' } : {}),
            },
            reply.consumed === 'yes' ? 'ok' : reply.consumed === 'no' ? 'denied' : 'error',
            { status: reply.status },
          );
    written.catch((e: unknown) => {
      if (this.warned) return;
      this.warned = true;
      log('error', `proxy: ${(e as Error).message}; no more claims are signed`);
    });
  }

  /** Flush and close the log, then give the shipper its moment to send the rest. */
  async close(): Promise<void> {
    await this.log.close();
    await this.shipper?.close();
  }
}

class AuditedClaims implements ClaimSource {
  private closed: Promise<void> | undefined;

  constructor(
    private readonly inner: ClaimSource,
    private readonly audit: ProxyAudit,
    private readonly labels: ClaimLabels,
  ) {}

  get address(): string {
    return this.inner.address;
  }

  get publicKey(): Uint8Array {
    return this.inner.publicKey;
  }

  get takesBack(): boolean | undefined {
    return this.inner.takesBack;
  }

  private what(op: string, contractId: bigint, nonce?: bigint): AuditWhat {
    const { upstream, keyName, backend } = this.labels;
    return { op, contract: String(contractId), ...(nonce !== undefined ? { nonce: String(nonce) } : {}), key: this.address, key_name: keyName, backend, upstream };
  }

  /** Signed (its nonce durable in the store), then its entry durable, then released to the payer. */
  async sign(contractId: bigint, request: { delegate: boolean }): Promise<PaidClaim> {
    const claim = await this.inner.sign(contractId, request);
    try {
      await this.audit.append(this.what('claim', claim.contractId, claim.nonce), 'ok');
    } catch (e) {
      // Never released: its nonce goes back, if no later one was reserved.
      await this.inner.giveBack(claim).catch(() => {});
      throw e;
    }
    return claim;
  }

  /** The sentinel proved it holds our claim at a higher nonce: ours moves past it. */
  async raise(contractId: bigint, proven: ProvenNonce): Promise<void> {
    await this.inner.raise(contractId, proven);
    await this.audit.append({ ...this.what('resync', contractId), resync_to: String(proven.nonce) }, 'ok');
  }

  current(contractId: bigint): Promise<bigint> {
    return this.inner.current(contractId);
  }

  /** A claim the sentinel never stored, given back at stop: its nonce may be signed again. */
  async giveBack(claim: PaidClaim): Promise<void> {
    await this.inner.giveBack(claim);
    await this.audit.append(this.what('claim-returned', claim.contractId, claim.nonce), 'ok', { reason: 'never stored by the sentinel; its nonce may be signed again' });
  }

  async reportUnproven(e: UnprovenNonceError): Promise<void> {
    await this.inner.reportUnproven?.(e);
    await this.audit.append({ ...this.what('resync', e.contractId), resync_to: String(e.claimed) }, 'denied', { reason: e.message });
  }

  close(): Promise<void> {
    this.closed ??= this.inner.close();
    return this.closed;
  }
}
