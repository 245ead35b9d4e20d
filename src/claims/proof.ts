import { ArkeoSignerError } from '../errors.js';
import { utf8 } from '../crypto/bytes.js';
import { sha256, verifySignature } from '../crypto/secp256k1.js';
import { fetchSentinelClaim, type SentinelClaim } from './remote.js';
import { claimPreimage } from './wire.js';

/**
 * A provider is paid nonce × rate for the highest claim it settles, so a nonce it reports (`400 bad nonce (x/y)`,
 * GET /claim/{cid}) is a demand for money. The only nonces above ours that can be real are ones a key of the
 * contract signed (another process or machine with the same key), and the sentinel keeps that claim with its
 * signature. So a reported nonce is believed only when the sentinel's stored claim at that nonce verifies with a
 * key we trust; a provider that cannot show one is lying, and nothing more is signed for the contract.
 */
/** A nonce the sentinel holds, with the signature it stored for it, checked by proveStoredClaim. */
export interface ProvenNonce {
  nonce: bigint;
  signature: Uint8Array;
}

export class UnprovenNonceError extends ArkeoSignerError {
  constructor(
    readonly contractId: bigint,
    readonly claimed: bigint,
    message: string,
    /** The signature the sentinel showed for it, if any (for the record). */
    readonly signature?: Uint8Array,
  ) {
    super('PROVIDER_UNPROVEN_NONCE', message);
  }
}

/**
 * Does `signature` sign the claim `<cid>:<nonce>:` for one of `keys`? As both verifiers accept it (arkeo-claims.md
 * §3.2): ECDSA over SHA-256 of the preimage, or of its SHA-256; low-S only. Returns the key that signed, if any.
 */
export function claimSigner(contractId: bigint, nonce: bigint, signature: Uint8Array, keys: readonly Uint8Array[]): Uint8Array | undefined {
  const preimage = utf8(claimPreimage(contractId, nonce));
  const digest = sha256(preimage);
  // Cosmos VerifySignature (crypto's verifySignature, as the verifiers' emulations use it) of the preimage, then of its digest.
  return keys.find((key) => verifySignature(key, preimage, signature) || verifySignature(key, digest, signature));
}

/**
 * The nonce in a sentinel's stored claim, proven: undefined when it would not move `ours` (it holds none, or one
 * at or below ours); the claim when one of `trusted` signed it; otherwise UnprovenNonceError. `atLeast`, when
 * given, is the nonce its `bad nonce (x/y)` reply named: the stored claim must reach it, or that reply was a lie
 * too. `who` names the sentinel in the message.
 */
export function proveStoredClaim(stored: SentinelClaim, trusted: readonly Uint8Array[], who: string, ours: bigint, atLeast?: bigint): ProvenNonce | undefined {
  const shortOf = atLeast !== undefined && stored.nonce < atLeast;
  if (stored.nonce <= ours && !shortOf) return undefined;
  if (!shortOf && stored.signature && claimSigner(stored.contractId, stored.nonce, stored.signature, trusted)) return { nonce: stored.nonce, signature: stored.signature };
  const said = shortOf ? atLeast : stored.nonce;
  const why = shortOf
    ? `its stored claim is at nonce ${stored.nonce}, below that`
    : stored.signature
      ? `the claim it stored at that nonce is not signed by this key${trusted.length > 1 ? " or the contract's registered parties" : ''}`
      : 'it shows no signature for it';
  throw new UnprovenNonceError(
    stored.contractId,
    said,
    `contract ${stored.contractId}: ${who} says it holds nonce ${said}, but ${why}; a nonce the provider cannot prove is not believed (it would be paid nonce × rate)`,
    stored.signature,
  );
}

/**
 * GET /claim/{cid} and proveStoredClaim: the sentinel's nonce, which must be proven when it is above `ours` (a
 * nonce at or below it moves nothing and is returned as said, for display).
 */
export async function provenSentinelNonce(sentinelUrl: string, contractId: bigint, trusted: readonly Uint8Array[], ours: bigint): Promise<bigint> {
  const stored = await fetchSentinelClaim(sentinelUrl, contractId);
  return proveStoredClaim(stored, trusted, `the sentinel ${sentinelUrl}`, ours)?.nonce ?? stored.nonce;
}
