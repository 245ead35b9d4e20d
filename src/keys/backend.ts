/**
 * What a key backend is, as the registry (registry.ts) and its users see it: the one seam a new backend fills in.
 * Types only, so that each backend's file and the registry can share them without a circle.
 */
import type { Registry } from 'prom-client';
import type { Keyring, KeyInfo } from '../keyring/keyring.js';
import type { CloudStats, LocalSigner, LocalSignerOptions, PinSource, RetryPolicy, Signer } from '../signers/index.js';

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

export interface CloudKeyOptions extends Partial<RetryPolicy> {
  /** Counters to add to (the daemon keeps one per key for its metrics). */
  stats?: CloudStats;
}

/** Options for opening keys, one field per backend that takes any (a new backend with options adds its own). */
export interface OpenSignerOptions {
  local?: LocalSignerOptions;
  pkcs11?: Pkcs11Options;
  cloud?: CloudKeyOptions;
}

/**
 * A key record to open: its name and kind, with its info (external keys) or its private key (a local key read by
 * openSigner, which decrypts the record once). A backend reads from the keyring what it was not given.
 */
export interface StoredKey {
  keyring: Keyring;
  name: string;
  kind: string;
  info?: KeyInfo;
  /** Handed over: the backend wipes it (or keeps it in its signer's locked memory). */
  privateKey?: Uint8Array;
}

/** A backend's part of the daemon's /healthz: a section of the JSON (`tokens`, `cloud`), and whether it is all ok. */
export interface HealthSection {
  section: string;
  entries: Record<string, unknown>;
  ok: boolean;
}

/** What the daemon gives a backend it serves: where to register its metrics. */
export interface ServeContext {
  /** The daemon's prom-client registry: a backend registers its own gauges on it (names arkeo_signer_<backend>_*). */
  registry: Registry;
}

/** A backend as served by one daemon: it keeps its own keys, metrics and health. */
export interface Serving<S extends KeySigner = KeySigner> {
  /** The options to open one key with, given the daemon's: e.g. with counters that feed the metrics. */
  optionsFor?(info: KeyInfo, options: OpenSignerOptions): OpenSignerOptions;
  /** A key of this backend is served under `name` (in-process keys: the signer in the signing thread). */
  served(name: string, signer: S): void;
  /** Set the backend's gauges from its keys' own counters (at each /metrics scrape). */
  scrape?(): void;
  /** The backend's keys' health for /healthz (and its health gauges); undefined when it serves no key. */
  health?(): Promise<HealthSection | undefined>;
}

interface BackendBase<S extends KeySigner> {
  /** The key-record kinds it opens (KeyInfo.kind; for an external key, the kind in its external-key file). */
  readonly kinds: readonly string[];
  /** How messages name its keys: "a <description> key". */
  readonly description: string;
  /** The daemon serves its keys. */
  readonly served: boolean;
  /** What `keys delete` says about the key material once the records are gone. */
  deleted(kind: string): string;
  /** Destroy the key material itself (`keys delete --delete-from-token`); the number of objects destroyed. */
  destroy?(info: KeyInfo, options: { pin?: PinSource }): Promise<number>;
  /** The daemon's hooks for this backend: one Serving per daemon, made at its start. */
  serve?(context: ServeContext): Promise<Serving<S>>;
}

/** A backend whose private key lives in this process: the daemon moves its keys into its signing thread. */
export interface InProcessBackend extends BackendBase<KeySigner> {
  readonly inProcess: true;
  open(key: StoredKey, options: OpenSignerOptions): Promise<LocalSigner>;
}

/** A backend whose private key lives elsewhere (a token, a cloud KMS): its signer calls out to it. */
export interface ExternalBackend<S extends KeySigner = KeySigner> extends BackendBase<S> {
  readonly inProcess: false;
  open(key: StoredKey, options: OpenSignerOptions): Promise<S>;
}

export type KeyBackend = InProcessBackend | ExternalBackend;

/** "a" or "an", for "is a pkcs11 key" / "is an aws-kms key". */
export function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}
