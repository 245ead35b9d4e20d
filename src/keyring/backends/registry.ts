/**
 * The keyring's storage backends, one entry each: the only list of them. `--keyring-backend`, the daemon's
 * keyring.backend, `keys migrate` and doctor take their names from here; a new backend is one file and one entry.
 */
import type { StorageBackend } from '../store.js';
import { testBackend } from './test.js';
import { fileBackend } from './file.js';
import { memoryBackend } from './memory.js';
import { osBackend } from './os.js';
import { passBackend } from './pass.js';

export const STORAGE_BACKENDS = [testBackend, fileBackend, memoryBackend, osBackend, passBackend] as const satisfies readonly StorageBackend[];

export type Backend = 'test' | 'file' | 'memory' | 'os' | 'pass';

export const BACKENDS: readonly Backend[] = STORAGE_BACKENDS.map((b) => b.name as Backend);

export function storageBackend(name: string): StorageBackend | undefined {
  return STORAGE_BACKENDS.find((b) => b.name === name);
}
