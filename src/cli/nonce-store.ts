import { defaultHome } from '../keyring/keyring.js';
import { openNonceStore } from '../nonces/open.js';
import { type NonceStore } from '../nonces/store.js';
import { expandHome } from './common.js';

/** The home the flags name: --home, else $ARKEO_HOME or ~/.arkeo. */
export function homeOf(values: { home?: string }): string {
  return expandHome(values.home ?? defaultHome());
}

/**
 * The nonce store the flags name (--nonce-store, else $ARKEO_NONCE_STORE, else the home's default store).
 * `writerThread` for a long-running server (the proxy): SQLite commits, and their fsync, leave its event loop.
 */
export function openStoreOf(values: { home?: string; 'nonce-store'?: string; 'create-nonce-store'?: boolean }, spec = values['nonce-store'], options: { writerThread?: boolean } = {}): Promise<NonceStore> {
  return openNonceStore(spec ?? process.env.ARKEO_NONCE_STORE, homeOf(values), { create: values['create-nonce-store'], ...options });
}

/** `access: 'read'` for commands that only look: they never create a store (their tables have no --create-nonce-store). */
export async function withStore<T>(
  values: { home?: string; 'nonce-store'?: string; 'create-nonce-store'?: boolean },
  access: 'read' | 'write',
  fn: (store: NonceStore) => Promise<T>,
): Promise<T> {
  const store = await openNonceStore(values['nonce-store'] ?? process.env.ARKEO_NONCE_STORE, homeOf(values), { create: values['create-nonce-store'], readOnly: access === 'read' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
