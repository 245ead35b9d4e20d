import * as fs from 'node:fs';
import * as path from 'node:path';
import { SqliteNonceStore } from './sqlite.js';
import { missingStoreError, NonceStoreError, type NonceStore } from './store.js';

/** `<home>/signer/nonces.db`, i.e. ~/.arkeo/signer/nonces.db by default. */
export function defaultNonceStorePath(home: string): string {
  return path.join(home, 'signer', 'nonces.db');
}

export interface OpenNonceStoreOptions {
  /** SQLite: commit reservations in a writer thread (the daemon). */
  writerThread?: boolean;
  /**
   * The user asked for a new store (--create-nonce-store, `nonces.create`). Without it only the default path is
   * created; a named store that does not exist is an error, because an empty store silently starts every contract
   * at nonce 1 again and forgets its spend terms.
   */
  create?: boolean;
  /**
   * A reading command: never create anything (a missing default store reads as empty), and never write to or
   * upgrade the store: an older schema is read as it is; writing methods refuse with READ_ONLY.
   */
  readOnly?: boolean;
}

/**
 * `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:PATH` or a plain path → SQLite; none → the default
 * file. Any other `scheme:` is an error (a mistyped URL must not become a SQLite file named after it).
 */
export async function openNonceStore(spec: string | undefined, home: string, options: OpenNonceStoreOptions = {}): Promise<NonceStore> {
  if (spec !== undefined && /^postgres(ql)?:\/\//.test(spec)) {
    // pg is loaded for a PostgreSQL store only (a SQLite user's `claim sign` would pay for it on every run).
    const { PostgresNonceStore } = await import('./postgres.js');
    return PostgresNonceStore.open(spec, { create: Boolean(options.create) && !options.readOnly, readOnly: Boolean(options.readOnly) });
  }
  if (spec !== undefined && !spec.startsWith('sqlite:') && /^[A-Za-z][A-Za-z0-9+.-]*:/.test(spec)) {
    const scheme = spec.slice(0, spec.indexOf(':'));
    throw new NonceStoreError('BAD_NONCE_STORE', `nonce store: unknown scheme "${scheme.slice(0, 20)}:" (expected a file path, sqlite:PATH or postgres://…)`);
  }
  const file = spec !== undefined ? spec.replace(/^sqlite:/, '') : defaultNonceStorePath(home);
  if (file === '') throw new NonceStoreError('BAD_NONCE_STORE', 'nonce store: empty path (expected a file path, sqlite:PATH or postgres://…)');
  if (!fs.existsSync(file)) {
    // Nothing was ever reserved through the default store: an empty, in-memory one answers without a file.
    if (options.readOnly && spec === undefined) return SqliteNonceStore.open(':memory:');
    if (options.readOnly || !(spec === undefined || options.create)) throw missingStoreError(`sqlite:${file}`);
  }
  return SqliteNonceStore.open(file, options);
}
