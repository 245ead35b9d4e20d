import { BACKENDS, Keyring, type Backend, defaultHome } from '../keyring/keyring.js';
import { UsageError, expandHome, type KeyringFlags } from './common.js';
import { keyringPassphraseSource } from './passphrase.js';

// Apart from common.ts, so that what every command shares (runCli, flag parsing) does not load the keyring.

/** The keyring's root directory the flags name: `--keyring-dir`, else `--home`, else ~/.arkeo. */
export function keyringDir(flags: KeyringFlags): string {
  return expandHome(flags['keyring-dir'] ?? flags.home ?? defaultHome());
}

/**
 * Open the keyring the flags name (keyringDir); backend default `test`. The os and pass backends are named after
 * $ARKEO_KEYRING_SERVICE (default "Arkeo", as arkeod's release builds).
 */
export function openKeyring(flags: KeyringFlags, mode: 'read' | 'write' = 'read'): Keyring {
  const dir = keyringDir(flags);
  const backend = (flags['keyring-backend'] ?? process.env.ARKEO_KEYRING_BACKEND ?? 'test') as Backend;
  // A bad --keyring-backend is a bad flag value: exit 2, like an unknown flag.
  if (!BACKENDS.includes(backend)) throw new UsageError(`--keyring-backend: expected one of ${BACKENDS.join(', ')}, got "${backend}" (kwallet is not supported)`);
  const keyring = Keyring.open({ backend, dir, passphrase: backend === 'file' ? keyringPassphraseSource(flags['passphrase-file']) : undefined });
  // Reading from a keyring that does not exist is almost always a wrong --home: say so instead of "not found".
  if (mode === 'read') keyring.assertExists();
  return keyring;
}
