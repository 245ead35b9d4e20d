import { secp256k1 } from '@noble/curves/secp256k1.js';

/**
 * Signature faults for OUR cloud KMS TEST SERVERS (azure-kv-test-server.ts, gcp-kms-test-server.ts): answers that
 * are well-formed in every way the wire can check (length, range, DER, CRC32C) and wrong all the same, so only a
 * signer's own verify against the key catches them. Each knob counts the next sign answers it spoils.
 */
export interface SignatureFaults {
  /** One bit of s flipped. */
  corruptSignature: number;
  /** Made by another key than the one asked for. */
  otherKeySignature: number;
}

const OTHER_KEY = secp256k1.utils.randomSecretKey();

/** ECDSA over the digest as given, random k, raw r||s; spoilt as `faults` asks (its counters go down). */
export function signWithFaults(faults: SignatureFaults, digest: Uint8Array, priv: Uint8Array, lowS = false): Uint8Array {
  let key = priv;
  if (faults.otherKeySignature > 0) {
    faults.otherKeySignature--;
    key = OTHER_KEY;
  }
  const sig = secp256k1.sign(digest, key, { prehash: false, lowS, extraEntropy: true });
  if (faults.corruptSignature > 0) {
    faults.corruptSignature--;
    sig[63]! ^= 1; // still in range (unless s is 1 or n - 1), so no shape check can refuse it
  }
  return sig;
}

/**
 * Reply faults for the same test servers, each knob counting the next sign answers it spoils: a reply padded past
 * any sane size with something the client ignores (an unknown JSON field, an unknown protobuf field), so only a
 * size limit refuses it; or a reply that starts and never ends, so only a time limit ends the call.
 */
export interface ReplyFaults {
  oversizedReplies: number;
  stalledReplies: number;
}

/** Past our 64 KiB limit, within gRPC's default 4 MiB. */
export const OVERSIZED_REPLY_PADDING = 256 * 1024;

/** Whether to spoil this answer with `fault` (its counter goes down). */
export function takeFault(faults: ReplyFaults, fault: keyof ReplyFaults): boolean {
  if (faults[fault] <= 0) return false;
  faults[fault]--;
  return true;
}
