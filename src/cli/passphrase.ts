import type { PassphraseSource } from '../keyring/keyring.js';
import { MAX_PASSPHRASE_ATTEMPTS } from '../keyring/keyring.js';
import { readSecret, readSecretFile, stdinIsTTY } from './io.js';

export const KEYRING_PASSPHRASE_ENV = 'ARKEO_KEYRING_PASSPHRASE';

/**
 * The file backend's passphrase, in this order: `--passphrase-file`, `$ARKEO_KEYRING_PASSPHRASE`, a TTY
 * prompt (3 attempts, confirmation when creating), or the next line of piped stdin (as arkeod reads it).
 */
export function keyringPassphraseSource(passphraseFile?: string): PassphraseSource {
  if (passphraseFile) {
    return { interactive: false, get: async () => readSecretFile(passphraseFile, 'keyring passphrase') };
  }
  const env = process.env[KEYRING_PASSPHRASE_ENV];
  if (env !== undefined && env !== '') return { interactive: false, get: async () => env };
  return {
    interactive: stdinIsTTY(),
    get: async ({ purpose, attempt, confirm }) => {
      const prompt = confirm
        ? 'Re-enter keyring passphrase:'
        : purpose === 'unlock'
          ? `Enter keyring passphrase (attempt ${attempt}/${MAX_PASSPHRASE_ATTEMPTS}):`
          : 'Enter keyring passphrase:';
      return readSecret(prompt, 'keyring passphrase');
    },
    rejected: (reason) => process.stderr.write(reason + '\n'),
  };
}
