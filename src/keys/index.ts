/**
 * Keys by name, wherever they live. This sits above keyring/ (records) and signers/ (backends), so neither has to
 * know the other's kinds: `openSigner(keyring, name)` gives a Signer for a local key or an external one, and code
 * that signs never branches on where a key is.
 */
import * as path from 'node:path';
import { InputError, KeyringError } from '../errors.js';
import { Keyring, type KeyInfo } from '../keyring/index.js';
import {
  Pkcs11Signer,
  createPkcs11Key,
  destroyPkcs11Key,
  findPkcs11Key,
  formatPkcs11Uri,
  parsePkcs11Uri,
  describePkcs11Uri,
  type LocalSignerOptions,
  type PinSource,
  type Signer,
} from '../signers/index.js';

export const PKCS11_MODULE_ENV = 'ARKEO_PKCS11_MODULE';

/** A Signer that can be let go of: local keys are zeroed, PKCS#11 sessions closed. */
export type KeySigner = Signer & { destroy(): void };

export interface Pkcs11Options {
  /** Where the PIN comes from (file, environment, credential, prompt): asked at most once per signer. */
  pin?: PinSource;
  /** Overrides the module path stored with the key. */
  module?: string;
  sessions?: number;
  retries?: number;
  backoffMs?: number;
}

export interface OpenSignerOptions {
  local?: LocalSignerOptions;
  pkcs11?: Pkcs11Options;
}

/** The module path: flag, then the URI's module-path, then $ARKEO_PKCS11_MODULE (and the daemon's config, passed as a flag). */
export function resolveModule(flag: string | undefined, fromUri: string | undefined): string {
  const m = flag ?? fromUri ?? process.env[PKCS11_MODULE_ENV];
  if (!m) throw new InputError('NO_PKCS11_MODULE', `pkcs11 module: not given (use --pkcs11-module PATH, module-path= in the URI, or ${PKCS11_MODULE_ENV})`);
  return path.resolve(m);
}

/** A Signer for any key kind in the keyring. Public-key-only kinds (offline, ledger, multi) are refused with the reason. */
export async function openSigner(keyring: Keyring, name: string, options: OpenSignerOptions = {}): Promise<KeySigner> {
  const info = await keyring.get(name);
  switch (info.kind) {
    case 'local':
      return keyring.signer(name, options.local);
    case 'pkcs11':
      return openPkcs11(info, options.pkcs11 ?? {});
    default:
      throw new KeyringError('CANNOT_SIGN', `${name}: is ${/^[aeiou]/.test(info.kind) ? 'an' : 'a'} ${info.kind} key (public key only here); it cannot sign with arkeo-signer`);
  }
}

async function openPkcs11(info: KeyInfo, o: Pkcs11Options): Promise<Pkcs11Signer> {
  const loc = info.external!.location;
  if (!loc.uri) throw new KeyringError('CORRUPT_EXTERNAL', `${info.name}: its external-key file has no pkcs11 URI; re-add the key`);
  if (!o.pin) throw new InputError('NO_PIN_SOURCE', `${info.name}: a PKCS#11 key needs a PIN source (--pin-file, ARKEO_PKCS11_PIN, a credential or a terminal)`);
  return Pkcs11Signer.open({
    module: o.module ?? loc.module ?? resolveModule(undefined, undefined),
    uri: loc.uri,
    publicKey: info.publicKey!,
    pin: o.pin,
    sessions: o.sessions,
    retries: o.retries,
    backoffMs: o.backoffMs,
    name: info.name,
  });
}

export interface AddPkcs11Options {
  uri: string;
  module?: string;
  /** Generate the key on the token; otherwise use the key the URI names. */
  create?: boolean;
  pin: PinSource;
}

export interface AddedPkcs11Key extends KeyInfo {
  created: boolean;
  /** An existing key marked extractable or not sensitive: it can leave the token. */
  exportable: boolean;
}

/**
 * `keys add NAME --pkcs11 URI [--create]`: find or generate the key on the token (with a self-test signature),
 * then store an offline record plus our location file. The name is checked first, so nothing is created on the
 * token for a name that is taken.
 */
export async function addPkcs11Key(keyring: Keyring, name: string, options: AddPkcs11Options): Promise<AddedPkcs11Key> {
  if (await keyring.has(name)) throw new KeyringError('KEY_EXISTS', `${name}: a key with this name already exists in ${keyring.location}`);
  const uri = parsePkcs11Uri(options.uri);
  const module = resolveModule(options.module, uri.modulePath);
  const found = options.create ? await createPkcs11Key({ module, uri, pin: options.pin }) : await findPkcs11Key({ module, uri, pin: options.pin });
  const stored = formatPkcs11Uri({ ...found.uri, modulePath: undefined });
  try {
    const info = await keyring.addExternalKey(name, found.publicKey, 'pkcs11', { uri: stored, module });
    return { ...info, created: found.created, exportable: found.exportable };
  } catch (e) {
    if (found.created && e instanceof Error) e.message += ` (the key generated on the token stays there: ${stored})`;
    throw e;
  }
}

export interface DeleteKeyOptions {
  /** Also destroy the key on the token (PKCS#11). Without it only our records go. */
  fromToken?: boolean;
  pin?: PinSource;
}

/** Delete a key's records; with `fromToken`, first the objects on the token (so a failure there keeps the records). */
export async function deleteKey(keyring: Keyring, name: string, options: DeleteKeyOptions = {}): Promise<{ kind: string; destroyedObjects: number }> {
  const info = await keyring.get(name);
  let destroyedObjects = 0;
  if (options.fromToken) {
    if (info.kind !== 'pkcs11') throw new InputError('NOT_ON_TOKEN', `${name}: is ${/^[aeiou]/.test(info.kind) ? 'an' : 'a'} ${info.kind} key, not on a token; --delete-from-token does not apply`);
    if (!options.pin) throw new InputError('NO_PIN_SOURCE', `${name}: deleting from the token needs a PIN source`);
    const loc = info.external!.location;
    destroyedObjects = await destroyPkcs11Key({ module: loc.module ?? resolveModule(undefined, undefined), uri: loc.uri!, pin: options.pin });
    if (destroyedObjects === 0) throw new KeyringError('KEY_NOT_ON_TOKEN', `${name}: ${describePkcs11Uri(parsePkcs11Uri(loc.uri!))}: nothing to destroy on the token; records kept (delete without --delete-from-token to drop them)`);
  }
  await keyring.delete(name);
  return { kind: info.kind, destroyedObjects };
}
