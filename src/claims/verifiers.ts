import { keccak_256 } from '@noble/hashes/sha3.js';
import { bech32 } from '@scure/base';
import { PREFIXES } from '../crypto/address.js';
import { concatBytes, toHex, utf8 } from '../crypto/bytes.js';
// Cosmos `PubKey.VerifySignature(msg, sig)` (SHA-256 of msg, exactly 64 bytes, low-S only) is crypto's verifySignature.
import { highSTwin, isLowS, sha256, verifySignature as cosmosVerify, isValidPublicKey } from '../crypto/secp256k1.js';

/**
 * Emulations of what Arkeo v1.0.17 accepts (arkeo-claims.md §3, §4, §6.2, §6.3), reproduced from the Go code,
 * including its leniencies, so that `claim explain` can say what each side will do with a header. These are
 * deliberately NOT our strict parsers: the sentinel accepts `+1` and upper-case hex, and so do these.
 */
export type Verdict = { accepted: true; branch: string } | { accepted: false; reason: string };

const U64 = (1n << 64n) - 1n;
const I64 = (1n << 63n) - 1n;

/** Go strconv.ParseUint(s, 10, 64). */
function goParseUint(s: string): bigint | string {
  if (!/^[0-9]+$/.test(s)) return `strconv.ParseUint: parsing "${s}": invalid syntax`;
  const v = BigInt(s);
  return v > U64 ? `strconv.ParseUint: parsing "${s}": value out of range` : v;
}

/** Go strconv.ParseInt(s, 10, 64): an optional sign is accepted. */
function goParseInt(s: string): bigint | string {
  if (!/^[+-]?[0-9]+$/.test(s)) return `strconv.ParseInt: parsing "${s}": invalid syntax`;
  const v = BigInt(s);
  return v > I64 || v < -I64 - 1n ? `strconv.ParseInt: parsing "${s}": value out of range` : v;
}

/** Go hex.DecodeString: any case, even length. */
function goHexDecode(s: string): Uint8Array | string {
  const bad = s.search(/[^0-9a-fA-F]/);
  if (bad >= 0) return `encoding/hex: invalid byte: U+${s.charCodeAt(bad).toString(16).toUpperCase().padStart(4, '0')}`;
  if (s.length % 2) return 'encoding/hex: odd length hex string';
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Go strings.SplitN(s, sep, n). */
function splitN(s: string, sep: string, n: number): string[] {
  const parts = s.split(sep);
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}

function goBech32PubKey(s: string, prefix: string): Uint8Array | string {
  let decoded;
  try {
    decoded = bech32.decode(s as `${string}1${string}`, 1023);
  } catch (e) {
    return `decoding bech32 failed: ${(e as Error).message}`;
  }
  if (decoded.prefix !== prefix) return `invalid Bech32 prefix; expected ${prefix}, got ${decoded.prefix}`;
  const raw = bech32.fromWords(decoded.words);
  if (raw.length !== 38 || toHex(raw.subarray(0, 5)) !== 'eb5ae98721' || !isValidPublicKey(raw.subarray(5))) return 'invalid amino secp256k1 public key';
  return raw.slice(5);
}

export interface ParsedSentinelArkAuth {
  contractId: bigint;
  nonce: bigint;
  signature: Uint8Array;
  spender?: Uint8Array;
}

/** sentinel `parseArkAuth` (SplitN 4) + `ArkAuth.Validate` (nonce > 0, signature ≤ 100 bytes). */
export function sentinelParseArkAuth(raw: string, pubPrefix: string = PREFIXES.accountPub): ParsedSentinelArkAuth | string {
  const parts = splitN(raw, ':', 4);
  let cid: bigint | string, nonce: bigint | string, sig: Uint8Array | string, spender: Uint8Array | string | undefined;
  if (parts.length === 3) {
    [cid, nonce, sig] = [goParseUint(parts[0]!), goParseInt(parts[1]!), goHexDecode(parts[2]!)];
  } else if (parts.length === 4) {
    cid = goParseUint(parts[0]!);
    if (typeof cid === 'string') return cid;
    spender = goBech32PubKey(parts[1]!, pubPrefix);
    if (typeof spender === 'string') return spender;
    [nonce, sig] = [goParseInt(parts[2]!), goHexDecode(parts[3]!)];
  } else if (parts.length === 1) {
    return 'nonce must be greater than zero (a 1-part arkauth only serves OPEN contracts from whitelisted IPs)';
  } else return 'invalid arkauth format';
  for (const v of [cid, nonce, sig]) if (typeof v === 'string') return v;
  if ((nonce as bigint) <= 0n) return 'nonce must be greater than zero';
  if ((sig as Uint8Array).length > 100) return 'signature too long';
  return { contractId: cid as bigint, nonce: nonce as bigint, signature: sig as Uint8Array, spender: spender as Uint8Array | undefined };
}

export interface SentinelContext {
  /** contract.Client: used for 3-part headers (the sentinel ignores a delegate). */
  client: Uint8Array;
  pubPrefix?: string;
}

/** Sentinel v1.0.17 `paidTier` signature check: four branches over "cid:nonce:", no chain id, low-S only. */
export function sentinelV1017(raw: string, ctx: SentinelContext): Verdict {
  const parsed = sentinelParseArkAuth(raw, ctx.pubPrefix);
  if (typeof parsed === 'string') return { accepted: false, reason: `400/401 before the signature check: ${parsed}` };
  const spender = parsed.spender ?? ctx.client;
  const pre = utf8(`${parsed.contractId}:${parsed.nonce}:`);
  const sig = parsed.signature;
  const branches: [string, Uint8Array][] = [
    ['1 "chain preferred": Sign(sha256(pre))', sha256(pre)],
    ['2 "compat": Sign(pre)', pre],
    ['3 keccak: Sign(keccak256(pre))', keccak_256(pre)],
    ['4 EIP-191: Sign(keccak256("\\x19Ethereum Signed Message:\\n"+len+pre))', keccak_256(concatBytes(utf8(`\x19Ethereum Signed Message:\n${pre.length}`), pre))],
  ];
  for (const [name, msg] of branches) if (cosmosVerify(spender, msg, sig)) return { accepted: true, branch: name };
  const why = sig.length !== 64 ? `signature is ${sig.length} bytes, not 64` : !isLowS(sig) ? 'signature has a high S (the sentinel does not normalise)' : `no branch verifies "${parsed.contractId}:${parsed.nonce}:" against ${parsed.spender ? 'the header pubkey' : 'contract.Client'} (a chain-id preimage is never accepted here)`;
  return { accepted: false, reason: `401 invalid signature for client: ${why}` };
}

export interface ChainContext {
  /** contract.GetSpender(): the delegate if set, else the client. */
  spender: Uint8Array;
  chainId: string;
}

/** Chain v1.0.17 `HandlerClaimContractIncome` signature check: four branches, then the same with S' = N - S. */
export function chainV1017(contractId: bigint, nonce: bigint, signature: Uint8Array, ctx: ChainContext): Verdict {
  if (nonce <= 0n) return { accepted: false, reason: 'ValidateBasic: nonce must be greater than zero' };
  if (signature.length > 100) return { accepted: false, reason: 'ValidateBasic: signature too long' };
  if (signature.length !== 64) return { accepted: false, reason: 'signature must be 64 bytes (r||s)' };
  const pre = utf8(`${contractId}:${nonce}:${ctx.chainId}`);
  const preNoChain = utf8(`${contractId}:${nonce}:`);
  const candidates: [string, Uint8Array][] = [
    [`1: Sign("${contractId}:${nonce}:${ctx.chainId}")`, pre],
    [`2: Sign(sha256("${contractId}:${nonce}:${ctx.chainId}"))`, sha256(pre)],
    [`3: Sign("${contractId}:${nonce}:") without chain id`, preNoChain],
    [`4: Sign(sha256("${contractId}:${nonce}:"))`, sha256(preNoChain)],
  ];
  for (const [name, msg] of candidates) if (cosmosVerify(ctx.spender, msg, signature)) return { accepted: true, branch: name };
  if (!isLowS(signature)) {
    const low = highSTwin(signature);
    for (const [name, msg] of candidates) if (cosmosVerify(ctx.spender, msg, low)) return { accepted: true, branch: `${name}, after normalising high S` };
  }
  return { accepted: false, reason: `signature mismatch: no branch verifies against contract.GetSpender() with chain id ${ctx.chainId}` };
}

/** Sentinel `ContractAuth.Validate` for `arkcontract`: Sign("cid:ts:") by contract.Client, ts > last. */
export function sentinelArkContractV1017(raw: string, ctx: { client: Uint8Array; lastTimestamp?: bigint }): Verdict {
  const parts = splitN(raw, ':', 3);
  if (parts.length !== 3) return { accepted: false, reason: '400 bad contract auth: invalid format' };
  const cid = goParseUint(parts[0]!);
  const ts = goParseInt(parts[1]!);
  const sig = goHexDecode(parts[2]!);
  for (const v of [cid, ts, sig]) if (typeof v === 'string') return { accepted: false, reason: `400 bad contract auth: ${v}` };
  if (cid === 0n) return { accepted: false, reason: '400 bad contract auth: contract id cannot be zero' };
  if ((ts as bigint) <= (ctx.lastTimestamp ?? 0n)) return { accepted: false, reason: `400 bad contract auth: timestamp must be larger than ${ctx.lastTimestamp ?? 0n}` };
  if (!cosmosVerify(ctx.client, utf8(`${cid}:${ts}:`), sig as Uint8Array)) return { accepted: false, reason: '400 bad contract auth: invalid signature' };
  return { accepted: true, branch: `Sign("${cid}:${ts}:") by contract.Client` };
}
