import { InputError } from '../errors.js';
import { PREFIXES, parseBech32PubKey, toBech32PubKey } from '../crypto/address.js';
import { parseHex, toHex } from '../crypto/bytes.js';

/**
 * What an Arkeo pay-as-you-go client signs and sends (arkeo-claims.md §0, §3, §6):
 *   preimage  "<cid>:<nonce>:"              profile `compat` (sentinel and chain both accept it; the default)
 *             "<cid>:<nonce>:<chainId>"     profile `chain-id` (only the chain accepts it today; opt-in)
 *   arkauth   "<cid>:<nonce>:<sighex>"  or  "<cid>:<arkeopub1…>:<nonce>:<sighex>" (delegate form)
 *   arkcontract "<cid>:<timestamp>:<sighex>", signed over "<cid>:<timestamp>:"
 * Parsers here are strict: canonical decimals, exactly 64-byte hex signatures, the expected bech32 prefix.
 */
export type ClaimProfile = 'compat' | 'chain-id';
export const CLAIM_PROFILES: readonly ClaimProfile[] = ['compat', 'chain-id'];

export const MAX_UINT64 = (1n << 64n) - 1n;
export const MAX_INT64 = (1n << 63n) - 1n;
/** Header values are short (a 4-part arkauth is ~210 characters); anything longer is refused unread. */
export const MAX_HEADER_LENGTH = 1024;

const CANONICAL_DECIMAL = /^(0|[1-9][0-9]*)$/;
const CHAIN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A canonical decimal: digits only, no sign, no leading zeros, within [min, max]. */
export function parseDecimal(text: string, what: string, min: bigint, max: bigint): bigint {
  if (!CANONICAL_DECIMAL.test(text) || text.length > 20) {
    throw new InputError('BAD_NUMBER', `${what}: expected a decimal number without sign or leading zeros`);
  }
  const v = BigInt(text);
  if (v < min || v > max) throw new InputError('BAD_NUMBER', `${what}: ${text} is out of range (${min}..${max})`);
  return v;
}

export const parseContractId = (text: string) => parseDecimal(text, 'contract id', 1n, MAX_UINT64);
export const parseNonce = (text: string) => parseDecimal(text, 'nonce', 1n, MAX_INT64);

export function checkChainId(chainId: string): void {
  if (!CHAIN_ID.test(chainId)) throw new InputError('BAD_CHAIN_ID', 'chain id: expected letters, digits, ".", "_" or "-" (at most 64)');
}

function checkIds(contractId: bigint, nonce: bigint, what = 'nonce'): void {
  if (contractId < 1n || contractId > MAX_UINT64) throw new InputError('BAD_NUMBER', `contract id: ${contractId} is out of range (1..${MAX_UINT64})`);
  if (nonce < 1n || nonce > MAX_INT64) throw new InputError('BAD_NUMBER', `${what}: ${nonce} is out of range (1..${MAX_INT64})`);
}

/** The bytes a claim signs. `chain-id` needs the chain id (e.g. arkeo-main-v1). */
export function claimPreimage(contractId: bigint, nonce: bigint, profile: ClaimProfile = 'compat', chainId?: string): string {
  checkIds(contractId, nonce);
  if (profile === 'compat') return `${contractId}:${nonce}:`;
  if (!chainId) throw new InputError('BAD_CHAIN_ID', 'profile chain-id needs a chain id');
  checkChainId(chainId);
  return `${contractId}:${nonce}:${chainId}`;
}

/** The bytes an `arkcontract` management request signs: the chain-id slot is always empty. */
export function arkcontractPreimage(contractId: bigint, timestamp: bigint): string {
  checkIds(contractId, timestamp, 'timestamp');
  return `${contractId}:${timestamp}:`;
}

export interface ArkAuth {
  contractId: bigint;
  nonce: bigint;
  signature: Uint8Array;
  /** Set for the 4-part (delegate) form: the 33-byte key whose bech32 form is in the header. */
  spender?: Uint8Array;
}

export function formatArkAuth(auth: ArkAuth, pubPrefix: string = PREFIXES.accountPub): string {
  checkIds(auth.contractId, auth.nonce);
  if (auth.signature.length !== 64) throw new InputError('BAD_SIGNATURE', `signature: expected 64 bytes, got ${auth.signature.length}`);
  const sig = toHex(auth.signature);
  return auth.spender ? `${auth.contractId}:${toBech32PubKey(auth.spender, pubPrefix)}:${auth.nonce}:${sig}` : `${auth.contractId}:${auth.nonce}:${sig}`;
}

function checkHeaderText(value: string, what: string): void {
  if (value.length > MAX_HEADER_LENGTH) throw new InputError('BAD_HEADER', `${what}: longer than ${MAX_HEADER_LENGTH} characters`);
  if (/[^\x21-\x7e]/.test(value)) throw new InputError('BAD_HEADER', `${what}: contains white space, control or non-ASCII characters`);
}

function parseSignature(text: string): Uint8Array {
  if (!/^[0-9a-f]{128}$/.test(text)) throw new InputError('BAD_SIGNATURE', 'signature: expected 128 lowercase hex digits (64 bytes r||s)');
  return parseHex(text, 'signature', 64);
}

/** Strict parse of an `arkauth` value as we emit it. */
export function parseArkAuth(value: string, pubPrefix: string = PREFIXES.accountPub): ArkAuth {
  checkHeaderText(value, 'arkauth');
  const parts = value.split(':');
  if (parts.length === 3) {
    return { contractId: parseContractId(parts[0]!), nonce: parseNonce(parts[1]!), signature: parseSignature(parts[2]!) };
  }
  if (parts.length === 4) {
    if (parts[2] === '') throw new InputError('BAD_HEADER', 'arkauth: "cid:nonce::sig" (double colon) is what Go GenerateArkAuthString emits and the sentinel rejects');
    return {
      contractId: parseContractId(parts[0]!),
      spender: parseBech32PubKey(parts[1]!, pubPrefix),
      nonce: parseNonce(parts[2]!),
      signature: parseSignature(parts[3]!),
    };
  }
  throw new InputError('BAD_HEADER', `arkauth: expected cid:nonce:sig or cid:pubkey:nonce:sig, got ${parts.length} part(s)`);
}

export interface ArkContract {
  contractId: bigint;
  timestamp: bigint;
  signature: Uint8Array;
}

export function formatArkContract(auth: ArkContract): string {
  checkIds(auth.contractId, auth.timestamp, 'timestamp');
  return `${auth.contractId}:${auth.timestamp}:${toHex(auth.signature)}`;
}

export function parseArkContract(value: string): ArkContract {
  checkHeaderText(value, 'arkcontract');
  const parts = value.split(':');
  if (parts.length !== 3) throw new InputError('BAD_HEADER', `arkcontract: expected cid:timestamp:sig, got ${parts.length} part(s)`);
  return { contractId: parseContractId(parts[0]!), timestamp: parseDecimal(parts[1]!, 'timestamp', 1n, MAX_INT64), signature: parseSignature(parts[2]!) };
}
