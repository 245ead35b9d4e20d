import { CryptoError } from '../errors.js';
import { CURVE_ORDER, isLowS, signingEngine, testFaultActive, isValidPublicKey, normalizeLowS, sha256, verifyDigest, publicKeyFromPrivate } from '../crypto/secp256k1.js';
import { wipe } from '../crypto/bytes.js';
import { lockPages } from '../hardening.js';

/**
 * The one shape every key backend implements (local keyring, PKCS#11, cloud KMS, the daemon client),
 * in the spirit of viem's accounts: code that signs never asks where the key lives.
 */
export interface Signer {
  /** What holds the key: 'local', 'pkcs11', 'aws-kms', 'daemon', … */
  readonly kind: string;
  /** The 33-byte compressed secp256k1 public key. */
  publicKey(): Promise<Uint8Array>;
  /** Cosmos `Sign(message)`: ECDSA over SHA-256(message), 64-byte low-S r||s. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Address and amino bech32 pubkey of any signer. */
export async function describeSigner(signer: Signer): Promise<{ address: string; bech32PubKey: string; publicKey: Uint8Array }> {
  const publicKey = await signer.publicKey();
  const { toAddress, toBech32PubKey } = await import('../crypto/address.js');
  return { publicKey, address: toAddress(publicKey), bech32PubKey: toBech32PubKey(publicKey) };
}

/**
 * The shared last step for backends whose raw output is not already Cosmos-shaped (HSMs and KMSs give random-k,
 * often high-S, sometimes DER signatures): normalise to low-S and verify against the public key before release.
 */
export function finalizeSignature(rawSignature64: Uint8Array, digest32: Uint8Array, publicKey33: Uint8Array, source: string): Uint8Array {
  // Checked here, with their own messages, rather than left to the self-check: an out-of-range r or s is a broken
  // or hostile device, and s >= n would make the low-S arithmetic below meaningless.
  if (!(digest32 instanceof Uint8Array) || digest32.length !== 32) throw new CryptoError('BAD_DIGEST', `${source}: digest: expected 32 bytes, got ${lengthOf(digest32)}`);
  const badPublicKey = () => new CryptoError('BAD_PUBLIC_KEY', `${source}: public key: expected a 33-byte compressed secp256k1 point`);
  // The shape is checked here; whether it is a point only when the signature does not verify (the engine's verify
  // refuses a non-point anyway), so a backend's hot path does not decode the same key again for every signature.
  if (!(publicKey33 instanceof Uint8Array) || publicKey33.length !== 33 || (publicKey33[0] !== 2 && publicKey33[0] !== 3)) throw badPublicKey();
  if (!(rawSignature64 instanceof Uint8Array) || rawSignature64.length !== 64) throw new CryptoError('BAD_SIGNATURE', `${source}: returned ${lengthOf(rawSignature64)} bytes, expected 64`);
  for (const [name, at] of [['r', 0], ['s', 32]] as const) {
    const v = BigInt('0x' + Buffer.from(rawSignature64.buffer, rawSignature64.byteOffset + at, 32).toString('hex'));
    if (v === 0n || v >= CURVE_ORDER) throw new CryptoError('BAD_SIGNATURE', `${source}: ${name} is ${v === 0n ? 'zero' : 'not below the curve order'}; not released`);
  }
  const sig = isLowS(rawSignature64) ? rawSignature64 : normalizeLowS(rawSignature64);
  let verified: boolean;
  try {
    verified = verifyDigest(publicKey33, digest32, sig);
  } catch {
    verified = false;
  }
  if (!verified) {
    if (!isValidPublicKey(publicKey33)) throw badPublicKey();
    throw new CryptoError('SELF_CHECK_FAILED', `${source}: signature does not verify against the key's public key; not released`);
  }
  return sig;
}

function lengthOf(x: unknown): string {
  return x instanceof Uint8Array ? String(x.length) : typeof x;
}

export interface LocalSignerOptions {
  /** Verify every signature before returning it, as Go's signhere does (guards against faults). Default true. */
  verify?: boolean;
}

/** A key held in this process's memory. `destroy()` zeroes it. */
export class LocalSigner implements Signer {
  readonly kind = 'local';
  private readonly key: Uint8Array;
  private readonly pub: Uint8Array;
  private readonly verify: boolean;
  private destroyed = false;

  constructor(privateKey: Uint8Array, options: LocalSignerOptions = {}) {
    // In its own ArrayBuffer: off V8's heap, so the garbage collector never moves (and copies) it and its page can
    // be locked (lockKeyPages). Uint8Array.from would put a 32-byte array on the heap.
    this.key = new Uint8Array(new ArrayBuffer(privateKey.length));
    this.key.set(privateKey);
    this.pub = publicKeyFromPrivate(this.key);
    this.verify = options.verify ?? true;
  }

  async publicKey(): Promise<Uint8Array> {
    return this.pub.slice();
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    return this.signDigestSync(sha256(message));
  }

  /**
   * Synchronous signing of a precomputed SHA-256 digest, for hot paths that already hashed the message. The key
   * was validated once, in the constructor, so this goes straight to the engine: sign, then (by default) verify,
   * where the engine's verify rejects high-S as Cosmos does.
   */
  signDigestSync(digest32: Uint8Array): Uint8Array {
    if (this.destroyed) throw new CryptoError('SIGNER_DESTROYED', 'this signer was destroyed; its key is gone');
    if (digest32.length !== 32) throw new CryptoError('BAD_DIGEST', `digest: expected 32 bytes, got ${digest32.length}`);
    const engine = signingEngine();
    // Under the test-only fault (ARKEO_SIGNER_TEST_FAULT) every signature comes out corrupt: a signer told to skip
    // the self-check refuses outright, so the hook can only make signing fail, never release a bad signature.
    // (Its own code, not SELF_CHECK_FAILED, so a test that expects the self-check to catch the fault also notices
    // a signer that was quietly built without it.)
    if (!this.verify && testFaultActive()) throw new CryptoError('TEST_FAULT_UNCHECKED', 'a test-only fault is active and this signer skips its self-check; not released');
    const sig = engine.signDigest(digest32, this.key);
    if (this.verify && !engine.verifyDigest(sig, digest32, this.pub)) {
      throw new CryptoError('SELF_CHECK_FAILED', 'local signature failed its self-check; not released');
    }
    return sig;
  }

  /**
   * A copy of the key in a fresh ArrayBuffer, for `postMessage(…, [buffer])` to a SigningThread: transfer moves
   * the memory to the thread, so no copy stays behind in this one. Callers destroy this signer afterwards.
   */
  exportKeyForTransfer(): ArrayBuffer {
    if (this.destroyed) throw new CryptoError('SIGNER_DESTROYED', 'this signer was destroyed; its key is gone');
    return Uint8Array.from(this.key).buffer;
  }

  /** Keep the key's page out of swap (mlock); undefined when locked, else why not. For long-lived holders. */
  lockKeyPages(): string | undefined {
    return lockPages(this.key);
  }

  destroy(): void {
    wipe(this.key);
    this.destroyed = true;
  }
}

/** viem-style constructor. */
export function privateKeyToSigner(privateKey: Uint8Array, options?: LocalSignerOptions): LocalSigner {
  return new LocalSigner(privateKey, options);
}
