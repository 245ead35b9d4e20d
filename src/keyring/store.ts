import type { Item } from './item.js';
import type { ExternalStore } from './external.js';

/**
 * The keyring's one storage seam. A storage backend (test, file, memory, os, pass) is one file under backends/ and
 * one entry in backends/registry.ts; the Keyring above it knows Records, a store knows only named byte blobs (the
 * 99designs/keyring `Item`s arkeod writes). Types only, so the backends and the keyring share them without a circle.
 */

/** Where keyring items live: a folder of JWE files, a Secret Service collection, a `pass` folder, memory. */
export interface ItemStore {
  /** For messages: the directory, the collection, or "memory". */
  readonly location: string;
  /** Every item key, sorted byte-wise as Go sorts strings. */
  keys(): Promise<string[]>;
  get(key: string): Promise<Item | undefined>;
  set(item: Item): Promise<void>;
  remove(key: string): Promise<void>;
}

export interface PassphraseRequest {
  /** 'unlock': check against an existing keyhash. 'create': no keyhash yet, a new passphrase is being set. */
  purpose: 'unlock' | 'create';
  attempt: number;
  keyhashPath: string;
}

/**
 * Where the `file` backend's passphrase comes from. An interactive source (a TTY) is asked again after a
 * wrong answer and asked twice when creating; a non-interactive one (file, env, pipe) is asked once.
 */
export interface PassphraseSource {
  interactive: boolean;
  get(request: PassphraseRequest & { confirm?: boolean }): Promise<string>;
  /** Told about a wrong attempt, to print "incorrect passphrase" as arkeod does. */
  rejected?(reason: string): void;
}

export interface StorageOptions {
  /** arkeod's `--keyring-dir`, else `--home`: file backends keep their folder (keyring-<backend>/) here. */
  home: string;
  passphrase?: PassphraseSource;
  /**
   * arkeod's keyring service name (cosmos-sdk `sdk.KeyringServiceName()`, the binary's `version.Name`): the
   * Secret Service collection and the `pass` folder `keyring-<service>` are named after it.
   */
  service: string;
}

/** One opened keyring's storage: its items, and our external-key files beside them. */
export interface Storage {
  readonly items: ItemStore;
  readonly externals: ExternalStore;
  /** For messages: where the keys are (a folder, `Secret Service collection "Arkeo"`, a pass folder). */
  readonly location: string;
  /** How a message names one item: its file, or the item in its collection. */
  describe(key: string): string;
  /**
   * For read commands: the keyring must already exist (a missing one is almost always a wrong --home or service
   * name). File stores check at once; stores behind a service check at their first use.
   */
  requireExisting(): void;
  /** Why this store cannot hold an item under this key (a name `pass` would store elsewhere), if it cannot. */
  keyProblem?(key: string): string | undefined;
  /** Checks, before anything is written, that a write can succeed (a GPG key to encrypt to, a collection). */
  checkWritable?(): Promise<void>;
}

/** One finding about a backend's dependencies on this host, for `doctor` (the daemon meets the same as errors). */
export interface StorageCheck {
  level: 'ok' | 'warn' | 'fail' | 'skip';
  message: string;
  fix?: string;
}

export interface StorageBackend {
  readonly name: string;
  /** For help and docs: where it keeps keys. */
  readonly description: string;
  open(options: StorageOptions): Storage;
  /** What `doctor` checks for this backend: the bus and collection, the GPG key and agent. */
  check?(options: StorageOptions): Promise<StorageCheck[]>;
}

/**
 * Error codes meaning the whole keyring cannot be used (not one bad item): listing or migrating stops on them
 * instead of skipping the item.
 */
export const KEYRING_WIDE_CODES: readonly string[] = ['WRONG_PASSPHRASE', 'KEYRING_LOCKED', 'KEYRING_UNAVAILABLE', 'NO_KEYRING'];

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** What a store behind a service (Secret Service, pass) offers: checked at first use, not at open. */
export interface ServiceItemStore extends ItemStore {
  readonly location: string;
  mustExist: boolean;
  describe(key: string): string;
  checkWritable(): Promise<void>;
  keyProblem?(key: string): string | undefined;
}

/** The Storage of a store behind a service, with our external-key files in `externalsDir` (arkeod keeps none there). */
export function serviceStorage(items: ServiceItemStore, externals: ExternalStore): Storage {
  return {
    items,
    externals,
    location: items.location,
    describe: (key) => items.describe(key),
    requireExisting: () => {
      items.mustExist = true;
    },
    ...(items.keyProblem ? { keyProblem: (key: string) => items.keyProblem!(key) } : {}),
    checkWritable: () => items.checkWritable(),
  };
}
