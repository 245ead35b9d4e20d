import * as path from 'node:path';
import { SqliteNonceStore } from './sqlite.js';
import { PostgresNonceStore } from './postgres.js';
import type { NonceStore } from './store.js';

export { type NonceStore, type NonceRow, type ContractTerms, NonceStoreError, maxNonceFor } from './store.js';
export { SqliteNonceStore, type SqliteNonceStoreOptions } from './sqlite.js';
export { PostgresNonceStore, type PostgresNonceStoreOptions } from './postgres.js';
export { NonceAllocator } from './allocator.js';

/** `<home>/signer/nonces.db`, i.e. ~/.arkeo/signer/nonces.db by default. */
export function defaultNonceStorePath(home: string): string {
  return path.join(home, 'signer', 'nonces.db');
}

/** `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:PATH` or a plain path → SQLite; none → the default file. */
export async function openNonceStore(spec: string | undefined, home: string, options: { writerThread?: boolean } = {}): Promise<NonceStore> {
  if (spec && /^postgres(ql)?:\/\//.test(spec)) return PostgresNonceStore.open(spec);
  const file = spec ? spec.replace(/^sqlite:/, '') : defaultNonceStorePath(home);
  return SqliteNonceStore.open(file, options);
}
