import { createPublicKey } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes, toHex } from '../../crypto/bytes.js';
import { isLowS, sha256 } from '../../crypto/secp256k1.js';
import { toAddress } from '../../crypto/address.js';
import { finalizeSignature, type Signer } from '../signer.js';
import { CloudStats, DEFAULT_RETRY, KmsError, oneLine, withRetry, type Classified, type RetryPolicy } from './retry.js';

export type CloudKind = 'aws-kms' | 'azure-kv' | 'gcp-kms';

/** Options every cloud signer takes. Credentials are not among them: each SDK's default chain provides them. */
export interface CloudSignerOptions extends Partial<RetryPolicy> {
  /**
   * The public key recorded for this key (e.g. in the keyring). When given, the backend's key must match it
   * before anything is signed (KEY_MISMATCH otherwise), so a reference that now points elsewhere is refused.
   */
  expectedPublicKey?: Uint8Array;
  /** Counters to add to; a fresh CloudStats otherwise (see `stats`). May be shared by several signers. */
  stats?: CloudStats;
}

export interface CloudHealth {
  ok: boolean;
  kind: CloudKind;
  reference: string;
  /** The backend round trip of the check, in milliseconds. */
  latencyMs: number;
  /** The arkeo1… address of the key, when it was read. */
  address?: string;
  code?: string;
  error?: string;
}

/** 33-byte compressed key from a DER SubjectPublicKeyInfo (AWS GetPublicKey) or a PEM one (GCP); curve checked. */
export function spkiToCompressed(spki: Uint8Array | string, what: string): Uint8Array {
  let key;
  try {
    key = typeof spki === 'string' ? createPublicKey(spki) : createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw new KmsError('BAD_PUBLIC_KEY', `${what}: the public key is not a valid SubjectPublicKeyInfo; check that the key is an asymmetric signing key`);
  }
  const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : key.asymmetricKeyType;
  if (curve !== 'secp256k1') {
    throw new KmsError('WRONG_KEY_TYPE', `${what}: the key is ${curve ?? 'of an unknown type'}, not secp256k1; create the key with the secp256k1 key spec`);
  }
  const jwk = key.export({ format: 'jwk' });
  return xyToCompressed(Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url'), what);
}

/** 33-byte compressed key from affine coordinates (Azure's JWK x, y); the point is checked to be on secp256k1. */
export function xyToCompressed(x: Uint8Array, y: Uint8Array, what: string): Uint8Array {
  if (x.length !== 32 || y.length !== 32) throw new KmsError('BAD_PUBLIC_KEY', `${what}: the key's coordinates are ${x.length} and ${y.length} bytes, expected 32`);
  const uncompressed = new Uint8Array(65);
  uncompressed[0] = 4;
  uncompressed.set(x, 1);
  uncompressed.set(y, 33);
  try {
    return secp256k1.Point.fromBytes(uncompressed).toBytes(true);
  } catch {
    throw new KmsError('BAD_PUBLIC_KEY', `${what}: the key's point is not on secp256k1; check that the key's curve is P-256K / secp256k1`);
  }
}

/** DER ECDSA signature (AWS, GCP) → 64-byte r||s, through @noble/curves' strict DER parser. */
export function derToCompact(der: Uint8Array, what: string): Uint8Array {
  try {
    return secp256k1.Signature.fromBytes(der, 'der').toBytes('compact');
  } catch {
    throw new KmsError('BAD_RESPONSE', `${what}: the signature returned is not a valid DER ECDSA signature (${der.length} bytes); not released`);
  }
}

/** A cloud's SDK errors read as the retry/fatal decision and a one-line error naming the key (`what`) and `endpoint`. */
export type ClassifyCloudError = (e: unknown, timedOut: boolean, what: string, endpoint: string) => Classified;

/** What a cloud signer says of its key: the parsed reference, where its requests go (for messages), its errors. */
export interface CloudTarget<R> {
  ref: R;
  endpoint: string;
  classify: ClassifyCloudError;
}

/**
 * What the three cloud signers share: the public key read once and checked against the recorded one, per-call
 * timeout and bounded jittered retries (never for a signature that failed verification), counters, health, errors
 * named by key and endpoint, and every signature through finalizeSignature. Subclasses supply the backend calls.
 */
export abstract class CloudSigner<R = unknown> implements Signer {
  abstract readonly kind: CloudKind;
  /** The key's reference, parsed. */
  readonly ref: R;
  readonly stats: CloudStats;
  protected readonly policy: RetryPolicy;
  protected readonly expected?: Uint8Array;
  /** Where requests go, as messages name it. */
  protected readonly endpointText: string;
  private readonly classifyError: ClassifyCloudError;
  private pub?: Uint8Array;
  private pubPending?: Promise<Uint8Array>;

  protected constructor(options: CloudSignerOptions, target: CloudTarget<R>) {
    this.ref = target.ref;
    this.endpointText = target.endpoint;
    this.classifyError = target.classify;
    this.stats = options.stats ?? new CloudStats();
    this.policy = {
      timeoutMs: options.timeoutMs ?? DEFAULT_RETRY.timeoutMs,
      retries: options.retries ?? DEFAULT_RETRY.retries,
      backoffBaseMs: options.backoffBaseMs ?? DEFAULT_RETRY.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs ?? DEFAULT_RETRY.backoffMaxMs,
    };
    if (options.expectedPublicKey) this.expected = Uint8Array.from(options.expectedPublicKey);
  }

  /** The reference as it should be recorded (`awskms:…`, `azurekv:…` with its version once resolved, `gcpkms:…`). */
  abstract get reference(): string;

  /** Read the key's 33-byte public key from the backend (one attempt; the caller retries). */
  protected abstract fetchPublicKey(signal: AbortSignal): Promise<Uint8Array>;
  /** Sign a SHA-256 digest (one attempt); the raw 64-byte r||s, any S. */
  protected abstract signDigestRaw(digest32: Uint8Array, signal: AbortSignal): Promise<Uint8Array>;
  /** Map an SDK error to retry/fatal and a one-line KmsError naming the key. */
  protected classify(e: unknown, timedOut: boolean): Classified {
    return this.classifyError(e, timedOut, this.describe(), this.endpointText);
  }

  protected call<T>(op: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withRetry(op, this.policy, this.stats, (e, timedOut) => (e instanceof KmsError ? { kind: 'fatal', error: e } : this.classify(e, timedOut)), fn);
  }

  protected describe(): string {
    return `${this.kind} key ${this.reference}`;
  }

  private mismatch(actual: Uint8Array, recorded: Uint8Array): KmsError {
    return new KmsError(
      'KEY_MISMATCH',
      `${this.describe()}: the backend's public key ${toHex(actual)} is not the recorded ${toHex(recorded)}; the reference now points at another key: fix the reference or record the key again; nothing was signed`,
    );
  }

  /** The key's public key: read once (concurrent first callers share the read), then cached; a failure is not. */
  async publicKey(): Promise<Uint8Array> {
    if (this.pub) return this.pub.slice();
    this.pubPending ??= this.call('get-public-key', (signal) => this.fetchPublicKey(signal))
      .then((pub) => {
        if (this.expected && !equalBytes(pub, this.expected)) throw this.mismatch(pub, this.expected);
        this.pub = pub;
        return pub;
      })
      .finally(() => {
        this.pubPending = undefined;
      });
    return (await this.pubPending).slice();
  }

  /** Cosmos Sign(message): ECDSA over SHA-256(message) in the KMS, then low-S and self-verified before release. */
  async sign(message: Uint8Array): Promise<Uint8Array> {
    const digest = sha256(message);
    const pub = await this.publicKey();
    const raw = await this.call('sign', (signal) => this.signDigestRaw(digest, signal));
    const wasHigh = raw.length === 64 && !isLowS(raw);
    let sig: Uint8Array;
    try {
      sig = finalizeSignature(raw, digest, pub, this.describe());
    } catch (e) {
      // Never retried: a signature that does not verify means a faulty or hostile backend (or the wrong key).
      this.stats.selfCheckFailures++;
      throw e;
    }
    this.stats.signatures++;
    if (wasHigh) this.stats.highSNormalised++;
    return sig;
  }

  /**
   * Reads the key again from the backend (not the cache) and checks it is usable and the same key. Never throws;
   * `ok: false` carries the one-line error.
   */
  async health(): Promise<CloudHealth> {
    const started = performance.now();
    const base = { kind: this.kind, reference: this.reference };
    try {
      const pub = await withRetry('health', { ...this.policy, retries: 0 }, this.stats, (e, t) => (e instanceof KmsError ? { kind: 'fatal', error: e } : this.classify(e, t)), (signal) => this.healthCheck(signal));
      const pinned = this.expected ?? this.pub;
      if (pinned && !equalBytes(pub, pinned)) throw this.mismatch(pub, pinned);
      return { ok: true, ...base, latencyMs: performance.now() - started, address: toAddress(pub) };
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return { ok: false, ...base, latencyMs: performance.now() - started, code: err.code ?? 'ERROR', error: oneLineError(e) };
    }
  }

  /** Release the SDK's connections; the signer must not be used afterwards. */
  async close(): Promise<void> {}

  /** By default the health check is a public-key read; backends that can see a disabled key without signing override it. */
  protected healthCheck(signal: AbortSignal): Promise<Uint8Array> {
    return this.fetchPublicKey(signal);
  }
}

function oneLineError(e: unknown): string {
  return e instanceof KmsError ? e.message : oneLine((e as Error)?.message ?? e);
}
