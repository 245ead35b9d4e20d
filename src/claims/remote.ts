import { ArkeoSignerError } from '../errors.js';
import { PREFIXES, parseBech32PubKey } from '../crypto/address.js';
import { BoundedReadError, getBounded, remoteBase } from '../http.js';

/** Talking to a provider's sentinel and to a chain LCD (REST) endpoint, with bounded time and size. */
export class RemoteError extends ArkeoSignerError {}

export const REMOTE_TIMEOUT_MS = 5000;
export const MAX_REMOTE_BODY = 1024 * 1024;

/**
 * GET `url` as JSON, bounded in time and size. `what` names the peer in messages ("sentinel", "lcd"). A RemoteError
 * otherwise: REMOTE_UNREACHABLE (no connection, no complete answer in time, the reply broke off), REMOTE_NOT_FOUND
 * (404) or REMOTE_ERROR (another status outside 2xx), each with the start of the reply's text, REMOTE_BAD_REPLY (too
 * large, a redirect, not JSON).
 */
export async function getRemoteJson(url: string, what: string): Promise<unknown> {
  let reply;
  try {
    reply = await getBounded(url, { what, timeoutMs: REMOTE_TIMEOUT_MS, maxBytes: MAX_REMOTE_BODY });
  } catch (e) {
    // (The read's failure stays in the context: a caller may tell a peer that answered too slowly from one it never reached.)
    if (e instanceof BoundedReadError) throw new RemoteError(e.reason === 'unreachable' || e.reason === 'timeout' ? 'REMOTE_UNREACHABLE' : 'REMOTE_BAD_REPLY', e.message, { context: { read_failure: e.reason } });
    throw e;
  }
  if (reply.status < 200 || reply.status > 299) {
    const text = reply.body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
    throw new RemoteError(reply.status === 404 ? 'REMOTE_NOT_FOUND' : 'REMOTE_ERROR', `${what} ${url}: HTTP ${reply.status}${text ? ` (${text})` : ''}`);
  }
  try {
    return JSON.parse(reply.body.toString('utf8'));
  } catch {
    throw new RemoteError('REMOTE_BAD_REPLY', `${what} ${url}: reply is not JSON`);
  }
}

function decimalField(obj: Record<string, unknown>, field: string, where: string): bigint {
  const v = obj[field];
  if (typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new RemoteError('REMOTE_BAD_REPLY', `${where}: field "${field}" is not a non-negative integer`);
}

/** The claim a sentinel says it stored for a contract (GET /claim/{cid}); nonce 0 and no signature when none. */
export interface SentinelClaim {
  contractId: bigint;
  nonce: bigint;
  /** The 64-byte signature it holds; undefined when it holds none (or sent something that is not one). */
  signature?: Uint8Array;
}

/**
 * GET /claim/{cid}: `{"contract_id":…,"nonce":…,"signature":"<hex>",…}`, or a zero-valued claim when it has none.
 * Only the shape is checked here; whether the signature proves the nonce is claims/proof.ts's question.
 */
export async function fetchSentinelClaim(sentinelUrl: string, contractId: bigint): Promise<SentinelClaim> {
  const url = `${remoteBase(sentinelUrl, 'sentinel')}/claim/${contractId}`;
  const claim = await getRemoteJson(url, 'sentinel');
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) throw new RemoteError('REMOTE_BAD_REPLY', `sentinel ${url}: reply is not a claim object`);
  const o = claim as Record<string, unknown>;
  const nonce = decimalField(o, 'nonce', `sentinel ${url}`);
  const id = o.contract_id === undefined ? contractId : decimalField(o, 'contract_id', `sentinel ${url}`);
  if (nonce > 0n && id !== contractId) throw new RemoteError('REMOTE_BAD_REPLY', `sentinel ${url}: answered with contract ${id}'s claim, not ${contractId}'s`);
  const hex = o.signature;
  const signature = typeof hex === 'string' && /^([0-9a-fA-F]{2}){64}$/.test(hex) ? new Uint8Array(Buffer.from(hex, 'hex')) : undefined;
  return { contractId, nonce, ...(signature ? { signature } : {}) };
}

/** The sentinel's stored nonce for a contract, unproven (0 when it has no claim): for display only. */
export async function fetchSentinelNonce(sentinelUrl: string, contractId: bigint): Promise<bigint> {
  return (await fetchSentinelClaim(sentinelUrl, contractId)).nonce;
}

export interface ChainContract {
  contractId: bigint;
  nonce: bigint;
  rate: bigint;
  denom: string;
  deposit: bigint;
  paid: bigint;
  type: string;
  client: Uint8Array;
  delegate?: Uint8Array;
  /** The rest of the chain's record, where the reply has it (an LCD's always does). */
  provider?: Uint8Array;
  service?: number;
  /** The block the contract was opened at. */
  height?: bigint;
  duration?: bigint;
  settlementDuration?: bigint;
  /** 0 until the contract's final settlement. */
  settlementHeight?: bigint;
  authorization?: string;
  queriesPerMinute?: bigint;
}

/** The chain's view of a contract: GET {lcd}/arkeo/contract/{cid} → {"contract": {…}} (proto JSON, int64 as strings). */
export async function fetchChainContract(lcdUrl: string, contractId: bigint, pubPrefix: string = PREFIXES.accountPub): Promise<ChainContract> {
  const url = `${remoteBase(lcdUrl, 'lcd')}/arkeo/contract/${contractId}`;
  return parseChainContract(await getRemoteJson(url, 'lcd'), `lcd ${url}`, contractId, pubPrefix);
}

/**
 * The LCD's reply `{"contract": {…}}` (or the bare contract object, as `arkeod query arkeo show-contract -o json`
 * style tools print it), checked: `where` names the source in errors; `contractId`, when given, must match.
 */
export function parseChainContract(body: unknown, where: string, contractId?: bigint, pubPrefix: string = PREFIXES.accountPub): ChainContract {
  const wrapped = (body as { contract?: unknown })?.contract;
  const c = wrapped !== undefined ? wrapped : body;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new RemoteError('REMOTE_BAD_REPLY', `${where}: no "contract" object`);
  const o = c as Record<string, unknown>;
  const rate = o.rate as Record<string, unknown> | undefined;
  if (typeof rate !== 'object' || rate === null) throw new RemoteError('REMOTE_BAD_REPLY', `${where}: no "rate" object`);
  const id = decimalField(o, 'id', where);
  if (contractId !== undefined && id !== contractId) throw new RemoteError('REMOTE_BAD_REPLY', `${where}: answered for contract ${id}, not ${contractId}`);
  const pub = (field: string): Uint8Array | undefined => {
    const v = o[field];
    if (v === '' || v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new RemoteError('REMOTE_BAD_REPLY', `${where}: "${field}" is not a string`);
    try {
      return parseBech32PubKey(v, pubPrefix);
    } catch (e) {
      throw new RemoteError('REMOTE_BAD_REPLY', `${where}: "${field}": ${(e as Error).message}`);
    }
  };
  const client = pub('client');
  if (!client) throw new RemoteError('REMOTE_BAD_REPLY', `${where}: contract has no client`);
  const optional = (field: string) => (o[field] === undefined ? {} : { [camel(field)]: decimalField(o, field, where) });
  const service = o.service === undefined ? {} : { service: Number(decimalField(o, 'service', where)) };
  const provider = pub('provider');
  return {
    ...(provider ? { provider } : {}),
    ...service,
    ...optional('height'),
    ...optional('duration'),
    ...optional('settlement_duration'),
    ...optional('settlement_height'),
    ...optional('queries_per_minute'),
    ...(typeof o.authorization === 'string' ? { authorization: o.authorization } : {}),
    contractId: id,
    nonce: decimalField(o, 'nonce', where),
    rate: decimalField(rate, 'amount', where),
    denom: typeof rate.denom === 'string' ? rate.denom : '',
    deposit: decimalField(o, 'deposit', where),
    paid: decimalField(o, 'paid', where),
    type: typeof o.type === 'string' ? o.type : String(o.type),
    client,
    delegate: pub('delegate'),
  };
}

const camel = (field: string) => field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
