import type { Registry } from 'prom-client';
import { openShippedLog, type AuditLog, type AuditShipper, type AuditInput, type AuditShipConfig, type AuditWhat } from '../audit/index.js';
import { registerAuditMetrics } from '../audit/ship/metrics.js';
import { formatCoins, type IncludedTx, type Journal, type JournalEntry } from '../tx/index.js';
import { claimsInTx, feeOfTx } from './txclaims.js';

/**
 * The settler's audit log: the daemon's tamper-evident log (hash chain, MACs, head file, group commit), holding what
 * the settler did with the fee payer's key and the provider's claims. One entry when a transaction is signed, durable
 * before it is recorded in the store and broadcast (a signature leaves only after its entry is durable); one when its
 * block result is known; one when it never reached a block; one per claim refused before any fee. Claims are named
 * by contract and nonce, never by signature. Each entry is written before the store records the same fact, so a
 * crash can repeat an entry (the next run sees the same thing again) but never lose one.
 *
 * With [audit.ship], every durable entry also goes off the host, as the daemon's do.
 */
export const SETTLE_APP_NAME = 'arkeo-settle';

/** A claim as the entries name it: `contract/nonce`. */
export const claimRef = (c: { contractId: bigint; nonce: bigint }) => `${c.contractId}/${c.nonce}`;

/** What a transaction's block did to each of its claims (`contract/nonce`, with an amount or a reason after `=`). */
export interface TxResultEntry {
  /** Paid by the chain: `contract/nonce=AMOUNTdenom` (the debt settled, reserve included). */
  paid: string[];
  /** Code 0, nothing paid. */
  unpaid: string[];
  /** Refused by the chain in this block: `contract/nonce=reason`. */
  refused: string[];
  /** Kept, to be judged and sent again. */
  again: string[];
}

const LOCAL = { transport: 'local' } as const;
const list = (items: readonly string[]) => (items.length ? items.join(',') : undefined);

export class SettleAudit {
  private constructor(
    readonly log: AuditLog,
    private readonly shipper: AuditShipper | undefined,
  ) {}

  /**
   * Open (creating if needed) the log at `file`, checked against its head as the daemon's is at start, and with
   * `ship` start shipping it (a bad certificate file stops the start; an unreachable receiver does not).
   */
  static async open(file: string, options: { ship?: AuditShipConfig; acceptMismatch?: boolean } = {}): Promise<SettleAudit> {
    const { log, shipper } = await openShippedLog(file, options);
    return new SettleAudit(log, shipper);
  }

  get file(): string {
    return this.log.file;
  }

  private append(what: AuditWhat, result: AuditInput['result'], reason?: string): Promise<void> {
    return this.log.append({ who: LOCAL, what, result, ...(reason !== undefined ? { reason: reason.slice(0, 300) } : {}) });
  }

  /** The arkeo_signer_audit_* metrics, read from the log and the shipper at each scrape. */
  registerMetrics(registry: Registry): void {
    registerAuditMetrics(registry, this.log, this.shipper);
  }

  /** For /healthz: the log's state (part of ok) and, with shipping, the shipper's (not part of ok). */
  health(): { ok: boolean; fields: Record<string, string | number> } {
    const problem = this.log.checkFile();
    return {
      ok: problem === undefined,
      fields: {
        audit: problem ? `error: ${problem}` : 'ok',
        audit_entries: this.log.lastSeq,
        ...(this.shipper ? { audit_ship: this.shipper.health(), audit_ship_acked: this.shipper.status().acked } : {}),
      },
    };
  }

  started(reason: string): Promise<void> {
    return this.append({ op: 'start' }, 'started', reason);
  }

  stopped(): Promise<void> {
    return this.append({ op: 'stop' }, 'stopped');
  }

  /**
   * The journal a TxSender writes through: a transaction's entry is durable before the store records it, and the
   * store's record before it is broadcast. A transaction the node never took (refused, or its sequence went to
   * another transaction) is recorded as never in a block.
   */
  journal(store: Journal, payer: { address: string; backend: string }): Journal {
    return {
      get run() {
        return store.run;
      },
      unfinished: (address) => store.unfinished(address),
      record: async (address, entry) => {
        await this.signed(entry, payer);
        await store.record(address, entry);
      },
      update: async (address, entry, state, result) => {
        if (state === 'dead') await this.dead(entry, 'the node did not take it (refused, or its sequence went to another transaction); no fee');
        await store.update(address, entry, state, result);
      },
    };
  }

  /** A transaction signed, about to be broadcast: its hash, sequence, fee and claims. */
  private signed(entry: Omit<JournalEntry, 'run' | 'at'>, payer: { address: string; backend: string }): Promise<void> {
    return this.append(
      {
        op: 'tx',
        tx_hash: entry.hash,
        chain_id: entry.chainId,
        sequence: entry.sequence,
        fee: formatCoins(feeOfTx(entry.tx)),
        claims: list(claimsInTx(entry.tx).map(claimRef)),
        key: payer.address,
        backend: payer.backend,
      },
      'ok',
    );
  }

  /** A transaction that never reached a block: its claims are judged and sent again. */
  dead(tx: Pick<JournalEntry, 'hash' | 'sequence'>, why: string): Promise<void> {
    return this.append({ op: 'tx-dead', tx_hash: tx.hash, sequence: tx.sequence }, 'error', why);
  }

  /** What a transaction's block did: ok with code 0, error otherwise (its fee was charged either way). */
  included(tx: Pick<JournalEntry, 'hash' | 'sequence'>, block: IncludedTx, outcome: TxResultEntry): Promise<void> {
    return this.append(
      {
        op: 'tx-result',
        tx_hash: tx.hash,
        sequence: tx.sequence,
        height: String(block.height),
        code: String(block.code),
        ...(block.codespace ? { codespace: block.codespace } : {}),
        paid: list(outcome.paid),
        unpaid: list(outcome.unpaid),
        refused: list(outcome.refused),
        again: list(outcome.again),
      },
      block.code === 0 ? 'ok' : 'error',
      block.code === 0 ? undefined : block.rawLog,
    );
  }

  /** Claims refused before any fee was spent on them, each with its reason. */
  async refused(claims: readonly { contractId: bigint; nonce: bigint; reason: string; detail: string }[]): Promise<void> {
    await Promise.all(claims.map((c) => this.append({ op: 'claim-refused', contract: String(c.contractId), nonce: String(c.nonce), refusal: c.reason }, 'denied', c.detail)));
  }

  /** Flush and close the log, then give the shipper its moment to send the rest. */
  async close(): Promise<void> {
    await this.log.close();
    await this.shipper?.close();
  }
}
