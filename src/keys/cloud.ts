/**
 * The cloud KMS backends: AWS KMS, Azure Key Vault, Google Cloud KMS. A key's record is an offline (public-key)
 * record plus an external-key file { ref, endpoint… }; credentials come from each SDK's default chain where the key
 * is used, never from the keyring.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, KeyringError } from '../errors.js';
import type { Keyring, KeyInfo } from '../keyring/keyring.js';
import type { Signer, CloudKind, CloudSigner, CloudSignerForOptions, CloudHealth, CloudStats } from '../signers/index.js';
import type { KmsError } from '../signers/cloud/retry.js';
import type { AddForm, AddValues, CloudKeyOptions, ExternalBackend, ServeContext, Serving } from './backend.js';
import { CREATE_OPTION, switchOption, textOption } from './add.js';

// The cloud signers (and through them the SDKs' helpers) are imported when a cloud key is used.
const cloudSigners = () => import('../signers/cloud/index.js');


/** The `keys add` flag that links or creates a key of each cloud kind (`--awskms` → aws-kms). */
export const CLOUD_KIND_OF_FLAG = { awskms: 'aws-kms', azurekv: 'azure-kv', gcpkms: 'gcp-kms' } as const satisfies Record<string, CloudKind>;

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
        // The SDK's own default, as everywhere else it is used: AWS_REGION, then AWS_DEFAULT_REGION.
        const region = o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
        const k = await createAwsKmsKey({ region: need(region, '--region'), endpoint: opts.aws?.endpoint, ...(o.alias ? { alias: o.alias } : {}), description: `arkeo-signer key ${name}` });
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

/**
 * The daemon's cloud keys: `cloud` in /healthz (a fresh read of each key, in parallel, each bounded by the
 * timeout), the arkeo_signer_cloud_* metrics: health, each key's counters, and every call's latency as it happens.
 */
async function serveCloud({ registry }: ServeContext): Promise<Serving<CloudKeySigner>> {
  const [{ Gauge, Histogram }, { CloudStats }] = await Promise.all([import('prom-client'), cloudSigners()]);
  const cloudHealthy = new Gauge({ name: 'arkeo_signer_cloud_key_healthy', help: '1 when the cloud KMS key passed its last health check and its last call did not fail as unavailable (set at each /healthz)', labelNames: ['key', 'backend'], registers: [registry] });
  const cloudEvents = new Gauge({ name: 'arkeo_signer_cloud_events', help: 'Per cloud KMS key since start (CloudStats): calls, throttles, errors, timeouts, retries, signatures, high_s (raw high-S normalised), self_check_failures', labelNames: ['key', 'backend', 'event'], registers: [registry] });
  const cloudLatency = new Histogram({ name: 'arkeo_signer_cloud_call_seconds', help: 'Cloud KMS call latency per attempt, by key, backend, operation and outcome (ok, throttle, error, timeout)', labelNames: ['key', 'backend', 'op', 'outcome'], buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const keys = new Map<string, CloudKeySigner>();
  const events: Record<string, string> = { highSNormalised: 'high_s', selfCheckFailures: 'self_check_failures' };
  return {
    optionsFor(info, options) {
      // A key's own counters, its attempts observed into the latency histogram as they happen.
      const stats = new CloudStats();
      stats.onAttempt = (a) => cloudLatency.observe({ key: info.name, backend: info.kind, op: a.op, outcome: a.outcome }, a.ms / 1000);
      return { ...options, cloud: { ...options.cloud, stats } };
    },
    served: (name, signer) => void keys.set(name, signer),
    scrape() {
      for (const [key, signer] of keys) {
        for (const [event, n] of Object.entries(signer.stats.snapshot())) if (typeof n === 'number') cloudEvents.set({ key, backend: signer.kind, event: events[event] ?? event }, n);
      }
    },
    async health() {
      if (keys.size === 0) return undefined;
      // 503 also while the last call failed as unavailable; a passing read clears that, so the daemon reports
      // recovery by itself.
      const entries: Record<string, { backend: string; status: string; latency_ms: number }> = {};
      await Promise.all(
        [...keys].map(async ([key, signer]) => {
          const h = await signer.health();
          const problem = h.ok ? signer.problem() : h.error;
          entries[key] = { backend: signer.kind, status: problem ? `error: ${problem}` : 'ok', latency_ms: Math.round(h.latencyMs * 10) / 10 };
          cloudHealthy.set({ key, backend: signer.kind }, problem ? 0 : 1);
        }),
      );
      return { section: 'cloud', entries, ok: Object.values(entries).every((c) => c.status === 'ok') };
    },
  };
}

/** Each cloud's own `keys add` options (--endpoint is every cloud's); one cloud's are refused with another's flag. */
const OWN_OPTIONS: Record<CloudKind, readonly string[]> = {
  'aws-kms': ['region', 'alias'],
  'azure-kv': ['vault', 'key-name', 'ca-file'],
  'gcp-kms': ['key-ring', 'key-id', 'create-key-ring', 'insecure-grpc'],
};
/** The options that only say how to create a key. */
const CREATE_ONLY = ['region', 'alias', 'vault', 'key-name', 'key-ring', 'key-id', 'create-key-ring'];

const FLAG_OF_KIND = Object.fromEntries(Object.entries(CLOUD_KIND_OF_FLAG).map(([flag, kind]) => [kind, flag])) as Record<CloudKind, keyof typeof CLOUD_KIND_OF_FLAG>;

/** The cloud flag given (`--awskms` …), its kind, and the reference (undefined for `--awskms` with no value). */
function cloudChosen(values: AddValues): { flag: keyof typeof CLOUD_KIND_OF_FLAG; kind: CloudKind; ref?: string } {
  const [flag, kind] = Object.entries(CLOUD_KIND_OF_FLAG).find(([f]) => values[f] !== undefined) as [keyof typeof CLOUD_KIND_OF_FLAG, CloudKind];
  const ref = textOption(values, flag);
  return { flag, kind, ...(ref ? { ref } : {}) };
}

/** `keys add NAME --awskms REF|--create …` and the Azure and GCP forms: a key read, or created, in the cloud. */
const cloudForm: AddForm = {
  selectors: CLOUD_KINDS.map((kind) => FLAG_OF_KIND[kind]),
  options: {
    awskms: { type: 'string', value: 'REF', optionalValue: true, help: 'a key in AWS KMS: awskms:arn:aws:kms:…, or none with --create' },
    azurekv: { type: 'string', value: 'REF', optionalValue: true, help: 'a key in Azure Key Vault: azurekv:https://VAULT.vault.azure.net/keys/NAME[/VERSION], or none with --create' },
    gcpkms: { type: 'string', value: 'REF', optionalValue: true, help: 'a key in Google Cloud KMS: gcpkms:projects/…/cryptoKeyVersions/N, or none with --create' },
    create: CREATE_OPTION,
    endpoint: { type: 'string', value: 'URL|HOST:PORT', help: "send the cloud's requests here (a private endpoint, an emulator)" },
    'ca-file': { type: 'string', value: 'PEM', help: 'Azure: trust this certificate for --endpoint' },
    'insecure-grpc': { type: 'boolean', help: 'GCP: plain gRPC to a loopback --endpoint (test servers only)' },
    region: { type: 'string', value: 'REGION', computedDefault: '$AWS_REGION or $AWS_DEFAULT_REGION', help: 'AWS: the region to create the key in' },
    alias: { type: 'string', value: 'alias/NAME', help: 'AWS: an alias for the new key' },
    vault: { type: 'string', value: 'URL', help: 'Azure: the vault to create the key in' },
    'key-name': { type: 'string', value: 'NAME', help: "Azure: the new key's name" },
    'key-ring': { type: 'string', value: 'RING', help: 'GCP: the key ring to create the key in (projects/P/locations/L/keyRings/R)' },
    'key-id': { type: 'string', value: 'K', help: "GCP: the new key's id" },
    'create-key-ring': { type: 'boolean', help: 'GCP: create --key-ring too' },
  },
  rules: [
    ...CLOUD_KINDS.map((kind) => ({ flags: CLOUD_KINDS.filter((k) => k !== kind).flatMap((k) => OWN_OPTIONS[k]), notWith: FLAG_OF_KIND[kind] })),
    { flags: CREATE_ONLY, goWith: ['create'] },
  ],
  why: 'its key is made and kept in the cloud',
  usage: [
    'NAME --awskms awskms:arn:aws:kms:REGION:ACCOUNT:key/ID [--endpoint URL]',
    'NAME --awskms --create --region REGION [--alias alias/NAME] [--endpoint URL]',
    'NAME --azurekv azurekv:https://VAULT.vault.azure.net/keys/NAME[/VERSION]',
    'NAME --azurekv --create --vault https://VAULT.vault.azure.net --key-name NAME',
    'NAME --gcpkms gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N',
    'NAME --gcpkms --create --key-ring projects/P/locations/L/keyRings/R --key-id K [--create-key-ring]',
  ],
  about: `--awskms, --azurekv, --gcpkms: a secp256k1 key in AWS KMS, Azure Key Vault or Google Cloud KMS. The public key is
read (or the key created: ECC_SECG_P256K1, EC P-256K, EC_SIGN_SECP256K1_SHA256) now; the keyring keeps an offline
record and NAME.external.json with the kind and { ref, endpoint }, never a credential: each SDK's default chain
provides those where the key is used. --endpoint sends requests elsewhere (a VPC/private endpoint, an emulator);
for servers on this machine with their own certificate or none: --ca-file PEM (Azure) and --insecure-grpc (GCP,
plain gRPC to a loopback address only; meant for test servers).`,
  check(values) {
    const { flag, ref } = cloudChosen(values);
    const create = switchOption(values, 'create');
    if (create && ref !== undefined) throw new InputError('BAD_FLAGS', `--${flag} REF names an existing key; --create makes a new one: give one of them`);
    if (!create && ref === undefined) throw new InputError('BAD_FLAGS', `--${flag} needs a key reference, or --create`);
  },
  async add({ name, values, keyring }) {
    const { kind, ref } = cloudChosen(values);
    const info = await addCloudKey(keyring(), name, {
      kind,
      ...(ref !== undefined ? { ref } : {}),
      create: switchOption(values, 'create'),
      endpoint: textOption(values, 'endpoint'),
      caFile: textOption(values, 'ca-file'),
      insecure: switchOption(values, 'insecure-grpc'),
      region: textOption(values, 'region'),
      alias: textOption(values, 'alias'),
      vault: textOption(values, 'vault'),
      keyName: textOption(values, 'key-name'),
      keyRing: textOption(values, 'key-ring'),
      keyId: textOption(values, 'key-id'),
      createKeyRing: switchOption(values, 'create-key-ring'),
    });
    return { info, fields: { reference: info.reference } };
  },
};

export const cloudBackend: ExternalBackend<CloudKeySigner> = {
  kinds: CLOUD_KINDS,
  description: 'cloud KMS',
  served: true,
  inProcess: false,
  open: (key, options) => openCloudKey(key.info!, options.cloud ?? {}),
  deleted: (kind) => `Key reference deleted; the ${kind} key in the cloud was not touched (delete or disable it there if it is no longer wanted)`,
  serve: serveCloud,
  add: cloudForm,
};
