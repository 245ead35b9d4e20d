import { ArkeoSignerError, InputError } from '../errors.js';
import { PREFIXES, parseBech32PubKey, toBech32PubKey } from '../crypto/address.js';
import { equalBytes } from '../crypto/bytes.js';
import { parseChainContract, RemoteError, type ChainContract } from '../claims/index.js';
import { getRemoteJson } from '../claims/remote.js';
import { remoteBase } from '../http.js';

/**
 * What a paying client reads from a provider's sentinel (arkeo-claims.md §7) and how it reads the sentinel's own
 * error replies (§11). Every reply is bounded in time and size; every field is checked before use.
 */
export class SentinelError extends ArkeoSignerError {}

/** `http://host:port` without a trailing slash, from any URL of the sentinel's: its routes hang off its root. */
export function sentinelBase(url: string): string {
  return remoteBase(url, 'sentinel', { root: true });
}

/** claims/remote.ts's bounded JSON read, its errors as the proxy reports them (SentinelError). */
async function getJson(url: string): Promise<unknown> {
  try {
    return await getRemoteJson(url, 'sentinel');
  } catch (e) {
    throw sentinelErrorOf(e);
  }
}

function decimal(o: Record<string, unknown>, field: string, where: string): bigint {
  const v = o[field];
  if (typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new SentinelError('SENTINEL_BAD_REPLY', `${where}: field "${field}" is not a non-negative integer`);
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SentinelError('SENTINEL_BAD_REPLY', `${where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** GET /metadata.json → the provider's pubkey (bech32, as the chain stores it) and the service names. */
export async function fetchMetadata(base: string, pubPrefix: string = PREFIXES.accountPub): Promise<{ providerPubkey: string; services: string[] }> {
  const url = `${base}/metadata.json`;
  const config = object(object(await getJson(url), url).config, `${url} .config`);
  const provider = config.provider_pubkey;
  if (typeof provider !== 'string') throw new SentinelError('SENTINEL_BAD_REPLY', `${url}: no config.provider_pubkey`);
  try {
    parseBech32PubKey(provider, pubPrefix);
  } catch (e) {
    throw new SentinelError('SENTINEL_BAD_REPLY', `${url}: config.provider_pubkey: ${(e as Error).message}`);
  }
  // The service id is a string on the wire (§5 I-7a); only the names matter here.
  const services = Array.isArray(config.services) ? config.services.map((s) => (s as { name?: unknown })?.name).filter((n): n is string => typeof n === 'string') : [];
  return { providerPubkey: provider, services };
}

export interface ActiveContract {
  id: bigint;
  type: string;
  rate: bigint;
  deposit: bigint;
  /** Last settled nonce on chain: a lower bound for the next one. */
  nonce: bigint;
  queriesPerMinute: bigint;
  client: Uint8Array;
  delegate?: Uint8Array;
}

/**
 * GET /active-contract/{service}/{spender}: the sentinel proxies the chain's active-contract query for its own
 * provider, so the answer is the contract between this provider and `spender` for `service` (§7).
 */
export async function fetchActiveContract(base: string, service: string, spender: Uint8Array, pubPrefix: string = PREFIXES.accountPub): Promise<ActiveContract> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(service)) throw new InputError('BAD_SERVICE', `service: expected a name such as eth-mainnet-fullnode, got "${service.slice(0, 100)}"`);
  const url = `${base}/active-contract/${service}/${toBech32PubKey(spender, pubPrefix)}`;
  let body: unknown;
  try {
    body = await getJson(url);
  } catch (e) {
    if (e instanceof SentinelError && e.code === 'NOT_FOUND') throw new SentinelError('NO_CONTRACT', `no active contract for ${service} and this key at ${base} (open one with arkeo-signer contract open)`);
    throw e;
  }
  const c = object(object(body, url).contract, `${url} .contract`);
  const where = `${url} .contract`;
  // The chain answers a zero-valued contract rather than an error in some versions; height 0 means none (§2.2).
  if (decimal(c, 'id', where) === 0n || decimal(c, 'height', where) === 0n) throw new SentinelError('NO_CONTRACT', `no active contract for ${service} and this key at ${base}`);
  // The same proto JSON as the LCD's contract query: one parser (claims/), its errors re-labelled for the sentinel.
  let parsed: ChainContract;
  try {
    parsed = parseChainContract(c, where, undefined, pubPrefix);
  } catch (e) {
    throw sentinelErrorOf(e);
  }
  const { client, delegate } = parsed;
  if (!equalBytes(client, spender) && !(delegate && equalBytes(delegate, spender))) {
    throw new SentinelError('SENTINEL_BAD_REPLY', `${where}: contract ${parsed.contractId} belongs to another client; not paying for it`);
  }
  return {
    id: parsed.contractId,
    type: parsed.type,
    rate: parsed.rate,
    deposit: parsed.deposit,
    nonce: parsed.nonce,
    queriesPerMinute: c.queries_per_minute === undefined ? 0n : decimal(c, 'queries_per_minute', where),
    client,
    delegate,
  };
}

const REMOTE_CODES: Record<string, string> = { REMOTE_UNREACHABLE: 'SENTINEL_UNREACHABLE', REMOTE_NOT_FOUND: 'NOT_FOUND', REMOTE_ERROR: 'SENTINEL_ERROR', REMOTE_BAD_REPLY: 'SENTINEL_BAD_REPLY' };

/** claims' RemoteError as the proxy reports it (SentinelError, same message); anything else unchanged. */
export function sentinelErrorOf(e: unknown): unknown {
  return e instanceof RemoteError ? new SentinelError(REMOTE_CODES[e.code] ?? 'SENTINEL_ERROR', e.message, { context: e.context }) : e;
}

/**
 * The sentinel's own replies that carry a verdict about our claim (§11). They are `http.Error` text: the message
 * and a newline, text/plain. Anything else with the same status came from the upstream service and is passed on.
 */
export type SentinelVerdict =
  /** Refused before the claim store: `stored` is the sentinel's nonce when the reply names it (v1.0.17 does). */
  | { kind: 'bad-nonce'; sent?: bigint; stored?: bigint }
  | { kind: 'spent' | 'expired' | 'subscription-expired' }
  | { kind: 'rate-limited' | 'free-rate-limited' | 'not-served' };

export function sentinelVerdict(status: number, body: string): SentinelVerdict | undefined {
  const text = body.endsWith('\n') ? body.slice(0, -1) : body;
  if (status === 400) {
    const m = /^bad nonce \((-?[0-9]{1,20})\/(-?[0-9]{1,20})\)$/.exec(text);
    if (m) return { kind: 'bad-nonce', sent: BigInt(m[1]!), stored: BigInt(m[2]!) };
    // A variant's wording of the same refusal, without the numbers (not in any arkeonetwork/arkeo version): the
    // nonce was not consumed and the sentinel holds one at least as high; its value is read from GET /claim/{cid}.
    if (/^nonce must increase$/i.test(text)) return { kind: 'bad-nonce' };
    // A parse error of the arkauth value (§11 row 2): the sentinel never reached the claim store.
    if (/^(invalid arkauth format|strconv\.Parse|encoding\/hex|invalid Bech32|decoding bech32)/.test(text)) return { kind: 'not-served' };
    return undefined;
  }
  if (status === 402) {
    if (text === 'contract spent') return { kind: 'spent' };
    if (text === 'open a contract') return { kind: 'expired' };
    if (text === 'subscription contract expired') return { kind: 'subscription-expired' };
    return undefined;
  }
  if (status === 429) {
    if (text === 'paid client is rate limited (Too Many Requests)') return { kind: 'rate-limited' };
    if (text === 'free client is rate limited (Too Many Requests)') return { kind: 'free-rate-limited' };
    return undefined;
  }
  if (status === 401 && /^(Signature required for pay-as-you-go contracts|Service mismatch|invalid client pubkey: |invalid signature for client|Pay-as-you-go contracts do not fall through to free tier\.)/.test(text)) return { kind: 'not-served' };
  if (status === 500 && text.startsWith('internal server error: ')) return { kind: 'not-served' };
  return undefined;
}
