export { type NonceStore, type NonceRow, type ContractTerms, NonceStoreError, maxNonceFor } from './store.js';
export { SqliteNonceStore, type SqliteNonceStoreOptions } from './sqlite.js';
export { PostgresNonceStore, type PostgresNonceStoreOptions } from './postgres.js';
export { NonceAllocator } from './allocator.js';
export { type OpenNonceStoreOptions, defaultNonceStorePath, openNonceStore } from './open.js';
