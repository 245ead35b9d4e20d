/**
 * Keys by name, wherever they live. This sits above keyring/ (records) and signers/ (backends), so neither has to
 * know the other's kinds: `openSigner(keyring, name)` gives a Signer for a local key or an external one, and code
 * that signs never branches on where a key is.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, KeyringError } from '../errors.js';
import { wipe } from '../crypto/bytes.js';
import { Keyring, type KeyInfo } from '../keyring/keyring.js';
import { LocalSigner } from '../signers/signer.js';
import type {
  Pkcs11Signer,
  LocalSignerOptions,
  PinSource,
  Signer,
  CloudKind,
  CloudSigner,
  CloudSignerForOptions,
  CloudHealth,
  CloudStats,
  RetryPolicy,
} from '../signers/index.js';
import type { KmsError } from '../signers/cloud/retry.js';
// The PKCS#11 and cloud backends (with pkcs11js, @noble/curves, the cloud SDKs' helpers) are imported when a key
// of their kind is used: a local key's signature, signhere's usual case, loads none of them.
const pkcs11 = () => import('../signers/pkcs11.js');
const pkcs11Uri = () => import('../signers/pkcs11-uri.js');
const cloudSigners = () => import('../signers/cloud/index.js');

export const PKCS11_MODULE_ENV = 'ARKEO_PKCS11_MODULE';

/** A Signer that can be let go of: local keys are zeroed, PKCS#11 sessions closed. */
export type KeySigner = Signer & { destroy(): void };

export interface Pkcs11Options {
  /** Where the PIN comes from (file, environment, credential, prompt): asked at most once per signer. */
  pin?: PinSource;
  /** Overrides the module path stored with the key. */
  module?: string;
  sessions?: number;
  retries?: number;
  backoffMs?: number;
}

export interface OpenSignerOptions {
  local?: LocalSignerOptions;
  pkcs11?: Pkcs11Options;
  cloud?: CloudKeyOptions;
}

/** The module path: flag, then the URI's module-path, then $ARKEO_PKCS11_MODULE (and the daemon's config, passed as a flag). */
export function resolveModule(flag: string | undefined, fromUri: string | undefined): string {
  const m = flag ?? fromUri ?? process.env[PKCS11_MODULE_ENV];
  if (!m) throw new InputError('NO_PKCS11_MODULE', `pkcs11 module: not given (use --pkcs11-module PATH, module-path= in the URI, or ${PKCS11_MODULE_ENV})`);
  return path.resolve(m);
}

/** A local key's signer; the key stays in the signer's (locked) memory until `destroy()`, the copy given is wiped. */
function localSignerOf(privateKey: Uint8Array, options?: LocalSignerOptions): LocalSigner {
  try {
    return new LocalSigner(privateKey, options);
  } finally {
    wipe(privateKey);
  }
}

/** The signer of a local key (its private key in this process), for callers that need one: a signing thread. */
export async function openLocalSigner(keyring: Keyring, name: string, options?: LocalSignerOptions): Promise<LocalSigner> {
  return localSignerOf(await keyring.exportPrivateKey(name), options);
}

/** A Signer for any key kind in the keyring. Public-key-only kinds (offline, ledger, multi) are refused with the reason. */
export async function openSigner(keyring: Keyring, name: string, options: OpenSignerOptions = {}): Promise<KeySigner> {
  // One read and decryption of the key's file: a local key comes back as its private key, any other kind as its info.
  const opened = await keyring.localKeyOrInfo(name);
  if ('privateKey' in opened) return localSignerOf(opened.privateKey, options.local);
  const info = opened.info;
  switch (info.kind) {
    case 'pkcs11':
      return openPkcs11(info, options.pkcs11 ?? {});
    case 'aws-kms':
    case 'azure-kv':
    case 'gcp-kms':
      return openCloudKey(info, options.cloud ?? {});
    default:
      throw new KeyringError('CANNOT_SIGN', `${name}: is ${/^[aeiou]/.test(info.kind) ? 'an' : 'a'} ${info.kind} key (public key only here); it cannot sign with arkeo-signer`);
  }
}

async function openPkcs11(info: KeyInfo, o: Pkcs11Options): Promise<Pkcs11Signer> {
  const loc = info.external!.location;
  if (!loc.uri) throw new KeyringError('CORRUPT_EXTERNAL', `${info.name}: its external-key file has no pkcs11 URI; re-add the key`);
  if (!o.pin) throw new InputError('NO_PIN_SOURCE', `${info.name}: a PKCS#11 key needs a PIN source (--pin-file, ARKEO_PKCS11_PIN, a credential or a terminal)`);
  const { Pkcs11Signer } = await pkcs11();
  return Pkcs11Signer.open({
    module: o.module ?? loc.module ?? resolveModule(undefined, undefined),
    uri: loc.uri,
    publicKey: info.publicKey!,
    pin: o.pin,
    sessions: o.sessions,
    retries: o.retries,
    backoffMs: o.backoffMs,
    name: info.name,
  });
}

export interface AddPkcs11Options {
  uri: string;
  module?: string;
  /** Generate the key on the token; otherwise use the key the URI names. */
  create?: boolean;
  pin: PinSource;
}

export interface AddedPkcs11Key extends KeyInfo {
  created: boolean;
  /** An existing key marked extractable or not sensitive: it can leave the token. */
  exportable: boolean;
}

/**
 * `keys add NAME --pkcs11 URI [--create]`: find or generate the key on the token (with a self-test signature),
 * then store an offline record plus our location file. The name is checked first, so nothing is created on the
 * token for a name that is taken.
 */
export async function addPkcs11Key(keyring: Keyring, name: string, options: AddPkcs11Options): Promise<AddedPkcs11Key> {
  if (await keyring.has(name)) throw new KeyringError('KEY_EXISTS', `${name}: a key with this name already exists in ${keyring.location}`);
  const [{ createPkcs11Key, findPkcs11Key }, { formatPkcs11Uri, parsePkcs11Uri }] = await Promise.all([pkcs11(), pkcs11Uri()]);
  const uri = parsePkcs11Uri(options.uri);
  const module = resolveModule(options.module, uri.modulePath);
  const found = options.create ? await createPkcs11Key({ module, uri, pin: options.pin }) : await findPkcs11Key({ module, uri, pin: options.pin });
  const stored = formatPkcs11Uri({ ...found.uri, modulePath: undefined });
  try {
    const info = await keyring.addExternalKey(name, found.publicKey, 'pkcs11', { uri: stored, module });
    return { ...info, created: found.created, exportable: found.exportable };
  } catch (e) {
    if (found.created && e instanceof Error) e.message += ` (the key generated on the token stays there: ${stored})`;
    throw e;
  }
}

export interface DeleteKeyOptions {
  /** Also destroy the key on the token (PKCS#11). Without it only our records go. */
  fromToken?: boolean;
  pin?: PinSource;
}

/** Delete a key's records; with `fromToken`, first the objects on the token (so a failure there keeps the records). */
export async function deleteKey(keyring: Keyring, name: string, options: DeleteKeyOptions = {}): Promise<{ kind: string; destroyedObjects: number }> {
  const info = await keyring.get(name);
  let destroyedObjects = 0;
  if (options.fromToken) {
    if (info.kind !== 'pkcs11') throw new InputError('NOT_ON_TOKEN', `${name}: is ${/^[aeiou]/.test(info.kind) ? 'an' : 'a'} ${info.kind} key, not on a token; --delete-from-token does not apply`);
    if (!options.pin) throw new InputError('NO_PIN_SOURCE', `${name}: deleting from the token needs a PIN source`);
    const loc = info.external!.location;
    const [{ destroyPkcs11Key }, { describePkcs11Uri, parsePkcs11Uri }] = await Promise.all([pkcs11(), pkcs11Uri()]);
    destroyedObjects = await destroyPkcs11Key({ module: loc.module ?? resolveModule(undefined, undefined), uri: loc.uri!, pin: options.pin });
    if (destroyedObjects === 0) throw new KeyringError('KEY_NOT_ON_TOKEN', `${name}: ${describePkcs11Uri(parsePkcs11Uri(loc.uri!))}: nothing to destroy on the token; records kept (delete without --delete-from-token to drop them)`);
  }
  await keyring.delete(name);
  return { kind: info.kind, destroyedObjects };
}

// ------------------------------------------------------------------------------------------------ cloud KMS keys

export const CLOUD_KINDS: readonly CloudKind[] = ['aws-kms', 'azure-kv', 'gcp-kms'];

export function isCloudKind(kind: string): kind is CloudKind {
  return (CLOUD_KINDS as readonly string[]).includes(kind);
}

/**
 * Where a cloud key is, as stored in its external-key file: the reference, and for a non-default endpoint the
 * endpoint (plus, for a test server or private endpoint, a CA file path or plain gRPC). Never a credential: those
 * come from each SDK's default chain where the key is used.
 */
export interface CloudLocation {
  ref: string;
  /** AWS, Azure: a URL; GCP: host:port. */
  endpoint?: string;
  /** Azure: a PEM file of extra CA certificates for the endpoint (its path, not its content). */
  ca_file?: string;
  /** GCP: 'true' for plain gRPC without authentication; only ever to a loopback address (a local test server). */
  insecure?: string;
}

export interface CloudKeyOptions extends Partial<RetryPolicy> {
  /** Counters to add to (the daemon keeps one per key for its metrics). */
  stats?: CloudStats;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\]|::1)$/;

function gcpEndpoint(endpoint: string | undefined, insecure: boolean, what: string): { host: string; port?: number; insecure?: boolean } | undefined {
  if (endpoint === undefined) {
    if (insecure) throw new InputError('BAD_ENDPOINT', `${what}: plain gRPC (--insecure-grpc) needs --endpoint HOST:PORT of a server on this machine`);
    return undefined;
  }
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(endpoint);
  if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) throw new InputError('BAD_ENDPOINT', `${what}: endpoint ${JSON.stringify(endpoint).slice(0, 100)}: expected HOST or HOST:PORT for Cloud KMS`);
  // Plain gRPC sends signing requests unencrypted and unauthenticated: allowed to this machine only.
  if (insecure && !LOOPBACK.test(m[1]!)) throw new InputError('BAD_ENDPOINT', `${what}: plain gRPC (insecure) is allowed to a loopback address only, not ${m[1]}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), ...(m[2] ? { port: Number(m[2]) } : {}), ...(insecure ? { insecure: true } : {}) };
}

function httpEndpoint(endpoint: string | undefined, what: string): string | undefined {
  if (endpoint === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new InputError('BAD_ENDPOINT', `${what}: endpoint ${JSON.stringify(endpoint).slice(0, 100)}: not a URL (expected https://HOST[:PORT])`);
  }
  if (u.username || u.password || u.search || u.hash) throw new InputError('BAD_ENDPOINT', `${what}: endpoint: no user, password, query or fragment allowed`);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.test(u.hostname))) throw new InputError('BAD_ENDPOINT', `${what}: endpoint must be https (http only to a loopback address, e.g. local-kms)`);
  return u.origin;
}

function readCa(file: string | undefined, what: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new InputError('NO_SUCH_FILE', `${what}: CA file ${file}: cannot read (${(e as NodeJS.ErrnoException).code}); fix ca_file in the key's external-key file or re-add the key`);
  }
}

/** The signer options a stored (or about to be stored) location calls for. */
function cloudOptionsOf(kind: CloudKind, loc: CloudLocation, what: string): CloudSignerForOptions {
  switch (kind) {
    case 'aws-kms':
      return { aws: { endpoint: httpEndpoint(loc.endpoint, what) } };
    case 'azure-kv': {
      const ca = readCa(loc.ca_file, what);
      return { azure: { endpoint: httpEndpoint(loc.endpoint, what), ...(ca ? { ca } : {}) } };
    }
    case 'gcp-kms':
      return { gcp: { endpoint: gcpEndpoint(loc.endpoint, loc.insecure === 'true', what) } };
  }
}

/**
 * A cloud key by name: the cloud signer, checked against the recorded public key before anything is signed, with
 * every error naming the key. It also remembers whether its last backend call failed, for the daemon's /healthz.
 */
export class CloudKeySigner implements Signer {
  readonly kind: CloudKind;
  /** The last call's failure, when it was one; cleared by the next success (or a passing health check). */
  lastError?: KmsError;

  constructor(
    readonly name: string,
    readonly cloud: CloudSigner,
  ) {
    this.kind = cloud.kind;
  }

  get stats(): CloudStats {
    return this.cloud.stats;
  }

  get reference(): string {
    return this.cloud.reference;
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const out = await fn();
      this.lastError = undefined;
      return out;
    } catch (e) {
      // The cloud modules are loaded: this signer was made from one of their signers.
      const { KmsError } = await cloudSigners();
      if (e instanceof KmsError) {
        this.lastError = e;
        // The signer names the cloud reference; the user knows the key by its keyring name.
        if (!e.message.startsWith(`key ${this.name}: `)) e.message = `key ${this.name}: ${e.message}`;
      }
      throw e;
    }
  }

  publicKey(): Promise<Uint8Array> {
    return this.guard(() => this.cloud.publicKey());
  }

  sign(message: Uint8Array): Promise<Uint8Array> {
    return this.guard(() => this.cloud.sign(message));
  }

  /** A fresh backend read (not the cache); a pass clears a failure left by the last call. */
  async health(): Promise<CloudHealth> {
    const h = await this.cloud.health();
    if (h.ok) this.lastError = undefined;
    else if (h.error && !h.error.startsWith(`key ${this.name}: `)) h.error = `key ${this.name}: ${h.error}`;
    return h;
  }

  /** Why this key should not be counted healthy from what is already known (no backend call): an outage. */
  problem(): string | undefined {
    const e = this.lastError;
    return e && (e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT') ? e.message : undefined;
  }

  close(): Promise<void> {
    return this.cloud.close();
  }

  destroy(): void {
    void this.cloud.close().catch(() => {});
  }
}

function cloudLocationOf(info: KeyInfo): CloudLocation {
  const loc = info.external!.location;
  if (!loc.ref) throw new KeyringError('CORRUPT_EXTERNAL', `${info.name}: its external-key file has no ref (the ${info.kind} key reference); re-add the key with keys add`);
  return loc as unknown as CloudLocation;
}

/** Open a cloud key and read its public key now, so a reference that points elsewhere is refused before any use. */
async function openCloudKey(info: KeyInfo, o: CloudKeyOptions): Promise<CloudKeySigner> {
  const kind = info.kind as CloudKind;
  const loc = cloudLocationOf(info);
  const what = `key ${info.name}`;
  const { cloudSignerFor, KmsError } = await cloudSigners();
  let cloud: CloudSigner;
  try {
    cloud = cloudSignerFor(loc.ref, { ...o, expectedPublicKey: info.publicKey!, ...cloudOptionsOf(kind, loc, what) });
  } catch (e) {
    if (e instanceof KmsError) e.message = `${what}: ${e.message}`;
    throw e;
  }
  if (cloud.kind !== kind) throw new KeyringError('CORRUPT_EXTERNAL', `${info.name}: recorded as ${kind} but its reference is ${cloud.kind}; re-add the key`);
  const signer = new CloudKeySigner(info.name, cloud);
  try {
    await signer.publicKey();
  } catch (e) {
    signer.destroy();
    throw e;
  }
  return signer;
}

export interface AddCloudKeyOptions {
  kind: CloudKind;
  /** An existing key's reference (awskms:…, azurekv:…, gcpkms:…); or create one (below). */
  ref?: string;
  create?: boolean;
  endpoint?: string;
  /** Azure: CA file for a private endpoint or a test server. */
  caFile?: string;
  /** GCP: plain gRPC to a loopback server (tests). */
  insecure?: boolean;
  /** AWS create: the region, and an optional alias (alias/NAME) to make for the key. */
  region?: string;
  alias?: string;
  /** Azure create: the vault (https://NAME.vault.azure.net) and the key's name there. */
  vault?: string;
  keyName?: string;
  /** GCP create: projects/P/locations/L/keyRings/R, the key id, and whether to create the key ring first. */
  keyRing?: string;
  keyId?: string;
  createKeyRing?: boolean;
}

export interface AddedCloudKey extends KeyInfo {
  created: boolean;
  reference: string;
}

const CREATE_NEEDS: Record<CloudKind, string> = {
  'aws-kms': '--region REGION [--alias alias/NAME]',
  'azure-kv': '--vault https://NAME.vault.azure.net --key-name NAME',
  'gcp-kms': '--key-ring projects/P/locations/L/keyRings/R --key-id ID',
};

/**
 * `keys add NAME --awskms|--azurekv|--gcpkms REF` or `… --create`: read (or create) the key in the cloud, then store
 * an offline record plus our external-key file with the kind and { ref, endpoint… }. The name is checked first, so
 * nothing is created in the cloud for a name that is taken. Credentials are the SDKs' business and never stored.
 */
export async function addCloudKey(keyring: Keyring, name: string, o: AddCloudKeyOptions): Promise<AddedCloudKey> {
  if (await keyring.has(name)) throw new KeyringError('KEY_EXISTS', `${name}: a key with this name already exists in ${keyring.location}`);
  const what = `key ${name}`;
  if (o.create === (o.ref !== undefined)) throw new InputError('BAD_FLAGS', `${what}: give either an existing key's reference or --create with ${CREATE_NEEDS[o.kind]}`);
  const caFile = o.caFile !== undefined ? path.resolve(o.caFile) : undefined;
  const loc: CloudLocation = { ref: o.ref ?? '', ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}), ...(caFile ? { ca_file: caFile } : {}), ...(o.insecure ? { insecure: 'true' } : {}) };
  if (caFile && o.kind !== 'azure-kv') throw new InputError('BAD_FLAGS', `${what}: --ca-file applies to Azure Key Vault keys only (AWS takes AWS_CA_BUNDLE, GCP its own TLS roots)`);
  if (o.insecure && o.kind !== 'gcp-kms') throw new InputError('BAD_FLAGS', `${what}: --insecure-grpc applies to Cloud KMS (gcp) keys only`);
  const opts = cloudOptionsOf(o.kind, loc, what);
  const { cloudSignerFor, createAwsKmsKey, createAzureKvKey, createGcpKmsKey, KmsError } = await cloudSigners();
  let reference: string;
  let publicKey: Uint8Array;
  try {
    if (!o.create) {
      const signer = cloudSignerFor(o.ref!, opts);
      try {
        if (signer.kind !== o.kind) throw new InputError('BAD_FLAGS', `${what}: ${o.ref!.slice(0, 120)} is a ${signer.kind} reference, not ${o.kind}`);
        publicKey = await signer.publicKey();
        reference = signer.reference; // Azure: with the version it resolved, so the record cannot drift to a new one
      } finally {
        await signer.close();
      }
    } else {
      const need = (v: string | undefined, flag: string) => {
        if (v === undefined) throw new InputError('BAD_FLAGS', `${what}: --create needs ${flag} (${o.kind}: ${CREATE_NEEDS[o.kind]})`);
        return v;
      };
      if (o.kind === 'aws-kms') {
        const k = await createAwsKmsKey({ region: need(o.region, '--region'), endpoint: opts.aws?.endpoint, ...(o.alias ? { alias: o.alias } : {}), description: `arkeo-signer key ${name}` });
        [reference, publicKey] = [k.reference, k.publicKey];
      } else if (o.kind === 'azure-kv') {
        const k = await createAzureKvKey({ vaultUrl: need(o.vault, '--vault'), name: need(o.keyName, '--key-name'), ...opts.azure });
        [reference, publicKey] = [k.reference, k.publicKey];
      } else {
        const k = await createGcpKmsKey({ keyRing: need(o.keyRing, '--key-ring'), keyId: need(o.keyId, '--key-id'), createKeyRing: o.createKeyRing === true, endpoint: opts.gcp?.endpoint });
        [reference, publicKey] = [k.reference, k.publicKey];
      }
    }
  } catch (e) {
    if (e instanceof KmsError && !e.message.startsWith(what)) e.message = `${what}: ${e.message}`;
    throw e;
  }
  loc.ref = reference;
  try {
    const info = await keyring.addExternalKey(name, publicKey, o.kind, loc as unknown as Record<string, string>);
    return { ...info, created: o.create === true, reference };
  } catch (e) {
    if (o.create && e instanceof Error) e.message += ` (the key created in the cloud stays there: ${reference})`;
    throw e;
  }
}
