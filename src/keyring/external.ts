import * as fs from 'node:fs';
import * as path from 'node:path';
import { KeyringError } from '../errors.js';
import { ensurePrivateDir, readPrivateFile, removeFileDurable, writeFileAtomic } from '../fsutil.js';
import { percentEncode } from './percent.js';

/**
 * Where the private half of an external key lives (a PKCS#11 token, later a cloud KMS): our own small JSON file
 * beside arkeod's items, `<keyring-dir>/<name>.external.json`. arkeod lists only items whose key ends in "info",
 * so it never reads these; the key itself is an ordinary offline (pubkey-only) record that arkeod shows as usual.
 * Nothing secret is stored here: the kind, the public key it belongs to, and the kind's own location fields
 * (for PKCS#11: the RFC 7512 URI and the module path).
 */
export interface ExternalKeyRecord {
  version: 1;
  /** 'pkcs11', … */
  kind: string;
  name: string;
  /** The 33-byte compressed public key, hex: the sidecar counts only while the offline record holds this key. */
  pubkey_hex: string;
  address: string;
  /** Kind-specific, non-secret: e.g. { uri, module }. */
  location: Record<string, string>;
}

export const EXTERNAL_SUFFIX = '.external.json';
const MAX_EXTERNAL_BYTES = 16 * 1024;

export interface ExternalStore {
  get(name: string): ExternalKeyRecord | undefined;
  set(record: ExternalKeyRecord): void;
  remove(name: string): void;
  describe(name: string): string;
}

export function parseExternal(text: string, source: string): ExternalKeyRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new KeyringError('CORRUPT_EXTERNAL', `${source}: not JSON; remove it or re-add the key with arkeo-signer keys add`);
  }
  const r = v as Partial<ExternalKeyRecord>;
  const strings = (o: unknown) => typeof o === 'object' && o !== null && !Array.isArray(o) && Object.values(o).every((x) => typeof x === 'string');
  if (r?.version !== 1 || typeof r.kind !== 'string' || !/^[a-z0-9-]{1,32}$/.test(r.kind) || typeof r.name !== 'string' || typeof r.pubkey_hex !== 'string' || !/^[0-9a-f]{66}$/.test(r.pubkey_hex) || typeof r.address !== 'string' || !strings(r.location)) {
    throw new KeyringError('CORRUPT_EXTERNAL', `${source}: not an external-key record (version 1 with kind, name, pubkey_hex, address, location)`);
  }
  return r as ExternalKeyRecord;
}

export class FileExternalStore implements ExternalStore {
  constructor(private readonly dir: string) {}
  describe(name: string): string {
    return path.join(this.dir, percentEncode(name) + EXTERNAL_SUFFIX);
  }
  get(name: string): ExternalKeyRecord | undefined {
    const file = this.describe(name);
    const raw = readPrivateFile(file, MAX_EXTERNAL_BYTES);
    return raw === undefined ? undefined : parseExternal(raw.toString('utf8'), file);
  }
  set(record: ExternalKeyRecord): void {
    ensurePrivateDir(this.dir);
    writeFileAtomic(this.describe(record.name), JSON.stringify(record, null, 2) + '\n');
  }
  remove(name: string): void {
    if (fs.existsSync(this.describe(name))) removeFileDurable(this.describe(name));
  }
}

export class MemoryExternalStore implements ExternalStore {
  private readonly records = new Map<string, string>();
  describe(name: string): string {
    return `memory:${name}${EXTERNAL_SUFFIX}`;
  }
  get(name: string): ExternalKeyRecord | undefined {
    const t = this.records.get(name);
    return t === undefined ? undefined : parseExternal(t, this.describe(name));
  }
  set(record: ExternalKeyRecord): void {
    this.records.set(record.name, JSON.stringify(record));
  }
  remove(name: string): void {
    this.records.delete(name);
  }
}
