/**
 * signhere's flags: Go's `flag` package semantics (src/cli/signhere.ts parses them as Go does), all strings.
 * The usage below is byte for byte what Go's flag.PrintDefaults prints for them.
 */
export interface GoFlag {
  readonly name: string;
  readonly help: string;
  readonly default?: string;
}

export const SIGNHERE_FLAGS: readonly GoFlag[] = [
  { name: 'u', help: 'user/key name', default: 'alice' },
  { name: 'm', help: 'message to sign', default: 'message' },
  { name: 'home', help: 'home directory holding keyring-<backend>/ (default ~/.arkeo)' },
  { name: 'keyring-backend', help: 'test, file, memory, os or pass (default test)' },
  { name: 'keyring-dir', help: 'keyring root directory (overrides -home)' },
  { name: 'passphrase-file', help: 'file holding the file backend passphrase (or ARKEO_KEYRING_PASSPHRASE)' },
  { name: 'pin-file', help: 'file holding the PIN of a PKCS#11 key (or ARKEO_PKCS11_PIN, credential pkcs11-pin, prompt)' },
  { name: 'message-file', help: 'sign the bytes of this file instead of -m ("-" for stdin)' },
  { name: 'output', help: 'text (default) or json: signature, pubkey, address, sha256' },
  { name: 'daemon', help: 'sign through the key daemon at this unix socket or https:// URL (or ARKEO_SIGNER_DAEMON)' },
  { name: 'token-file', help: 'daemon bearer token file (or ARKEO_SIGNER_TOKEN)' },
];

export const SIGNHERE_ABOUT = `Drop-in for Arkeo's Go tools/signhere: signs the message with the key and prints lowercase hex r||s and a
newline. Flags as Go's flag package takes them (-f v, -f=v, --f v; parsing stops at the first argument that is
not a flag); -h prints this on stderr. Exit 0, 1 on any failure (a Go-log-style line on stderr), 2 for a flag
Go would refuse.`;

export function signhereUsage(): string {
  return 'Usage of signhere:\n' + SIGNHERE_FLAGS.map((f) => `  -${f.name} string\n    \t${f.help}${f.default !== undefined ? ` (default "${f.default}")` : ''}\n`).join('');
}
