import * as path from 'node:path';
import type { Storage, StorageBackend, StorageOptions } from '../store.js';
import { jweFolderStorage } from './file.js';

/** The fixed password of the `test` backend. */
export const TEST_BACKEND_PASSWORD = 'test';

/** arkeod's `test` backend: the file backend's format in `<home>/keyring-test/`, under the public password "test". */
export const testBackend: StorageBackend = {
  name: 'test',
  description: '<home>/keyring-test/, encrypted under the public password "test"',
  open(options: StorageOptions): Storage {
    return jweFolderStorage(path.join(options.home, 'keyring-test'), async () => TEST_BACKEND_PASSWORD);
  },
};
