/**
 * The local backend: arkeod's own `local` records, the private key in the keyring (encrypted per its backend) and,
 * once opened, in this process's locked memory.
 */
import { wipe } from '../crypto/bytes.js';
import type { Keyring } from '../keyring/keyring.js';
import { LocalSigner, type LocalSignerOptions } from '../signers/signer.js';
import type { InProcessBackend } from './backend.js';

/** A local key's signer; the key stays in the signer's (locked) memory until `destroy()`, the copy given is wiped. */
export function localSignerOf(privateKey: Uint8Array, options?: LocalSignerOptions): LocalSigner {
  try {
    return new LocalSigner(privateKey, options);
  } finally {
    wipe(privateKey);
  }
}

/** The signer of a local key (its private key in this process), for callers that need one: a signing thread. */
export async function openLocalSigner(keyring: Keyring, name: string, options?: LocalSignerOptions): Promise<LocalSigner> {
  return localSignerOf(await keyring.exportPrivateKey(name), options);
}

export const localBackend: InProcessBackend = {
  kinds: ['local'],
  description: 'local',
  served: true,
  inProcess: true,
  async open(key, options) {
    return key.privateKey ? localSignerOf(key.privateKey, options.local) : openLocalSigner(key.keyring, key.name, options.local);
  },
  deleted: () => 'Key deleted forever (uh oh!)',
};
