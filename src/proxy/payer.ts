import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { ArkeoSignerError } from '../errors.js';
import { PREFIXES, toAddress } from '../crypto/address.js';
import { equalBytes } from '../crypto/bytes.js';
import { ClaimPolicyError, ClaimSigner, type SignedClaim } from '../claims/index.js';
import { NonceStoreError, maxNonceFor, type ContractTerms, type NonceStore } from '../nonces/store.js';
import type { Signer } from '../signers/index.js';
import { log } from '../log.js';
import { fetchActiveContract, fetchMetadata, fetchStoredNonce, sentinelBase, sentinelVerdict, SentinelError, type SentinelVerdict } from './sentinel.js';
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
 * - `400 bad nonce (x/y)`: raise the store to y and retry once with a fresh claim (hence request bodies are
 *   buffered, up to the sentinel's 1 MiB cap); a variant's `400 nonce must increase` likewise, y read from
 *   GET /claim/{cid}. Either way the refused nonce was not consumed;
 * - `402` from the sentinel or our own spend ceiling: stop signing for the contract and answer 402.
 */
export class PayerError extends ArkeoSignerError {}

export const MAX_REQUEST_BODY = 1024 * 1024;
/** The sentinel's own error replies are a line of text; bigger bodies came from the upstream and stream on. */
const MAX_VERDICT_BODY = 4096;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'arkauth', 'expect']);

export interface PayerOptions {
  signer: Signer;
  store: NonceStore;
  /** The sentinel's URL; only its origin is used. */
  sentinel: string;
  service: string;
  /** A contract id, or 'auto': find the active contract for this key and service at the sentinel. */
  contract: bigint | 'auto';
  blockSize?: number;
  pubPrefix?: string;
  metrics?: ProxyMetrics;
  /** Label for metrics and logs (the upstream's name in a config file). */
  name?: string;
  timeoutMs?: number;
  /**
   * The most a `400 bad nonce (x/y)` may move us forward (y − x; default 1,000). The provider is paid y × rate
   * for a settled nonce y, so a sentinel that names a huge y must not be believed blindly: above this the
   * contract is stopped with the reason, for the operator to check and `nonce sync`.
   */
  maxResyncJump?: bigint;
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

type Stop = { code: 'CONTRACT_SPENT' | 'CONTRACT_EXPIRED' | 'RESYNC_TOO_FAR'; message: string };

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

export class ContractPayer {
  readonly base: string;
  readonly name: string;
  private readonly agent: http.Agent;
  private spare: SignedClaim | undefined;
  private stopped: Stop | undefined;
  private lastNonce = 0n;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly options: PayerOptions,
    readonly contractId: bigint,
    readonly address: string,
    private readonly claims: ClaimSigner,
    private terms: ContractTerms | undefined,
    private readonly delegate: boolean,
    readonly queriesPerMinute: bigint,
  ) {
    this.base = sentinelBase(options.sentinel);
    this.name = options.name ?? options.service;
    this.agent = this.base.startsWith('https:') ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  /**
   * Resolve the contract (with 'auto': from the sentinel, registering its rate and deposit as the spend ceiling),
   * then bring the nonce store up to what the sentinel has stored and the chain has settled (§12: on start).
   */
  static async open(options: PayerOptions): Promise<ContractPayer> {
    const base = sentinelBase(options.sentinel);
    const prefix = options.pubPrefix ?? PREFIXES.accountPub;
    const pub = await options.signer.publicKey();
    const address = toAddress(pub);
    let contractId: bigint;
    let delegate = false;
    let qpm = 0n;
    let chainNonce = 0n;
    if (options.contract === 'auto') {
      const meta = await fetchMetadata(base, prefix);
      if (meta.services.length && !meta.services.includes(options.service)) {
        throw new SentinelError('UNKNOWN_SERVICE', `sentinel ${base} does not serve "${options.service}" (it serves ${meta.services.slice(0, 10).join(', ')})`);
      }
      const c = await fetchActiveContract(base, options.service, pub, prefix);
      if (c.type !== 'PAY_AS_YOU_GO') throw new SentinelError('NOT_PAYG', `contract ${c.id} is ${c.type}, not PAY_AS_YOU_GO: nothing to pay per request`);
      if (c.rate === 0n) throw new SentinelError('SENTINEL_BAD_REPLY', `contract ${c.id}: rate 0`);
      contractId = c.id;
      // The sentinel checks a 3-part claim against contract.client; a delegate must name itself (4-part form).
      delegate = !equalBytes(c.client, pub);
      qpm = c.queriesPerMinute;
      chainNonce = c.nonce;
      const known = await options.store.getContract(c.id);
      await options.store.putContract({ contractId: c.id, rate: c.rate, deposit: c.deposit, ...(known?.maxSpend !== undefined ? { maxSpend: known.maxSpend } : {}), source: `${base}/active-contract` });
    } else {
      contractId = options.contract;
    }
    const stored = await fetchStoredNonce(base, contractId);
    const floor = stored > chainNonce ? stored : chainNonce;
    if (floor > 0n) await options.store.raise(contractId, address, floor);
    const terms = await options.store.getContract(contractId);
    if (!terms) log('warn', `contract ${contractId} has no registered rate/deposit: no local spend ceiling (the sentinel still stops at the deposit); use --contract auto or claim contract add`);
    const claims = await ClaimSigner.create(options.signer, options.store, { blockSize: options.blockSize ?? 1, pubPrefix: prefix });
    const payer = new ContractPayer(options, contractId, address, claims, terms, delegate, qpm);
    payer.lastNonce = await options.store.current(contractId, address);
    payer.updateGauges();
    return payer;
  }

  get state() {
    return { contract: String(this.contractId), stopped: this.stopped?.code ?? null, last_nonce: String(this.lastNonce), max_nonce: this.terms ? String(maxNonceFor(this.terms)) : null };
  }

  private updateGauges(): void {
    const m = this.options.metrics;
    if (!m) return;
    const labels = { upstream: this.name, contract: String(this.contractId) };
    m.lastNonce.set(labels, Number(this.lastNonce));
    if (this.terms) {
      m.spendUsed.set(labels, Number(this.lastNonce * this.terms.rate));
      const limit = this.terms.maxSpend !== undefined && this.terms.maxSpend < this.terms.deposit ? this.terms.maxSpend : this.terms.deposit;
      m.spendCeiling.set(labels, Number(limit));
    }
    m.stopped.set(labels, this.stopped ? 1 : 0);
  }

  /** Pay for and send one request; resolves when the sentinel's response headers are in (the body may still stream). */
  send(req: OutgoingRequest): Promise<PaidReply> {
    const turn = this.queue.then(() => this.sendNow(req));
    this.queue = turn.catch(() => {});
    return turn;
  }

  private stopReply(): PaidReply {
    const s = this.stopped!;
    const body = Buffer.from(JSON.stringify({ error: s.message, code: s.code, contract: String(this.contractId), last_nonce: String(this.lastNonce) }) + '\n');
    return { status: 402, headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, body, contractId: this.contractId, consumed: 'no', resynced: false, reused: false };
  }

  private stop(code: Stop['code'], message: string): PaidReply {
    if (!this.stopped) {
      this.stopped = { code, message };
      log('warn', message);
    }
    this.spare = undefined;
    this.updateGauges();
    return this.stopReply();
  }

  private async nextClaim(): Promise<{ claim: SignedClaim; reused: boolean } | PaidReply> {
    if (this.spare) {
      const claim = this.spare;
      this.spare = undefined;
      return { claim, reused: true };
    }
    try {
      const claim = await this.claims.signClaim(this.contractId, { delegate: this.delegate });
      this.options.metrics?.claimsSigned.inc({ upstream: this.name, contract: String(this.contractId) });
      return { claim, reused: false };
    } catch (e) {
      if ((e instanceof ClaimPolicyError || e instanceof NonceStoreError) && e.code === 'SPEND_LIMIT') {
        return this.stop('CONTRACT_SPENT', `contract ${this.contractId} is spent as far as this signer goes: ${e.message.replace(/; nothing was signed$/, '')}; no more claims are signed for it (last nonce ${this.lastNonce})`);
      }
      throw e;
    }
  }

  private async sendNow(req: OutgoingRequest): Promise<PaidReply> {
    if (this.closed) throw new PayerError('PAYER_CLOSED', 'shutting down; nothing was signed');
    if (this.stopped) return this.stopReply();
    if (req.body.length > MAX_REQUEST_BODY) throw new PayerError('BODY_TOO_LARGE', `request body larger than ${MAX_REQUEST_BODY} bytes (the sentinel's cap)`);
    const labels = { upstream: this.name, contract: String(this.contractId) };
    let resynced = false;
    for (let attempt = 0; ; attempt++) {
      const next = await this.nextClaim();
      if (!('claim' in next)) return next;
      const { claim, reused } = next;
      let res: http.IncomingMessage;
      try {
        res = await this.forward(req, claim.arkauth);
      } catch (e) {
        // The claim may or may not have reached the claim store: it stays spent locally (never reused), and the
        // next request's claim is above it either way.
        this.lastNonce = claim.nonce;
        this.updateGauges();
        throw new PayerError('SENTINEL_UNREACHABLE', `sentinel ${this.base}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (contract ${this.contractId} nonce ${claim.nonce}, may or may not be consumed)`);
      }
      const status = res.statusCode ?? 502;
      const tier = typeof res.headers.tier === 'string' ? res.headers.tier : undefined;
      let body: Readable | Buffer = res;
      let verdict: SentinelVerdict | undefined;
      const length = Number(res.headers['content-length'] ?? NaN);
      if ([400, 401, 402, 429, 500].includes(status) && Number.isInteger(length) && length <= MAX_VERDICT_BODY) {
        body = await readAll(res);
        verdict = sentinelVerdict(status, body.toString('utf8'));
      }
      const reply = (consumed: Consumed): PaidReply => ({ status, headers: res.headers, body, contractId: this.contractId, nonce: claim.nonce, tier, consumed, resynced, reused });
      switch (verdict?.kind) {
        case 'bad-nonce': {
          // §12: the sentinel holds a higher nonce than we do (another client of the key, a lost store). Our claim
          // was not stored (not consumed, not spent); jump past theirs and try once more.
          this.options.metrics?.resyncs.inc(labels);
          let stored = verdict.stored;
          if (stored === undefined) {
            // The reply does not say which nonce the sentinel holds: ask it (§7.1).
            try {
              stored = await fetchStoredNonce(this.base, this.contractId);
            } catch (e) {
              log('warn', `contract ${this.contractId}: sentinel refused nonce ${claim.nonce} as too low, and its stored nonce cannot be read (${(e as Error).message}); not retrying: run arkeo-signer nonce sync`);
              return reply('no');
            }
          }
          const limit = this.options.maxResyncJump ?? 1000n;
          if (stored - claim.nonce > limit) {
            return this.stop('RESYNC_TOO_FAR', `contract ${this.contractId}: the sentinel says it holds nonce ${stored}, ${stored - claim.nonce} above ours (${claim.nonce}); more than ${limit}, so not jumping there (a settled nonce is paid as nonce × rate): check the contract, then arkeo-signer nonce sync`);
          }
          await this.options.store.raise(this.contractId, this.address, stored);
          log('warn', `contract ${this.contractId}: sentinel refused nonce ${claim.nonce} (it holds ${stored}); nonce store raised to ${stored}${attempt === 0 ? ', retrying once' : ''}`);
          if (stored > this.lastNonce) this.lastNonce = stored;
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
          this.options.metrics?.notConsumed.inc({ ...labels, reason: verdict.kind === 'not-served' ? `sentinel_${status}` : verdict.kind.replaceAll('-', '_') });
          if (status === 429 && res.headers['retry-after'] === undefined) {
            // The sentinel sends no Retry-After; its paid limit refills one request every 60 s / queries_per_minute.
            res.headers['retry-after'] = String(this.queriesPerMinute > 0n ? Math.max(1, Math.ceil(60 / Number(this.queriesPerMinute))) : 1);
          }
          return reply('no');
      }
      if (tier !== 'paid') {
        // §11 note: the sentinel could not look the contract up and served the free tier; no claim was stored.
        this.spare = claim;
        this.options.metrics?.notConsumed.inc({ ...labels, reason: 'tier_free' });
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
    return new Promise((resolve, reject) => {
      const r = mod.request(
        { host: url.hostname, port: url.port || (url.protocol === 'https:' ? 443 : 80), method: req.method, path: `/${this.options.service}${stripArkAuthQuery(req.path)}`, headers, agent: this.agent, timeout: this.options.timeoutMs ?? 30_000 },
        resolve,
      );
      r.on('timeout', () => r.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
      r.on('error', reject);
      r.end(req.body);
    });
  }

  /** Wait for requests in flight, give back an unconsumed claim and the rest of a nonce block, and stop. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const spare = this.spare;
    this.spare = undefined;
    // The rest of a held block goes back first, so the store's mark can come down to the spare claim's nonce.
    await this.claims.close();
    // The sentinel never stored this nonce, so it may be handed out again; compare-and-set, never below the floor.
    if (spare) await this.options.store.giveBack(this.contractId, this.address, spare.nonce, spare.nonce - 1n).catch(() => false);
    this.agent.destroy();
  }
}

function readAll(res: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}
