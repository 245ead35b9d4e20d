import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bech32 } from '@scure/base';

/**
 * SENTINEL-RULES TEST SERVER: our own code, not Arkeo's sentinel. No Arkeo sentinel can run on this machine, so
 * this server implements, from arkeo-claims.md, what a paying client meets at sentinel v1.0.17:
 *  - §11: the auth checks in their order (parse → subscription expiry → empty signature → service mismatch →
 *    paidTier: lookup, expiry, deposit, rate limit, signature, nonce, claim store → free-tier fallthrough), with
 *    the exact status codes and bodies (`http.Error`: text/plain, message + "\n"; JSON `{"error":…}` for
 *    "could not find service"), and the `tier` header set as soon as the paid branch is entered (so it is also on
 *    paid-branch errors);
 *  - §7: /metadata.json, /active-contract/{service}/{spender}, /claim/{id} (a zero-valued claim when none), one
 *    claim record per contract;
 *  - its quirks: the claim is stored BEFORE proxying (so 502 and "could not find service" consume the nonce), an
 *    unknown contract is served as free tier, no Retry-After on 429, the arkauth header is forwarded upstream;
 *  - requests from different connections are processed in any order: `jitterMs` makes each request wait a
 *    random time before its checks, as Go's goroutines interleave.
 * Signatures are verified with @noble/curves directly (not with the code under test): Sign(pre) or
 * Sign(sha256(pre)), low-S only, pre = "<cid>:<nonce>:". The Keccak branches are left out (we never sign them).
 * Behind it runs a real upstream: a small JSON-RPC server, also ours (startJsonRpcUpstream).
 */
export interface RulesContract {
  id: bigint;
  service: string;
  client: Uint8Array;
  delegate?: Uint8Array;
  type: 'PAY_AS_YOU_GO' | 'SUBSCRIPTION';
  rate: bigint;
  deposit: bigint;
  queriesPerMinute: number;
  expired?: boolean;
  /** Settled on chain. */
  nonce?: bigint;
}

export interface StoredClaim {
  contractId: bigint;
  nonce: bigint;
  signature: string;
  spender: Uint8Array;
}

/** Every request that reached the paid branch, in the order the checks ran. */
export interface PaidEvent {
  contractId: bigint;
  nonce: bigint;
  status: number;
  body: string;
}

export interface SentinelRules {
  url: string;
  providerPubkey: Uint8Array;
  contracts: Map<bigint, RulesContract>;
  claims: Map<bigint, StoredClaim>;
  /** Every claim accepted (stored), in order, per contract. */
  accepted: StoredClaim[];
  events: PaidEvent[];
  faults: {
    jitterMs: number;
    /** Contract ids whose paidTier lookup fails (500); the earlier lookup succeeds. */
    lookupError: Set<bigint>;
    storeFails: boolean;
    /** An intermediary that rewrites the arkauth value on the way in. */
    mangle?: (value: string) => string;
    /**
     * A sentinel variant's wording of the nonce refusal (still 400, still before the claim store, so still not
     * consumed). v1.0.17, and every version in arkeonetwork/arkeo's history, says `bad nonce (<sent>/<stored>)`.
     */
    badNonceBody?: (sent: bigint, stored: bigint) => string;
    freeRateLimit: number;
    /**
     * A LYING PROVIDER: before each paid claim's nonce check, the stored claim's nonce is raised by this much
     * without a new signature (it keeps the one over the old nonce), so every claim gets `bad nonce (x/y)` with
     * a y nobody signed, and GET /claim/{cid} answers y. Repeated on every request.
     */
    inflateNonce?: bigint;
    /** Its own error replies go out chunked, without Content-Length (Go does this for larger bodies, or a proxy in front may). */
    chunkedErrors?: boolean;
    /**
     * GET /claim/{cid} misbehaves: a redirect to `redirectTo`, an endless chunked reply, an oversized JSON reply
     * without Content-Length, or no answer at all.
     */
    claimRoute?: { kind: 'redirect'; to: string } | { kind: 'endless' } | { kind: 'oversized'; bytes: number } | { kind: 'hang' };
    /** Paid requests are accepted and then never answered (no response headers), as a hung sentinel does. */
    hangPaid?: boolean;
    /**
     * GET /active-contract/… drops the connection without a reply: sentinel v1.0.17 without an
     * arkeo-mainnet-fullnode service proxies it to a nil target, panics, and Go's server closes the connection.
     */
    dropActiveContract?: boolean;
  };
  upstream: JsonRpcUpstream;
  /** Services this sentinel's registry knows; a request for another name gets "could not find service" after auth. */
  services: Map<string, string>;
  /** The provider's settlement routes: /claims, /open-claims, /mark-claimed (settlementApi below). */
  settlement: SettlementApi;
  close(): Promise<void>;
}

const PREFIX = 'arkeopub';
const AMINO = Uint8Array.from([0xeb, 0x5a, 0xe9, 0x87, 0x21]);

export function bech32Pub(pub: Uint8Array, prefix = PREFIX): string {
  const data = new Uint8Array(AMINO.length + pub.length);
  data.set(AMINO);
  data.set(pub, AMINO.length);
  return bech32.encode(prefix, bech32.toWords(data), 1000);
}

function parseBech32Pub(text: string, prefix = PREFIX): Uint8Array {
  const d = bech32.decode(text as `${string}1${string}`, 1000);
  if (d.prefix !== prefix) throw new Error(`invalid Bech32 prefix; expected ${prefix}, got ${d.prefix}`);
  const bytes = bech32.fromWords(d.words);
  if (bytes.length !== 38) throw new Error('invalid pubkey length');
  return Uint8Array.from(bytes.slice(5));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Cosmos VerifySignature on msg: 64-byte r||s, low-S, over SHA-256(msg). */
export function cosmosVerify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  try {
    return secp256k1.verify(sig, sha256(msg), pub, { prehash: false, lowS: true });
  } catch {
    return false;
  }
}

/** A sentinel error line with Content-Length, as `http.Error` sends it. */
function plainError(res: http.ServerResponse, status: number, message: string): void {
  const body = message + '\n';
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The same line, chunked: no Content-Length. */
function chunkedError(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  res.write(message);
  res.end('\n');
}

/** A claim as a client with `privateKey` signs it (Sign(pre), low-S): what another process with the same key leaves at the sentinel. */
export function claimSignedBy(privateKey: Uint8Array, contractId: bigint, nonce: bigint): StoredClaim {
  const pre = new TextEncoder().encode(`${contractId}:${nonce}:`);
  const signature = secp256k1.sign(sha256(pre), privateKey, { prehash: false, lowS: true, format: 'compact' });
  return { contractId, nonce, signature: hex(signature), spender: secp256k1.getPublicKey(privateKey, true) };
}

function respondJson(res: http.ServerResponse, status: number, obj: unknown): void {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Go's strconv errors, as the sentinel echoes them. */
function parseUint(s: string): bigint {
  if (!/^[0-9]+$/.test(s)) throw new Error(`strconv.ParseUint: parsing "${s}": invalid syntax`);
  return BigInt(s);
}
function parseInt64(s: string): bigint {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new Error(`strconv.ParseInt: parsing "${s}": invalid syntax`);
  return BigInt(s);
}
function parseSig(s: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error(`encoding/hex: invalid byte: U+00${s.charCodeAt(Math.max(0, s.search(/[^0-9a-fA-F]/))).toString(16).toUpperCase()}`);
  return Uint8Array.from(Buffer.from(s, 'hex'));
}

interface ArkAuth {
  contractId: bigint;
  spender?: Uint8Array;
  nonce: bigint;
  signature: Uint8Array;
}

/** parseArkAuth: SplitN(raw, ":", 4). */
function parseArkAuth(raw: string): ArkAuth {
  const parts = raw.split(':');
  const head = parts.slice(0, 3);
  const split = parts.length > 4 ? [...head, parts.slice(3).join(':')] : parts;
  if (split.length === 1) return { contractId: parseUint(split[0]!), nonce: 0n, signature: new Uint8Array() };
  if (split.length === 3) return { contractId: parseUint(split[0]!), nonce: parseInt64(split[1]!), signature: parseSig(split[2]!) };
  if (split.length === 4) return { contractId: parseUint(split[0]!), spender: parseBech32Pub(split[1]!), nonce: parseInt64(split[2]!), signature: parseSig(split[3]!) };
  throw new Error('invalid arkauth format');
}

class Limiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  allow(key: string, perMinute: number): boolean {
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.at) / 60_000) * perMinute);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

export async function startSentinelRules(
  options: {
    provider?: Uint8Array;
    services?: string[];
    /**
     * How a claim's signature is checked: Cosmos VerifySignature (over SHA-256(msg)). Default cosmosVerify
     * (@noble/curves, never the code under test); a benchmark that must not be bound by this server's CPU may
     * pass a faster one.
     */
    verify?: (pub: Uint8Array, msg: Uint8Array, sig: Uint8Array) => boolean;
  } = {},
): Promise<SentinelRules> {
  const verify = options.verify ?? cosmosVerify;
  const upstream = await startJsonRpcUpstream();
  const providerPubkey = options.provider ?? secp256k1.getPublicKey(sha256(new TextEncoder().encode('sentinel-rules provider')), true);
  const services = new Map<string, string>((options.services ?? ['eth-mainnet-fullnode']).map((s) => [s, upstream.url]));
  const contracts = new Map<bigint, RulesContract>();
  const claims = new Map<bigint, StoredClaim>();
  const accepted: StoredClaim[] = [];
  const events: PaidEvent[] = [];
  const faults: SentinelRules['faults'] = { jitterMs: 0, lookupError: new Set(), storeFails: false, freeRateLimit: 1_000_000 };
  const limiter = new Limiter();
  const hung = new Set<http.ServerResponse>();
  const httpError = (res: http.ServerResponse, status: number, message: string) => (faults.chunkedErrors ? chunkedError(res, status, message) : plainError(res, status, message));

  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'POST, GET, OPTIONS, PUT, DELETE', 'access-control-allow-headers': 'Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization', 'access-control-max-age': '3600' };

  function contractJson(c: RulesContract) {
    return {
      provider: bech32Pub(providerPubkey),
      service: 1,
      client: bech32Pub(c.client),
      delegate: c.delegate ? bech32Pub(c.delegate) : '',
      type: c.type,
      height: '100',
      duration: '1000000',
      rate: { denom: 'uarkeo', amount: String(c.rate) },
      deposit: String(c.deposit),
      paid: '0',
      nonce: String(c.nonce ?? 0n),
      settlement_height: '0',
      id: String(c.id),
      settlement_duration: '10',
      authorization: 'STRICT',
      queries_per_minute: String(c.queriesPerMinute),
    };
  }

  function proxyUpstream(req: http.IncomingMessage, res: http.ServerResponse, service: string, tier: string): void {
    const target = services.get(service);
    if (!target) return respondJson(res, 400, { error: 'could not find service' });
    const u = new URL(target);
    const url = new URL(req.url ?? '/', 'http://x');
    url.searchParams.delete('arkauth');
    const path = url.pathname.replace(new RegExp(`^/${service}`), '') || '/';
    const headers = { ...req.headers, host: u.host };
    const up = http.request({ host: u.hostname, port: u.port, method: req.method, path: path + url.search, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, { ...r.headers, tier });
      r.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) httpError(res, 502, `Proxy error: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
      else res.destroy();
    });
    req.pipe(up);
  }

  function freeTier(req: http.IncomingMessage, res: http.ServerResponse, service: string, remote: string): void {
    if (!limiter.allow(`0-${remote}`, faults.freeRateLimit)) return httpError(res, 429, 'free client is rate limited (Too Many Requests)');
    res.setHeader('tier', 'free');
    proxyUpstream(req, res, service, 'free');
  }

  async function catchAll(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const headerAuth = req.headers.arkauth;
    let raw = typeof headerAuth === 'string' && headerAuth !== '' ? headerAuth : url.searchParams.has('arkauth') ? url.searchParams.get('arkauth')! : undefined;
    if (raw !== undefined && faults.mangle) raw = faults.mangle(raw);
    const service = (req.headers.arkservice as string | undefined) ?? url.pathname.split('/')[1] ?? '';
    const remote = (req.headers['x-real-ip'] as string | undefined) ?? (req.headers['x-forwarded-for'] as string | undefined) ?? req.socket.remoteAddress ?? '';
    if (raw === undefined) return freeTier(req, res, service, remote);
    let aa: ArkAuth;
    try {
      aa = parseArkAuth(raw);
    } catch (e) {
      return httpError(res, 400, (e as Error).message);
    }
    // Requests from different connections run concurrently in Go: let them interleave here.
    if (faults.jitterMs > 0) await new Promise((r) => setTimeout(r, Math.random() * faults.jitterMs));
    const contract = contracts.get(aa.contractId);
    if (!contract) return freeTier(req, res, service, remote); // hub outage or unknown id: silently free tier
    if (contract.type === 'SUBSCRIPTION' && contract.expired) return httpError(res, 402, 'subscription contract expired');
    if (contract.type === 'PAY_AS_YOU_GO' && aa.signature.length === 0) return httpError(res, 401, 'Signature required for pay-as-you-go contracts');
    if (services.has(service) && service !== contract.service) return httpError(res, 401, 'Service mismatch');
    const eligible = aa.nonce > 0n && aa.signature.length <= 100;
    if (!eligible) {
      if (contract.type === 'PAY_AS_YOU_GO') return httpError(res, 401, 'Pay-as-you-go contracts do not fall through to free tier.');
      return freeTier(req, res, service, remote);
    }
    // paidTier
    res.setHeader('tier', 'paid');
    const record = (status: number, body: string) => events.push({ contractId: aa.contractId, nonce: aa.nonce, status, body });
    const fail = (status: number, message: string) => (record(status, message), httpError(res, status, message));
    if (faults.lookupError.has(aa.contractId)) return fail(500, 'internal server error: contract lookup failed');
    if (contract.expired) return fail(402, 'open a contract');
    if (contract.deposit < aa.nonce * contract.rate) return fail(402, 'contract spent');
    if (!limiter.allow(`${aa.contractId}-${remote}`, contract.queriesPerMinute)) return fail(429, 'paid client is rate limited (Too Many Requests)');
    const spender = aa.spender ?? contract.client;
    const pre = new TextEncoder().encode(`${aa.contractId}:${aa.nonce}:`);
    if (!verify(spender, sha256(pre), aa.signature) && !verify(spender, pre, aa.signature)) return fail(401, 'invalid signature for client');
    if (faults.inflateNonce !== undefined) {
      const was = claims.get(aa.contractId);
      claims.set(aa.contractId, { contractId: aa.contractId, nonce: (was?.nonce ?? aa.nonce) + faults.inflateNonce, signature: was?.signature ?? '', spender });
    }
    const stored = claims.get(aa.contractId);
    if (stored && stored.nonce >= aa.nonce) return fail(400, faults.badNonceBody ? faults.badNonceBody(aa.nonce, stored.nonce) : `bad nonce (${aa.nonce}/${stored.nonce})`);
    if (faults.storeFails) return fail(500, 'internal server error: leveldb: closed');
    const claim = { contractId: aa.contractId, nonce: aa.nonce, signature: hex(aa.signature), spender };
    claims.set(aa.contractId, claim);
    accepted.push(claim);
    record(0, 'stored');
    if (faults.hangPaid) {
      hung.add(res);
      return;
    }
    proxyUpstream(req, res, service, 'paid');
  }

  const settlement = settlementApi(claims, providerPubkey, (id) => contracts.get(id)?.expired === true);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sentinel');
    if (settlement.handle(req, res, url)) return;
    if (req.method === 'OPTIONS') {
      res.writeHead(200, cors);
      return res.end();
    }
    if (url.pathname === '/metadata.json') {
      return respondJson(res, 200, {
        version: 'sentinel-rules-test',
        config: { moniker: 'rules', provider_pubkey: bech32Pub(providerPubkey), free_tier_rate_limit: faults.freeRateLimit, services: [...services.keys()].map((name, i) => ({ name, id: String(i + 1), type: 'test' })) },
      });
    }
    let m = /^\/active-contract\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (m && faults.dropActiveContract) return void req.socket.destroy();
    if (m) {
      let spender: Uint8Array;
      try {
        spender = parseBech32Pub(m[2]!);
      } catch {
        return respondJson(res, 400, { code: 3, message: 'invalid spender', details: [] });
      }
      const c = [...contracts.values()].find((c) => c.service === m![1] && !c.expired && (hex(c.client) === hex(spender) || (c.delegate && hex(c.delegate) === hex(spender))));
      return c ? respondJson(res, 200, { contract: contractJson(c) }) : respondJson(res, 404, { code: 5, message: 'not found', details: [] });
    }
    m = /^\/claim\/([^/]+)$/.exec(url.pathname);
    if (m) {
      if (!/^[0-9]+$/.test(m[1]!)) return respondJson(res, 400, { error: `bad contractId: ${m[1]}` });
      const odd = faults.claimRoute;
      if (odd?.kind === 'redirect') {
        res.writeHead(302, { location: odd.to, 'content-length': '0' });
        return res.end();
      }
      if (odd?.kind === 'hang') return void hung.add(res);
      if (odd?.kind === 'endless' || odd?.kind === 'oversized') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const more = () => {
          while (odd.kind === 'endless' || sent < odd.bytes) {
            if (res.destroyed) return;
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end('"}');
        };
        res.write('{"pad":"');
        return more();
      }
      const c = claims.get(BigInt(m[1]!));
      return respondJson(res, 200, c ? { provider: bech32Pub(providerPubkey), contract_id: Number(c.contractId), spender: bech32Pub(c.spender), nonce: Number(c.nonce), signature: c.signature, claimed: false } : { provider: '', contract_id: 0, spender: '', nonce: 0, signature: '', claimed: false });
    }
    catchAll(req, res, url).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    providerPubkey,
    contracts,
    claims,
    accepted,
    events,
    faults,
    upstream,
    services,
    settlement,
    close: async () => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await upstream.close();
    },
  };
}

/**
 * The sentinel's settlement routes (arkeo-transactions.md §6.1, arkeo-claims.md §7), over the same one-record-per-
 * contract claim store the paid branch writes:
 *  - GET /claims[?contract_id=&client=] → `{"claims":[Claim…]|null,"highestNonce":N}` and a newline; deletes nothing;
 *  - GET /open-claims → the unclaimed claims of contracts not expired, and DELETES the claims of expired ones (the
 *    destructive side effect a settler must never trigger);
 *  - POST /mark-claimed (also /mark-claimed/, /{service}/mark-claimed[/]) `{"contract_id":N,"nonce":N}` →
 *    `{"ok":true,"updated":1}` on an exact id+nonce match, else `updated:0`; bad JSON → 400 `{"error":"bad request"}`.
 *    Unauthenticated, as the real one: anyone may flip the flag.
 * Claim JSON: `{"provider","contract_id":<number>,"spender","nonce":<number>,"signature","claimed":<bool>}`.
 * `claimed` is true when /mark-claimed was told this exact nonce (a new claim for the contract resets it).
 * `faults.claims` makes GET /claims misbehave: a reply over 1 MiB, a body that is not JSON, no answer, or a 500.
 */
export interface SettlementApi {
  /** Every request to these routes, in order: a settler must never GET /open-claims. */
  requests: { method: string; path: string }[];
  /** contract id → the nonce /mark-claimed was told. */
  marked: Map<bigint, bigint>;
  faults: { claims?: 'oversized' | 'garbage' | 'hang' | 'error' };
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean;
}

export function settlementApi(claims: Map<bigint, StoredClaim>, providerPubkey: Uint8Array, isExpired: (contractId: bigint) => boolean): SettlementApi {
  const requests: SettlementApi['requests'] = [];
  const marked = new Map<bigint, bigint>();
  const faults: SettlementApi['faults'] = {};
  const claimJson = (c: StoredClaim) => ({
    provider: bech32Pub(providerPubkey),
    contract_id: Number(c.contractId),
    spender: bech32Pub(c.spender),
    nonce: Number(c.nonce),
    signature: c.signature,
    claimed: marked.get(c.contractId) === c.nonce,
  });
  const listJson = (res: http.ServerResponse, list: unknown[] | null, highest: bigint) => {
    // Go's json.Encoder: the body ends with a newline.
    const body = JSON.stringify({ claims: list, highestNonce: Number(highest) }) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  function handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    const path = url.pathname;
    const markRoute = /^(\/[^/]+)?\/mark-claimed\/?$/.test(path);
    if (path !== '/claims' && path !== '/open-claims' && !markRoute) return false;
    requests.push({ method: req.method ?? '', path: path + url.search });
    if (path === '/claims' && req.method === 'GET') {
      if (faults.claims === 'hang') return true;
      if (faults.claims === 'error') return void respondJson(res, 500, { error: 'internal server error' }), true;
      if (faults.claims === 'garbage') {
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end('<html>502 Bad Gateway</html>'), true;
      }
      if (faults.claims === 'oversized') {
        // Valid JSON, and more of it than any sentinel should send: 1.5 MiB of claims, chunked.
        res.writeHead(200, { 'content-type': 'application/json' });
        const one = JSON.stringify({ provider: bech32Pub(providerPubkey), contract_id: 1, spender: '', nonce: 1, signature: '00'.repeat(64), claimed: false });
        res.write('{"claims":[' + one);
        for (let n = one.length; n < 1.5 * 1024 * 1024; n += one.length + 1) res.write(',' + one);
        return void res.end('],"highestNonce":1}\n'), true;
      }
      const cid = url.searchParams.get('contract_id');
      const client = url.searchParams.get('client');
      const list = [...claims.values()].filter((c) => (cid === null || String(c.contractId) === cid) && (client === null || bech32Pub(c.spender) === client));
      const highest = list.reduce((m, c) => (c.nonce > m ? c.nonce : m), 0n);
      listJson(res, list.length ? list.map(claimJson) : null, highest);
      return true;
    }
    if (path === '/open-claims' && req.method === 'GET') {
      const out = [];
      for (const [id, c] of claims) {
        if (isExpired(id)) {
          claims.delete(id);
          continue;
        }
        if (marked.get(id) !== c.nonce) out.push(claimJson(c));
      }
      respondJson(res, 200, out);
      return true;
    }
    if (markRoute && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: { contract_id?: unknown; nonce?: unknown };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (typeof body !== 'object' || body === null) throw new Error('not an object');
        } catch {
          return respondJson(res, 400, { error: 'bad request' });
        }
        const id = typeof body.contract_id === 'number' ? BigInt(body.contract_id) : -1n;
        const nonce = typeof body.nonce === 'number' ? BigInt(body.nonce) : -1n;
        const c = claims.get(id);
        const hit = c !== undefined && c.nonce === nonce;
        if (hit) marked.set(id, nonce);
        respondJson(res, 200, { ok: true, updated: hit ? 1 : 0 });
      });
      return true;
    }
    respondJson(res, 405, { error: 'method not allowed' });
    return true;
  }
  return { requests, marked, faults, handle };
}

export interface JsonRpcUpstream {
  url: string;
  /** Requests received, with the arkauth header the sentinel forwarded. */
  received: { method: string; path: string; arkauth?: string; bodyLength: number }[];
  close(): Promise<void>;
}

/**
 * A small JSON-RPC 2.0 server (ours) as the provider's node: POST / answers single calls and batches (`echo`
 * returns its params, `eth_blockNumber` a counter, `size` the request body's length); GET /stream?n=N&ms=M sends
 * N chunks M ms apart, to see streaming through the proxy.
 */
export async function startJsonRpcUpstream(): Promise<JsonRpcUpstream> {
  let block = 0x100;
  const received: JsonRpcUpstream['received'] = [];
  const answer = (call: { id?: unknown; method?: unknown; params?: unknown }, bodyLength: number) => {
    if (call?.method === 'echo') return { jsonrpc: '2.0', id: call.id ?? null, result: call.params ?? null };
    if (call?.method === 'eth_blockNumber') return { jsonrpc: '2.0', id: call.id ?? null, result: '0x' + (block++).toString(16) };
    if (call?.method === 'size') return { jsonrpc: '2.0', id: call.id ?? null, result: bodyLength };
    return { jsonrpc: '2.0', id: call?.id ?? null, error: { code: -32601, message: 'Method not found' } };
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://up');
      received.push({ method: req.method ?? '', path: url.pathname + url.search, arkauth: req.headers.arkauth as string | undefined, bodyLength: body.length });
      if (req.method === 'GET' && url.pathname === '/stream') {
        const n = Number(url.searchParams.get('n') ?? 3);
        const ms = Number(url.searchParams.get('ms') ?? 50);
        res.writeHead(200, { 'content-type': 'text/plain' });
        let i = 0;
        const tick = () => {
          res.write(`chunk ${i} at ${Date.now()}\n`);
          if (++i < n) setTimeout(tick, ms);
          else res.end();
        };
        return tick();
      }
      if (req.method !== 'POST') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ path: url.pathname, method: req.method }));
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
      }
      const out = Array.isArray(parsed) ? parsed.map((c) => answer(c, body.length)) : answer(parsed as { id?: unknown }, body.length);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
