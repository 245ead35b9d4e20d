import type { ChainContract } from '../claims/index.js';
import { parseBech32PubKey } from '../crypto/address.js';
import { log } from '../log.js';
import { judge } from '../settle/judge.js';
import { openSettleStore } from '../settle/open.js';
import type { PendingContract, SettleStore, StoredTx } from '../settle/store.js';
import { claimsInTx, feeOfTx } from '../settle/txclaims.js';
import { ChainClient, formatCoins } from '../tx/index.js';

/**
 * The Settlement view: what the settler has not been paid yet and by when it must be, and what it sent last. Read
 * from the settler's store, opened read-only (nothing is created or written: docs/decisions/console-settlement-view.md),
 * and, for each contract's value and deadline, from the chain: the settler's own judgement of the contract's highest
 * pending claim (settle/judge.ts) against the contract as the node shows it. Bounded: at most SETTLEMENT_CONTRACTS
 * contracts (the longest waiting) and SETTLEMENT_TXS transactions; the chain is asked in the background, at most
 * once per refresh interval, never while a page waits.
 */
export interface SettlementSource {
  /** The store: a SQLite path, sqlite:PATH or a PostgreSQL URL; undefined: `<home>/signer/nonces.db`. */
  store?: string;
  home: string;
  /** The chain's LCD for the contracts' terms and the height: the settler's node, else the console's --lcd. */
  lcd?: string;
  /** As the settler judges: a claim this close to its last block is too late (its --margin). */
  margin: bigint;
  /** As the settler judges: a deadline this close is urgent (its --deadline-blocks). */
  deadlineBlocks: bigint;
  /** The settings file these came from, when one was given (shown in the view). */
  configFile?: string;
}

export const SETTLEMENT_CONTRACTS = 100;
export const SETTLEMENT_TXS = 20;
const CHAIN_TIMEOUT_MS = 5000;

export interface PendingRow {
  contract: string;
  /** The highest pending nonce, its state (new, waiting, sent) and why it waits. */
  nonce: string;
  state: string;
  reason?: string;
  claims: number;
  since: string;
  /** From the chain, once it was read: what the claim pays the provider after the reserve, and by when. */
  value?: string;
  gross?: string;
  denom?: string;
  rate?: string;
  deadline?: string;
  blocksLeft?: string;
  urgent?: boolean;
  /** The settler would refuse it now (too_late, nonce_stale, …): it will not be paid. */
  refusal?: string;
  detail?: string;
}

export interface TxRow {
  hash: string;
  height?: string;
  at: string;
  claims: number;
  /** Claims the chain paid, and what the provider received for them (paid less the reserve). */
  settled: number;
  received: string;
  fee: string;
  /** ok, failed (code N), pending (not yet seen in a block) or dropped (never included). */
  result: string;
}

interface ChainView {
  at: number;
  height?: bigint;
  chainId?: string;
  contracts: Map<bigint, ChainContract | undefined>;
  error?: string;
}

export class SettlementView {
  private store: SettleStore | undefined;
  private storeError: string | undefined;
  private chain: ChainView | undefined;
  private fetching = false;

  constructor(
    private readonly source: SettlementSource,
    private readonly now: () => number,
    private readonly refreshMs: number,
  ) {}

  /** The store, opened on first use and again after a failure (the settler may create its tables later). */
  private async open(): Promise<SettleStore | undefined> {
    if (this.store) return this.store;
    try {
      this.store = await openSettleStore(this.source.store, this.source.home, { readOnly: true });
      this.storeError = undefined;
    } catch (e) {
      this.storeError = (e as Error).message.split('\n')[0];
    }
    return this.store;
  }

  async close(): Promise<void> {
    await this.store?.close().catch(() => {});
    this.store = undefined;
  }

  async view() {
    const base = { configured: true as const, configFile: this.source.configFile, lcd: this.source.lcd, limits: { contracts: SETTLEMENT_CONTRACTS, transactions: SETTLEMENT_TXS } };
    const store = await this.open();
    if (!store) return { ...base, error: `the settler's store cannot be read: ${this.storeError}` };
    let pending: { contracts: PendingContract[]; total: number };
    let counts;
    let txs: StoredTx[];
    let provider: string | undefined;
    try {
      pending = await store.pendingContracts(SETTLEMENT_CONTRACTS);
      counts = await store.counts();
      txs = await store.recentTxs(SETTLEMENT_TXS);
      provider = await store.getMeta('provider');
    } catch (e) {
      // A store that went away (a PostgreSQL restart): opened again on the next request.
      await this.close();
      return { ...base, store: store.description, error: `the settler's store cannot be read: ${(e as Error).message.split('\n')[0]}` };
    }
    this.refreshChain(pending.contracts.map((c) => c.contractId));
    const rows = pending.contracts.map((c) => this.row(c, provider));
    // Earliest deadline first; contracts whose deadline is not known yet after them, longest waiting first.
    rows.sort((a, b) => (a.deadline === undefined ? (b.deadline === undefined ? 0 : 1) : b.deadline === undefined ? -1 : BigInt(a.deadline) < BigInt(b.deadline) ? -1 : BigInt(a.deadline) > BigInt(b.deadline) ? 1 : 0));
    const pendingValue: Record<string, string> = {};
    for (const r of rows) if (r.value !== undefined && r.denom) pendingValue[r.denom] = String(BigInt(pendingValue[r.denom] ?? '0') + BigInt(r.value));
    return {
      ...base,
      store: store.description,
      provider,
      counts,
      unconfirmed: txs.filter((t) => t.state === 'sent').length,
      pendingValue,
      contracts: rows,
      contractsTotal: pending.total,
      transactions: await Promise.all(txs.map((t) => this.txRow(store, t))),
      chain: this.chain ? { at: this.chain.at, height: this.chain.height, error: this.chain.error } : { at: 0 },
    };
  }

  private row(c: PendingContract, provider: string | undefined): PendingRow {
    const h = c.highest;
    const row: PendingRow = { contract: String(c.contractId), nonce: String(h.nonce), state: h.state, ...(h.reason ? { reason: h.reason } : {}), claims: c.claims, since: c.since.toISOString() };
    const chain = this.chain;
    if (!chain?.contracts.has(c.contractId) || chain.height === undefined || chain.chainId === undefined) return row;
    const contract = chain.contracts.get(c.contractId);
    let key: Uint8Array | undefined;
    try {
      key = provider ? parseBech32PubKey(provider) : contract?.provider;
    } catch {
      key = contract?.provider;
    }
    const j = judge(h, contract, { height: chain.height, chainId: chain.chainId, provider: key ?? new Uint8Array(33), margin: this.source.margin, deadlineBlocks: this.source.deadlineBlocks, minValue: 0n, fee: { denom: '', amount: 0n } });
    if (contract) Object.assign(row, { rate: String(contract.rate), denom: contract.denom });
    if (j.kind === 'refused') return Object.assign(row, { refusal: j.reason, detail: j.detail });
    return Object.assign(row, { value: String(j.net), gross: String(j.gross), denom: j.denom, deadline: String(j.deadline), blocksLeft: String(j.deadline - chain.height), urgent: j.urgent });
  }

  private async txRow(store: SettleStore, t: StoredTx): Promise<TxRow> {
    let claims = 0;
    let fee = '';
    try {
      claims = claimsInTx(t.tx).length;
      fee = formatCoins(feeOfTx(t.tx));
    } catch {
      fee = '?';
    }
    const paid = (await store.claimsOfTx(t.hash).catch(() => [])).filter((c) => c.state === 'settled');
    const received = paid.reduce((sum, c) => sum + (c.paid ?? 0n) - (c.reserve ?? 0n), 0n);
    const result = t.state === 'sent' ? 'pending' : t.state === 'dead' ? 'dropped' : t.code === 0 ? 'ok' : `failed (code ${t.code ?? '?'})`;
    return { hash: t.hash, ...(t.height !== undefined ? { height: t.height } : {}), at: t.at, claims, settled: paid.length, received: String(received), fee, result };
  }

  /** The chain's height and the pending contracts' terms, read again in the background once they are older than refreshMs. */
  private refreshChain(ids: bigint[]): void {
    const lcd = this.source.lcd;
    if (!lcd || this.fetching) return;
    const known = this.chain && ids.every((id) => this.chain!.contracts.has(id));
    if (this.chain && known && this.now() - this.chain.at < this.refreshMs) return;
    this.fetching = true;
    void (async () => {
      const next: ChainView = { at: this.now(), contracts: new Map() };
      try {
        const client = new ChainClient(lcd, { timeoutMs: CHAIN_TIMEOUT_MS });
        next.chainId = await client.chainId();
        next.height = await client.latestHeight();
        for (const id of ids) next.contracts.set(id, await client.contract(id));
      } catch (e) {
        next.error = (e as Error).message.split('\n')[0];
        // What was read before stays shown beside the error.
        for (const [id, c] of this.chain?.contracts ?? []) if (!next.contracts.has(id)) next.contracts.set(id, c);
        next.height ??= this.chain?.height;
        next.chainId ??= this.chain?.chainId;
      }
      this.chain = next;
    })()
      .catch((e) => log('warn', `console: settlement: ${(e as Error).message}`))
      .finally(() => (this.fetching = false));
  }
}
