import { Readable } from 'node:stream';
import type { KMSClient } from '@aws-sdk/client-kms';
import { CloudSigner, derToCompact, spkiToCompressed, type CloudSignerOptions } from './base.js';
import { KmsError, oneLine, type Classified } from './retry.js';
import { readReply } from './reply-limit.js';

export const AWS_KMS_PREFIX = 'awskms:';

export interface AwsKmsReference {
  /** The ARN as given: `arn:aws:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`. */
  arn: string;
  partition: string;
  region: string;
  account: string;
  /** `key` or `alias`. */
  type: 'key' | 'alias';
  /** The key id (uuid or `mrk-…`) or the alias name (`alias/…`). */
  id: string;
}

const ARN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):kms:([a-z]{2}(?:-[a-z]+)+-\d{1,2}):(\d{12}):(key\/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})|alias\/[A-Za-z0-9/_-]{1,250})$/;

/**
 * `awskms:` + a key ARN or an alias ARN. The ARN carries the region, so no separate region setting is needed;
 * a bare key id or alias name is refused because it would depend on the environment's default region.
 */
export function parseAwsKmsReference(ref: string): AwsKmsReference {
  if (typeof ref !== 'string' || !ref.startsWith(AWS_KMS_PREFIX)) {
    throw new KmsError('BAD_REFERENCE', `AWS KMS key reference ${JSON.stringify(String(ref)).slice(0, 120)}: expected awskms:arn:aws:kms:REGION:ACCOUNT:key/ID or …:alias/NAME`);
  }
  const arn = ref.slice(AWS_KMS_PREFIX.length);
  const m = ARN.exec(arn);
  if (!m) {
    const hint = /^(alias\/|[0-9a-f]{8}-|mrk-)/.test(arn)
      ? 'a bare key id or alias name depends on the default region; give the full ARN (aws kms describe-key --key-id … shows it)'
      : 'expected arn:aws:kms:REGION:ACCOUNT:key/ID (a uuid or mrk-…) or arn:aws:kms:REGION:ACCOUNT:alias/NAME';
    throw new KmsError('BAD_REFERENCE', `AWS KMS key reference ${JSON.stringify(ref).slice(0, 160)}: ${hint}`);
  }
  const [, partition, region, account, resource] = m as unknown as [string, string, string, string, string];
  const type = resource.startsWith('alias/') ? 'alias' : 'key';
  if (type === 'alias' && resource.startsWith('alias/aws/')) {
    throw new KmsError('BAD_REFERENCE', `AWS KMS key reference ${ref}: alias/aws/… names an AWS managed key, which is symmetric and cannot sign; create an ECC_SECG_P256K1 key`);
  }
  return { arn, partition, region, account, type, id: type === 'alias' ? resource : resource.slice('key/'.length) };
}

export interface AwsKmsOptions extends CloudSignerOptions {
  /** Another endpoint (local-kms, a VPC endpoint). Credentials still come from the SDK's default chain. */
  endpoint?: string;
}

type KmsModule = typeof import('@aws-sdk/client-kms');
let sdk: Promise<KmsModule> | undefined;
/** Loaded on first use, so programs that never touch AWS KMS do not pay for the SDK. */
function loadSdk(): Promise<KmsModule> {
  return (sdk ??= import('@aws-sdk/client-kms'));
}

async function makeClient(region: string, endpoint: string | undefined, what: string): Promise<KMSClient> {
  const { KMSClient } = await loadSdk();
  // maxAttempts 1: retries are ours (counted, jittered, never after a failed self-check). No credentials are
  // passed: the SDK's default chain (environment, profile, SSO, web identity, ECS/EC2 roles) provides them.
  const client = new KMSClient({ region, maxAttempts: 1, ...(endpoint ? { endpoint } : {}) });
  // Innermost (deserialize step, low priority): the raw reply, before the SDK's deserializer reads all of it.
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const response = out.response as { body?: unknown };
      if (response.body instanceof Readable) response.body = await readReply(response.body, what);
      return out;
    },
    { step: 'deserialize', priority: 'low', name: 'arkeoReplyLimit' },
  );
  return client;
}

const THROTTLE = new Set(['ThrottlingException', 'LimitExceededException', 'TooManyRequestsException', 'RequestLimitExceeded']);
const TRANSIENT = new Set(['KMSInternalException', 'DependencyTimeoutException', 'InternalFailure', 'ServiceUnavailable', 'ServiceUnavailableException', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** The retry/fatal decision and a one-line error for an AWS SDK (or network) error. */
export function classifyAwsError(e: unknown, timedOut: boolean, what: string, endpoint: string): Classified {
  const err = e as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $fault?: string };
  const name = err?.name ?? '';
  const status = err?.$metadata?.httpStatusCode;
  const detail = oneLine(err?.message);
  if (timedOut) return { kind: 'transient', error: new KmsError('TIMEOUT', `${what}: no answer from AWS KMS at ${endpoint} in time; check the network path to KMS or raise the timeout`) };
  if (THROTTLE.has(name) || status === 429) return { kind: 'throttle', error: new KmsError('THROTTLED', `${what}: AWS KMS is throttling requests (${name || status}); lower the request rate or ask AWS for a higher KMS quota`) };
  if (NETWORK.has(err?.code ?? '') || NETWORK.has(name) || TRANSIENT.has(name) || (status !== undefined && status >= 500) || name === 'AbortError') {
    return { kind: 'transient', error: new KmsError('UNAVAILABLE', `${what}: AWS KMS at ${endpoint} is unavailable (${err?.code ?? name ?? status}); check the network and the service, then try again; nothing was signed`) };
  }
  switch (name) {
    case 'NotFoundException':
      return { kind: 'fatal', error: new KmsError('KEY_NOT_FOUND', `${what}: not found (${detail}); check the ARN and region, or whether the key was deleted`) };
    case 'DisabledException':
      return { kind: 'fatal', error: new KmsError('KEY_DISABLED', `${what}: the key is disabled; enable it (aws kms enable-key) or use another key`) };
    case 'KMSInvalidStateException':
      return { kind: 'fatal', error: new KmsError('KEY_UNUSABLE', `${what}: the key cannot be used in its current state (${detail}); if it is pending deletion, cancel it (aws kms cancel-key-deletion) and enable it`) };
    case 'AccessDeniedException':
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
    case 'IncompleteSignature':
      return { kind: 'fatal', error: new KmsError('ACCESS_DENIED', `${what}: AWS refused the request (${name}); the credentials from the SDK's default chain need kms:Sign and kms:GetPublicKey on this key`) };
    case 'CredentialsProviderError':
      return { kind: 'fatal', error: new KmsError('NO_CREDENTIALS', `${what}: no AWS credentials found in the SDK's default chain (environment, profile, instance or task role); configure one`) };
    case 'InvalidKeyUsageException':
    case 'UnsupportedOperationException':
    case 'ValidationException':
    case 'KMSInvalidSignatureException':
      return { kind: 'fatal', error: new KmsError('WRONG_KEY_TYPE', `${what}: the key cannot sign ECDSA_SHA_256 digests (${name}: ${detail}); it must be an ECC_SECG_P256K1 key with KeyUsage SIGN_VERIFY`) };
  }
  return { kind: 'fatal', error: new KmsError('BACKEND_ERROR', `${what}: AWS KMS error ${name || status || 'unknown'}${detail ? `: ${detail}` : ''}`) };
}

/** A secp256k1 key in AWS KMS (KeySpec ECC_SECG_P256K1): one Sign call per signature, the public key read once. */
export class AwsKmsSigner extends CloudSigner<AwsKmsReference> {
  readonly kind = 'aws-kms' as const;
  private client?: Promise<KMSClient>;
  /** The key ARN behind an alias, as GetPublicKey reported it; Sign must be answered by the same key. */
  private keyArn?: string;

  constructor(reference: string, private readonly options: AwsKmsOptions = {}) {
    const ref = parseAwsKmsReference(reference);
    super(options, { ref, endpoint: options.endpoint ?? `kms.${ref.region}`, classify: classifyAwsError });
  }

  get reference(): string {
    return AWS_KMS_PREFIX + this.ref.arn;
  }

  private kms(): Promise<KMSClient> {
    return (this.client ??= makeClient(this.ref.region, this.options.endpoint, this.describe()));
  }

  override async close(): Promise<void> {
    if (this.client) (await this.client).destroy();
  }

  protected async fetchPublicKey(signal: AbortSignal): Promise<Uint8Array> {
    const { GetPublicKeyCommand } = await loadSdk();
    const out = await (await this.kms()).send(new GetPublicKeyCommand({ KeyId: this.ref.arn }), { abortSignal: signal });
    const spec = out.KeySpec ?? out.CustomerMasterKeySpec;
    if (spec !== 'ECC_SECG_P256K1' || out.KeyUsage !== 'SIGN_VERIFY') {
      throw new KmsError('WRONG_KEY_TYPE', `${this.describe()}: the key is ${spec ?? 'of an unknown spec'} / ${out.KeyUsage ?? 'unknown usage'}, expected ECC_SECG_P256K1 / SIGN_VERIFY`);
    }
    if (!out.PublicKey) throw new KmsError('BAD_RESPONSE', `${this.describe()}: GetPublicKey returned no public key`);
    if (out.KeyId) this.keyArn = out.KeyId;
    return spkiToCompressed(out.PublicKey, this.describe());
  }

  protected async signDigestRaw(digest32: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const { SignCommand } = await loadSdk();
    const out = await (await this.kms()).send(new SignCommand({ KeyId: this.ref.arn, Message: digest32, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }), { abortSignal: signal });
    if (!out.Signature) throw new KmsError('BAD_RESPONSE', `${this.describe()}: Sign returned no signature; not released`);
    if (this.keyArn && out.KeyId && keyIdOf(out.KeyId) !== keyIdOf(this.keyArn)) {
      throw new KmsError('KEY_MISMATCH', `${this.describe()}: signed by ${out.KeyId}, not by ${this.keyArn} whose public key was read; the alias was moved: check it, then restart; not released`);
    }
    return derToCompact(out.Signature, this.describe());
  }
}

/** The key id in a key ARN, or the text itself (some emulators answer with the bare id). */
function keyIdOf(arnOrId: string): string {
  return arnOrId.replace(/^arn:[^:]+:kms:[^:]*:[^:]*:key\//, '');
}

export interface CreateAwsKmsKeyOptions {
  /** Where to create the key. */
  region: string;
  endpoint?: string;
  /** Also create this alias (`alias/NAME`) for the key; the reference returned then uses the key ARN. */
  alias?: string;
  description?: string;
  tags?: Record<string, string>;
}

/** Create an ECC_SECG_P256K1 / SIGN_VERIFY key; returns its `awskms:` reference and public key. */
export async function createAwsKmsKey(options: CreateAwsKmsKeyOptions): Promise<{ reference: string; arn: string; keyId: string; publicKey: Uint8Array; aliasReference?: string }> {
  const { CreateKeyCommand, CreateAliasCommand } = await loadSdk();
  const what = `AWS KMS in ${options.region}`;
  const client = await makeClient(options.region, options.endpoint, what);
  const endpoint = options.endpoint ?? `kms.${options.region}`;
  try {
    const out = await client.send(
      new CreateKeyCommand({
        KeySpec: 'ECC_SECG_P256K1',
        KeyUsage: 'SIGN_VERIFY',
        Description: options.description ?? 'arkeo-signer secp256k1 key',
        ...(options.tags ? { Tags: Object.entries(options.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) } : {}),
      }),
    );
    const arn = out.KeyMetadata?.Arn;
    const keyId = out.KeyMetadata?.KeyId;
    if (!arn || !keyId) throw new KmsError('BAD_RESPONSE', `${what}: CreateKey returned no key ARN`);
    let aliasReference: string | undefined;
    if (options.alias) {
      await client.send(new CreateAliasCommand({ AliasName: options.alias, TargetKeyId: keyId }));
      aliasReference = `${AWS_KMS_PREFIX}${arn.replace(/:key\/.*$/, `:${options.alias}`)}`;
    }
    const signer = new AwsKmsSigner(AWS_KMS_PREFIX + arn, { endpoint: options.endpoint });
    return { reference: signer.reference, arn, keyId, publicKey: await signer.publicKey(), ...(aliasReference ? { aliasReference } : {}) };
  } catch (e) {
    if (e instanceof KmsError) throw e;
    throw classifyAwsError(e, false, what, endpoint).error;
  } finally {
    client.destroy();
  }
}
