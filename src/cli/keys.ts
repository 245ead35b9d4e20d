import * as fs from 'node:fs';
import { InputError, KeyringError } from '../errors.js';
import { generateMnemonic, hdPathFor, validateHdPath, COSMOS_COIN_TYPE } from '../crypto/hd.js';
import { parseAddress, PREFIXES } from '../crypto/address.js';
import { parseHex, toHex, wipe } from '../crypto/bytes.js';
import { Keyring, showName, validateKeyName, type Backend, type KeyInfo } from '../keyring/keyring.js';
import { checkPassphraseRules } from '../keyring/keyhash.js';
import { decryptPrivateKeyArmor, encryptPrivateKeyArmor } from '../keyring/armor.js';
import { KEYRING_FLAGS, UsageError, exactPositionals, helpRequested, parseFlags, printUsage, type KeyringFlags, commandRunner } from './common.js';
import { openKeyring } from './open-keyring.js';
import { confirm, readSecret, readSecretFile } from './io.js';
import { recordAndCommand, resolveAccount } from './delegate.js';
import { addCloudKey, addPkcs11Key, deleteKey, isCloudKind, type AddCloudKeyOptions } from '../keys/index.js';
import { PKCS11_FLAGS, pkcs11PinSource } from './pkcs11.js';
import { goJsonObject, keyJson, keyListJson, keyOutput, keyText, parseOutputFormat } from './output.js';

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);

export const ARMOR_PASSPHRASE_ENV = 'ARKEO_ARMOR_PASSPHRASE';

function printKey(info: KeyInfo, format: 'text' | 'json', bech?: string, mnemonic?: string): void {
  const o = keyOutput(info, bech, mnemonic);
  out(format === 'json' ? keyJson(o) : keyText([o]));
}

async function armorPassphrase(file: string | undefined, prompt: string): Promise<string> {
  if (file) return readSecretFile(file, 'armor passphrase');
  const env = process.env[ARMOR_PASSPHRASE_ENV];
  if (env) return env;
  return readSecret(prompt, 'armor passphrase');
}

function intFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^(0|[1-9]\d{0,9})$/.test(value) || Number(value) >= 2 ** 31) throw new UsageError(`--${name}: expected an integer from 0 to 2147483647`);
  return Number(value);
}

async function add(argv: string[]): Promise<void> {
  const args = emptyCloudValues(argv);
  const { values, positionals } = parseFlags(args, {
    ...KEYRING_FLAGS,
    recover: { type: 'boolean' },
    account: { type: 'string' },
    index: { type: 'string' },
    'coin-type': { type: 'string' },
    'hd-path': { type: 'string' },
    'bip39-passphrase': { type: 'boolean' },
    'no-backup': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    'key-type': { type: 'string' },
    algo: { type: 'string' },
    'delegate-for': { type: 'string' },
    pkcs11: { type: 'string' },
    'pkcs11-module': { type: 'string' },
    create: { type: 'boolean' },
    ...PKCS11_FLAGS,
    ...CLOUD_FLAGS,
  });
  const [name] = exactPositionals(positionals, ['name'], 'keys add');
  validateKeyName(name!);
  const cloud = CLOUD_KIND_FLAGS.filter((f) => values[f] !== undefined);
  if (cloud.length + (values.pkcs11 !== undefined ? 1 : 0) > 1) throw new UsageError('keys add: give one of --pkcs11, --awskms, --azurekv, --gcpkms');
  if (cloud.length === 1) return addCloud(name!, cloud[0]!, values, parseOutputFormat(values.output));
  for (const f of CLOUD_ONLY_FLAGS) if (values[f] !== undefined) throw new UsageError(`keys add: --${f} goes with --awskms, --azurekv or --gcpkms`);
  if (values['delegate-for'] !== undefined && values['dry-run']) throw new UsageError('keys add: --delegate-for records the new key; it cannot go with --dry-run');
  const format = parseOutputFormat(values.output);
  if (values.pkcs11 !== undefined) return addPkcs11(name!, values, format);
  for (const f of ['create', 'pkcs11-module', 'pin-file'] as const) if (values[f] !== undefined) throw new UsageError(`keys add: --${f} goes with --pkcs11 URI`);
  const algo = values['key-type'] ?? values.algo ?? 'secp256k1';
  if (algo !== 'secp256k1') throw new UsageError(`--key-type: only secp256k1 is supported, got "${algo}"`);
  const hdPath = values['hd-path'] ?? hdPathFor(intFlag(values.account, 'account') ?? 0, intFlag(values.index, 'index') ?? 0, intFlag(values['coin-type'], 'coin-type') ?? COSMOS_COIN_TYPE);
  validateHdPath(hdPath);
  const keyring = values['dry-run'] ? Keyring.open({ backend: 'memory' }) : openKeyring(values, 'write');
  if (await keyring.has(name!)) throw new KeyringError('KEY_EXISTS', `${name}: a key with this name already exists in ${keyring.location}`);
  const account = values['delegate-for'] !== undefined ? await resolveAccount(keyring, values['delegate-for']) : undefined;
  const mnemonic = values.recover ? await readSecret('Enter your bip39 mnemonic\n', 'mnemonic') : generateMnemonic();
  const bip39Passphrase = values['bip39-passphrase'] ? await readSecret('Enter your bip39 passphrase. This is combined with the mnemonic to derive the seed\n', 'bip39 passphrase') : '';
  const info = await keyring.newAccount(name!, mnemonic, { hdPath, bip39Passphrase });
  const showMnemonic = !values.recover && !values['no-backup'];
  const delegation = account ? recordAndCommand(values, name!, info.publicKey!, account) : undefined;
  if (format === 'json') {
    // arkeod's JSON shape: the mnemonic is a field of the printed object (and ours: the delegation, when asked).
    const o: Record<string, string> = keyOutput(info, undefined, showMnemonic ? mnemonic : undefined);
    if (delegation) Object.assign(o, { delegate_for: delegation.record.account, open_contract: delegation.command.argv.join(' ') });
    out(goJsonObject(o) + '\n');
    return;
  }
  printKey(info, 'text');
  if (delegation) out(`\n${delegation.command.text}\n`);
  if (showMnemonic) {
    err('\n**Important** write this mnemonic phrase in a safe place.\nIt is the only way to recover your account if you ever forget your password.\n\n');
    err(mnemonic + '\n');
  }
}

/** `keys add NAME --pkcs11 URI [--create]`: an external key; the keyring gets an offline record and our location file. */
async function addPkcs11(name: string, values: Record<string, string | boolean | undefined>, format: 'text' | 'json'): Promise<void> {
  for (const f of ['recover', 'account', 'index', 'coin-type', 'hd-path', 'bip39-passphrase', 'dry-run'] as const) {
    if (values[f] !== undefined) throw new UsageError(`keys add: --${f} does not apply to a --pkcs11 key (its key is made on the token)`);
  }
  const keyring = openKeyring(values as KeyringFlags, 'write');
  const info = await addPkcs11Key(keyring, name, {
    uri: values.pkcs11 as string,
    module: values['pkcs11-module'] as string | undefined,
    create: values.create === true,
    pin: pkcs11PinSource(values['pin-file'] as string | undefined),
  });
  printKey(info, format);
  if (info.exportable) err(`warning: ${name}: the key on the token is marked extractable or not sensitive; it can leave the token\n`);
}

const CLOUD_KIND_FLAGS = ['awskms', 'azurekv', 'gcpkms'] as const;
const CLOUD_KIND_OF = { awskms: 'aws-kms', azurekv: 'azure-kv', gcpkms: 'gcp-kms' } as const;
const CLOUD_ONLY_FLAGS = ['endpoint', 'ca-file', 'insecure-grpc', 'region', 'alias', 'vault', 'key-name', 'key-ring', 'key-id', 'create-key-ring'] as const;
const CLOUD_FLAGS = {
  awskms: { type: 'string' },
  azurekv: { type: 'string' },
  gcpkms: { type: 'string' },
  endpoint: { type: 'string' },
  'ca-file': { type: 'string' },
  'insecure-grpc': { type: 'boolean' },
  region: { type: 'string' },
  alias: { type: 'string' },
  vault: { type: 'string' },
  'key-name': { type: 'string' },
  'key-ring': { type: 'string' },
  'key-id': { type: 'string' },
  'create-key-ring': { type: 'boolean' },
} as const;

/**
 * `--awskms --create` has no value: parseArgs would take the next flag as one (or call it ambiguous), so a cloud
 * kind flag followed by a flag or by nothing is given the empty value, which means "no reference".
 */
function emptyCloudValues(args: string[]): string[] {
  return args.map((a, i) => (CLOUD_KIND_FLAGS.some((f) => a === `--${f}`) && (i + 1 >= args.length || args[i + 1]!.startsWith('-')) ? `${a}=` : a));
}

/** `keys add NAME --awskms REF|--create …` and the Azure and GCP forms: an offline record and our location file. */
async function addCloud(name: string, flag: (typeof CLOUD_KIND_FLAGS)[number], values: Record<string, string | boolean | undefined>, format: 'text' | 'json'): Promise<void> {
  for (const f of ['recover', 'account', 'index', 'coin-type', 'hd-path', 'bip39-passphrase', 'dry-run', 'delegate-for', 'pkcs11-module', 'pin-file'] as const) {
    if (values[f] !== undefined) throw new UsageError(`keys add: --${f} does not apply to a --${flag} key (its key is made and kept in the cloud)`);
  }
  const kind = CLOUD_KIND_OF[flag];
  const own: Record<string, readonly string[]> = { 'aws-kms': ['region', 'alias'], 'azure-kv': ['vault', 'key-name', 'ca-file'], 'gcp-kms': ['key-ring', 'key-id', 'create-key-ring', 'insecure-grpc'] };
  for (const f of CLOUD_ONLY_FLAGS) {
    if (f !== 'endpoint' && values[f] !== undefined && !own[kind]!.includes(f)) throw new UsageError(`keys add: --${f} does not go with --${flag}`);
  }
  const ref = values[flag] === '' ? undefined : (values[flag] as string);
  if (values.create && ref !== undefined) throw new UsageError(`keys add: --${flag} REF names an existing key; --create makes a new one: give one of them`);
  if (!values.create && ref === undefined) throw new UsageError(`keys add: --${flag} needs a key reference, or --create`);
  if (!values.create) for (const f of ['region', 'alias', 'vault', 'key-name', 'key-ring', 'key-id', 'create-key-ring'] as const) if (values[f] !== undefined) throw new UsageError(`keys add: --${f} goes with --create`);
  const s = (f: string) => values[f] as string | undefined;
  const opts: AddCloudKeyOptions = {
    kind,
    ...(ref !== undefined ? { ref } : {}),
    create: values.create === true,
    endpoint: s('endpoint'),
    caFile: s('ca-file'),
    insecure: values['insecure-grpc'] === true,
    region: s('region') ?? (kind === 'aws-kms' && values.create ? (process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION) : undefined),
    alias: s('alias'),
    vault: s('vault'),
    keyName: s('key-name'),
    keyRing: s('key-ring'),
    keyId: s('key-id'),
    createKeyRing: values['create-key-ring'] === true,
  };
  const keyring = openKeyring(values as KeyringFlags, 'write');
  const info = await addCloudKey(keyring, name, opts);
  if (format === 'json') out(JSON.stringify({ ...keyOutput(info), reference: info.reference }) + '\n');
  else printKey(info, format);
}

async function list(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, { ...KEYRING_FLAGS, 'list-names': { type: 'boolean', short: 'n' } });
  exactPositionals(positionals, [], 'keys list');
  const format = parseOutputFormat(values.output);
  const keyring = openKeyring(values);
  const keys = await keyring.list();
  if (values['list-names']) {
    out(format === 'json' ? JSON.stringify(keys.map((k) => k.name)) + '\n' : keys.map((k) => k.name + '\n').join(''));
    return;
  }
  if (format === 'json') {
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

async function show(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, {
    ...KEYRING_FLAGS,
    address: { type: 'boolean', short: 'a' },
    pubkey: { type: 'boolean', short: 'p' },
    bech: { type: 'string' },
  });
  const [name] = exactPositionals(positionals, ['name'], 'keys show');
  const format = parseOutputFormat(values.output);
  if (values.address && values.pubkey) throw new UsageError('keys show: --address and --pubkey cannot be used together');
  const keyring = openKeyring(values);
  const info = await keyByNameOrAddress(keyring, name!);
  const o = keyOutput(info, values.bech);
  if (values.address) out(o.address + '\n');
  else if (values.pubkey) out(o.pubkey + '\n');
  else out(format === 'json' ? keyJson(o) : keyText([o]));
}

async function del(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, { ...KEYRING_FLAGS, yes: { type: 'boolean', short: 'y' }, force: { type: 'boolean', short: 'f' }, 'delete-from-token': { type: 'boolean' }, ...PKCS11_FLAGS });
  if (positionals.length === 0) throw new UsageError('keys delete: expected at least one <name>');
  const keyring = openKeyring(values);
  const fromToken = values['delete-from-token'] === true;
  for (const name of positionals) {
    const info = await keyring.get(name);
    const question = fromToken ? `The key will be DESTROYED on the token (${info.kind}); this cannot be undone. Continue?` : 'Key reference will be deleted. Continue?';
    if (!values.yes && !(await confirm(question))) {
      err('Aborted.\n');
      return;
    }
    const { kind, destroyedObjects } = await deleteKey(keyring, name, { fromToken, pin: fromToken ? pkcs11PinSource(values['pin-file']) : undefined });
    if (fromToken) err(`Key destroyed on the token (${destroyedObjects} object(s)) and deleted\n`);
    else if (isCloudKind(kind)) err(`Key reference deleted; the ${kind} key in the cloud was not touched (delete or disable it there if it is no longer wanted)\n`);
    else if (kind !== 'local' && kind !== 'offline' && kind !== 'ledger' && kind !== 'multi') err(`Key reference deleted; the ${kind} key itself was not touched (--delete-from-token destroys it)\n`);
    else err('Key deleted forever (uh oh!)\n');
  }
}

async function rename(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, { ...KEYRING_FLAGS, yes: { type: 'boolean', short: 'y' } });
  const [from, to] = exactPositionals(positionals, ['old_name', 'new_name'], 'keys rename');
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

async function exportKey(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, {
    ...KEYRING_FLAGS,
    'unarmored-hex': { type: 'boolean' },
    unsafe: { type: 'boolean' },
    yes: { type: 'boolean', short: 'y' },
    'armor-passphrase-file': { type: 'string' },
  });
  const [name] = exactPositionals(positionals, ['name'], 'keys export');
  if (Boolean(values['unarmored-hex']) !== Boolean(values.unsafe)) throw new UsageError('keys export: the flags --unsafe and --unarmored-hex must be used together');
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

async function importKey(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, { ...KEYRING_FLAGS, 'armor-passphrase-file': { type: 'string' } });
  const [name, file] = exactPositionals(positionals, ['name', 'keyfile'], 'keys import');
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

async function importHex(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, { ...KEYRING_FLAGS, 'key-type': { type: 'string' } });
  const [name, hex] = exactPositionals(positionals, ['name', 'hex'], 'keys import-hex');
  validateKeyName(name!);
  if ((values['key-type'] ?? 'secp256k1') !== 'secp256k1') throw new UsageError('--key-type: only secp256k1 is supported');
  const keyring = openKeyring(values, 'write');
  if (await keyring.has(name!)) throw new KeyringError('KEY_EXISTS', `${name}: cannot overwrite key (it already exists in ${keyring.location})`);
  const priv = parseHex(hex!, 'private key hex', 32);
  try {
    await keyring.importPrivateKey(name!, priv);
  } finally {
    wipe(priv);
  }
}

async function migrate(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(args, { ...KEYRING_FLAGS, from: { type: 'string' }, to: { type: 'string' } });
  exactPositionals(positionals, [], 'keys migrate');
  if (!values.from || !values.to) throw new UsageError('keys migrate: --from and --to are required (test or file)');
  if (values.from === values.to) throw new UsageError('keys migrate: --from and --to must differ');
  const source = openKeyring({ ...values, 'keyring-backend': values.from as Backend });
  const target = openKeyring({ ...values, 'keyring-backend': values.to as Backend }, 'write');
  const { copied, skipped } = await source.migrateTo(target);
  for (const n of copied) err(`migrated ${showName(n)}: ${source.location} -> ${target.location}\n`);
  for (const { name, why } of skipped) err(`skipped ${showName(name)}: ${why}\n`);
  err(`${copied.length} key(s) migrated, ${skipped.length} skipped; the source keyring was left unchanged\n`);
}

const KEYRING_FLAGS_HELP = `Keyring flags: --home DIR (default ~/.arkeo)  --keyring-dir DIR  --keyring-backend test|file|memory (default test)
               --passphrase-file F (file backend; or ARKEO_KEYRING_PASSPHRASE)  --output text|json (-o)
`;

/** Each subcommand's usage, printed by `keys SUB --help`; the one place these texts live. */
export const KEYS_HELP: Record<string, string> = {
  add: `Usage: arkeo-signer keys add NAME [--recover] [--account N --index N | --hd-path P] [--coin-type N]
                             [--bip39-passphrase] [--no-backup] [--dry-run] [--delegate-for ACCOUNT] [keyring flags]
       arkeo-signer keys add NAME --pkcs11 'pkcs11:token=LABEL;object=LABEL' [--create] [--pkcs11-module PATH]
                             [--pin-file F] [keyring flags]
       arkeo-signer keys add NAME --awskms awskms:arn:aws:kms:REGION:ACCOUNT:key/ID [--endpoint URL]
       arkeo-signer keys add NAME --awskms --create --region REGION [--alias alias/NAME] [--endpoint URL]
       arkeo-signer keys add NAME --azurekv azurekv:https://VAULT.vault.azure.net/keys/NAME[/VERSION]
       arkeo-signer keys add NAME --azurekv --create --vault https://VAULT.vault.azure.net --key-name NAME
       arkeo-signer keys add NAME --gcpkms gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N
       arkeo-signer keys add NAME --gcpkms --create --key-ring projects/P/locations/L/keyRings/R --key-id K
                             [--create-key-ring]

--awskms, --azurekv, --gcpkms: a secp256k1 key in AWS KMS, Azure Key Vault or Google Cloud KMS. The public key is
read (or the key created: ECC_SECG_P256K1, EC P-256K, EC_SIGN_SECP256K1_SHA256) now; the keyring keeps an offline
record and NAME.external.json with the kind and { ref, endpoint }, never a credential: each SDK's default chain
provides those where the key is used. --endpoint sends requests elsewhere (a VPC/private endpoint, an emulator);
for servers on this machine with their own certificate or none: --ca-file PEM (Azure) and --insecure-grpc (GCP,
plain gRPC to a loopback address only; meant for test servers).

--pkcs11 URI: a key on a PKCS#11 token (HSM): --create generates a secp256k1 key there (sensitive, not
extractable, sign only); without it, the URI names an existing one. The keyring keeps an offline record (what
arkeod reads) and NAME.external.json (where the key lives; no secret). PIN from --pin-file F, ARKEO_PKCS11_PIN,
the systemd credential pkcs11-pin, or a prompt; module from --pkcs11-module, module-path= in the URI, or
ARKEO_PKCS11_MODULE.

--delegate-for ACCOUNT (a key name, arkeopub1… or hex): record NAME as a claim delegate of that account (in
<keyring-dir>/arkeo-signer/delegates.json) and print the arkeod tx arkeo open-contract command that opens a
contract naming it, to run where the account's key is. NAME can then sign claims and nothing else that matters.

Create a new 24-word key at m/44'/118'/0'/0/0 (or the given path), or with --recover derive it from a mnemonic
read from the terminal or stdin. The new mnemonic is printed on stderr (inside the object with -o json) unless
--no-backup. --dry-run derives and prints the key without writing it.

${KEYRING_FLAGS_HELP}`,
  list: `Usage: arkeo-signer keys list [-n|--list-names] [keyring flags]

Every key in the keyring, sorted by name.

${KEYRING_FLAGS_HELP}`,
  show: `Usage: arkeo-signer keys show NAME [-a|--address | -p|--pubkey] [--bech acc|val|cons] [keyring flags]

One key: name, type, address and pubkey; --address or --pubkey prints only that (the pubkey as proto-JSON,
which verify --pubkey accepts).

${KEYRING_FLAGS_HELP}`,
  delete: `Usage: arkeo-signer keys delete NAME... [-y|--yes] [keyring flags]

Delete keys; asks for each unless -y. For an external key (pkcs11, aws-kms, azure-kv, gcp-kms) only our records go;
the key itself stays where it is (--delete-from-token destroys a PKCS#11 key; cloud keys are never deleted here).

${KEYRING_FLAGS_HELP}`,
  rename: `Usage: arkeo-signer keys rename OLD NEW [-y|--yes] [keyring flags]

Rename a key; the key is never absent from disk meanwhile.

${KEYRING_FLAGS_HELP}`,
  export: `Usage: arkeo-signer keys export NAME [--armor-passphrase-file F] [keyring flags]
       arkeo-signer keys export NAME --unarmored-hex --unsafe [-y] [keyring flags]

Print the key as ASCII armor (argon2id + ChaCha20-Poly1305, as arkeod v0.50) encrypted under a passphrase from
--armor-passphrase-file, ARKEO_ARMOR_PASSPHRASE or the terminal; or, with --unarmored-hex --unsafe, the raw
private key in hex (asks unless -y).

${KEYRING_FLAGS_HELP}`,
  import: `Usage: arkeo-signer keys import NAME FILE [--armor-passphrase-file F] [keyring flags]

Import an armored key (argon2 or legacy bcrypt armor) under NAME.

${KEYRING_FLAGS_HELP}`,
  'import-hex': `Usage: arkeo-signer keys import-hex NAME HEX [keyring flags]

Import a raw 32-byte secp256k1 private key given in hex (optional 0x).

${KEYRING_FLAGS_HELP}`,
  migrate: `Usage: arkeo-signer keys migrate --from test|file --to file|test [keyring flags]

Copy every local key to the other backend; the source is left as it was. Every key is checked first: if one
cannot be copied (unreadable, or its name or address taken by another key in the target), nothing is copied and
each such key is named. Keys already there, and keys without a private key here, are skipped and listed.

${KEYRING_FLAGS_HELP}`,
};

const SUBCOMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  add,
  list,
  show,
  delete: del,
  rename,
  export: exportKey,
  import: importKey,
  'import-hex': importHex,
  migrate,
};

export const KEYS_USAGE = `Usage: arkeo-signer keys <command> [flags]

Commands (as arkeod keys; arkeo-signer keys <command> --help for each):
  add NAME [--recover] [--account N --index N | --hd-path P] [--bip39-passphrase] [--no-backup] [--dry-run]
      [--delegate-for ACCOUNT]                    a claim-only key for ACCOUNT's contracts; prints open-contract
  add NAME --pkcs11 'pkcs11:token=LABEL;object=LABEL' [--create] [--pkcs11-module PATH] [--pin-file F]
                                                  a key on a PKCS#11 token (HSM): offline record + location file
  add NAME --awskms REF | --awskms --create --region R [--alias alias/N]       a key in AWS KMS
  add NAME --azurekv REF | --azurekv --create --vault URL --key-name N          a key in Azure Key Vault
  add NAME --gcpkms REF | --gcpkms --create --key-ring RING --key-id K          a key in Google Cloud KMS
      [--endpoint URL|HOST:PORT] [--ca-file PEM (azure)] [--insecure-grpc (gcp, loopback)]
  list [--list-names]                             external keys show kind (pkcs11, aws-kms, azure-kv, gcp-kms)
  show NAME [--address | --pubkey] [--bech acc|val|cons]
  delete NAME... [-y] [--delete-from-token --pin-file F]   external keys: the token's key stays unless asked
  rename OLD NEW [-y]
  export NAME [--armor-passphrase-file F]         argon2id + ChaCha20-Poly1305 armor, as arkeod v0.50
  export NAME --unarmored-hex --unsafe [-y]
  import NAME FILE [--armor-passphrase-file F]    argon2 and legacy bcrypt armors
  import-hex NAME HEX
  migrate --from test|file --to file|test

${KEYRING_FLAGS_HELP}PKCS#11:       PIN from --pin-file F, ARKEO_PKCS11_PIN, systemd credential pkcs11-pin, or a prompt (never a flag value)
               module from --pkcs11-module, module-path= in the URI, or ARKEO_PKCS11_MODULE
`;

export async function keysCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    out(KEYS_USAGE);
    return;
  }
  const fn = Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (!fn) throw new UsageError(`keys: unknown command "${sub}"\n${KEYS_USAGE}`);
  if (helpRequested(rest)) return printUsage(KEYS_HELP[sub]!);
  await fn(rest);
}

export type { KeyringFlags };

/** `arkeo-signer keys …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner(keysCommand);
