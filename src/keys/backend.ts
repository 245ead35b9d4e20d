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

/**
 * An option of `keys add` a backend takes. It has the shape of the CLI's flag specs (src/cli/table.ts, FlagSpec),
 * which the CLI makes the flag, its help and its checks from: keys/ says what a backend needs to make or link a
 * key, and never reads argv.
 */
export interface AddOption {
  readonly type: 'boolean' | 'string';
  /** The value's name in help (URI, REF, N). */
  readonly value?: string;
  readonly default?: string;
  /** The default the backend works out when the option is absent (from the environment): for help. */
  readonly computedDefault?: string;
  /** The value may be left out (`--awskms --create`): then it is "". */
  readonly optionalValue?: boolean;
  readonly help: string;
}

/** How a backend's own options combine, in the CLI's rule shapes (src/cli/table.ts, Rule). */
export type AddRule =
  /** Each of `flags` needs one of `goWith`. */
  | { readonly flags: readonly string[]; readonly goWith: readonly string[] }
  /** None of `flags` goes with `notWith`. */
  | { readonly flags: readonly string[]; readonly notWith: string; readonly why?: string };

/** The options given to `keys add`, by name: a string, true for a switch, "" for an optional value left out. */
export type AddValues = Readonly<Record<string, string | boolean | undefined>>;

/** What `keys add` hands a backend's form: the name, the options, and what only the command can provide. */
export interface AddRequest {
  name: string;
  values: AddValues;
  /** The keyring the command names, opened for writing (a form that writes nothing there, a dry run, never opens it). */
  keyring(): Keyring;
  /** The keyring's root directory (--keyring-dir, else --home): where files kept beside the keyring go. */
  home: string;
  /** Ask for a secret that is never an option value (a mnemonic, a passphrase): at the terminal, or stdin's next line. */
  ask(prompt: string, what: string): Promise<string>;
  /** The options keys are opened with (a PKCS#11 PIN source). */
  options: OpenSignerOptions;
}

/** A key `keys add` made or linked, and what to tell the user besides the key itself. */
export interface AddedKey {
  info: KeyInfo;
  /** A mnemonic made for the key: its only backup (printed unless --no-backup). */
  mnemonic?: string;
  /** Fields after the key's own in `-o json`, in order. */
  fields?: Readonly<Record<string, string>>;
  /** Printed after the key in text output. */
  text?: string;
  /** Each printed on stderr as `warning: …`. */
  warnings?: readonly string[];
}

/**
 * A backend's part of `keys add`: the options that choose it and those it takes, how they combine, its help, and
 * the step that creates or links a key. The CLI's `keys add` table is made from every backend's form
 * (src/cli/tables/keys.ts), so a new backend brings its flags with it.
 */
export interface AddForm {
  /**
   * The options that choose this backend (`--pkcs11 URI`): none for the one default form (a key made here).
   * Given one of them, the default form's options are refused, and this form's other options go only with them.
   */
  readonly selectors: readonly string[];
  /** Its options, selectors included. An option two forms take (`--create`) must be the same in both. */
  readonly options: Readonly<Record<string, AddOption>>;
  /** Rules among its own options, beyond those the CLI derives from `selectors`. */
  readonly rules?: readonly AddRule[];
  /** Why the default form's options do not go with a selector: "its key is made on the token". */
  readonly why?: string;
  /** Its synopsis forms, after `keys add`. */
  readonly usage: readonly string[];
  /** Its paragraph(s) of `keys add --help`. */
  readonly about: string;
  /**
   * Option values the rules cannot check (a number's range, a value required unless another option is given):
   * an InputError here is a usage error of `keys add`, before anything is opened.
   */
  check?(values: AddValues): void;
  /** Create or link the key, and record it in the keyring. */
  add(request: AddRequest): Promise<AddedKey>;
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
  /** Its part of `keys add`; a backend without one has its keys recorded some other way. */
  readonly add?: AddForm;
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
