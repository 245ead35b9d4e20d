import type { Readable } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import type { CryptographyClient, KeyClient, KeyClientOptions, KeyVaultKey } from '@azure/keyvault-keys';
import { CloudSigner, xyToCompressed, type CloudSignerOptions } from './base.js';
import { KmsError, oneLine, type Classified } from './retry.js';
import { readReply } from './reply-limit.js';

export const AZURE_KV_PREFIX = 'azurekv:';

/** Key Vault and Managed HSM DNS suffixes of the public and sovereign clouds. */
const VAULT_SUFFIXES = ['.vault.azure.net', '.vault.azure.cn', '.vault.usgovcloudapi.net', '.vault.microsoftazure.de', '.managedhsm.azure.net', '.managedhsm.azure.cn', '.managedhsm.usgovcloudapi.net'];

export interface AzureKvReference {
  /** https://NAME.vault.azure.net */
  vaultUrl: string;
  name: string;
  /** 32 hex characters; absent means "the current version", pinned when the signer resolves it. */
  version?: string;
}

/** `azurekv:https://VAULT.vault.azure.net/keys/NAME[/VERSION]`. */
export function parseAzureKvReference(ref: string, options: { allowAnyHost?: boolean } = {}): AzureKvReference {
  const shape = 'expected azurekv:https://VAULT.vault.azure.net/keys/NAME or …/keys/NAME/VERSION';
  const shown = JSON.stringify(String(ref)).slice(0, 160);
  if (typeof ref !== 'string' || !ref.startsWith(AZURE_KV_PREFIX)) throw new KmsError('BAD_REFERENCE', `Azure Key Vault key reference ${shown}: ${shape}`);
  let url: URL;
  try {
    url = new URL(ref.slice(AZURE_KV_PREFIX.length));
  } catch {
    throw new KmsError('BAD_REFERENCE', `Azure Key Vault key reference ${shown}: not a URL; ${shape}`);
  }
  if (url.protocol !== 'https:') throw new KmsError('BAD_REFERENCE', `Azure Key Vault key reference ${shown}: must be https; ${shape}`);
  if (url.username || url.password || url.search || url.hash) throw new KmsError('BAD_REFERENCE', `Azure Key Vault key reference ${shown}: no user, query or fragment allowed; ${shape}`);
  const host = url.hostname.toLowerCase();
  if (!options.allowAnyHost && !VAULT_SUFFIXES.some((s) => host.endsWith(s) && host.length > s.length)) {
    throw new KmsError('BAD_REFERENCE', `Azure Key Vault key reference ${shown}: ${host} is not a Key Vault or Managed HSM host (${VAULT_SUFFIXES.slice(0, 2).join(', ')}, …); for an emulator or private endpoint keep the vault URL and set the endpoint option`);
  }
  const m = /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([0-9a-f]{32}))?\/?$/.exec(url.pathname);
  if (!m) throw new KmsError('BAD_REFERENCE', `Azure Key Vault key reference ${shown}: the path must be /keys/NAME (letters, digits, dashes) with an optional 32-hex-digit version; ${shape}`);
  return { vaultUrl: url.origin, name: m[1]!, ...(m[2] ? { version: m[2] } : {}) };
}

export interface AzureKvOptions extends CloudSignerOptions {
  /**
   * Send requests here instead of the vault URL (an emulator, a test server, a private endpoint); the reference
   * keeps naming the real vault. The challenge resource check is then relaxed (the SDK's option for this case).
   */
  endpoint?: string;
  /**
   * A credential the SDK accepts; default: @azure/identity's DefaultAzureCredential (environment, workload
   * identity, managed identity, Azure CLI…). Meant for callers with their own chain and for tests; never a stored secret.
   */
  credential?: TokenCredential;
  /** Extra CA certificates to trust (PEM), e.g. a private endpoint's or a test server's; NODE_EXTRA_CA_CERTS also works. */
  ca?: string | Buffer;
  /** Key Vault API version; the SDK's default otherwise. */
  serviceVersion?: string;
}

type AzureModule = typeof import('@azure/keyvault-keys');
let sdk: Promise<AzureModule> | undefined;
const loadSdk = () => (sdk ??= import('@azure/keyvault-keys'));

async function defaultCredential(): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new DefaultAzureCredential();
}

type PipelinePolicy = NonNullable<KeyClientOptions['additionalPolicies']>[number]['policy'];

/**
 * Reads every reply itself, at most MAX_REPLY_BYTES: the SDK's HTTP client reads a reply of any size. Placed after
 * the Sign phase, i.e. next to the HTTP client, so the challenge's 401 passes through it too. Key Vault's key and
 * sign calls never ask for a streamed reply, so buffering here changes nothing else.
 */
function replyLimit(what: string): PipelinePolicy {
  return {
    name: 'arkeoReplyLimit',
    async sendRequest(request, next) {
      const asked = request.streamResponseStatusCodes;
      request.streamResponseStatusCodes = new Set([Number.POSITIVE_INFINITY]);
      let response;
      try {
        response = await next(request);
      } finally {
        request.streamResponseStatusCodes = asked;
      }
      const body = response.readableStreamBody;
      if (body) {
        response.readableStreamBody = undefined;
        response.bodyAsText = (await readReply(body as Readable, what)).toString('utf8');
      }
      return response;
    },
  };
}

function clientOptions(o: { endpoint?: string; ca?: string | Buffer; serviceVersion?: string }, what: string): KeyClientOptions {
  return {
    // Retries are ours (counted, jittered, Retry-After honoured); the SDK's would hide throttles from the counters.
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [{ policy: replyLimit(what), position: 'perRetry' }],
    ...(o.endpoint ? { disableChallengeResourceVerification: true } : {}),
    ...(o.ca ? { tlsOptions: { ca: o.ca } } : {}),
    ...(o.serviceVersion ? { serviceVersion: o.serviceVersion } : {}),
  } as KeyClientOptions;
}

/** The retry/fatal decision and a one-line error for an Azure SDK error (RestError, identity errors, network). */
export function classifyAzureError(e: unknown, timedOut: boolean, what: string, endpoint: string): Classified {
  const err = e as { name?: string; code?: string; statusCode?: number; message?: string; response?: { headers?: { get(h: string): string | undefined } } };
  const status = err?.statusCode;
  const detail = oneLine(err?.message);
  if (timedOut) return { kind: 'transient', error: new KmsError('TIMEOUT', `${what}: no answer from ${endpoint} in time; check the network path to Key Vault or raise the timeout`) };
  if (status === 429) {
    const ra = err.response?.headers?.get('retry-after');
    const secs = ra !== undefined && /^\d+(\.\d+)?$/.test(ra.trim()) ? Number(ra) : undefined;
    const when = ra !== undefined && secs === undefined ? Date.parse(ra) - Date.now() : undefined;
    const retryAfterMs = secs !== undefined ? secs * 1000 : when !== undefined && Number.isFinite(when) ? Math.max(0, when) : undefined;
    return { kind: 'throttle', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), error: new KmsError('THROTTLED', `${what}: Key Vault is throttling requests (429); lower the request rate (Key Vault limits signing per vault)`) };
  }
  const name = err?.name ?? '';
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError') {
    return { kind: 'fatal', error: new KmsError('NO_CREDENTIALS', `${what}: no Azure credential available from DefaultAzureCredential (environment, workload or managed identity, Azure CLI); configure one`) };
  }
  if (name === 'AuthenticationError') return { kind: 'fatal', error: new KmsError('ACCESS_DENIED', `${what}: Azure sign-in failed; check the identity's configuration`) };
  if (status === undefined || status === 408 || status >= 500 || err?.code === 'REQUEST_SEND_ERROR' || name === 'AbortError') {
    if (status === undefined && err?.code !== 'REQUEST_SEND_ERROR' && name !== 'AbortError' && !/ECONN|socket|network|EPIPE|ETIMEDOUT|EAI_AGAIN/i.test(String(err?.message))) {
      return { kind: 'fatal', error: new KmsError('BACKEND_ERROR', `${what}: ${detail || 'unexpected error'}`) };
    }
    return { kind: 'transient', error: new KmsError('UNAVAILABLE', `${what}: Key Vault at ${endpoint} is unavailable (${status ?? err?.code ?? name}); check the network and the vault, then try again; nothing was signed`) };
  }
  if (status === 404) return { kind: 'fatal', error: new KmsError('KEY_NOT_FOUND', `${what}: not found (${err.code ?? 404}); check the vault URL and key name, or whether the key was deleted (az keyvault key recover)`) };
  if (status === 403 && /disabled/i.test(String(err.message))) return { kind: 'fatal', error: new KmsError('KEY_DISABLED', `${what}: the key is disabled; enable it (az keyvault key set-attributes --enabled true) or use another key`) };
  if (status === 401 || status === 403) {
    return { kind: 'fatal', error: new KmsError('ACCESS_DENIED', `${what}: Key Vault refused the request (${status} ${err.code ?? ''}); the identity needs keys/sign and keys/get on this key (role Key Vault Crypto User)`) };
  }
  if (status === 400) return { kind: 'fatal', error: new KmsError('WRONG_KEY_TYPE', `${what}: Key Vault rejected the request (${detail}); the key must be an EC key on curve P-256K that allows sign`) };
  return { kind: 'fatal', error: new KmsError('BACKEND_ERROR', `${what}: Key Vault error ${status}${detail ? `: ${detail}` : ''}`) };
}

/**
 * A P-256K key in Azure Key Vault (or Managed HSM): ES256K over our digest, raw r||s back. The version is pinned
 * when first resolved, so a rotation cannot silently change the address this signer signs for.
 */
export class AzureKvSigner extends CloudSigner<AzureKvReference> {
  readonly kind = 'azure-kv' as const;
  private keyClient?: Promise<KeyClient>;
  private crypto?: CryptographyClient;
  private credential?: Promise<TokenCredential>;

  constructor(reference: string, private readonly options: AzureKvOptions = {}) {
    const ref = parseAzureKvReference(reference, { allowAnyHost: options.endpoint !== undefined });
    super(options, { ref, endpoint: options.endpoint ?? ref.vaultUrl, classify: classifyAzureError });
  }

  /** With the version once it is known. */
  get reference(): string {
    return `${AZURE_KV_PREFIX}${this.ref.vaultUrl}/keys/${this.ref.name}${this.ref.version ? `/${this.ref.version}` : ''}`;
  }

  private cred(): Promise<TokenCredential> {
    return (this.credential ??= this.options.credential ? Promise.resolve(this.options.credential) : defaultCredential());
  }

  private keys(): Promise<KeyClient> {
    return (this.keyClient ??= (async () => {
      const { KeyClient } = await loadSdk();
      return new KeyClient(this.options.endpoint ?? this.ref.vaultUrl, await this.cred(), clientOptions(this.options, this.describe()));
    })());
  }

  private async getKey(signal: AbortSignal): Promise<{ key: KeyVaultKey; pub: Uint8Array }> {
    const key = await (await this.keys()).getKey(this.ref.name, { ...(this.ref.version ? { version: this.ref.version } : {}), abortSignal: signal });
    const jwk = key.key;
    if (!jwk || (jwk.kty !== 'EC' && jwk.kty !== 'EC-HSM') || jwk.crv !== 'P-256K' || !jwk.x || !jwk.y) {
      throw new KmsError('WRONG_KEY_TYPE', `${this.describe()}: the key is ${jwk?.kty ?? '?'} ${jwk?.crv ?? ''}, expected EC on curve P-256K`);
    }
    if (jwk.keyOps && !jwk.keyOps.includes('sign')) throw new KmsError('WRONG_KEY_TYPE', `${this.describe()}: the key does not allow sign (key_ops ${jwk.keyOps.join(',')}); allow it`);
    return { key, pub: xyToCompressed(jwk.x, jwk.y, this.describe()) };
  }

  protected async fetchPublicKey(signal: AbortSignal): Promise<Uint8Array> {
    const { key, pub } = await this.getKey(signal);
    // Pin the version: later signatures name it explicitly.
    if (!this.ref.version && key.properties.version) this.ref.version = key.properties.version;
    if (!this.crypto || this.crypto.keyID !== key.id) {
      const { CryptographyClient } = await loadSdk();
      const pinned = { ...key, id: `${this.options.endpoint ?? this.ref.vaultUrl}/keys/${this.ref.name}/${this.ref.version}` } as KeyVaultKey;
      this.crypto = new CryptographyClient(pinned, await this.cred(), clientOptions(this.options, this.describe()));
    }
    return pub;
  }

  protected override async healthCheck(signal: AbortSignal): Promise<Uint8Array> {
    const { key, pub } = await this.getKey(signal);
    if (key.properties.enabled === false) throw new KmsError('KEY_DISABLED', `${this.describe()}: the key is disabled; enable it (az keyvault key set-attributes --enabled true) or use another key`);
    return pub;
  }

  protected async signDigestRaw(digest32: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    if (!this.crypto) throw new KmsError('BAD_STATE', `${this.describe()}: the key was not resolved before signing`);
    const out = await this.crypto.sign('ES256K', digest32, { abortSignal: signal });
    if (!out.result) throw new KmsError('BAD_RESPONSE', `${this.describe()}: sign returned no signature; not released`);
    return out.result;
  }
}

export interface CreateAzureKvKeyOptions {
  vaultUrl: string;
  name: string;
  endpoint?: string;
  credential?: TokenCredential;
  ca?: string | Buffer;
  serviceVersion?: string;
  /** EC-HSM (Premium vaults, Managed HSM) instead of EC. */
  hsm?: boolean;
  tags?: Record<string, string>;
}

/** Create an EC P-256K key allowed to sign and verify; returns its pinned `azurekv:` reference and public key. */
export async function createAzureKvKey(options: CreateAzureKvKeyOptions): Promise<{ reference: string; publicKey: Uint8Array }> {
  const { KeyClient } = await loadSdk();
  const credential = options.credential ?? (await defaultCredential());
  const what = `Azure Key Vault ${options.vaultUrl} key ${options.name}`;
  const client = new KeyClient(options.endpoint ?? options.vaultUrl, credential, clientOptions(options, what));
  try {
    const key = await client.createEcKey(options.name, { curve: 'P-256K', hsm: options.hsm ?? false, keyOps: ['sign', 'verify'], ...(options.tags ? { tags: options.tags } : {}) });
    const ref = `${AZURE_KV_PREFIX}${new URL(options.vaultUrl).origin}/keys/${options.name}/${key.properties.version}`;
    const signer = new AzureKvSigner(ref, { ...options, credential });
    return { reference: signer.reference, publicKey: await signer.publicKey() };
  } catch (e) {
    if (e instanceof KmsError) throw e;
    throw classifyAzureError(e, false, what, options.endpoint ?? options.vaultUrl).error;
  }
}
