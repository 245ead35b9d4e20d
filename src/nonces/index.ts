export { type NonceStore, type NonceRow, type ContractTerms, NonceStoreError, SpendVelocityError, maxNonceFor } from './store.js';
export { type SpendBudget, type SpendLimit, type VelocityLimits, type VelocityWindow, SPEND_BUCKET_MS, WINDOW_MS, spendBudget } from './velocity.js';
export { SqliteNonceStore, type SqliteNonceStoreOptions } from './sqlite.js';
export { PostgresNonceStore, type PostgresNonceStoreOptions } from './postgres.js';
export { NonceAllocator } from './allocator.js';
export { type OpenNonceStoreOptions, defaultNonceStorePath, openNonceStore } from './open.js';
