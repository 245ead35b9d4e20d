/** Flags several commands take, declared once so that each means the same everywhere. */

export const KEYRING_FLAGS = {
  home: { type: 'string', value: 'DIR', computedDefault: '$ARKEO_HOME or ~/.arkeo', help: 'the home holding keyring-<backend>/' },
  'keyring-backend': { type: 'string', value: 'test|file|memory|os|pass', env: 'ARKEO_KEYRING_BACKEND', computedDefault: 'test', help: 'the keyring backend (os: the desktop Secret Service; pass: the pass store; both named after $ARKEO_KEYRING_SERVICE, default Arkeo)' },
  'keyring-dir': { type: 'string', value: 'DIR', help: 'the keyring root directory (overrides --home)' },
  'passphrase-file': { type: 'string', value: 'F', help: 'file holding the file backend\'s passphrase (or $ARKEO_KEYRING_PASSPHRASE, or a prompt)' },
} as const;

export const OUTPUT_FLAG = {
  output: { type: 'string', short: 'o', choices: ['text', 'json'], default: 'text', help: 'output format' },
} as const;

export const STORE_FLAGS = {
  'nonce-store': { type: 'string', value: 'PATH|postgres://…', env: 'ARKEO_NONCE_STORE', computedDefault: '<home>/signer/nonces.db', help: 'the nonce store: a SQLite file or a PostgreSQL URL' },
} as const;

/** For commands that write to the store. */
export const CREATE_STORE_FLAG = {
  'create-nonce-store': { type: 'boolean', help: 'create the nonce store named by --nonce-store if it does not exist' },
} as const;

export const PIN_FLAG = {
  'pin-file': { type: 'string', value: 'F', help: 'file holding a PKCS#11 key\'s PIN (or $ARKEO_PKCS11_PIN, the systemd credential pkcs11-pin, or a prompt; never a flag value)' },
} as const;

export const DAEMON_CLIENT_FLAGS = {
  daemon: { type: 'string', value: 'SOCKET|https://…', env: 'ARKEO_SIGNER_DAEMON', help: 'ask the key daemon at this unix socket or URL' },
  'token-file': { type: 'string', value: 'F', help: 'file holding the daemon token (or $ARKEO_SIGNER_TOKEN)' },
} as const;

/** The keyring flags' names, for rules: a daemon has its own keyring, and a public key given as such needs none. */
export const KEYRING_FLAG_NAMES = ['home', 'keyring-backend', 'keyring-dir', 'passphrase-file'];

export const CONFIG_FLAG = {
  config: { type: 'string', short: 'c', value: 'PATH', computedDefault: '<home>/signer/daemon.toml when it exists', help: 'the daemon config' },
} as const;

/** For commands that ask before they change or print something. */
export const YES_FLAG = {
  yes: { type: 'boolean', short: 'y', help: 'do not ask' },
} as const;

/** arkeod's key algorithm flag: one algorithm. */
export const KEY_TYPE_FLAG = {
  'key-type': { type: 'string', choices: ['secp256k1'], default: 'secp256k1', help: 'the key algorithm' },
} as const;

/** For the commands that read or write a key's armor. */
export const ARMOR_PASSPHRASE_FLAG = {
  'armor-passphrase-file': { type: 'string', value: 'F', help: 'file holding the armor passphrase (or $ARKEO_ARMOR_PASSPHRASE, or a prompt)' },
} as const;

/** The one positional of the commands that take a key's (or a token's) name. */
export const NAME_ARGUMENT = [{ name: 'NAME' }] as const;
