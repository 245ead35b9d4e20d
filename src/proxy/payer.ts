import { watchExpiry } from './expiry.js';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { ArkeoSignerError } from '../errors.js';
import { PREFIXES, toBech32PubKey } from '../crypto/address.js';
import { equalBytes } from '../crypto/bytes.js';
import { LocalClaimSource, RemoteError, UnprovenNonceError, fetchSentinelClaim, proveStoredClaim, type ClaimSource, type PaidClaim } from '../claims/index.js';
import { maxNonceFor, type ContractTerms, type NonceStore } from '../nonces/store.js';
import type { VelocityLimits } from '../nonces/velocity.js';
import type { Signer } from '../signers/index.js';
import { peekStream } from '../http.js';
import { log } from '../log.js';
import type { ChainClient } from '../tx/chain.js';
import { fetchActiveContract, fetchMetadata, sentinelBase, sentinelErrorOf, sentinelVerdict, SentinelError, type ActiveContract, type SentinelVerdict } from './sentinel.js';
import type { ProxyMetrics } from './metrics.js';

/**
 * Pays for requests to one provider's service with one pay-as-you-go contract: the shared engine of
 * `arkeo-signer curl` and `arkeo-signer proxy`. It follows arkeo-claims.md §11 and §12:
 *
 * - one request at a time per contract, from taking the claim until the sentinel's response headers are in. The
 *   sentinel stores a claim before proxying and refuses `stored >= nonce`, and it may process requests from
 *   different connections in any order, so two claims of one contract in flight at once can arrive swapped and
 *   the lower one is refused with `400 bad nonce`. Once headers are back the claim is stored, so the body can
 *   stream while the next request goes out;
 * - each nonce is durable in the nonce store before its signature exists (ClaimSigner);
 * - a reply that says the sentinel did not consume the nonce (429, `tier: free`, 401, its own 500) keeps the
 *   signed claim for the next request instead of burning a new nonce: the chain bills rate × highest settled
 *   nonce, so every skipped nonce is paid for;
 * - `400 bad nonce (x/y)` (or a variant's `400 nonce must increase`): the refused nonce was not consumed. The
 *   sentinel's word is not enough to move our nonce (a provider is paid nonce × rate), so its stored claim is
 *   read from GET /claim/{cid}: when that claim, at y or above, is signed by our key (or a registered party of
 *   the contract), we move past it and retry once with a fresh claim (hence request bodies are buffered, up to
 *   the sentinel's 1 MiB cap); when it is not, the provider is lying and the contract is stopped;
 * - `402` from the sentinel or our own spend ceiling: stop signing for the contract and answer 402.
 */
export class PayerError extends ArkeoSignerError {}

export const MAX_REQUEST_BODY = 1024 * 1024;
/** The sentinel's own error replies are a line of text; bigger bodies came from the upstream and stream on. */
const MAX_VERDICT_BODY = 4096;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'arkauth', 'expect']);

export interface PayerOptions {
  /** Where claims come from: a ClaimSource (e.g. the key daemon's), or a Signer whose claims use `store`'s nonces. */
  claims: ClaimSource | Signer;
  /** Contract terms (rate, deposit, spend ceiling, parties) and, for a Signer, the nonces. */
  store: NonceStore;
  /** The sentinel's URL; only its origin is used. */
  sentinel: string;
  service: string;
  /** A contract id, or 'auto': find the active contract for this key and service (at the sentinel, or on `chain`). */
  contract: bigint | 'auto';
  /**
   * With 'auto': the chain node to ask for the active contract instead of the sentinel, whose route needs a hub it
   * may not have (v1.0.17 drops the connection then).
   */
  chain?: ChainClient;
  /**
   * Sign in the delegate's 4-part form. Default: as the contract's registered parties say (with 'auto': as the
   * contract found says).
   */
  delegate?: boolean;
  /** The key's name, shown in /healthz beside the contract (a pool's members each have their own). */
  keyName?: string;
  blockSize?: number;
  pubPrefix?: string;
  /** Spend velocity limits tightening the contract's own, for a Signer's claims (the daemon applies its token's). */
  contractVelocity?: VelocityLimits;
  metrics?: ProxyMetrics;
  /** Label for metrics and logs (the upstream's name in a config file). */
  name?: string;
  /** The socket's idle limit while a reply streams (default 30 s). */
  timeoutMs?: number;
  /**
   * Sign each contract's next claim while the current request is in flight, so a request waits only for a claim
   * that is already durable (and audited). A long-running proxy wants this; a one-shot `curl` does not (it would
   * sign a claim only to give it back). It costs one more nonce skipped per contract after `kill -9`.
   */
  prefetch?: boolean;
  /**
   * The most the sentinel may take to send response headers once a paid request is sent (default 10 s); a
   * request that waits in this contract's queue longer than this is answered 504 with nothing signed.
   */
  headersTimeoutMs?: number;
}

export interface OutgoingRequest {
  method: string;
  /** The path below /{service}, starting with "/", with its query. */
  path: string;
  headers: http.IncomingHttpHeaders | Record<string, string | string[] | undefined>;
  body: Buffer;
}

export type Consumed = 'yes' | 'no' | 'unknown';

export interface PaidReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The live response (stream it), or a body we read or made. */
  body: Readable | Buffer;
  contractId: bigint;
  /** The claim sent last (undefined when nothing was sent: the contract is stopped). */
  nonce?: bigint;
  tier?: string;
  consumed: Consumed;
  /** A 400 bad nonce was answered by a resync and one retry. */
  resynced: boolean;
  /** The claim was one the sentinel had refused unconsumed before, sent again. */
  reused: boolean;
}

type Stop = { code: 'CONTRACT_SPENT' | 'CONTRACT_EXPIRED' | 'PROVIDER_UNPROVEN_NONCE'; message: string };

/** One contract as /healthz shows it. */
export interface ContractState {
  contract: string;
  /** Why no more claims are signed for it (null: it pays). */
  stopped: Stop['code'] | null;
  last_nonce: string;
  max_nonce: string | null;
  /** Requests waiting for this contract's turn or sent and waiting for response headers. */
  pending: number;
  key?: string;
  pool?: string;
}

/** What the proxy and curl pay through: one contract (ContractPayer) or a pool of them (PoolPayer). */
export interface Payer {
  /** Label for metrics and logs. */
  readonly name: string;
  readonly base: string;
  /** The contracts that pay: this one, or a pool's members. */
  readonly payers: readonly ContractPayer[];
  send(req: OutgoingRequest): Promise<PaidReply>;
  sendUnpaid(req: OutgoingRequest): Promise<http.IncomingMessage>;
  contracts(): ContractState[];
  close(): Promise<void>;
}

export const HEADERS_TIMEOUT_MS = 10_000;

/** Drops an `arkauth` query parameter a client may have added: the proxy pays, and the sentinel reads the header first anyway. */
export function stripArkAuthQuery(path: string): string {
  const q = path.indexOf('?');
  if (q < 0 || !/(^|[?&])arkauth=/i.test(path.slice(q))) return path;
  const kept = path
    .slice(q + 1)
    .split('&')
    .filter((p) => !/^arkauth(=|$)/i.test(p));
  return path.slice(0, q) + (kept.length ? '?' + kept.join('&') : '');
}

/**
 * The sentinel's GET /active-contract/{service}/{spender}. Sentinel v1.0.17 proxies it to the hub it is configured
 * with (its arkeo-mainnet-fullnode service) and, without one, panics and drops the connection: say so, not "check
 * that the sentinel is up" (it answered /metadata.json a moment ago).
 */
async function activeAtSentinel(base: string, service: string, pub: Uint8Array, prefix: string): Promise<ActiveContract> {
  try {
    return await fetchActiveContract(base, service, pub, prefix);
  } catch (e) {
    if (e instanceof SentinelError && e.code === 'SENTINEL_UNREACHABLE' && e.context.read_failure !== 'timeout') {
      throw new SentinelError(
        'ACTIVE_CONTRACT_DROPPED',
        `the sentinel ${base} closed the connection on /active-contract/${service}/${toBech32PubKey(pub, prefix)}: sentinel v1.0.17 does this when it has no arkeo-mainnet-fullnode service configured; pass --node URL to find the contract on the chain, or --contract ID`,
      );
    }
    throw e;
  }
}

/** The chain's active contract between the sentinel's provider and this key, for the service. */
async function activeOnChain(chain: ChainClient, providerPub: string, service: string, pub: Uint8Array, prefix: string): Promise<ActiveContract> {
  const spender = toBech32PubKey(pub, prefix);
  // (ChainClient types its prefix parameter as the mainnet literal; any bech32 prefix works.)
  const c = await chain.activeContract(providerPub, service, spender, prefix as typeof PREFIXES.accountPub);
  if (!c) throw new PayerError('NO_CONTRACT', `no active contract on the chain (node ${chain.lcd}) between provider ${providerPub} and ${spender} for ${service}; open one (arkeo-signer contract open) or pass --contract ID`);
  // Asked by spender, so the answer is ours; checked anyway, as a contract we would pay for.
  if (!equalBytes(c.client, pub) && !(c.delegate && equalBytes(c.delegate, pub))) throw new PayerError('NO_CONTRACT', `node ${chain.lcd}: answered contract ${c.contractId}, which belongs to another client; not paying for it`);
  return { id: c.contractId, type: c.type, rate: c.rate, deposit: c.deposit, nonce: c.nonce, queriesPerMinute: c.queriesPerMinute ?? 0n, client: c.client, delegate: c.delegate };
}

function isClaimSource(c: ClaimSource | Signer): c is ClaimSource {
  return typeof (c as ClaimSource).raise === 'function';
}

export class ContractPayer implements Payer {
  readonly base: string;
  readonly name: string;
  private readonly agent: http.Agent;
  private spare: PaidClaim | undefined;
  /** The next claim, being signed while the current request is in flight (with `prefetch`). */
  private ahead: Promise<PaidClaim> | undefined;
  private stopped: Stop | undefined;
  private lastNonce = 0n;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private waiting = 0;

  /** The contract's expiry gauge, kept up to date while a chain node is given. */
  private expiry?: { stop(): void };

  private constructor(
    private readonly options: PayerOptions,
    readonly contractId: bigint,
    private readonly claims: ClaimSource,
    private terms: ContractTerms | undefined,
    private readonly delegate: boolean,
    readonly queriesPerMinute: bigint,
  ) {
    this.base = sentinelBase(options.sentinel);
    this.name = options.name ?? options.service;
    this.agent = this.base.startsWith('https:') ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  get address(): string {
    return this.claims.address;
  }

  get payers(): readonly ContractPayer[] {
    return [this];
  }

  /** Requests waiting for this contract's turn, or sent and waiting for response headers. */
  get pending(): number {
    return this.waiting;
  }

  /** No more claims are signed for this contract (spent, expired, or its provider named an unproven nonce). */
  get isStopped(): boolean {
    return this.stopped !== undefined;
  }

  /**
   * Resolve the contract (with 'auto': from the sentinel or the chain, registering its rate and deposit as the spend ceiling),
   * then move past the nonce the sentinel proves it holds (§12: on start). A sentinel that claims a nonce it
   * cannot prove leaves the payer open but stopped, so `/healthz` and the metrics say why.
   */
  static async open(options: PayerOptions): Promise<ContractPayer> {
    const base = sentinelBase(options.sentinel);
    const prefix = options.pubPrefix ?? PREFIXES.accountPub;
    const claims = isClaimSource(options.claims) ? options.claims : await LocalClaimSource.create(options.claims, options.store, { blockSize: options.blockSize ?? 1, pubPrefix: prefix, ...(options.contractVelocity ? { contractVelocity: options.contractVelocity } : {}) });
    try {
      const pub = claims.publicKey;
      let contractId: bigint;
      let delegate = false;
      let qpm = 0n;
      if (options.contract === 'auto') {
        const meta = await fetchMetadata(base, prefix);
        if (meta.services.length && !meta.services.includes(options.service)) {
          throw new SentinelError('UNKNOWN_SERVICE', `sentinel ${base} does not serve "${options.service}" (it serves ${meta.services.slice(0, 10).join(', ')})`);
        }
        const c = options.chain ? await activeOnChain(options.chain, meta.providerPubkey, options.service, pub, prefix) : await activeAtSentinel(base, options.service, pub, prefix);
        if (c.type !== 'PAY_AS_YOU_GO') throw new SentinelError('NOT_PAYG', `contract ${c.id} is ${c.type}, not PAY_AS_YOU_GO: nothing to pay per request`);
        if (c.rate === 0n) throw new SentinelError('SENTINEL_BAD_REPLY', `contract ${c.id}: rate 0`);
        contractId = c.id;
        // The sentinel checks a 3-part claim against contract.client; a delegate must name itself (4-part form).
        delegate = options.delegate ?? !equalBytes(c.client, pub);
        qpm = c.queriesPerMinute;
        // The contract's nonce as the sentinel reports the chain's is not used: only a signed claim proves a nonce.
        // The parties as the sentinel reports them are not registered either (they decide whose claims prove one);
        // as the chain reports them they are, as `claim contract add --lcd` does.
        const known = await options.store.getContract(c.id);
        const parties = options.chain ? { client: c.client, ...(c.delegate ? { delegate: c.delegate } : {}) } : { ...(known?.client ? { client: known.client } : {}), ...(known?.delegate ? { delegate: known.delegate } : {}) };
        await options.store.putContract({
          contractId: c.id,
          rate: c.rate,
          deposit: c.deposit,
          ...(known?.maxSpend !== undefined ? { maxSpend: known.maxSpend } : {}),
          ...(known?.maxSpendPerHour !== undefined ? { maxSpendPerHour: known.maxSpendPerHour } : {}),
          ...(known?.maxSpendPerDay !== undefined ? { maxSpendPerDay: known.maxSpendPerDay } : {}),
          ...parties,
          source: options.chain ? `${options.chain.lcd}/arkeo/active-contract` : `${base}/active-contract`,
        });
      } else {
        contractId = options.contract;
      }
      const terms = await options.store.getContract(contractId);
      if (!terms) log('warn', `contract ${contractId} has no registered rate/deposit: no local spend ceiling (the sentinel still stops at the deposit); use --contract auto or claim contract add`);
      // A contract id given as such: the registered parties say whether this key signs as the delegate.
      if (options.contract !== 'auto') delegate = options.delegate ?? (terms?.delegate !== undefined && equalBytes(terms.delegate, pub));
      const payer = new ContractPayer(options, contractId, claims, terms, delegate, qpm);
      if (options.chain && options.metrics) payer.expiry = watchExpiry(options.chain, contractId, { upstream: payer.name, contract: String(contractId) }, options.metrics);
      try {
        await payer.catchUp();
      } catch (e) {
        if (!(e instanceof UnprovenNonceError)) throw e;
        payer.stopUnproven(e);
      }
      const current = await claims.current(contractId);
      if (current > payer.lastNonce) payer.lastNonce = current;
      payer.updateGauges();
      return payer;
    } catch (e) {
      if (!isClaimSource(options.claims)) await claims.close().catch(() => {});
      throw e;
    }
  }

  get state(): ContractState {
    return {
      contract: String(this.contractId),
      stopped: this.stopped?.code ?? null,
      last_nonce: String(this.lastNonce),
      max_nonce: this.terms ? String(maxNonceFor(this.terms)) : null,
      pending: this.waiting,
      ...(this.options.keyName !== undefined ? { key: this.options.keyName } : {}),
    };
  }

  contracts(): ContractState[] {
    return [this.state];
  }

  private get labels() {
    return { upstream: this.name, contract: String(this.contractId) };
  }

  private updateGauges(): void {
    const m = this.options.metrics;
    if (!m) return;
    m.lastNonce.set(this.labels, Number(this.lastNonce));
    if (this.terms) {
      m.spendUsed.set(this.labels, Number(this.lastNonce * this.terms.rate));
      const limit = this.terms.maxSpend !== undefined && this.terms.maxSpend < this.terms.deposit ? this.terms.maxSpend : this.terms.deposit;
      m.spendCeiling.set(this.labels, Number(limit));
    }
    m.stopped.set(this.labels, this.stopped ? 1 : 0);
  }

  /**
   * The keys whose signature proves a nonce the sentinel holds: ours, and the contract's client and delegate as
   * the operator or the chain registered them (`claim contract add`, `--lcd`), never as the sentinel describes them.
   */
  private trustedKeys(): Uint8Array[] {
    return [this.claims.publicKey, this.terms?.client, this.terms?.delegate].filter((k): k is Uint8Array => k !== undefined);
  }

  /**
   * Read the claim the sentinel stored and, if a trusted key signed it, move past its nonce. `atLeast` is the y
   * of a `bad nonce (x/y)`. Returns the sentinel's nonce (proven when it was above ours). Throws
   * UnprovenNonceError when the sentinel cannot prove what it says, SentinelError when the claim cannot be read.
   */
  private async catchUp(atLeast?: bigint): Promise<bigint> {
    let stored;
    try {
      stored = await fetchSentinelClaim(this.base, this.contractId);
    } catch (e) {
      throw e instanceof RemoteError ? sentinelErrorOf(e) : e;
    }
    const proven = proveStoredClaim(stored, this.trustedKeys(), `the sentinel ${this.base}`, await this.claims.current(this.contractId), atLeast);
    if (!proven) return stored.nonce;
    await this.claims.raise(this.contractId, proven);
    if (proven.nonce > this.lastNonce) this.lastNonce = proven.nonce;
    return proven.nonce;
  }

  /** Pay for and send one request; resolves when the sentinel's response headers are in (the body may still stream). */
  send(req: OutgoingRequest): Promise<PaidReply> {
    // Requests take turns per contract; one that waits longer than a sentinel may take to answer is told so at
    // once (nothing signed for it) rather than when the request ahead finally gives up.
    const wait = this.options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    let abandoned = false;
    let started = false;
    let counted = true;
    this.waiting++;
    this.options.metrics?.pending.set(this.labels, this.waiting);
    // Counted until its headers are in (or it gives up): a pool sends the next request to the contract with fewest.
    const done = () => {
      if (!counted) return;
      counted = false;
      this.waiting--;
      this.options.metrics?.pending.set(this.labels, this.waiting);
    };
    const turn = this.queue.then(() => {
      if (abandoned) return undefined;
      started = true;
      return this.sendNow(req);
    });
    this.queue = turn.catch(() => {});
    return new Promise<PaidReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (started) return;
        abandoned = true;
        done();
        reject(new PayerError('SENTINEL_BUSY', `sentinel ${this.base}: the request ahead of this one on contract ${this.contractId} has had no answer for ${wait} ms; this one was not sent and nothing was signed for it`));
      }, wait);
      turn.then(
        (reply) => {
          clearTimeout(timer);
          done();
          if (reply) resolve(reply);
        },
        (e: unknown) => {
          clearTimeout(timer);
          done();
          if (!abandoned) reject(e);
        },
      );
    });
  }

  private stopReply(): PaidReply {
    const s = this.stopped!;
    const body = Buffer.from(JSON.stringify({ error: s.message, code: s.code, contract: String(this.contractId), last_nonce: String(this.lastNonce) }) + '\n');
    return { status: 402, headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, body, contractId: this.contractId, consumed: 'no', resynced: false, reused: false };
  }

  private stop(code: Stop['code'], message: string): PaidReply {
    if (!this.stopped) {
      this.stopped = { code, message };
      log(code === 'PROVIDER_UNPROVEN_NONCE' ? 'error' : 'warn', message);
    }
    this.spare = undefined;
    this.updateGauges();
    return this.stopReply();
  }

  /** The provider named a nonce it cannot prove: count it (the alert's metric) and sign nothing more here. */
  private stopUnproven(e: UnprovenNonceError): PaidReply {
    this.options.metrics?.unprovenNonces.inc(this.labels);
    if (!this.stopped) this.claims.reportUnproven?.(e).catch(() => {});
    return this.stop('PROVIDER_UNPROVEN_NONCE', `${e.message}; nothing more is signed for this contract: check the provider (and arkeo-signer nonce sync --lcd)`);
  }

  private async nextClaim(): Promise<{ claim: PaidClaim; reused: boolean } | PaidReply> {
    if (this.spare) {
      const claim = this.spare;
      this.spare = undefined;
      return { claim, reused: true };
    }
    try {
      return { claim: (await this.takeAhead()) ?? (await this.signClaim()), reused: false };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'SPEND_LIMIT') {
        return this.stop('CONTRACT_SPENT', `contract ${this.contractId} is spent as far as this signer goes: ${(e as Error).message.replace(/; nothing was signed$/, '')}; no more claims are signed for it (last nonce ${this.lastNonce})`);
      }
      // The key daemon checks the proof again (a token may not raise its own nonce) and may still refuse it.
      if (code === 'PROVIDER_UNPROVEN_NONCE') return this.stopUnproven(new UnprovenNonceError(this.contractId, this.lastNonce, (e as Error).message));
      throw e;
    }
  }

  private async signClaim(): Promise<PaidClaim> {
    const claim = await this.claims.sign(this.contractId, { delegate: this.delegate });
    this.options.metrics?.claimsSigned.inc(this.labels);
    return claim;
  }

  /**
   * With `prefetch`: start signing the claim after this one, unless the contract is stopped or closing, or the
   * claims come from a source that cannot take one back at a clean stop (the key daemon): there it would be lost.
   */
  private signAhead(): void {
    if (!this.options.prefetch || this.claims.takesBack === false || this.ahead || this.closed || this.stopped) return;
    const ahead = this.signClaim();
    ahead.catch(() => {}); // its failure is met (and signed again, fresh) by the request that takes it
    this.ahead = ahead;
  }

  /**
   * The claim signed ahead, if any. One that failed is dropped: the request signs its own now, so what it meets (a
   * spend limit, a velocity window, a store fault) is the state of now, not of when the claim was prepared.
   */
  private async takeAhead(above = 0n): Promise<PaidClaim | undefined> {
    const ahead = this.ahead;
    this.ahead = undefined;
    const claim = await ahead?.catch(() => undefined);
    // At or below a nonce the sentinel proved it holds, it would be refused: it is never billed, so just dropped.
    return claim && claim.nonce > above ? claim : undefined;
  }

  private async sendNow(req: OutgoingRequest): Promise<PaidReply> {
    if (this.closed) throw new PayerError('PAYER_CLOSED', 'shutting down; nothing was signed');
    if (this.stopped) return this.stopReply();
    if (req.body.length > MAX_REQUEST_BODY) throw new PayerError('BODY_TOO_LARGE', `request body larger than ${MAX_REQUEST_BODY} bytes (the sentinel's cap)`);
    let resynced = false;
    for (let attempt = 0; ; attempt++) {
      const next = await this.nextClaim();
      if (!('claim' in next)) return next;
      const { claim, reused } = next;
      let res: http.IncomingMessage;
      try {
        const sent = this.forward(req, claim.arkauth);
        // The next claim is signed once this request is on the wire (the agent hands it a socket on a later tick),
        // while the sentinel and upstream answer.
        setImmediate(() => this.signAhead());
        res = await sent;
      } catch (e) {
        // The claim may or may not have reached the claim store: it stays spent locally (never reused), and the
        // next request's claim is above it either way.
        this.lastNonce = claim.nonce;
        this.updateGauges();
        throw new PayerError('SENTINEL_UNREACHABLE', `sentinel ${this.base}: ${(e as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `ETIMEDOUT (${(e as Error).message})` : ((e as NodeJS.ErrnoException).code ?? (e as Error).message)} (contract ${this.contractId} nonce ${claim.nonce}, may or may not be consumed)`);
      }
      const status = res.statusCode ?? 502;
      const tier = typeof res.headers.tier === 'string' ? res.headers.tier : undefined;
      let body: Readable | Buffer = res;
      let verdict: SentinelVerdict | undefined;
      if ([400, 401, 402, 429, 500].includes(status)) {
        // The sentinel's own verdicts are a short line of text, whatever the framing (Content-Length or chunked);
        // a longer body came from the upstream and streams on untouched.
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (!(declared > MAX_VERDICT_BODY)) {
          const peeked = await peekStream(res, MAX_VERDICT_BODY);
          if (peeked.complete) {
            body = peeked.body;
            verdict = sentinelVerdict(status, peeked.body.toString('utf8'));
          } else body = peeked.rest;
        }
      }
      const reply = (consumed: Consumed): PaidReply => ({ status, headers: res.headers, body, contractId: this.contractId, nonce: claim.nonce, tier, consumed, resynced, reused });
      switch (verdict?.kind) {
        case 'bad-nonce': {
          // §12: the sentinel says it holds a nonce at least as high as ours (another client of the key, a lost
          // store). Our claim was not stored (not consumed, not spent); move past theirs, if they prove it.
          let proven: bigint;
          try {
            proven = await this.catchUp(verdict.stored);
          } catch (e) {
            if (e instanceof UnprovenNonceError) return this.stopUnproven(e);
            log('warn', `contract ${this.contractId}: sentinel refused nonce ${claim.nonce} as too low, and its stored claim cannot be read (${(e as Error).message}); not retrying: run arkeo-signer nonce sync`);
            return reply('no');
          }
          this.options.metrics?.resyncs.inc(this.labels);
          const ahead = await this.takeAhead(proven);
          if (ahead) this.ahead = Promise.resolve(ahead);
          log('warn', `contract ${this.contractId}: sentinel refused nonce ${claim.nonce}; it holds our claim at nonce ${proven}, so the next claim is above it${attempt === 0 ? '; retrying once' : ''}`);
          resynced = true;
          if (attempt === 0) continue;
          return reply('no');
        }
        case 'spent':
          return this.stop('CONTRACT_SPENT', `contract ${this.contractId} is spent: the sentinel answered "402 contract spent" to nonce ${claim.nonce} (deposit < nonce × rate); no more claims are signed for it`);
        case 'expired':
        case 'subscription-expired':
          return this.stop('CONTRACT_EXPIRED', `contract ${this.contractId} has expired: the sentinel answered "402 ${verdict.kind === 'expired' ? 'open a contract' : 'subscription contract expired'}"; open a new contract`);
        case 'rate-limited':
        case 'free-rate-limited':
        case 'not-served':
          this.spare = claim;
          this.options.metrics?.notConsumed.inc({ ...this.labels, reason: verdict.kind === 'not-served' ? `sentinel_${status}` : verdict.kind.replaceAll('-', '_') });
          if (status === 429 && res.headers['retry-after'] === undefined) {
            // The sentinel sends no Retry-After; its paid limit refills one request every 60 s / queries_per_minute.
            res.headers['retry-after'] = String(this.queriesPerMinute > 0n ? Math.max(1, Math.ceil(60 / Number(this.queriesPerMinute))) : 1);
          }
          return reply('no');
      }
      if (tier !== 'paid') {
        // §11 note: the sentinel could not look the contract up and served the free tier; no claim was stored.
        this.spare = claim;
        this.options.metrics?.notConsumed.inc({ ...this.labels, reason: 'tier_free' });
        return reply('no');
      }
      this.lastNonce = claim.nonce;
      this.updateGauges();
      return reply('yes');
    }
  }

  /**
   * A request the sentinel answers before any payment check (a CORS preflight, §11 row 1): sent without a claim,
   * outside the per-contract turn, so it costs no nonce.
   */
  sendUnpaid(req: OutgoingRequest): Promise<http.IncomingMessage> {
    return this.forward(req, undefined);
  }

  private forward(req: OutgoingRequest, arkauth: string | undefined): Promise<http.IncomingMessage> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k.toLowerCase())) continue;
      headers[k] = v;
    }
    if (arkauth !== undefined) headers.arkauth = arkauth;
    if (req.body.length || !['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(req.method)) headers['content-length'] = String(req.body.length);
    const url = new URL(this.base);
    const mod = url.protocol === 'https:' ? https : http;
    const headersTimeout = this.options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const r = mod.request(
        { host: url.hostname, port: url.port || (url.protocol === 'https:' ? 443 : 80), method: req.method, path: `/${this.options.service}${stripArkAuthQuery(req.path)}`, headers, agent: this.agent, timeout: this.options.timeoutMs ?? 30_000 },
        (res) => {
          clearTimeout(noHeaders);
          resolve(res);
        },
      );
      // Time to response headers is its own, shorter limit: a sentinel that accepts and then hangs holds the
      // contract's turn, and every request queued behind it, only this long.
      const noHeaders = setTimeout(() => r.destroy(Object.assign(new Error(`no response headers within ${headersTimeout} ms`), { code: 'ETIMEDOUT' })), headersTimeout);
      r.on('timeout', () => r.destroy(Object.assign(new Error('no data in time'), { code: 'ETIMEDOUT' })));
      r.on('error', (e) => {
        clearTimeout(noHeaders);
        reject(e);
      });
      r.end(req.body);
    });
  }

  /** Wait for requests in flight, give back unconsumed claims and the rest of a nonce block, and stop. */
  async close(): Promise<void> {
    this.closed = true;
    this.expiry?.stop();
    await this.queue;
    const ahead = await this.takeAhead();
    const spare = this.spare;
    this.spare = undefined;
    // The rest of a held block goes back first, so the store's mark can come down to the claims signed ahead and
    // held; each goes back only if nothing was reserved after it (compare-and-set, never below the floor), the
    // higher first. The sentinel never stored them, so their nonces may be handed out again.
    await this.claims.close();
    for (const claim of [ahead, spare]) if (claim) await this.claims.giveBack(claim);
    this.agent.destroy();
  }
}
