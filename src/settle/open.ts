import * as fs from 'node:fs';
import { defaultNonceStorePath, openNonceStore, SqliteNonceStore, type OpenNonceStoreOptions } from '../nonces/index.js';
import { SettleError } from './errors.js';
import type { SettleStore } from './store.js';

/**
 * The settler's store in the database the nonce store spec names, with the same rules as every command: a named
 * store must exist unless `create` (--create-nonce-store) says to make it; the default file is made on first use.
 * `readOnly` (doctor, the console): nothing is created or written, and a store without the settler's tables, or
 * with tables of another version, is refused (SETTLE_STORE_MISSING, SETTLE_STORE_SCHEMA).
 */
export async function openSettleStore(spec: string | undefined, home: string, options: Pick<OpenNonceStoreOptions, 'create' | 'readOnly'> = {}): Promise<SettleStore> {
  const readOnly = Boolean(options.readOnly);
  if (readOnly && spec !== undefined && /^postgres(ql)?:\/\//.test(spec)) {
    // No nonce store to open first (its tables are not ours to check here); named without password or parameters.
    const { PostgresSettleStore } = await import('./postgres.js');
    return PostgresSettleStore.open(spec, withoutSecrets(spec), { readOnly });
  }
  if (readOnly) {
    const file = spec === undefined ? defaultNonceStorePath(home) : spec.replace(/^sqlite:/, '');
    // A missing file is not an empty store to a reader: nothing was ever kept there.
    const otherScheme = spec !== undefined && !spec.startsWith('sqlite:') && /^[A-Za-z][A-Za-z0-9+.-]*:/.test(spec);
    if (file !== '' && !otherScheme && !fs.existsSync(file)) throw new SettleError('SETTLE_STORE_MISSING', `settle store sqlite:${file}: no such file; the settler has not run with this store`);
  }
  const nonces = await openNonceStore(spec, home, readOnly ? { readOnly } : { create: options.create });
  try {
    if (nonces instanceof SqliteNonceStore) {
      const { SqliteSettleStore } = await import('./sqlite.js');
      return SqliteSettleStore.open(nonces.file, { readOnly });
    }
    const { PostgresSettleStore } = await import('./postgres.js');
    return await PostgresSettleStore.open(spec!, nonces.description, { readOnly });
  } finally {
    await nonces.close();
  }
}

/** A PostgreSQL URL as messages may show it: user, host and database; no password, no parameters. */
function withoutSecrets(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparseable url)';
  }
}
