import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { crc32c } from '@aws-crypto/crc32c';
import { CloudSigner, derToCompact, spkiToCompressed, type CloudSignerOptions } from './base.js';
import { KmsError, oneLine, type Classified } from './retry.js';
import { MAX_REPLY_BYTES, replyTooLarge } from './reply-limit.js';

export const GCP_KMS_PREFIX = 'gcpkms:';
const ALGORITHM = 'EC_SIGN_SECP256K1_SHA256';

export interface GcpKmsReference {
  /** projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V */
  name: string;
  project: string;
  location: string;
  keyRing: string;
  cryptoKey: string;
  version: string;
}

const PROJECT = '(?:[a-z][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]';
const NAME = new RegExp(`^projects/(${PROJECT})/locations/([a-z0-9-]{1,63})/keyRings/([A-Za-z0-9_-]{1,63})/cryptoKeys/([A-Za-z0-9_-]{1,63})/cryptoKeyVersions/([1-9][0-9]{0,18})$`);

/** `gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V` (a version: the key's primary is not used for asymmetric keys). */
export function parseGcpKmsReference(ref: string): GcpKmsReference {
  const shape = 'expected gcpkms:projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/cryptoKeyVersions/N';
  const shown = JSON.stringify(String(ref)).slice(0, 200);
  if (typeof ref !== 'string' || !ref.startsWith(GCP_KMS_PREFIX)) throw new KmsError('BAD_REFERENCE', `Cloud KMS key reference ${shown}: ${shape}`);
  const name = ref.slice(GCP_KMS_PREFIX.length);
  const m = NAME.exec(name);
  if (!m) {
    const hint = /\/cryptoKeys\/[^/]+$/.test(name) ? 'an asymmetric key is used by version: add /cryptoKeyVersions/N (gcloud kms keys versions list shows them)' : shape;
    throw new KmsError('BAD_REFERENCE', `Cloud KMS key reference ${shown}: ${hint}`);
  }
  return { name, project: m[1]!, location: m[2]!, keyRing: m[3]!, cryptoKey: m[4]!, version: m[5]! };
}

export interface GcpKmsOptions extends CloudSignerOptions {
  /**
   * Another endpoint: a private or regional endpoint, an emulator, a test server. `insecure: true` (plain
   * gRPC, no auth) is for a server on this machine only. Credentials otherwise come from ADC.
   */
  endpoint?: { host: string; port?: number; insecure?: boolean };
}

type GcpModule = typeof import('@google-cloud/kms');
let sdk: Promise<GcpModule> | undefined;
const loadSdk = () => (sdk ??= import('@google-cloud/kms'));

async function makeClient(endpoint: GcpKmsOptions['endpoint']): Promise<KeyManagementServiceClient> {
  const mod = await loadSdk();
  const Client = mod.KeyManagementServiceClient ?? (mod as unknown as { default: GcpModule }).default.KeyManagementServiceClient;
  // gax sets grpc.max_receive_message_length to -1 (no limit); ours replaces it. The time limit is the call's
  // deadline (callOptions' timeout), which gRPC applies to the whole call, reply included.
  const limit = { 'grpc.max_receive_message_length': MAX_REPLY_BYTES };
  if (!endpoint) return new Client(limit);
  const opts: Record<string, unknown> = { ...limit, apiEndpoint: endpoint.host, ...(endpoint.port ? { port: endpoint.port } : {}) };
  if (endpoint.insecure) {
    const grpc = await import('@grpc/grpc-js');
    opts.sslCreds = grpc.credentials.createInsecure();
    // No credential goes to a plain-gRPC server, so none is looked for: without this, google-auth-library probes
    // the GCE metadata server for the universe domain and prints a MetadataLookupWarning in every process.
    opts.clientOptions = { universeDomain: 'googleapis.com' };
  }
  return new Client(opts as ConstructorParameters<typeof Client>[0]);
}

/** Where requests go, as messages name it. */
function endpointText(endpoint: GcpKmsOptions['endpoint']): string {
  return endpoint ? `${endpoint.host}:${endpoint.port ?? 443}` : 'cloudkms.googleapis.com';
}

/** gRPC status codes (google.rpc.Code). */
const CODE = { CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** The retry/fatal decision and a one-line error for a google-gax / gRPC error. */
export function classifyGcpError(e: unknown, timedOut: boolean, what: string, endpoint: string): Classified {
  const err = e as { code?: number | string; details?: string; message?: string; name?: string };
  const code = typeof err?.code === 'number' ? err.code : undefined;
  const detail = oneLine(err?.details ?? err?.message);
  if (timedOut || code === CODE.DEADLINE_EXCEEDED) return { kind: 'transient', error: new KmsError('TIMEOUT', `${what}: no answer from Cloud KMS at ${endpoint} in time; check the network path or raise the timeout`) };
  // grpc-js's own refusal of a reply above grpc.max_receive_message_length, not the service's quota.
  if (code === CODE.RESOURCE_EXHAUSTED && /larger than max/i.test(detail)) return { kind: 'fatal', error: replyTooLarge(what) };
  if (code === CODE.RESOURCE_EXHAUSTED) return { kind: 'throttle', error: new KmsError('THROTTLED', `${what}: Cloud KMS quota exhausted (RESOURCE_EXHAUSTED); lower the request rate or raise the project's KMS quota`) };
  if (code === CODE.UNAVAILABLE || code === CODE.ABORTED || code === CODE.INTERNAL || code === CODE.CANCELLED || code === CODE.UNKNOWN) {
    return { kind: 'transient', error: new KmsError('UNAVAILABLE', `${what}: Cloud KMS at ${endpoint} is unavailable (${detail || code}); check the network and the service, then try again; nothing was signed`) };
  }
  if (code === CODE.INVALID_ARGUMENT && /crc32c|checksum/i.test(detail)) {
    return { kind: 'transient', error: new KmsError('INTEGRITY', `${what}: Cloud KMS reports the request was corrupted in transit (${detail}); retried a few times, then given up`) };
  }
  if (code === CODE.NOT_FOUND) return { kind: 'fatal', error: new KmsError('KEY_NOT_FOUND', `${what}: not found; check the project, location, key ring, key and version`) };
  if (code === CODE.FAILED_PRECONDITION) {
    return { kind: 'fatal', error: new KmsError('KEY_DISABLED', `${what}: the key version cannot be used (${detail}); enable it (gcloud kms keys versions enable) or, if destroyed, create a new key`) };
  }
  if (code === CODE.PERMISSION_DENIED || code === CODE.UNAUTHENTICATED) {
    return { kind: 'fatal', error: new KmsError('ACCESS_DENIED', `${what}: Cloud KMS refused the request (${code === CODE.UNAUTHENTICATED ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED'}); the ADC identity needs cloudkms.cryptoKeyVersions.useToSign and .viewPublicKey on this key`) };
  }
  if (/Could not load the default credentials|Unable to detect a Project Id/i.test(String(err?.message))) {
    return { kind: 'fatal', error: new KmsError('NO_CREDENTIALS', `${what}: no Google credentials found (Application Default Credentials); configure ADC or workload identity`) };
  }
  if (code === CODE.INVALID_ARGUMENT) return { kind: 'fatal', error: new KmsError('WRONG_KEY_TYPE', `${what}: Cloud KMS rejected the request (${detail}); the key must be ${ALGORITHM}`) };
  return { kind: 'fatal', error: new KmsError('BACKEND_ERROR', `${what}: Cloud KMS error ${code ?? err?.name ?? 'unknown'}${detail ? `: ${detail}` : ''}`) };
}

function crcOf(v: unknown): number | undefined {
  const value = (v as { value?: unknown } | null | undefined)?.value;
  if (value === undefined || value === null) return undefined;
  return Number(String(value));
}

function bytesOf(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  return new Uint8Array();
}

/** A secp256k1 key version in Cloud KMS (EC_SIGN_SECP256K1_SHA256): asymmetricSign with the digest and its CRC32C. */
export class GcpKmsSigner extends CloudSigner<GcpKmsReference> {
  readonly kind = 'gcp-kms' as const;
  private client?: Promise<KeyManagementServiceClient>;

  constructor(reference: string, private readonly options: GcpKmsOptions = {}) {
    super(options, { ref: parseGcpKmsReference(reference), endpoint: endpointText(options.endpoint), classify: classifyGcpError });
  }

  get reference(): string {
    return GCP_KMS_PREFIX + this.ref.name;
  }

  private kms(): Promise<KeyManagementServiceClient> {
    return (this.client ??= makeClient(this.options.endpoint));
  }

  protected override classify(e: unknown, timedOut: boolean): Classified {
    if (e instanceof IntegrityError) return { kind: 'transient', error: new KmsError('INTEGRITY', `${this.describe()}: ${e.message}; the response was discarded (corrupted in transit?)`) };
    return super.classify(e, timedOut);
  }

  /** gax's own retries are off (ours count and jitter); its deadline is our per-call timeout. */
  private callOptions() {
    return { timeout: this.policy.timeoutMs, maxRetries: 0 };
  }

  private cancellable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
    const cancel = (p as unknown as { cancel?: () => void }).cancel;
    if (cancel) signal.addEventListener('abort', () => cancel.call(p), { once: true });
    return p;
  }

  protected async fetchPublicKey(signal: AbortSignal): Promise<Uint8Array> {
    const client = await this.kms();
    const [pk] = await this.cancellable(client.getPublicKey({ name: this.ref.name }, this.callOptions()), signal);
    if (pk.algorithm !== ALGORITHM) throw new KmsError('WRONG_KEY_TYPE', `${this.describe()}: the key version's algorithm is ${String(pk.algorithm)}, expected ${ALGORITHM}`);
    if (pk.name && pk.name !== this.ref.name) throw new KmsError('BAD_RESPONSE', `${this.describe()}: GetPublicKey answered for ${pk.name}`);
    const pem = pk.pem ?? '';
    const crc = crcOf(pk.pemCrc32c);
    if (crc !== undefined && crc !== crc32c(Buffer.from(pem, 'utf8'))) {
      throw new KmsError('INTEGRITY', `${this.describe()}: the public key's CRC32C does not match; the response was corrupted in transit; try again`);
    }
    return spkiToCompressed(pem, this.describe());
  }

  protected async signDigestRaw(digest32: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const client = await this.kms();
    const [out] = await this.cancellable(client.asymmetricSign({ name: this.ref.name, digest: { sha256: digest32 }, digestCrc32c: { value: crc32c(digest32) } }, this.callOptions()), signal);
    // As Google documents: the digest's CRC32C must have been checked by the service, the signature's CRC32C
    // must match, and the name must be the version we asked for. A mismatch is transport damage: discarded
    // and retried a limited number of times (thrown as a plain Error, which classify treats as INTEGRITY).
    if (out.verifiedDigestCrc32c !== true) throw integrityError('the service did not confirm the digest CRC32C (verifiedDigestCrc32c is false)');
    const sig = bytesOf(out.signature);
    const sigCrc = crcOf(out.signatureCrc32c);
    if (sigCrc === undefined || sigCrc !== crc32c(sig)) throw integrityError("the signature's CRC32C does not match signatureCrc32c");
    if (out.name !== this.ref.name) throw new KmsError('KEY_MISMATCH', `${this.describe()}: signed by ${String(out.name)}, not by the version asked for; not released`);
    return derToCompact(sig, this.describe());
  }

  override async close(): Promise<void> {
    if (this.client) await (await this.client).close();
  }
}

class IntegrityError extends Error {
  override name = 'IntegrityError';
}
function integrityError(what: string): IntegrityError {
  return new IntegrityError(what);
}

export interface CreateGcpKmsKeyOptions {
  /** projects/P/locations/L/keyRings/R */
  keyRing: string;
  keyId: string;
  /** Create the key ring first (it may already exist). */
  createKeyRing?: boolean;
  /** Google supports secp256k1 at HSM protection level only; default HSM. */
  protectionLevel?: 'HSM' | 'SOFTWARE';
  endpoint?: GcpKmsOptions['endpoint'];
  /** How long to wait for the first version to leave PENDING_GENERATION. Default 60 s. */
  waitMs?: number;
}

/** Create an ASYMMETRIC_SIGN key with EC_SIGN_SECP256K1_SHA256; returns the reference of its version 1 and its public key. */
export async function createGcpKmsKey(options: CreateGcpKmsKeyOptions): Promise<{ reference: string; publicKey: Uint8Array }> {
  const client = await makeClient(options.endpoint);
  const what = `Cloud KMS key ring ${options.keyRing} key ${options.keyId}`;
  const endpoint = endpointText(options.endpoint);
  try {
    const ring = /^projects\/([^/]+)\/locations\/([^/]+)\/keyRings\/([^/]+)$/.exec(options.keyRing);
    if (!ring) throw new KmsError('BAD_REFERENCE', `${what}: the key ring must be projects/P/locations/L/keyRings/R`);
    if (options.createKeyRing) {
      try {
        await client.createKeyRing({ parent: `projects/${ring[1]}/locations/${ring[2]}`, keyRingId: ring[3]!, keyRing: {} });
      } catch (e) {
        if ((e as { code?: number }).code !== 6 /* ALREADY_EXISTS */) throw e;
      }
    }
    const [key] = await client.createCryptoKey({
      parent: options.keyRing,
      cryptoKeyId: options.keyId,
      cryptoKey: { purpose: 'ASYMMETRIC_SIGN', versionTemplate: { algorithm: ALGORITHM, protectionLevel: options.protectionLevel ?? 'HSM' } },
    });
    const version = `${key.name}/cryptoKeyVersions/1`;
    const deadline = Date.now() + (options.waitMs ?? 60_000);
    for (;;) {
      const [v] = await client.getCryptoKeyVersion({ name: version });
      if (v.state === 'ENABLED') break;
      if (v.state !== 'PENDING_GENERATION' || Date.now() > deadline) throw new KmsError('KEY_DISABLED', `${what}: version 1 is ${String(v.state)}, not ENABLED`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const signer = new GcpKmsSigner(GCP_KMS_PREFIX + version, options.endpoint ? { endpoint: options.endpoint } : {});
    try {
      return { reference: signer.reference, publicKey: await signer.publicKey() };
    } finally {
      await signer.close();
    }
  } catch (e) {
    if (e instanceof KmsError) throw e;
    throw classifyGcpError(e, false, what, endpoint).error;
  } finally {
    await client.close();
  }
}
