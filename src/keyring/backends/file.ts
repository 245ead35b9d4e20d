import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, KeyringError } from '../../errors.js';
import { ensurePrivateDir, readPrivateFile, removeFileDurable, warnIfExposed, writeFileAtomic } from '../../fsutil.js';
import { FileExternalStore } from '../external.js';
import { decodeItem, encodeItem, type Item } from '../item.js';
import { decryptJwe, encryptJwe, MAX_TOKEN_BYTES } from '../jwe.js';
import { percentDecode, percentEncode } from '../percent.js';
import { byteOrder, type ItemStore, type PassphraseSource, type Storage, type StorageBackend, type StorageOptions } from '../store.js';

export const MAX_PASSPHRASE_ATTEMPTS = 3;

/**
 * 99designs/keyring's file backend: one JWE file per item, named by the percent-escaped item key.
 * `password` is asked for lazily, the first time a read or write needs it, as 99designs does.
 */
export class FileItemStore implements ItemStore {
  constructor(
    readonly location: string,
    private readonly password: () => Promise<string>,
  ) {}

  pathOf(key: string): string {
    return path.join(this.location, percentEncode(key));
  }

  async keys(): Promise<string[]> {
    let names: string[];
    try {
      names = fs.readdirSync(this.location);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new KeyringError('READ_FAILED', `${this.location}: cannot list the keyring directory (${(e as NodeJS.ErrnoException).code})`);
    }
    warnIfExposed(this.location);
    // Every entry, as 99designs Keys() does: a key named ".hidden" is ".hidden.info", and our temp files (".….tmp")
    // end neither in "info" nor ".address", so nothing reading keys() mistakes them for items.
    return names.map(percentDecode).sort(byteOrder);
  }

  async get(key: string): Promise<Item | undefined> {
    // Every command that reads a key warns about an exposed keyring, not only those that list it.
    warnIfExposed(this.location);
    const file = this.pathOf(key);
    const raw = readPrivateFile(file, MAX_TOKEN_BYTES);
    if (raw === undefined) return undefined;
    const plaintext = decryptJwe(raw.toString('latin1'), await this.password(), file);
    try {
      const item = decodeItem(plaintext, file);
      if (item.key !== key) throw new KeyringError('CORRUPT_ITEM', `${file}: holds item "${item.key}", expected "${key}"`);
      return item;
    } finally {
      plaintext.fill(0);
    }
  }

  async set(item: Item): Promise<void> {
    ensurePrivateDir(this.location);
    const plaintext = encodeItem(item);
    try {
      writeFileAtomic(this.pathOf(item.key), encryptJwe(plaintext, await this.password()));
    } finally {
      plaintext.fill(0);
    }
  }

  async remove(key: string): Promise<void> {
    removeFileDurable(this.pathOf(key));
  }
}

/** A folder of JWE files, as the test and file backends keep it. */
export function jweFolderStorage(location: string, password: () => Promise<string>): Storage {
  const items = new FileItemStore(location, password);
  return {
    items,
    externals: new FileExternalStore(location),
    location,
    describe: (key) => items.pathOf(key),
    requireExisting: () => {
      if (!fs.existsSync(location)) throw new KeyringError('NO_KEYRING', `${location}: keyring directory does not exist`);
    },
  };
}

/**
 * The file backend's passphrase, asked once per keyring: the source's answer checked against `keyhash` (cosmos-sdk
 * `newRealPrompt`), or, for a new keyring, set and written to `keyhash`.
 */
class FilePassword {
  private cached: string | undefined;
  constructor(
    private readonly location: string,
    private readonly source: PassphraseSource,
  ) {}

  async get(): Promise<string> {
    this.cached ??= await this.unlock().catch((e: unknown) => {
      throw this.lockedError(e);
    });
    return this.cached;
  }

  /**
   * The passphrase could not be had at all (no input, Ctrl-C at the prompt, an unreadable passphrase file, one
   * that breaks the rules): the keyring is locked. Callers such as list() must not mistake that for "no keys".
   * A wrong passphrase keeps its own error, which already says so.
   */
  private lockedError(e: unknown): unknown {
    if (e instanceof KeyringError && e.code === 'WRONG_PASSPHRASE') return e;
    if (!(e instanceof InputError)) return e;
    // Setting up a new keyring (no keyhash yet): a rejected new passphrase is just that, not a lock.
    if (/^PASSPHRASE_TOO_/.test(e.code) && !fs.existsSync(path.join(this.location, 'keyhash'))) return e;
    return new KeyringError(
      'KEYRING_LOCKED',
      `${this.location}: the keyring is locked (${e.message}); give its passphrase with --passphrase-file F, ARKEO_KEYRING_PASSPHRASE or at a terminal prompt`,
      { cause: e },
    );
  }

  private async unlock(): Promise<string> {
    // bcryptjs is loaded by the file backend only: a test-backend signature (signhere's usual case) never needs it.
    const { checkKeyhash, checkPassphraseRules, createKeyhash } = await import('../keyhash.js');
    const source = this.source;
    const keyhashPath = path.join(this.location, 'keyhash');
    const raw = readPrivateFile(keyhashPath, 1024);
    const keyhash = raw?.toString('utf8').trim();
    const attempts = source.interactive ? MAX_PASSPHRASE_ATTEMPTS : 1;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const request = { purpose: keyhash ? ('unlock' as const) : ('create' as const), attempt, keyhashPath };
      const pass = await source.get(request);
      try {
        checkPassphraseRules(pass, 'keyring passphrase');
      } catch (e) {
        if (attempt < attempts) {
          source.rejected?.((e as Error).message);
          continue;
        }
        throw e;
      }
      if (keyhash) {
        if (checkKeyhash(pass, keyhash)) return pass;
        if (attempt < attempts) source.rejected?.('incorrect passphrase');
        continue;
      }
      if (source.interactive) {
        const again = await source.get({ ...request, confirm: true });
        if (again !== pass) {
          if (attempt < attempts) source.rejected?.('passphrase do not match');
          continue;
        }
      }
      ensurePrivateDir(this.location);
      writeFileAtomic(keyhashPath, createKeyhash(pass));
      return pass;
    }
    throw new KeyringError(
      'WRONG_PASSPHRASE',
      keyhash
        ? `${keyhashPath}: incorrect keyring passphrase${attempts > 1 ? ' (too many failed passphrase attempts)' : ''}`
        : `${this.location}: too many failed passphrase attempts`,
    );
  }
}

/** arkeod's `file` backend: `<home>/keyring-file/`, every item a JWE under the passphrase `keyhash` checks. */
export const fileBackend: StorageBackend = {
  name: 'file',
  description: '<home>/keyring-file/, encrypted under a passphrase',
  open(options: StorageOptions): Storage {
    const location = path.join(options.home, 'keyring-file');
    if (!options.passphrase) {
      throw new InputError('NO_PASSPHRASE_SOURCE', 'keyring backend file: no passphrase source (use --passphrase-file, ARKEO_KEYRING_PASSPHRASE, or a terminal)');
    }
    const password = new FilePassword(location, options.passphrase);
    return jweFolderStorage(location, () => password.get());
  },
};
