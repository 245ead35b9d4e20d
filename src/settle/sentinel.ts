import { parseBech32PubKey } from '../crypto/address.js';
import { InputError } from '../errors.js';
import { BoundedReadError, getBounded } from '../http.js';
import { SettleError } from './errors.js';
import type { SeenClaim } from './store.js';

/**
 * The provider's sentinel, as the settler reads it: GET /claims (every stored claim; it deletes nothing), GET
 * /metadata.json (the provider's public key, when --provider is not given) and POST /mark-claimed (cosmetic). Never
 * GET /open-claims: it deletes the claims of contracts past their expiry, which are exactly the ones still
 * settling. Nothing the sentinel says is trusted: its `claimed` flag is ignored, and every claim is checked against
 * the chain before a fee is paid. Every read is bounded (getBounded: time, 1 MiB, no redirects).
 */
export const SENTINEL_TIMEOUT_MS = 10_000;
export const MAX_CLAIMS_REPLY = 1024 * 1024;

export class SentinelClient {
  readonly base: string;

  constructor(url: string, private readonly timeoutMs = SENTINEL_TIMEOUT_MS) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new InputError('BAD_URL', `--sentinel: not a URL: ${url.slice(0, 200)}; give the provider's sentinel, e.g. http://127.0.0.1:3636`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InputError('BAD_URL', `--sentinel: expected http(s)://, got ${u.protocol}`);
    this.base = url.replace(/\/+$/, '');
  }

  private async get(path: string): Promise<unknown> {
    const url = `${this.base}${path}`;
    let reply;
    try {
      reply = await getBounded(url, { what: 'sentinel', timeoutMs: this.timeoutMs, maxBytes: MAX_CLAIMS_REPLY });
    } catch (e) {
      if (e instanceof BoundedReadError) {
        const advice = e.reason === 'too-large' ? '; a list that large is refused: give each settler a provider of its own, or report it' : '';
        throw new SettleError(`SENTINEL_${e.reason.toUpperCase().replace('-', '_')}`, `${e.message}${advice}`);
      }
      throw e;
    }
    if (reply.status !== 200) throw new SettleError('SENTINEL_ERROR', `sentinel ${url}: HTTP ${reply.status}; is this the provider's sentinel?`);
    try {
      return JSON.parse(reply.body.toString('utf8'));
    } catch {
      throw new SettleError('SENTINEL_BAD_REPLY', `sentinel ${url}: the reply is not JSON; is this the provider's sentinel (its /claims route)?`);
    }
  }

  /**
   * Every claim the sentinel holds: `{"claims":[…]|null,"highestNonce":N}`. Entries are read one by one: one that
   * names no contract or nonce cannot be kept and is counted in `unreadable`; one with a signature that is not 64
   * bytes of hex is kept as given (the settler refuses it as malformed, once).
   */
  async claims(): Promise<{ claims: SeenClaim[]; unreadable: number }> {
    const body = await this.get('/claims');
    const where = `sentinel ${this.base}/claims`;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !('claims' in body)) throw new SettleError('SENTINEL_BAD_REPLY', `${where}: no "claims" in the reply; is this the provider's sentinel?`);
    const list = (body as { claims: unknown }).claims;
    if (list === null) return { claims: [], unreadable: 0 };
    if (!Array.isArray(list)) throw new SettleError('SENTINEL_BAD_REPLY', `${where}: "claims" is not a list`);
    const claims: SeenClaim[] = [];
    let unreadable = 0;
    for (const item of list) {
      const c = readClaim(item);
      if (c) claims.push(c);
      else unreadable++;
    }
    return { claims, unreadable };
  }

  /** The provider's public key from /metadata.json (config.provider_pubkey), checked as a bech32 account pubkey. */
  async providerPubkey(): Promise<{ bech32: string; key: Uint8Array }> {
    const body = (await this.get('/metadata.json')) as { config?: { provider_pubkey?: unknown } } | null;
    const text = body?.config?.provider_pubkey;
    if (typeof text !== 'string' || text === '') throw new SettleError('SENTINEL_BAD_REPLY', `sentinel ${this.base}/metadata.json: no config.provider_pubkey; give --provider`);
    try {
      return { bech32: text, key: parseBech32PubKey(text) };
    } catch (e) {
      throw new SettleError('SENTINEL_BAD_REPLY', `sentinel ${this.base}/metadata.json: config.provider_pubkey: ${(e as Error).message}; give --provider`);
    }
  }

  /** POST /mark-claimed: only the sentinel's display changes; whether it worked is returned, never thrown. */
  async markClaimed(contractId: bigint, nonce: bigint): Promise<boolean> {
    try {
      const reply = await getBounded(`${this.base}/mark-claimed`, { what: 'sentinel', timeoutMs: this.timeoutMs, maxBytes: 64 * 1024, postJson: { contract_id: Number(contractId), nonce: Number(nonce) } });
      return reply.status === 200;
    } catch {
      return false;
    }
  }
}

const UINT = /^(0|[1-9][0-9]{0,19})$/;

/** A uint64 given as a JSON number (the sentinel's form) or a decimal string. */
function whole(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && UINT.test(v)) return BigInt(v);
  return undefined;
}

function readClaim(item: unknown): SeenClaim | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const o = item as Record<string, unknown>;
  const contractId = whole(o.contract_id);
  const nonce = whole(o.nonce);
  if (contractId === undefined || nonce === undefined || contractId === 0n || nonce === 0n || nonce > (1n << 63n) - 1n || contractId > (1n << 64n) - 1n) return undefined;
  const sig = typeof o.signature === 'string' ? o.signature : '';
  // Well-formed hex is keyed in lower case, so "AB…" and "ab…" are one claim; anything else is kept as it came.
  const signature = /^([0-9a-fA-F]{2})+$/.test(sig) ? sig.toLowerCase() : sig.slice(0, 256);
  const spender = typeof o.spender === 'string' ? o.spender.slice(0, 200) : '';
  return { contractId, nonce, signature, spender };
}
