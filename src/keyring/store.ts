import * as fs from 'node:fs';
import * as path from 'node:path';
import { KeyringError } from '../errors.js';
import { ensurePrivateDir, readPrivateFile, removeFileDurable, warnIfExposed, writeFileAtomic } from '../fsutil.js';
import { decodeItem, encodeItem, type Item } from './item.js';
import { decryptJwe, encryptJwe, MAX_TOKEN_BYTES } from './jwe.js';
import { percentDecode, percentEncode } from './percent.js';

/** Where keyring items live. The keyring above it knows Records; stores know only named byte blobs. */
export interface ItemStore {
  /** For messages: the directory, or "memory". */
  readonly location: string;
  /** Every item key, sorted byte-wise as Go sorts strings. */
  keys(): string[];
  get(key: string): Promise<Item | undefined>;
  set(item: Item): Promise<void>;
  remove(key: string): Promise<void>;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class MemoryItemStore implements ItemStore {
  readonly location = 'memory';
  private readonly items = new Map<string, Uint8Array>();
  keys(): string[] {
    return [...this.items.keys()].sort(byteOrder);
  }
  async get(key: string): Promise<Item | undefined> {
    const data = this.items.get(key);
    return data ? { key, data: data.slice() } : undefined;
  }
  async set(item: Item): Promise<void> {
    this.items.set(item.key, item.data.slice());
  }
  async remove(key: string): Promise<void> {
    this.items.get(key)?.fill(0);
    this.items.delete(key);
  }
}

/**
 * 99designs/keyring's file backend: one JWE file per item, named by the percent-escaped item key.
 * `password` is asked for lazily, the first time a read or write needs it, as 99designs does.
 */
export class FileItemStore implements ItemStore {
  constructor(
    readonly location: string,
    private readonly password: () => Promise<string>,
  ) {}

  private pathOf(key: string): string {
    return path.join(this.location, percentEncode(key));
  }

  keys(): string[] {
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
