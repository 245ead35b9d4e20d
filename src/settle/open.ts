import { openNonceStore, SqliteNonceStore, type OpenNonceStoreOptions } from '../nonces/index.js';
import type { SettleStore } from './store.js';

/**
 * The settler's store in the database the nonce store spec names, with the same rules as every command: a named
 * store must exist unless `create` (--create-nonce-store) says to make it; the default file is made on first use.
 */
export async function openSettleStore(spec: string | undefined, home: string, options: Pick<OpenNonceStoreOptions, 'create'> = {}): Promise<SettleStore> {
  const nonces = await openNonceStore(spec, home, { create: options.create });
  try {
    if (nonces instanceof SqliteNonceStore) {
      const { SqliteSettleStore } = await import('./sqlite.js');
      return SqliteSettleStore.open(nonces.file);
    }
    const { PostgresSettleStore } = await import('./postgres.js');
    return await PostgresSettleStore.open(spec!, nonces.description);
  } finally {
    await nonces.close();
  }
}
