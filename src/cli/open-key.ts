import type { Signer } from '../signers/index.js';
import type { DaemonClient } from '../daemon/client.js';
import { openSigner, type KeySigner, type OpenSignerOptions } from '../keys/index.js';
import type { KeyringFlags } from './common.js';
import { openKeyring } from './open-keyring.js';
import { pkcs11PinSource } from './pkcs11.js';
import { DAEMON_CLIENT_FLAGS } from './tables/shared.js';

/**
 * Where a command's key is. In this process: a key record of the keyring the flags name, opened through the
 * backend registry (keys/) as a Signer of its kind. Or in a key daemon: then the key is the daemon's, reached as a
 * client, and comes as a Signer of kind 'daemon' (the daemon's raw signing). The daemon is chosen by --daemon or
 * $ARKEO_SIGNER_DAEMON, not by a key record: no record here says a key lives in a daemon.
 */

export interface KeyFlags extends KeyringFlags {
  daemon?: string;
  'token-file'?: string;
  'pin-file'?: string;
}

/** The options keys are opened with here: a PKCS#11 PIN from --pin-file, $ARKEO_PKCS11_PIN, the credential or a prompt. */
export function keyOptions(pinFile?: string): OpenSignerOptions {
  return { pkcs11: { pin: pkcs11PinSource(pinFile) } };
}

/** A key of the keyring the flags name, of any kind it holds. */
export function openKeyringKey(flags: KeyFlags, name: string): Promise<KeySigner> {
  return openSigner(openKeyring(flags), name, keyOptions(flags['pin-file']));
}

export interface OpenedKey {
  /** The key: a Signer of its kind here, or of kind 'daemon'. */
  signer: Signer;
  /** The daemon's client, when the key is the daemon's: its claim operation keeps its own nonces and policy. */
  daemon?: DaemonClient;
  /** Let go of the key (zeroed, sessions closed) or of the daemon connection. */
  close(): void;
}

/** The daemon the flags or the environment name, if any: the one place the CLI chooses between daemon and keyring. */
export function daemonTarget(flags: KeyFlags): string | undefined {
  return flags.daemon ?? process.env[DAEMON_CLIENT_FLAGS.daemon.env];
}

/** The key named `name`: the daemon's, when one is named (daemonTarget), else the keyring's. */
export async function openKey(flags: KeyFlags, name: string): Promise<OpenedKey> {
  const target = daemonTarget(flags);
  if (target === undefined || target === '') {
    const signer = await openKeyringKey(flags, name);
    return { signer, close: () => signer.destroy() };
  }
  // The client alone, imported when used: a process-per-signature user (signhere) pays for it only then.
  const { DaemonClient, DaemonSigner, daemonToken } = await import('../daemon/client.js');
  const client = new DaemonClient(target, { token: daemonToken(flags['token-file']) });
  return { signer: new DaemonSigner(client, name), daemon: client, close: () => client.close() };
}
