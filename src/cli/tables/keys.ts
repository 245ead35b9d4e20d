import { goWith, notWith, oneOf, together, type CommandGroup, type CommandTable } from '../table.js';
import { KEYRING_FLAGS, OUTPUT_FLAG, PIN_FLAG } from './shared.js';

/** Flags that derive a key here; a key made on a token or in a cloud has none of them. */
const LOCAL_ONLY = ['recover', 'account', 'index', 'coin-type', 'hd-path', 'bip39-passphrase', 'dry-run', 'delegate-for'];
const CLOUD_KINDS = ['awskms', 'azurekv', 'gcpkms'];
/** Each cloud's own flags; --endpoint is every cloud's. */
const CLOUD_OWN: Record<string, string[]> = {
  awskms: ['region', 'alias'],
  azurekv: ['vault', 'key-name', 'ca-file'],
  gcpkms: ['key-ring', 'key-id', 'create-key-ring', 'insecure-grpc'],
};
const othersOf = (kind: string) => Object.entries(CLOUD_OWN).flatMap(([k, own]) => (k === kind ? [] : own));

export const KEYS_ADD = {
  command: 'keys add',
  summary: 'create a key (or recover one), or record a key on a PKCS#11 token or in a cloud KMS',
  positionals: [{ name: 'NAME' }],
  usage: [
    'NAME [--recover] [--account N --index N | --hd-path P] [--coin-type N] [--bip39-passphrase] [--no-backup] [--dry-run] [--delegate-for ACCOUNT] [keyring flags]',
    "NAME --pkcs11 'pkcs11:token=LABEL;object=LABEL' [--create] [--pkcs11-module PATH] [--pin-file F] [keyring flags]",
    'NAME --awskms awskms:arn:aws:kms:REGION:ACCOUNT:key/ID [--endpoint URL]',
    'NAME --awskms --create --region REGION [--alias alias/NAME] [--endpoint URL]',
    'NAME --azurekv azurekv:https://VAULT.vault.azure.net/keys/NAME[/VERSION]',
    'NAME --azurekv --create --vault https://VAULT.vault.azure.net --key-name NAME',
    'NAME --gcpkms gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N',
    'NAME --gcpkms --create --key-ring projects/P/locations/L/keyRings/R --key-id K [--create-key-ring]',
  ],
  about: `Create a new 24-word key at m/44'/118'/0'/0/0 (or the given path), or with --recover derive it from a mnemonic
read from the terminal or stdin. The new mnemonic is printed on stderr (inside the object with -o json) unless
--no-backup. --dry-run derives and prints the key without writing it.

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
contract naming it, to run where the account's key is. NAME can then sign claims and nothing else that matters.`,
  flags: {
    recover: { type: 'boolean', help: 'derive the key from a mnemonic read from the terminal or stdin' },
    account: { type: 'string', value: 'N', default: '0', help: 'the HD account' },
    index: { type: 'string', value: 'N', default: '0', help: 'the HD address index' },
    'coin-type': { type: 'string', value: 'N', default: '118', help: 'the HD coin type' },
    'hd-path': { type: 'string', value: 'P', help: 'the full HD path (overrides --account, --index and --coin-type, as in arkeod)' },
    'bip39-passphrase': { type: 'boolean', help: 'ask for a bip39 passphrase, combined with the mnemonic to derive the seed' },
    'no-backup': { type: 'boolean', help: 'do not print the new mnemonic' },
    'dry-run': { type: 'boolean', help: 'derive and print the key without writing it' },
    'key-type': { type: 'string', choices: ['secp256k1'], default: 'secp256k1', help: 'the key algorithm' },
    algo: { type: 'string', choices: ['secp256k1'], help: 'the same as --key-type (arkeod\'s older name)' },
    'delegate-for': { type: 'string', value: 'ACCOUNT', help: 'record NAME as a claim delegate of ACCOUNT (a key name, arkeopub1… or hex) and print the open-contract command' },
    pkcs11: { type: 'string', value: 'URI', help: 'a key on a PKCS#11 token: pkcs11:token=LABEL;object=LABEL' },
    create: { type: 'boolean', help: 'make the key on the token or in the cloud, instead of naming an existing one' },
    'pkcs11-module': { type: 'string', value: 'PATH', help: 'the PKCS#11 library (or module-path= in the URI, or $ARKEO_PKCS11_MODULE)' },
    ...PIN_FLAG,
    awskms: { type: 'string', value: 'REF', optionalValue: true, help: 'a key in AWS KMS: awskms:arn:aws:kms:…, or none with --create' },
    azurekv: { type: 'string', value: 'REF', optionalValue: true, help: 'a key in Azure Key Vault: azurekv:https://VAULT.vault.azure.net/keys/NAME[/VERSION], or none with --create' },
    gcpkms: { type: 'string', value: 'REF', optionalValue: true, help: 'a key in Google Cloud KMS: gcpkms:projects/…/cryptoKeyVersions/N, or none with --create' },
    endpoint: { type: 'string', value: 'URL|HOST:PORT', help: 'send the cloud\'s requests here (a private endpoint, an emulator)' },
    'ca-file': { type: 'string', value: 'PEM', help: 'Azure: trust this certificate for --endpoint' },
    'insecure-grpc': { type: 'boolean', help: 'GCP: plain gRPC to a loopback --endpoint (test servers only)' },
    region: { type: 'string', value: 'REGION', computedDefault: '$AWS_REGION or $AWS_DEFAULT_REGION', help: 'AWS: the region to create the key in' },
    alias: { type: 'string', value: 'alias/NAME', help: 'AWS: an alias for the new key' },
    vault: { type: 'string', value: 'URL', help: 'Azure: the vault to create the key in' },
    'key-name': { type: 'string', value: 'NAME', help: 'Azure: the new key\'s name' },
    'key-ring': { type: 'string', value: 'RING', help: 'GCP: the key ring to create the key in (projects/P/locations/L/keyRings/R)' },
    'key-id': { type: 'string', value: 'K', help: 'GCP: the new key\'s id' },
    'create-key-ring': { type: 'boolean', help: 'GCP: create --key-ring too' },
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
  rules: [
    oneOf('pkcs11', ...CLOUD_KINDS),
    notWith('pkcs11', LOCAL_ONLY, 'its key is made on the token'),
    ...CLOUD_KINDS.map((kind) => notWith(kind, [...LOCAL_ONLY, 'pkcs11-module', 'pin-file'], 'its key is made and kept in the cloud')),
    ...CLOUD_KINDS.map((kind) => notWith(kind, othersOf(kind))),
    goWith([...Object.values(CLOUD_OWN).flat(), 'endpoint'], CLOUD_KINDS),
    goWith(['region', 'alias', 'vault', 'key-name', 'key-ring', 'key-id', 'create-key-ring'], ['create']),
    goWith(['create'], ['pkcs11', ...CLOUD_KINDS]),
    goWith(['pkcs11-module', 'pin-file'], ['pkcs11']),
    notWith('dry-run', ['delegate-for'], 'a dry run records nothing'),
  ],
} as const satisfies CommandTable;

export const KEYS_LIST = {
  command: 'keys list',
  summary: 'every key, sorted by name; external keys show their kind (pkcs11, aws-kms, azure-kv, gcp-kms)',
  about: 'Every key in the keyring, sorted by name.',
  flags: {
    'list-names': { type: 'boolean', short: 'n', help: 'print the names only' },
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
} as const satisfies CommandTable;

export const KEYS_SHOW = {
  command: 'keys show',
  summary: 'one key: name, type, address and pubkey (by name or address)',
  positionals: [{ name: 'NAME' }],
  about: `One key: name, type, address and pubkey; --address or --pubkey prints only that (the pubkey as proto-JSON,
which verify --pubkey accepts). NAME may also be the key's account or validator address.`,
  flags: {
    address: { type: 'boolean', short: 'a', help: 'print only the address' },
    pubkey: { type: 'boolean', short: 'p', help: 'print only the public key, as proto-JSON (arkeod\'s -p: a switch here, where verify and claim explain take --pubkey P)' },
    bech: { type: 'string', choices: ['acc', 'val', 'cons'], default: 'acc', help: 'the address prefix' },
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
  rules: [oneOf('address', 'pubkey')],
} as const satisfies CommandTable;

export const KEYS_DELETE = {
  command: 'keys delete',
  summary: 'delete keys; for an external key only our records go, unless --delete-from-token',
  positionals: [{ name: 'NAME', repeat: true }],
  about: `Delete keys; asks for each unless -y. For an external key (pkcs11, aws-kms, azure-kv, gcp-kms) only our records go;
the key itself stays where it is (--delete-from-token destroys a PKCS#11 key; cloud keys are never deleted here).`,
  flags: {
    yes: { type: 'boolean', short: 'y', help: 'do not ask' },
    force: { type: 'boolean', help: 'does nothing, as in arkeod (where it is deprecated); kept for its scripts' },
    'delete-from-token': { type: 'boolean', help: 'destroy a PKCS#11 key on its token too (this cannot be undone)' },
    ...PIN_FLAG,
    ...KEYRING_FLAGS,
  },
  rules: [goWith(['pin-file'], ['delete-from-token'])],
} as const satisfies CommandTable;

export const KEYS_RENAME = {
  command: 'keys rename',
  summary: 'rename a key',
  positionals: [{ name: 'OLD' }, { name: 'NEW' }],
  about: 'Rename a key; the key is never absent from disk meanwhile.',
  flags: {
    yes: { type: 'boolean', short: 'y', help: 'do not ask' },
    ...KEYRING_FLAGS,
  },
} as const satisfies CommandTable;

export const KEYS_EXPORT = {
  command: 'keys export',
  summary: 'print a key as armor (argon2id + ChaCha20-Poly1305, as arkeod v0.50), or as unarmored hex',
  positionals: [{ name: 'NAME' }],
  usage: ['NAME [--armor-passphrase-file F] [keyring flags]', 'NAME --unarmored-hex --unsafe [-y] [keyring flags]'],
  about: `Print the key as ASCII armor (argon2id + ChaCha20-Poly1305, as arkeod v0.50) encrypted under a passphrase from
--armor-passphrase-file, ARKEO_ARMOR_PASSPHRASE or the terminal; or, with --unarmored-hex --unsafe, the raw
private key in hex (asks unless -y). Either is printed as arkeod prints it: there is no -o json.`,
  flags: {
    'armor-passphrase-file': { type: 'string', value: 'F', help: 'file holding the armor passphrase (or $ARKEO_ARMOR_PASSPHRASE, or a prompt)' },
    'unarmored-hex': { type: 'boolean', help: 'print the raw private key in hex' },
    unsafe: { type: 'boolean', help: 'confirms --unarmored-hex' },
    yes: { type: 'boolean', short: 'y', help: 'do not ask before printing the raw key' },
    ...KEYRING_FLAGS,
  },
  rules: [together('unarmored-hex', 'unsafe'), notWith('unarmored-hex', ['armor-passphrase-file'])],
} as const satisfies CommandTable;

export const KEYS_IMPORT = {
  command: 'keys import',
  summary: 'import an armored key (argon2 or legacy bcrypt armor)',
  positionals: [{ name: 'NAME' }, { name: 'FILE' }],
  about: 'Import an armored key (argon2 or legacy bcrypt armor) under NAME.',
  flags: {
    'armor-passphrase-file': { type: 'string', value: 'F', help: 'file holding the armor passphrase (or $ARKEO_ARMOR_PASSPHRASE, or a prompt)' },
    ...KEYRING_FLAGS,
  },
} as const satisfies CommandTable;

export const KEYS_IMPORT_HEX = {
  command: 'keys import-hex',
  summary: 'import a raw 32-byte private key given in hex',
  positionals: [{ name: 'NAME' }, { name: 'HEX' }],
  about: 'Import a raw 32-byte secp256k1 private key given in hex (optional 0x).',
  flags: {
    'key-type': { type: 'string', choices: ['secp256k1'], default: 'secp256k1', help: 'the key algorithm' },
    ...KEYRING_FLAGS,
  },
} as const satisfies CommandTable;

export const KEYS_MIGRATE = {
  command: 'keys migrate',
  summary: 'copy every local key to another backend (test, file, os, pass)',
  about: `Copy every local key to another backend; the source is left as it was. Every key is checked first: if one
cannot be copied (unreadable, or its name or address taken by another key in the target), nothing is copied and
each such key is named. Keys already there, and keys without a private key here, are skipped and listed.`,
  flags: {
    from: { type: 'string', choices: ['test', 'file', 'os', 'pass'], required: true, help: 'the backend to copy from' },
    to: { type: 'string', choices: ['test', 'file', 'os', 'pass'], required: true, help: 'the backend to copy to' },
    ...KEYRING_FLAGS,
  },
} as const satisfies CommandTable;

export const KEYS = {
  command: 'keys',
  summary: 'manage an arkeod-compatible keyring',
  about: `As arkeod keys, on the same stores (test, file, os and pass backends); external keys (PKCS#11, AWS KMS,
Azure Key Vault, Google Cloud KMS) are kept as an offline record arkeod reads, beside where the key lives.`,
  commands: [KEYS_ADD, KEYS_LIST, KEYS_SHOW, KEYS_DELETE, KEYS_RENAME, KEYS_EXPORT, KEYS_IMPORT, KEYS_IMPORT_HEX, KEYS_MIGRATE],
} as const satisfies CommandGroup;
