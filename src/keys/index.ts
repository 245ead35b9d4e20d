/**
 * Keys by name, wherever they live. This sits above keyring/ (records) and signers/ (backends), so neither has to
 * know the other's kinds: `openSigner(keyring, name)` gives a Signer for a local key or an external one, and code
 * that signs never branches on where a key is. Each backend is one entry in the registry (registry.ts).
 */
import { InputError, KeyringError } from '../errors.js';
import { wipe } from '../crypto/bytes.js';
import type { Keyring } from '../keyring/keyring.js';
import type { PinSource } from '../signers/index.js';
import { article, type KeySigner, type OpenSignerOptions, type StoredKey } from './backend.js';
import { backendOf } from './registry.js';

export type { KeySigner, OpenSignerOptions, Pkcs11Options, CloudKeyOptions, StoredKey, KeyBackend, InProcessBackend, ExternalBackend, Serving, ServeContext, HealthSection, AddForm, AddOption, AddRule, AddValues, AddRequest, AddedKey } from './backend.js';
export { registerBackend, unregisterBackend, backendOf, keyBackends, servedBackends, describeServed, addForms, addFormFor } from './registry.js';
export { CREATE_OPTION, switchOption, textOption } from './add.js';
export { openLocalSigner } from './local.js';
export { PKCS11_MODULE_ENV, resolveModule, addPkcs11Key, type AddPkcs11Options, type AddedPkcs11Key } from './pkcs11.js';
export { CLOUD_KINDS, CLOUD_KIND_OF_FLAG, isCloudKind, CloudKeySigner, addCloudKey, type CloudLocation, type AddCloudKeyOptions, type AddedCloudKey } from './cloud.js';

/** arkeod's record type that holds its private key: what `localKeyOrInfo` returns a private key for. */
const RECORD_WITH_PRIVATE_KEY = 'local';

/** A Signer for any key kind in the keyring. Public-key-only kinds (offline, ledger, multi) are refused with the reason. */
export async function openSigner(keyring: Keyring, name: string, options: OpenSignerOptions = {}): Promise<KeySigner> {
  // One read and decryption of the key's file: a local key comes back as its private key, any other kind as its info.
  const opened = await keyring.localKeyOrInfo(name);
  const key: StoredKey = 'privateKey' in opened ? { keyring, name, kind: RECORD_WITH_PRIVATE_KEY, privateKey: opened.privateKey } : { keyring, name, kind: opened.info.kind, info: opened.info };
  const backend = backendOf(key.kind);
  if (!backend) {
    wipe(key.privateKey);
    throw new KeyringError('CANNOT_SIGN', `${name}: is ${article(key.kind)} ${key.kind} key (public key only here); it cannot sign with arkeo-signer`);
  }
  return backend.open(key, options);
}

export interface DeleteKeyOptions {
  /** Also destroy the key itself where it lives (on the token, for PKCS#11). Without it only our records go. */
  fromToken?: boolean;
  pin?: PinSource;
}

/**
 * Delete a key's records; with `fromToken`, first the key itself where its backend can destroy it (so a failure
 * there keeps the records). `note` is what to tell the user about the key material.
 */
export async function deleteKey(keyring: Keyring, name: string, options: DeleteKeyOptions = {}): Promise<{ kind: string; destroyedObjects: number; note: string }> {
  const info = await keyring.get(name);
  const backend = backendOf(info.kind);
  let destroyedObjects = 0;
  if (options.fromToken) {
    if (!backend?.destroy) throw new InputError('NOT_ON_TOKEN', `${name}: is ${article(info.kind)} ${info.kind} key, not on a token; --delete-from-token does not apply`);
    destroyedObjects = await backend.destroy(info, { pin: options.pin });
  }
  await keyring.delete(name);
  const note = options.fromToken
    ? `Key destroyed on the token (${destroyedObjects} object(s)) and deleted`
    : (backend?.deleted(info.kind) ?? (info.external ? `Key reference deleted; the ${info.kind} key itself was not touched` : 'Key deleted forever (uh oh!)'));
  return { kind: info.kind, destroyedObjects, note };
}
