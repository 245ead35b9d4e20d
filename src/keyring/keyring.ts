import * as os from 'node:os';
import * as path from 'node:path';
import { InputError, KeyringError } from '../errors.js';
import { toHex, wipe } from '../crypto/bytes.js';
import type { DeriveOptions } from '../crypto/hd.js';
import { log } from '../log.js';
import { decodeRecord, encodeRecord, newLocalRecord, newOfflineRecord, type AnyMessage, type KeyRecord, type RecordType } from './record.js';
import { KEYRING_WIDE_CODES, type ItemStore, type PassphraseSource, type Storage } from './store.js';
import { percentEncode } from './percent.js';
import type { ExternalKeyRecord, ExternalStore } from './external.js';
import { BACKENDS, storageBackend, type Backend } from './backends/registry.js';

export { BACKENDS, type Backend } from './backends/registry.js';
export type { PassphraseRequest, PassphraseSource } from './store.js';
export { TEST_BACKEND_PASSWORD } from './backends/test.js';
export { MAX_PASSPHRASE_ATTEMPTS } from './backends/file.js';

/** arkeod's default home (`clienthelpers.GetNodeHomeDirectory(".arkeo")`), or $ARKEO_HOME when set. */
export function defaultHome(): string {
  return process.env.ARKEO_HOME || path.join(os.homedir(), '.arkeo');
}

/**
 * arkeod's keyring service name, `sdk.KeyringServiceName()`: the `version.Name` its release builds are linked with
 * ("Arkeo", Makefile and goreleaser), which names the os backend's Secret Service collection and the pass backend's
 * folder keyring-Arkeo. $ARKEO_KEYRING_SERVICE for an arkeod built otherwise (a plain `go build` gives "cosmos").
 */
export const DEFAULT_KEYRING_SERVICE = 'Arkeo';
export function defaultKeyringService(): string {
  return process.env.ARKEO_KEYRING_SERVICE || DEFAULT_KEYRING_SERVICE;
}

export interface KeyringOptions {
  backend: Backend;
  /** arkeod's `--keyring-dir`, else `--home`. File backends append their folder (keyring-test/, keyring-file/). */
  dir?: string;
  passphrase?: PassphraseSource;
  /** The keyring service name (os, pass); default defaultKeyringService(). */
  service?: string;
}

export interface MigrationResult {
  copied: string[];
  skipped: { name: string; why: string }[];
}

export interface KeyInfo {
  name: string;
  type: RecordType;
  /** bech32 `arkeo1…`, or '' when the public key is not secp256k1 and no address index entry names it. */
  address: string;
  addressBytes?: Uint8Array;
  publicKey?: Uint8Array;
  pubKeyAny: AnyMessage;
  legacy: boolean;
  /** Where the private half is: the record type for arkeod's own kinds, else the external kind ('pkcs11', …). */
  kind: string;
  /** For external keys: where the private half lives (no secret). */
  external?: ExternalKeyRecord;
}

/** An error that makes the whole keyring unusable (locked, unreachable), not just one item. */
function keyringWide(e: unknown): boolean {
  return e instanceof KeyringError && KEYRING_WIDE_CODES.includes(e.code);
}

/** NAME_MAX of the file systems a keyring lives on (ext4, xfs, btrfs, tmpfs, APFS): the longest file name. */
export const FILE_NAME_MAX_BYTES = 255;

/** For messages: the name as it is, or JSON-quoted when it has characters that would break the line. */
export function showName(name: string): string {
  return /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029"]+$/.test(name) && name === name.trim() ? name : JSON.stringify(name);
}

/**
 * Can `name` be a key in a keyring on this file system? arkeod accepts any name; the file `<name>.info`
 * (percent-escaped: "/" is %2F, "%" is %25) must then be a legal file name. So only three things are refused:
 * an empty name, a NUL byte, and a file name over 255 bytes (arkeod fails to write those too); plus a name that
 * is not valid Unicode, which would not be the same bytes on disk. Reading uses this, so every key arkeod wrote
 * can be shown, signed with, exported and migrated.
 */
export function checkStorableName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new InputError('BAD_KEY_NAME', 'key name: must not be empty');
  if (name.includes('\u0000')) throw new InputError('BAD_KEY_NAME', `key name ${showName(name)}: contains a NUL byte, which no file name can hold`);
  if (/[\ud800-\udfff]/.test(name.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) throw new InputError('BAD_KEY_NAME', `key name ${showName(name)}: is not valid Unicode`);
  const file = percentEncode(`${name}.info`);
  const bytes = Buffer.byteLength(file, 'utf8');
  if (bytes > FILE_NAME_MAX_BYTES) {
    throw new InputError(
      'BAD_KEY_NAME',
      `key name ${showName(name.length > 40 ? name.slice(0, 40) + '…' : name)}: too long for this file system (its file name "<name>.info" would be ${bytes} bytes, the limit is ${FILE_NAME_MAX_BYTES}); choose a shorter name`,
    );
  }
}

/**
 * A name for a new key typed by the user (`keys add`, `import`, `import-hex`, `rename` NEW): storable, and
 * without control characters. arkeod takes those too, but a name with a newline or an escape sequence makes
 * `keys list -n`, log lines and error messages ambiguous or able to rewrite the terminal; such keys written by
 * arkeod are still read, shown, signed with and migrated.
 */
export function validateKeyName(name: string): void {
  checkStorableName(name);
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) {
    throw new InputError('BAD_KEY_NAME', `key name ${showName(name)}: contains a control character (a tab, newline or escape); choose a name without one`);
  }
}

// bech32 and RIPEMD-160 (@scure/base, @noble/hashes) are loaded when an address is needed: opening a local key to
// sign with it (signhere) needs none.
const addresses = () => import('../crypto/address.js');

/** The 20-byte address for records with a secp256k1 public key. */
async function recordAddress(record: KeyRecord): Promise<Uint8Array | undefined> {
  return record.publicKey ? (await addresses()).addressBytes(record.publicKey) : undefined;
}

const infoKey = (name: string) => `${name}.info`;
const addressKey = (address: Uint8Array) => `${toHex(address)}.address`;

/**
 * An arkeod-compatible keyring: reads and writes what `arkeod keys` stores (cosmos-sdk v0.50.11 with 99designs/keyring
 * v1.2.1), in any of its storage backends (backends/registry.ts): test, file, memory, os, pass.
 */
export class Keyring {
  readonly backend: Backend;
  /** Where the keys are: the backend folder (…/keyring-test), a Secret Service collection, a pass folder, 'memory'. */
  readonly location: string;
  private readonly storage: Storage;
  private readonly store: ItemStore;
  private readonly externals: ExternalStore;

  private constructor(backend: Backend, storage: Storage) {
    this.backend = backend;
    this.storage = storage;
    this.location = storage.location;
    this.store = storage.items;
    this.externals = storage.externals;
  }

  static open(options: KeyringOptions): Keyring {
    const backend = storageBackend(options.backend);
    if (!backend) {
      throw new InputError('BAD_BACKEND', `keyring backend: expected one of ${BACKENDS.join(', ')}, got "${String(options.backend)}" (kwallet is not supported)`);
    }
    const storage = backend.open({ home: options.dir ?? defaultHome(), passphrase: options.passphrase, service: options.service ?? defaultKeyringService() });
    return new Keyring(options.backend, storage);
  }

  /** Check that the keyring exists (for read commands that should fail on a wrong --home); a service-backed one checks at its first use. */
  assertExists(): void {
    this.storage.requireExisting();
  }

  /** checkStorableName, and what this backend cannot store under the name (a pass path that would not round-trip). */
  private checkName(name: string): void {
    checkStorableName(name);
    const problem = this.storage.keyProblem?.(infoKey(name));
    if (problem) throw new InputError('BAD_KEY_NAME', `key name ${showName(name)}: ${problem}`);
  }

  private async readRecord(name: string): Promise<KeyRecord | undefined> {
    const item = await this.store.get(infoKey(name));
    if (!item) return undefined;
    try {
      return decodeRecord(item.data, this.describe(infoKey(name)));
    } finally {
      item.data.fill(0);
    }
  }

  private describe(key: string): string {
    return this.storage.describe(key);
  }

  private async infoOf(record: KeyRecord): Promise<KeyInfo> {
    let raw = await recordAddress(record);
    if (!raw) raw = await this.addressFromIndex(record.name);
    wipe(record.privateKey);
    const external = this.externalOf(record);
    return {
      name: record.name,
      type: record.type,
      address: raw ? (await addresses()).toAddress(raw) : '',
      addressBytes: raw,
      publicKey: record.publicKey,
      pubKeyAny: record.pubKey,
      legacy: record.legacy ?? false,
      kind: external?.kind ?? record.type,
      external,
    };
  }

  /**
   * The external-key file beside an offline record, when it belongs to it (same public key). One left behind
   * by `arkeod keys delete`, or naming another key, is ignored with a warning: it must never redirect a key.
   */
  private externalOf(record: KeyRecord): ExternalKeyRecord | undefined {
    let ext: ExternalKeyRecord | undefined;
    try {
      ext = this.externals.get(record.name);
    } catch (e) {
      log('warn', (e as Error).message);
      return undefined;
    }
    if (!ext) return undefined;
    if (record.type !== 'offline' || !record.publicKey || ext.pubkey_hex !== toHex(record.publicKey) || ext.name !== record.name) {
      log('warn', `${this.externals.describe(record.name)}: ignored, it does not belong to the ${record.type} key "${record.name}" in ${this.location}`);
      return undefined;
    }
    return ext;
  }

  /** For records whose public key we cannot hash (multisig, ed25519): find the `.address` item naming it. */
  private async addressFromIndex(name: string): Promise<Uint8Array | undefined> {
    for (const key of await this.store.keys()) {
      if (!/^[0-9a-f]{40}\.address$/.test(key)) continue;
      const item = await this.store.get(key);
      if (item && Buffer.from(item.data).toString('utf8') === infoKey(name)) return new Uint8Array(Buffer.from(key.slice(0, 40), 'hex'));
    }
    return undefined;
  }

  /** Every key, sorted by name as arkeod lists them. Undecodable items are reported and skipped, as arkeod does. */
  async list(): Promise<KeyInfo[]> {
    const { keys, problems } = await this.survey();
    for (const p of problems) log('warn', `skipping ${p}`);
    return keys;
  }

  /**
   * Every key, and every item arkeod would list that is not a key record (each "<where>: <why>"). A keyring that
   * cannot be unlocked or reached is not an empty one: that error is thrown, only a bad item is set aside.
   */
  async survey(): Promise<{ keys: KeyInfo[]; problems: string[] }> {
    const keys: KeyInfo[] = [];
    const problems: string[] = [];
    for (const key of await this.store.keys()) {
      // arkeod keeps keys ending in "info" (no dot in its check), so we do too.
      if (!key.endsWith('info')) continue;
      try {
        const item = await this.store.get(key);
        if (!item) continue;
        try {
          keys.push(await this.infoOf(decodeRecord(item.data, this.describe(key))));
        } finally {
          item.data.fill(0);
        }
      } catch (e) {
        if (keyringWide(e)) throw e;
        problems.push(`${this.describe(key)}: ${(e as Error).message}`);
      }
    }
    return { keys, problems };
  }

  async get(name: string): Promise<KeyInfo> {
    checkStorableName(name);
    const record = await this.readRecord(name);
    if (!record) throw new KeyringError('KEY_NOT_FOUND', `${name}: key not found in ${this.location}`);
    return this.infoOf(record);
  }

  async has(name: string): Promise<boolean> {
    checkStorableName(name);
    return (await this.store.keys()).includes(infoKey(name));
  }

  async getByAddress(address: Uint8Array): Promise<KeyInfo> {
    const item = await this.store.get(addressKey(address));
    const infoName = item ? Buffer.from(item.data).toString('utf8') : undefined;
    if (!infoName?.endsWith('.info')) throw new KeyringError('KEY_NOT_FOUND', `${(await addresses()).toAddress(address)}: key not found in ${this.location}`);
    return this.get(infoName.slice(0, -'.info'.length));
  }

  /**
   * A local key's private key, or any other key's info, from one read and decryption of `<name>.info`: for callers
   * that learn the kind from the record (keys/ openSigner), so a local key is not decrypted twice. The caller
   * wipes the private key. The keyring holds records, never signers.
   */
  async localKeyOrInfo(name: string): Promise<{ privateKey: Uint8Array } | { info: KeyInfo }> {
    checkStorableName(name);
    const record = await this.readRecord(name);
    if (!record) throw new KeyringError('KEY_NOT_FOUND', `${name}: key not found in ${this.location}`);
    if (record.type !== 'local' || !record.privateKey) return { info: await this.infoOf(record) };
    this.externalOf(record); // warns about an external-key file left beside a local key, as reading its info does
    return { privateKey: record.privateKey };
  }

  /** The raw 32-byte private key of a local key. The caller wipes it. */
  async exportPrivateKey(name: string): Promise<Uint8Array> {
    checkStorableName(name);
    const record = await this.readRecord(name);
    if (!record) throw new KeyringError('KEY_NOT_FOUND', `${name}: key not found in ${this.location}`);
    if (record.type !== 'local' || !record.privateKey) {
      const kind = this.externalOf(record)?.kind ?? record.type;
      throw new KeyringError('NOT_LOCAL', `${name}: is a ${kind} key; only local keys hold a private key here${kind !== record.type ? ' (open it with openSigner)' : ''}`);
    }
    return record.privateKey;
  }

  /** `keys add` / `keys add --recover`: derive from a mnemonic and store as a local key. */
  async newAccount(name: string, mnemonic: string, options: DeriveOptions = {}): Promise<KeyInfo> {
    this.checkName(name);
    // BIP32/BIP39 (which import @noble/curves) only when a key is derived, not on every open of the keyring.
    const { deriveKey } = await import('../crypto/hd.js');
    const priv = deriveKey(mnemonic, options);
    try {
      return await this.importPrivateKey(name, priv);
    } finally {
      wipe(priv);
    }
  }

  /** Store a raw private key as a local key (import, import-hex). Refuses an existing name or address. */
  async importPrivateKey(name: string, privateKey: Uint8Array): Promise<KeyInfo> {
    this.checkName(name);
    const record = newLocalRecord(name, privateKey);
    record.privateKey = Uint8Array.from(privateKey);
    await this.writeNewRecord(record);
    return this.infoOf(record);
  }

  /**
   * An external key: an offline (pubkey-only) record under `name`, which arkeod lists and shows as its own, and
   * our file saying where the private half lives. The file is written first, so a crash between the two leaves at
   * most a file without its record (ignored), never a record that looks like a plain offline key by mistake.
   */
  async addExternalKey(name: string, publicKey: Uint8Array, kind: string, location: Record<string, string>): Promise<KeyInfo> {
    this.checkName(name);
    const record = newOfflineRecord(name, publicKey);
    const address = (await recordAddress(record))!;
    await this.assertFree(name, address);
    await this.storage.checkWritable?.();
    this.externals.set({ version: 1, kind, name, pubkey_hex: toHex(publicKey), address: (await addresses()).toAddress(address), location });
    try {
      await this.writeNewRecord(record);
    } catch (e) {
      this.externals.remove(name);
      throw e;
    }
    return this.infoOf(record);
  }

  /** cosmos-sdk `writeRecord`: `<name>.info` first, then `<hexaddr>.address`, after the existence checks. */
  private async writeNewRecord(record: KeyRecord): Promise<void> {
    const address = (await recordAddress(record))!;
    await this.assertFree(record.name, address);
    await this.storage.checkWritable?.();
    const data = encodeRecord(record);
    try {
      await this.store.set({ key: infoKey(record.name), data });
    } finally {
      data.fill(0);
    }
    await this.store.set({ key: addressKey(address), data: new TextEncoder().encode(infoKey(record.name)) });
  }

  private async assertFree(name: string, address: Uint8Array): Promise<void> {
    const keys = await this.store.keys();
    if (keys.includes(infoKey(name))) throw new KeyringError('KEY_EXISTS', `${showName(name)}: a key with this name already exists in ${this.location}`);
    const owner = await this.addressOwner(address);
    if (owner !== undefined) {
      // arkeod (SDK v0.50.11 writeRecord) stores the key a second time and repoints the .address item to the new
      // name; we refuse instead: two names for one key, and `keys delete` of either breaks address lookups of the other.
      throw new KeyringError(
        'ADDRESS_EXISTS',
        `${showName(name)}: this key (${(await addresses()).toAddress(address)}) is already stored as ${showName(owner)} in ${this.location}; use that name, or \`keys rename ${owner} ${name}\``,
      );
    }
    // A stale .address item without its .info: the SDK deletes it and carries on.
    if (keys.includes(addressKey(address))) await this.store.remove(addressKey(address));
  }

  /** Removes our records only: for an external key, the record and our location file, never the key itself. */
  async delete(name: string): Promise<void> {
    const info = await this.get(name);
    if (info.addressBytes) await this.store.remove(addressKey(info.addressBytes));
    await this.store.remove(infoKey(name));
    this.externals.remove(name); // ours, also when stale
  }

  /**
   * Rename without ever having zero copies on disk: write `<new>.info`, repoint the `.address` item, then
   * remove `<old>.info`. (arkeod exports, deletes and re-imports, which loses the key if it dies midway.)
   */
  async rename(oldName: string, newName: string): Promise<KeyInfo> {
    this.checkName(newName);
    const record = await this.readRecord(oldName);
    if (!record) throw new KeyringError('KEY_NOT_FOUND', `${oldName}: key not found in ${this.location}`);
    if ((await this.store.keys()).includes(infoKey(newName))) throw new KeyringError('KEY_EXISTS', `${newName}: a key with this name already exists`);
    await this.storage.checkWritable?.();
    const external = this.externalOf(record);
    if (external) this.externals.set({ ...external, name: newName });
    record.name = newName;
    const data = encodeRecord(record);
    try {
      await this.store.set({ key: infoKey(newName), data });
    } finally {
      data.fill(0);
    }
    const address = (await recordAddress(record)) ?? (await this.addressFromIndex(oldName));
    if (address) await this.store.set({ key: addressKey(address), data: new TextEncoder().encode(infoKey(newName)) });
    await this.store.remove(infoKey(oldName));
    if (external) this.externals.remove(oldName);
    return this.infoOf(record);
  }

  /**
   * Copy every local key into `target` (another backend); the source is left as it was. Everything is checked
   * before anything is written: a key that cannot be read, a name or address already used by a different key in
   * the target, or a name the target cannot store stops the migration with every such key named, and nothing is
   * copied. Keys already in the target (same name, same address) and keys without a private key here (offline,
   * ledger, multi, external) are skipped and reported with the reason.
   */
  async migrateTo(target: Keyring): Promise<MigrationResult> {
    const toCopy: string[] = [];
    const skipped: { name: string; why: string }[] = [];
    const problems: string[] = [];
    const targetKeys = new Set(await target.store.keys());
    for (const key of await this.store.keys()) {
      if (!key.endsWith('info')) continue; // what arkeod lists
      let info: KeyInfo;
      try {
        const item = await this.store.get(key);
        if (!item) continue;
        try {
          info = await this.infoOf(decodeRecord(item.data, this.describe(key)));
        } finally {
          item.data.fill(0);
        }
      } catch (e) {
        if (keyringWide(e)) throw e;
        problems.push(`${showName(key)} cannot be read (${(e as Error).message})`);
        continue;
      }
      const name = info.name;
      if (key !== infoKey(name)) {
        problems.push(`${showName(key)} holds the key named ${showName(name)}; rename the file to ${showName(infoKey(name))}`);
        continue;
      }
      if (info.type !== 'local') {
        skipped.push({ name, why: `a ${info.kind} key: no private key in this keyring to copy` });
        continue;
      }
      try {
        target.checkName(name);
      } catch (e) {
        problems.push((e as Error).message);
        continue;
      }
      if (targetKeys.has(infoKey(name))) {
        const existing = await target.get(name);
        if (existing.address === info.address) skipped.push({ name, why: `already in ${target.location}` });
        else problems.push(`${showName(name)}: a different key with this name is in ${target.location}; rename one of them`);
        continue;
      }
      const owner = info.addressBytes && (await target.addressOwner(info.addressBytes));
      if (owner) {
        problems.push(`${showName(name)}: the same key is in ${target.location} as ${showName(owner)}; rename it there to ${showName(name)} or delete it`);
        continue;
      }
      toCopy.push(name);
    }
    if (problems.length > 0) {
      throw new KeyringError('MIGRATE_REFUSED', `nothing was migrated: ${problems.length} key(s) cannot be: ${problems.join('; ')}`);
    }
    // A target that cannot be written (no GPG key for pass, a locked collection) stops it here, with nothing copied.
    if (toCopy.length > 0) await target.storage.checkWritable?.();
    const copied: string[] = [];
    for (const name of toCopy) {
      try {
        const priv = await this.exportPrivateKey(name);
        try {
          await target.importPrivateKey(name, priv);
        } finally {
          wipe(priv);
        }
      } catch (e) {
        const done = copied.length ? `${copied.map(showName).join(', ')} copied before it; ` : '';
        throw new KeyringError('MIGRATE_FAILED', `${showName(name)}: not migrated (${(e as Error).message}); ${done}run the migration again to copy the rest`, { cause: e });
      }
      copied.push(name);
    }
    return { copied, skipped };
  }

  /** The name whose `.address` item names this address, when that key exists (a stale item is no owner). */
  private async addressOwner(address: Uint8Array): Promise<string | undefined> {
    const keys = await this.store.keys();
    if (!keys.includes(addressKey(address))) return undefined;
    const owner = await this.store.get(addressKey(address));
    const ownerInfo = owner ? Buffer.from(owner.data).toString('utf8') : '';
    return keys.includes(ownerInfo) ? ownerInfo.replace(/\.info$/, '') : undefined;
  }
}
