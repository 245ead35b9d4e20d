import type { ChainContract } from '../claims/index.js';
import { log as defaultLog, type LogLevel } from '../log.js';
import { describeSigner, type Signer } from '../signers/index.js';
import {
  adjustedGas,
  ChainError,
  eventAttributes,
  feeFromGasPrice,
  formatCoins,
  MsgClaimContractIncomeCodec,
  TxSender,
  type ChainClient,
  type EncodedMessage,
  type FeeChoice,
  type IncludedTx,
} from '../tx/index.js';
import { claimRef, type SettleAudit, type TxResultEntry } from './audit.js';
import { SettleError } from './errors.js';
import { deadlines, judge, reserveOf, type JudgeContext, type Refusal, type Worth } from './judge.js';
import type { SettleMetrics } from './metrics.js';
import type { SentinelClient } from './sentinel.js';
import { OPEN_STATES, type ClaimChange, type ClaimKey, type SettleStore, type StoredClaim, type StoredTx } from './store.js';
import { claimsInTx, feeOfTx } from './txclaims.js';

/**
 * The settlement service (arkeo-transactions.md §6.4): poll the sentinel's /claims, keep every claim in the store,
 * judge each against the chain before any fee (judge.ts), and settle the highest sound nonce of each contract in
 * batches of MsgClaimContractIncome signed by the fee payer's key, earliest deadline first. A claim counts as paid
 * only when its transaction succeeded in a block and the chain's EventSettleContract for that contract and nonce
 * says paid > 0 (or the contract's paid grew). A batch the chain refuses as a whole (one stale claim reverts them
 * all) is split: the claim the chain names is refused and the others go again. Before anything new is sent, every
 * transaction an earlier run left unfinished is looked up by its hash, resent unchanged or found dead.
 */
export interface SettlerOptions {
  chain: ChainClient;
  sentinel: SentinelClient;
  /** The fee payer's key, any backend; it need not be the provider's. */
  signer: Signer;
  store: SettleStore;
  fee: FeeChoice;
  /** Our provider: only its contracts are settled. */
  provider: { bech32: string; key: Uint8Array };
  /** The chain the node must serve. Default: the node's. */
  chainId?: string;
  /** Claims per transaction (one message each). */
  batch: number;
  minValue: bigint;
  margin: bigint;
  deadlineBlocks: bigint;
  intervalMs: number;
  /** How long to wait for a transaction's block. Default 60 s. */
  waitMs?: number;
  /** Poll interval for a transaction's block. Default 1 s. */
  pollMs?: number;
  metrics?: SettleMetrics;
  /**
   * The settler's audit log: each transaction's entry is durable before it is broadcast; block results, dead
   * transactions and claims refused before any fee are written before the store records them.
   */
  audit?: SettleAudit;
  log?: (level: LogLevel, line: string) => void;
}

/** What one cycle did, for --once, tests and /healthz. */
export interface CycleReport {
  seen: number;
  refused: number;
  transactions: number;
  failedTransactions: number;
  settled: number;
  /** One line per problem met (sentinel, node, funds); empty when the cycle went through. */
  problems: string[];
}

export interface SettlerHealth {
  state: 'starting' | 'ok' | 'standby' | 'failing';
  leading: boolean;
  lastCycle?: Date;
  lastSuccess?: Date;
  problem?: string;
}

/** Gas of a settlement transaction, as planned before a simulation: the ante, and each paying claim (measured ~99k for one). */
export const ANTE_GAS = 40_000n;
export const CLAIM_GAS = 70_000n;
const MAX_ROUNDS = 4;
const CONTRACT_LOOKUPS = 8;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** The claim the chain names in "failed to execute message; message index: N: …", and why, as a refusal. */
function refusalOfLog(text: string): { index?: number; reason: Refusal | 'chain_refused' } {
  const m = /message index: (\d+)/.exec(text);
  const reason: Refusal | 'chain_refused' = /nonce must be greater than zero|greater than msg nonce/.test(text)
    ? 'nonce_stale'
    : /contract is settled|settled on block/.test(text)
      ? 'too_late'
      : /signature mismatch|invalid signature|signature must be 64/.test(text)
        ? 'bad_signature'
        : 'chain_refused';
  return { ...(m ? { index: Number(m[1]) } : {}), reason };
}

const keyOf = (c: ClaimKey): ClaimKey => ({ contractId: c.contractId, nonce: c.nonce, signature: c.signature });
const sameClaim = (a: ClaimKey, b: ClaimKey) => a.contractId === b.contractId && a.nonce === b.nonce && a.signature === b.signature;
const listed = (ids: bigint[]) => (ids.length > 8 ? `${ids.slice(0, 8).join(',')},… (${ids.length})` : ids.join(','));

interface Planned {
  claim: StoredClaim;
  contract: ChainContract;
  worth: Worth;
  lastBlock: bigint;
}

export class Settler {
  /** uarkeo the sound claims found in the last plan would pay the provider, less what has been paid since. */
  private unsettledValue = 0n;
  private readonly sender: TxSender;
  private readonly log: (level: LogLevel, line: string) => void;
  private leading = false;
  private health: SettlerHealth = { state: 'starting', leading: false };
  private heights?: { first: { h: bigint; t: number }; last: { h: bigint; t: number } };
  /** Each contract's rate denom, as last read: what its claims pay in. */
  private readonly denoms = new Map<bigint, string>();

  private constructor(
    private readonly o: SettlerOptions,
    readonly address: string,
    readonly chainId: string,
  ) {
    this.log = o.log ?? ((level, line) => defaultLog(level, line));
    const journal = o.audit ? o.audit.journal(o.store, { address, backend: o.signer.kind }) : o.store;
    this.sender = new TxSender(o.chain, o.signer, { journal, wait: false, chainId, waitMs: o.waitMs ?? 60_000, pollMs: o.pollMs ?? 1000 });
  }

  /** Checks the node (and its chain id) and the fee payer's account before any claim is looked at. */
  static async open(options: SettlerOptions): Promise<Settler> {
    if (!Number.isInteger(options.batch) || options.batch < 1) throw new SettleError('BAD_BATCH', `--batch: expected a whole number from 1, got ${options.batch}`);
    const served = await options.chain.chainId();
    if (options.chainId !== undefined && options.chainId !== served) {
      throw new ChainError('CHAIN_ID_MISMATCH', `node ${options.chain.lcd} serves chain "${served}", not "${options.chainId}"; give the node of that chain, or the right --chain-id`);
    }
    const { address } = await describeSigner(options.signer);
    // An unfunded fee payer is reported every cycle (nothing is sent until it is funded), not refused here: a
    // service that starts before its account is funded should begin as soon as it is.
    return new Settler(options, address, served);
  }

  get status(): SettlerHealth {
    return { ...this.health };
  }

  /** The fee one transaction of `claims` claims is expected to cost (for the value test and the balance check). */
  feeEstimate(claims = 1): { denom: string; amount: bigint } {
    const fee = this.o.fee;
    if (fee.fees) {
      const coin = fee.fees[0] ?? { denom: 'uarkeo', amount: '0' };
      return { denom: coin.denom, amount: BigInt(coin.amount) };
    }
    const gas = fee.gas === 'auto' ? adjustedGas(ANTE_GAS + CLAIM_GAS * BigInt(claims), fee.gasAdjustment) : fee.gas;
    const coin = feeFromGasPrice(fee.gasPrice!, gas);
    return { denom: coin.denom, amount: BigInt(coin.amount) };
  }

  /**
   * Lead and settle every interval until `signal` aborts; stand by (and try again every interval) while another
   * settler on the same store leads. `once`: one cycle, then return (false when another settler leads).
   */
  async run(signal: AbortSignal, options: { once?: boolean } = {}): Promise<boolean> {
    const leaseMs = Math.max(3 * this.o.intervalMs, 30_000);
    for (;;) {
      const leading = this.leading ? await this.o.store.holdsLeadership() : await this.o.store.acquireLeadership(this.o.provider.bech32, leaseMs);
      if (leading && !this.leading) this.log('info', `settle: leading for provider ${this.o.provider.bech32} (store ${this.o.store.description}); fee payer ${this.address}`);
      if (!leading && (this.leading || this.health.state === 'starting')) this.log('warn', `settle: standing by: another settler leads for provider ${this.o.provider.bech32} on store ${this.o.store.description}; trying again every ${this.o.intervalMs / 1000} s`);
      // A new leader says so at once; its state is 'starting' until its first cycle has run.
      if (leading && !this.leading) this.health = { ...this.health, state: 'starting', leading: true };
      this.leading = leading;
      this.o.metrics?.leader.set(leading ? 1 : 0);
      if (!leading) this.health = { ...this.health, state: 'standby', leading: false };
      if (leading) {
        const report = await this.cycle();
        const now = new Date();
        this.health = report.problems.length
          ? { state: 'failing', leading: true, lastCycle: now, ...(this.health.lastSuccess ? { lastSuccess: this.health.lastSuccess } : {}), problem: report.problems[0]! }
          : { state: 'ok', leading: true, lastCycle: now, lastSuccess: now };
        if (!report.problems.length) this.o.metrics?.lastSuccess.set(now.getTime() / 1000);
      }
      if (options.once) return leading;
      if (signal.aborted) return leading;
      await sleep(this.o.intervalMs, signal);
      if (signal.aborted) return leading;
    }
  }

  /** Set when a transaction failed in its block for a reason of its own: no new fee is spent on the same mistake for a while. */
  private paused?: { until: number; why: string };

  /** One pass: poll, resolve earlier transactions, judge, send, confirm. Problems are logged (one line each) and reported. */
  async cycle(): Promise<CycleReport> {
    const report: CycleReport = { seen: 0, refused: 0, transactions: 0, failedTransactions: 0, settled: 0, problems: [] };
    const problem = (line: string) => {
      report.problems.push(line);
      this.log('warn', `settle: ${line}`);
    };
    try {
      const { claims, unreadable } = await this.o.sentinel.claims();
      const added = await this.o.store.addClaims(claims);
      report.seen = added.length;
      this.o.metrics?.claimsSeen.inc(added.length);
      if (unreadable) this.log('warn', `settle: sentinel ${this.o.sentinel.base}/claims listed ${unreadable} entries without a contract id or nonce; ignored`);
    } catch (e) {
      // The claims already kept are still settled: the sentinel is only where they come from.
      problem(`${(e as Error).message}; settling the claims already kept`);
    }
    try {
      const unresolved = await this.reconcile(report, problem);
      if (unresolved > 0) {
        problem(`${unresolved} earlier transaction(s) not in a block yet; sending nothing new until they are`);
        return report;
      }
      if (this.paused && Date.now() < this.paused.until) {
        problem(`${this.paused.why}; sending paused until ${new Date(this.paused.until).toISOString()} (or a restart)`);
        return report;
      }
      this.paused = undefined;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const plan = await this.plan(report);
        if (!plan.length) break;
        const again = await this.send(plan, report, problem);
        if (!again) break;
      }
    } catch (e) {
      problem(e instanceof Error ? e.message : String(e));
    }
    return report;
  }

  // ------------------------------------------------------------------------------------------ earlier transactions

  /**
   * Every transaction the store holds as sent and unfinished (an earlier run's, or one of this run that was not
   * seen in a block in time) is looked up by its hash: included → its claims are settled or sent again; its
   * sequence taken by another transaction and still not found → dead, its claims sent again; its sequence still
   * free → the same bytes are broadcast again and waited for. Returns how many are still pending.
   */
  private async reconcile(report: CycleReport, problem: (line: string) => void): Promise<number> {
    const store = this.o.store;
    let pending = 0;
    const alive: StoredTx[] = [];
    for (const tx of await store.unfinishedTxs()) {
      const found = await this.o.chain.tx(tx.hash);
      if (found) {
        await this.confirm(tx, found, report, problem);
        continue;
      }
      const account = await this.o.chain.account(tx.address);
      const sequence = account?.sequence ?? 0n;
      if (sequence > BigInt(tx.sequence)) {
        // Its sequence is used: by it (then the index shows it in a moment) or by another transaction.
        await sleep(this.o.pollMs ?? 1000);
        const late = await this.o.chain.tx(tx.hash);
        if (late) await this.confirm(tx, late, report, problem);
        else await this.bury(tx, 'its sequence went to another transaction');
        continue;
      }
      const r = await this.o.chain.broadcast(new Uint8Array(Buffer.from(tx.tx, 'base64')));
      if (r.code !== 0 && !(r.code === 19 && r.codespace === 'sdk')) {
        await this.bury(tx, `the node refuses it now (code ${r.code}: ${r.rawLog.slice(0, 200) || 'no reason given'})`);
        continue;
      }
      alive.push(tx);
    }
    // The ones sent again are waited for together, then read in the order they were sent.
    const blocks = await Promise.all(alive.map((tx) => this.sender.waitFor(tx.hash).catch((e: unknown) => e as Error)));
    for (const [i, tx] of alive.entries()) {
      const found = blocks[i]!;
      if (found instanceof ChainError) pending++;
      else if (found instanceof Error) throw found;
      else await this.confirm(tx, found, report, problem);
    }
    // Claims marked sent with a transaction that is no longer pending (a crash between two writes): settle them from its block.
    for (const claim of await store.claimsIn(['sent'])) {
      const tx = claim.txHash ? await store.tx(claim.txHash) : undefined;
      if (tx?.state === 'sent') continue;
      const found = tx && tx.state === 'included' ? await this.o.chain.tx(tx.hash) : undefined;
      if (tx && found) await this.confirm(tx, found, report, problem);
      else await store.updateClaims([{ key: keyOf(claim), change: { state: 'new', clearTx: true } }]);
    }
    return pending;
  }

  private async bury(tx: StoredTx, why: string): Promise<void> {
    const claims = await this.o.store.claimsOfTx(tx.hash);
    await this.o.audit?.dead(tx, `never reached a block: ${why}`);
    await this.o.store.update(tx.address, tx, 'dead');
    this.log('info', `settle: tx ${tx.hash} never reached a block (${why}); its ${claims.filter((c) => c.state === 'sent').length} claim(s) will be judged and sent again`);
  }

  // ------------------------------------------------------------------------------------------ judging

  private sampleHeight(h: bigint): void {
    const now = Date.now();
    if (!this.heights) this.heights = { first: { h, t: now }, last: { h, t: now } };
    else if (h > this.heights.last.h) this.heights.last = { h, t: now };
  }

  private secondsPerBlock(): number {
    const s = this.heights;
    if (!s || s.last.h <= s.first.h) return 5;
    return (s.last.t - s.first.t) / 1000 / Number(s.last.h - s.first.h);
  }

  /** Judge every open claim against the chain; write what was decided; return the claims to send, deadline first. */
  private async plan(report: CycleReport): Promise<Planned[]> {
    const store = this.o.store;
    const open = await store.claimsIn(OPEN_STATES);
    if (!open.length) {
      this.o.metrics?.deadlineBlocks.set(Infinity);
      this.o.metrics?.deadlineSeconds.set(Infinity);
      return [];
    }
    const height = await this.o.chain.latestHeight();
    this.sampleHeight(height);
    const byContract = new Map<bigint, StoredClaim[]>();
    for (const c of open) byContract.set(c.contractId, [...(byContract.get(c.contractId) ?? []), c]);
    const ids = [...byContract.keys()];
    const contracts = new Map<bigint, ChainContract | undefined>();
    await mapLimit(ids, CONTRACT_LOOKUPS, async (id) => {
      const c = await this.o.chain.contract(id);
      contracts.set(id, c);
      if (c) this.denoms.set(id, c.denom);
    });
    const ctx: JudgeContext = { height, chainId: this.chainId, provider: this.o.provider.key, margin: this.o.margin, deadlineBlocks: this.o.deadlineBlocks, minValue: this.o.minValue, fee: this.feeEstimate() };
    const changes: { key: ClaimKey; change: ClaimChange }[] = [];
    const refusals: { contractId: bigint; nonce: bigint; reason: string; detail: string }[] = [];
    const plan: Planned[] = [];
    let earliest: bigint | undefined;
    // What the provider would receive for the sound claims not settled yet (one per contract: billing is cumulative).
    let unsettled = 0n;
    for (const [id, claims] of byContract) {
      const contract = contracts.get(id);
      claims.sort((a, b) => (a.nonce > b.nonce ? -1 : a.nonce < b.nonce ? 1 : 0));
      let covered: bigint | undefined;
      let chosen = false;
      for (const claim of claims) {
        const j = judge(claim, contract, ctx);
        if (j.kind === 'refused') {
          if (j.reason === 'nonce_stale') {
            covered ??= await store.settledNonce(id);
            if (covered >= claim.nonce) {
              changes.push({ key: keyOf(claim), change: { state: 'covered', detail: `a settled claim with nonce ${covered} paid for it` } });
              continue;
            }
          }
          changes.push({ key: keyOf(claim), change: { state: 'refused', reason: j.reason, detail: j.detail } });
          refusals.push({ contractId: claim.contractId, nonce: claim.nonce, reason: j.reason, detail: j.detail });
          this.o.metrics?.claimsRefused.inc({ reason: j.reason });
          report.refused++;
          // A forged signature or another provider's contract in our own sentinel's store is tampering or a
          // sentinel bug: worth a warning, where a stale or late claim is routine.
          this.log(j.reason === 'bad_signature' || j.reason === 'other_provider' ? 'warn' : 'info', `settle: refused contract ${claim.contractId} nonce ${claim.nonce} (${j.reason}): ${j.detail}`);
          continue;
        }
        if (claim.state === 'new') this.o.metrics?.claimsVerified.inc();
        if (earliest === undefined || j.deadline < earliest) earliest = j.deadline;
        if (chosen) {
          // Billing is cumulative: the contract's highest sound nonce pays for this one too.
          if (claim.state !== 'waiting' || claim.reason !== 'behind') changes.push({ key: keyOf(claim), change: { state: 'waiting', reason: 'behind', detail: 'a higher nonce of its contract goes first' } });
          continue;
        }
        chosen = true;
        if (j.denom === 'uarkeo') unsettled += j.net;
        if (j.verdict === 'send') {
          plan.push({ claim, contract: contract!, worth: j, lastBlock: deadlines(contract!, height).lastBlock });
          continue;
        }
        if (j.verdict === 'below_fee' && claim.reason !== 'below_fee') {
          this.o.metrics?.claimsRefused.inc({ reason: 'below_fee' });
          report.refused++;
          this.log('info', `settle: waiting: contract ${claim.contractId} nonce ${claim.nonce} pays the provider ${j.net}${j.denom}, not more than a fee of ${ctx.fee.amount}${ctx.fee.denom} (below_fee)`);
        }
        const detail = j.verdict === 'below_fee' ? `pays ${j.net}${j.denom}, a fee is ~${ctx.fee.amount}${ctx.fee.denom}` : `pays ${j.net}${j.denom}, below --min-value ${this.o.minValue}`;
        if (claim.state !== 'waiting' || claim.reason !== j.verdict) changes.push({ key: keyOf(claim), change: { state: 'waiting', reason: j.verdict, detail } });
      }
    }
    // In the audit log before the store: a crash in between judges them again (an entry twice), never none.
    await this.o.audit?.refused(refusals);
    await store.updateClaims(changes);
    this.unsettledValue = unsettled;
    this.o.metrics?.unsettledValue.set(Number(unsettled));
    if (earliest === undefined) {
      this.o.metrics?.deadlineBlocks.set(Infinity);
      this.o.metrics?.deadlineSeconds.set(Infinity);
    } else {
      this.o.metrics?.deadlineBlocks.set(Number(earliest - height));
      this.o.metrics?.deadlineSeconds.set(Number(earliest - height) * this.secondsPerBlock());
    }
    // Earliest deadline first, so a contract about to close goes in the first transaction; then the most valuable.
    return plan.sort((a, b) => (a.worth.deadline !== b.worth.deadline ? (a.worth.deadline < b.worth.deadline ? -1 : 1) : a.worth.net > b.worth.net ? -1 : a.worth.net < b.worth.net ? 1 : 0));
  }

  // ------------------------------------------------------------------------------------------ sending

  private batches(plan: Planned[]): Planned[][] {
    const out: Planned[][] = [];
    let current: Planned[] = [];
    for (const p of plan) {
      if (p.claim.alone) {
        out.push([p]);
        continue;
      }
      current.push(p);
      if (current.length >= this.o.batch) {
        out.push(current);
        current = [];
      }
    }
    if (current.length) out.push(current);
    // Keep deadline order across the lone claims and the full batches.
    return out.sort((a, b) => (a[0]!.worth.deadline < b[0]!.worth.deadline ? -1 : a[0]!.worth.deadline > b[0]!.worth.deadline ? 1 : 0));
  }

  /** Send the plan in batches; returns whether claims are left to send again (a batch was split). */
  private async send(plan: Planned[], report: CycleReport, problem: (line: string) => void): Promise<boolean> {
    const store = this.o.store;
    const batches = this.batches(plan);
    const one = this.feeEstimate(this.o.batch);
    const balance = await this.o.chain.balance(this.address, one.denom);
    if (one.denom === 'uarkeo') this.o.metrics?.feePayerBalance.set(Number(balance));
    let affordable = 0;
    let spend = 0n;
    for (const b of batches) {
      const cost = this.feeEstimate(b.length).amount;
      if (spend + cost > balance) break;
      spend += cost;
      affordable++;
    }
    if (affordable === 0) {
      problem(`fee payer ${this.address} has ${balance}${one.denom}, less than one transaction's fee (~${this.feeEstimate(batches[0]!.length).amount}${one.denom}): nothing sent; fund it (${plan.length} claim(s) wait)`);
      return false;
    }
    if (affordable < batches.length) problem(`fee payer ${this.address} has ${balance}${one.denom}, enough for ${affordable} of ${batches.length} transactions; sending those (earliest deadlines first); fund it`);
    if (!(await store.holdsLeadership())) throw new SettleError('NOT_LEADER', `no longer the leading settler on store ${store.description}; nothing sent`);
    await store.updateClaims(plan.map((p) => ({ key: keyOf(p.claim), change: { chainPaid: p.contract.paid } })));
    let again = false;
    const sent: { hash: string; batch: Planned[] }[] = [];
    for (const batch of batches.slice(0, affordable)) {
      const messages: EncodedMessage[] = batch.map((p) => ({
        typeUrl: MsgClaimContractIncomeCodec.typeUrl,
        value: MsgClaimContractIncomeCodec.encode({ creator: this.address, contractId: p.claim.contractId, signature: new Uint8Array(Buffer.from(p.claim.signature, 'hex')), nonce: p.claim.nonce }),
      }));
      // Void after the earliest last block of its claims: late, it is refused before any fee instead of failing in a block.
      const timeoutHeight = batch.reduce((min, p) => (p.lastBlock < min ? p.lastBlock : min), batch[0]!.lastBlock);
      try {
        const outcome = await this.sender.send({ messages, fee: this.o.fee, timeoutHeight });
        sent.push({ hash: outcome.txHash, batch });
      } catch (e) {
        const named = refusalOfLog((e as Error).message ?? '');
        if (e instanceof ChainError && e.message.startsWith('simulating the transaction') && named.index !== undefined && batch[named.index]) {
          // The node ran the messages in its simulation and named the one that fails: nothing was signed or paid.
          const bad = batch[named.index]!.claim;
          await this.refuse(bad, named.reason, e.message, report);
          again = true;
          continue;
        }
        // The node, or the key (a daemon's policy, an HSM), refused: nothing more this cycle; what was sent is still confirmed.
        const message = e instanceof Error ? e.message : String(e);
        problem(e instanceof ChainError && e.code === 'CHAIN_REFUSED_5' ? `fee payer ${this.address} cannot pay the fee (${message}); nothing more sent this cycle: fund it` : message);
        break;
      }
    }
    const included = await Promise.all(sent.map(async (s) => ({ ...s, result: await this.sender.waitFor(s.hash).catch((e: unknown) => e as Error) })));
    for (const s of included) {
      const tx = await store.tx(s.hash);
      if (!tx) continue;
      if (s.result instanceof Error) {
        problem(`${s.result.message.split(';')[0]}; looked up again next cycle, nothing is sent twice`);
        continue;
      }
      if (await this.confirm(tx, s.result, report, problem)) again = true;
    }
    return again;
  }

  private async refuse(claim: StoredClaim, reason: Refusal | 'chain_refused', detail: string, report: CycleReport): Promise<void> {
    await this.o.audit?.refused([{ contractId: claim.contractId, nonce: claim.nonce, reason, detail }]);
    await this.o.store.updateClaims([{ key: keyOf(claim), change: { state: 'refused', reason, detail, clearTx: true } }]);
    this.o.metrics?.claimsRefused.inc({ reason });
    report.refused++;
    this.log('info', `settle: refused contract ${claim.contractId} nonce ${claim.nonce} (${reason}): ${detail.slice(0, 300)}`);
  }

  /**
   * What the block says about one of our transactions: each claim is settled (paid > 0 in its EventSettleContract,
   * or contract.paid grew), unpaid (code 0, nothing paid), or (a failed transaction) refused when the chain named it
   * and sent again otherwise. One log line per transaction. Returns whether claims go out again.
   */
  private async confirm(tx: StoredTx, included: IncludedTx, report: CycleReport, problem: (line: string) => void): Promise<boolean> {
    const store = this.o.store;
    const fee = feeOfTx(tx.tx);
    const messages = claimsInTx(tx.tx);
    const ours = (await store.claimsOfTx(tx.hash)).filter((c) => c.state === 'sent');
    const rowOf = (m: ClaimKey) => ours.find((c) => sameClaim(c, m));
    for (const coin of fee) this.o.metrics?.feesPaid.inc({ denom: coin.denom }, Number(coin.amount));
    this.o.metrics?.transactions.inc({ result: included.code === 0 ? 'ok' : 'failed' });
    report.transactions++;
    const changes: { key: ClaimKey; change: ClaimChange }[] = [];
    let again = false;
    let line: string;
    const settled: StoredClaim[] = [];
    const outcome: TxResultEntry = { paid: [], unpaid: [], refused: [], again: [] };
    if (included.code === 0) {
      let paidTotal = 0n;
      let denom = '';
      let unpaid = 0;
      for (const m of messages) {
        const row = rowOf(m);
        if (!row) continue;
        const event = included.events.filter((e) => e.type === 'arkeo.arkeo.EventSettleContract').map(eventAttributes).find((a) => a.contract_id === String(m.contractId) && a.nonce === String(m.nonce));
        let paid = event && /^[0-9]+$/.test(event.paid ?? '') ? BigInt(event.paid!) : 0n;
        let reserve = event && /^[0-9]+$/.test(event.reserve ?? '') ? BigInt(event.reserve!) : reserveOf(paid);
        if (!event && row.chainPaid !== undefined) {
          // No event shown: contract.paid growing is the other proof of payment.
          const now = await this.o.chain.contract(m.contractId).catch(() => undefined);
          if (now && now.paid > row.chainPaid) {
            paid = now.paid - row.chainPaid;
            reserve = reserveOf(paid);
          }
        }
        if (paid > 0n) {
          const contract = await this.denomOf(m.contractId);
          denom = contract;
          paidTotal += paid - reserve;
          changes.push({ key: keyOf(row), change: { state: 'settled', paid, reserve, height: included.height } });
          outcome.paid.push(`${claimRef(row)}=${paid}${contract}`);
          settled.push(row);
          this.o.metrics?.claimsSettled.inc();
          this.o.metrics?.valueSettled.inc({ denom: contract }, Number(paid - reserve));
          if (contract === 'uarkeo') {
            this.unsettledValue = this.unsettledValue > paid - reserve ? this.unsettledValue - (paid - reserve) : 0n;
            this.o.metrics?.unsettledValue.set(Number(this.unsettledValue));
          }
        } else {
          unpaid++;
          outcome.unpaid.push(claimRef(row));
          changes.push({ key: keyOf(row), change: { state: 'unpaid', height: included.height, detail: event ? 'code 0 and EventSettleContract paid "0"' : 'code 0, no EventSettleContract, contract.paid unchanged' } });
        }
      }
      report.settled += settled.length;
      const contracts = listed(settled.map((c) => c.contractId));
      line = `tx ${tx.hash} height ${included.height}: ${settled.length} claim(s) settled${contracts ? ` (contracts ${contracts})` : ''}, the provider received ${paidTotal}${denom}, fee ${formatCoins(fee)}${unpaid ? `; ${unpaid} claim(s) paid nothing (unpaid)` : ''}`;
    } else if (included.codespace !== 'arkeo') {
      // Not a claim's doing (out of gas, a fee or balance rule in the block): every claim goes back as it was.
      report.failedTransactions++;
      for (const m of messages) {
        const row = rowOf(m);
        if (!row) continue;
        changes.push({ key: keyOf(row), change: { state: 'new', clearTx: true } });
        outcome.again.push(claimRef(row));
      }
      line = `tx ${tx.hash} height ${included.height} FAILED (code ${included.code}${included.codespace ? `, ${included.codespace}` : ''}): ${included.rawLog.slice(0, 300)}; fee ${formatCoins(fee)} charged; its ${changes.length} claim(s) are kept`;
      const advice = included.code === 11 && included.codespace === 'sdk' ? 'raise --gas or --gas-adjustment' : 'check the fee flags and the fee payer';
      const why = `a settlement transaction failed in its block for a reason of its own (code ${included.code}${included.codespace ? `, ${included.codespace}` : ''}): ${advice}; its claims are kept`;
      // The same settings would fail the same way: not a fee per cycle for it.
      this.paused = { until: Date.now() + 10 * this.o.intervalMs, why };
      problem(why);
    } else {
      report.failedTransactions++;
      const named = refusalOfLog(included.rawLog);
      const culprit = named.index !== undefined ? messages.find((m) => m.index === named.index) : undefined;
      const culpritRow = culprit ? rowOf(culprit) : undefined;
      let refusedText = '';
      for (const m of messages) {
        const row = rowOf(m);
        if (!row) continue;
        if (culpritRow && sameClaim(row, culpritRow)) {
          changes.push({ key: keyOf(row), change: { state: 'refused', reason: named.reason, detail: included.rawLog, clearTx: true } });
          outcome.refused.push(`${claimRef(row)}=${named.reason}`);
          this.o.metrics?.claimsRefused.inc({ reason: named.reason });
          report.refused++;
          refusedText = `; contract ${row.contractId} nonce ${row.nonce} refused (${named.reason})`;
        } else if (!culpritRow && (row.alone || messages.length === 1)) {
          // Alone in its transaction and still refused by the keeper: it is the one.
          changes.push({ key: keyOf(row), change: { state: 'refused', reason: named.reason, detail: included.rawLog, clearTx: true } });
          outcome.refused.push(`${claimRef(row)}=${named.reason}`);
          this.o.metrics?.claimsRefused.inc({ reason: named.reason });
          report.refused++;
          refusedText += `; contract ${row.contractId} nonce ${row.nonce} refused (${named.reason})`;
        } else {
          // The keeper did not say which one: each goes again in a transaction of its own.
          changes.push({ key: keyOf(row), change: { state: 'new', clearTx: true, ...(culpritRow ? {} : { alone: true }) } });
          outcome.again.push(claimRef(row));
          again = true;
        }
      }
      const retry = changes.filter((c) => c.change.state === 'new').length;
      line = `tx ${tx.hash} height ${included.height} FAILED (code ${included.code}, ${included.codespace}): ${included.rawLog.slice(0, 300)}; fee ${formatCoins(fee)} charged${refusedText}${retry ? `; ${retry} claim(s) sent again${culpritRow ? '' : ', each alone'}` : ''}`;
    }
    // In the audit log before the store: a crash in between reads the block again (an entry twice), never none.
    await this.o.audit?.included(tx, included, outcome);
    await store.updateClaims(changes);
    await store.update(tx.address, tx, 'included', { height: included.height, code: included.code });
    this.log('info', `settle: ${line}${tx.run !== store.run ? ' (sent by an earlier run, found by its hash)' : ''}`);
    // Cosmetic: the sentinel's claimed flag, for its own display. The chain is the record.
    await mapLimit(settled, 4, (c) => this.o.sentinel.markClaimed(c.contractId, c.nonce));
    return again;
  }

  private async denomOf(contractId: bigint): Promise<string> {
    const known = this.denoms.get(contractId);
    if (known !== undefined) return known;
    const c = await this.o.chain.contract(contractId).catch(() => undefined);
    const denom = c?.denom || 'uarkeo';
    this.denoms.set(contractId, denom);
    return denom;
  }
}
