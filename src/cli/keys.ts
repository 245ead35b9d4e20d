import * as fs from 'node:fs';
import { InputError, KeyringError } from '../errors.js';
import { parseAddress, PREFIXES } from '../crypto/address.js';
import { parseHex, toHex, wipe } from '../crypto/bytes.js';
import { type Keyring, showName, validateKeyName, type Backend, type KeyInfo } from '../keyring/keyring.js';
import { checkPassphraseRules } from '../keyring/keyhash.js';
import { decryptPrivateKeyArmor, encryptPrivateKeyArmor } from '../keyring/armor.js';
import { UsageError, type KeyringFlags, commandRunner } from './common.js';
import { bind, runGroup, type Parsed } from './table.js';
import { KEYS, KEYS_ADD, KEYS_DELETE, KEYS_EXPORT, KEYS_IMPORT, KEYS_IMPORT_HEX, KEYS_LIST, KEYS_MIGRATE, KEYS_RENAME, KEYS_SHOW } from './tables/keys.js';
import { keyringDir, openKeyring } from './open-keyring.js';
import { confirm, readSecret, readSecretFile } from './io.js';
import { addFormFor, deleteKey, type AddValues } from '../keys/index.js';
import { keyOptions } from './open-key.js';
import { pkcs11PinSource } from './pkcs11.js';
import { keyJson, keyListJson, keyOutput, keyText } from './output.js';

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);

export const ARMOR_PASSPHRASE_ENV = 'ARKEO_ARMOR_PASSPHRASE';

async function armorPassphrase(file: string | undefined, prompt: string): Promise<string> {
  if (file) return readSecretFile(file, 'armor passphrase');
  const env = process.env[ARMOR_PASSPHRASE_ENV];
  if (env) return env;
  return readSecret(prompt, 'armor passphrase');
}

/** `keys add`: the backend form the flags choose does the work (keys/registry.ts); how flags combine is the table's. */
async function add({ values, positionals: [name] }: Parsed<typeof KEYS_ADD>): Promise<void> {
  validateKeyName(name!);
  const given: AddValues = values;
  const form = addFormFor(given);
  // What the table's rules cannot check is a usage error too (exit 2), found before anything is opened.
  try {
    form.check?.(given);
  } catch (e) {
    if (e instanceof InputError) throw new UsageError(`${KEYS_ADD.command}: ${e.message}`);
    throw e;
  }
  const added = await form.add({
    name: name!,
    values: given,
    keyring: () => openKeyring(values, 'write'),
    home: keyringDir(values),
    ask: readSecret,
    options: keyOptions(values['pin-file']),
  });
  const mnemonic = values['no-backup'] ? undefined : added.mnemonic;
  if (values.output === 'json') {
    // arkeod's JSON shape: the mnemonic is a field of the printed object; a backend's own fields follow the key's.
    out(keyJson({ ...keyOutput(added.info, undefined, mnemonic), ...added.fields }));
  } else {
    out(keyText([keyOutput(added.info)]));
    if (added.text) out(`\n${added.text}\n`);
    if (mnemonic) {
      err('\n**Important** write this mnemonic phrase in a safe place.\nIt is the only way to recover your account if you ever forget your password.\n\n');
      err(mnemonic + '\n');
    }
  }
  for (const w of added.warnings ?? []) err(`warning: ${w}\n`);
}

async function list({ values }: Parsed<typeof KEYS_LIST>): Promise<void> {
  const keyring = openKeyring(values);
  const keys = await keyring.list();
  if (values['list-names']) {
    out(values.output === 'json' ? JSON.stringify(keys.map((k) => k.name)) + '\n' : keys.map((k) => k.name + '\n').join(''));
    return;
  }
  if (values.output === 'json') {
    out(keyListJson(keys.map((k) => keyOutput(k))));
  } else if (keys.length === 0) {
    err('No records were found in keyring\n');
  } else {
    out(keyText(keys.map((k) => keyOutput(k))));
  }
}

/** As cosmos-sdk `fetchKey`: a key name first, then an account or validator bech32 address. */
async function keyByNameOrAddress(keyring: Keyring, ref: string): Promise<KeyInfo> {
  try {
    return await keyring.get(ref);
  } catch (e) {
    if (!(e instanceof KeyringError && e.code === 'KEY_NOT_FOUND')) throw e;
    for (const prefix of [PREFIXES.account, PREFIXES.validator]) {
      let address: Uint8Array;
      try {
        address = parseAddress(ref, prefix);
      } catch {
        continue;
      }
      return keyring.getByAddress(address);
    }
    throw e;
  }
}

async function show({ values, positionals: [name] }: Parsed<typeof KEYS_SHOW>): Promise<void> {
  const keyring = openKeyring(values);
  const info = await keyByNameOrAddress(keyring, name!);
  const o = keyOutput(info, values.bech);
  if (values.address) out(o.address + '\n');
  else if (values.pubkey) out(o.pubkey + '\n');
  else out(values.output === 'json' ? keyJson(o) : keyText([o]));
}

async function del({ values, positionals }: Parsed<typeof KEYS_DELETE>): Promise<void> {
  const keyring = openKeyring(values);
  const fromToken = values['delete-from-token'] === true;
  for (const name of positionals) {
    const info = await keyring.get(name);
    const question = fromToken ? `The key will be DESTROYED on the token (${info.kind}); this cannot be undone. Continue?` : 'Key reference will be deleted. Continue?';
    if (!values.yes && !(await confirm(question))) {
      err('Aborted.\n');
      return;
    }
    // What happened to the key material is the backend's to say (destroyed, kept on the token, kept in the cloud).
    const { note } = await deleteKey(keyring, name, { fromToken, pin: fromToken ? pkcs11PinSource(values['pin-file']) : undefined });
    err(`${note}\n`);
  }
}

async function rename({ values, positionals: [from, to] }: Parsed<typeof KEYS_RENAME>): Promise<void> {
  validateKeyName(to!);
  const keyring = openKeyring(values);
  await keyring.get(from!);
  if (!values.yes && !(await confirm(`Key reference will be renamed from ${from} to ${to}. Continue?`))) {
    err('Aborted.\n');
    return;
  }
  await keyring.rename(from!, to!);
  err(`Key was successfully renamed from ${from} to ${to}\n`);
}

async function exportKey({ values, positionals: [name] }: Parsed<typeof KEYS_EXPORT>): Promise<void> {
  const keyring = openKeyring(values);
  await keyring.get(name!);
  if (values['unarmored-hex']) {
    if (!values.yes && !(await confirm('WARNING: The private key will be exported as an unarmored hexadecimal string. USE AT YOUR OWN RISK. Continue?'))) {
      err('Aborted.\n');
      return;
    }
    const priv = await keyring.exportPrivateKey(name!);
    try {
      out(toHex(priv) + '\n');
    } finally {
      wipe(priv);
    }
    return;
  }
  const pass = await armorPassphrase(values['armor-passphrase-file'], 'Enter passphrase to encrypt the exported key:');
  checkPassphraseRules(pass, 'export passphrase');
  const priv = await keyring.exportPrivateKey(name!);
  try {
    out(encryptPrivateKeyArmor(priv, pass) + '\n');
  } finally {
    wipe(priv);
  }
}

const MAX_ARMOR_FILE = 64 * 1024;

async function importKey({ values, positionals: [name, file] }: Parsed<typeof KEYS_IMPORT>): Promise<void> {
  validateKeyName(name!);
  const keyring = openKeyring(values, 'write');
  if (await keyring.has(name!)) throw new KeyringError('KEY_EXISTS', `${name}: cannot overwrite key (it already exists in ${keyring.location})`);
  let text: string;
  try {
    if (fs.statSync(file!).size > MAX_ARMOR_FILE) throw new InputError('BAD_ARMOR', `${file}: larger than ${MAX_ARMOR_FILE} bytes, not a key armor`);
    text = fs.readFileSync(file!, 'utf8');
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError('NO_SUCH_FILE', `${file}: cannot read (${(e as NodeJS.ErrnoException).code})`);
  }
  const pass = await armorPassphrase(values['armor-passphrase-file'], 'Enter passphrase to decrypt your key:');
  const priv = decryptPrivateKeyArmor(text, pass, file!);
  try {
    await keyring.importPrivateKey(name!, priv);
  } finally {
    wipe(priv);
  }
}

async function importHex({ values, positionals: [name, hex] }: Parsed<typeof KEYS_IMPORT_HEX>): Promise<void> {
  validateKeyName(name!);
  const keyring = openKeyring(values, 'write');
  if (await keyring.has(name!)) throw new KeyringError('KEY_EXISTS', `${name}: cannot overwrite key (it already exists in ${keyring.location})`);
  const priv = parseHex(hex!, 'private key hex', 32);
  try {
    await keyring.importPrivateKey(name!, priv);
  } finally {
    wipe(priv);
  }
}

async function migrate({ values }: Parsed<typeof KEYS_MIGRATE>): Promise<void> {
  if (values.from === values.to) throw new UsageError('keys migrate: --from and --to must differ');
  const source = openKeyring({ ...values, 'keyring-backend': values.from as Backend });
  const target = openKeyring({ ...values, 'keyring-backend': values.to as Backend }, 'write');
  const { copied, skipped } = await source.migrateTo(target);
  for (const n of copied) err(`migrated ${showName(n)}: ${source.location} -> ${target.location}\n`);
  for (const { name, why } of skipped) err(`skipped ${showName(name)}: ${why}\n`);
  err(`${copied.length} key(s) migrated, ${skipped.length} skipped; the source keyring was left unchanged\n`);
}

export type { KeyringFlags };

/** `arkeo-signer keys …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) =>
  runGroup(KEYS, args, [
    bind(KEYS_ADD, add),
    bind(KEYS_LIST, list),
    bind(KEYS_SHOW, show),
    bind(KEYS_DELETE, del),
    bind(KEYS_RENAME, rename),
    bind(KEYS_EXPORT, exportKey),
    bind(KEYS_IMPORT, importKey),
    bind(KEYS_IMPORT_HEX, importHex),
    bind(KEYS_MIGRATE, migrate),
  ]),
);
