import { exactlyOneOf, goWith, commandTable } from '../table.js';
import { KEYRING_FLAGS, KEYRING_FLAG_NAMES, OUTPUT_FLAG } from './shared.js';

export const VERIFY = commandTable({
  command: 'verify',
  summary: 'check a Cosmos secp256k1 signature; exit 0 valid, 1 invalid, 2 bad input',
  usage: ['(--pubkey P | --key NAME [keyring flags]) (--message M | --message-file F) --signature HEX [-o json]'],
  about: `Check a Cosmos secp256k1 signature (ECDSA over SHA-256 of the message; high-S and any length but 64 bytes are
invalid). P is 66 hex digits, arkeopub1…, base64 of the 33-byte key, or the proto-JSON that
\`arkeo-signer keys show NAME -p\` prints. --message-file - reads stdin.

Prints valid and exits 0, or invalid and exits 1. Bad input exits 2 with one line.`,
  flags: {
    pubkey: { type: 'string', value: 'P', help: 'the public key' },
    key: { type: 'string', value: 'NAME', help: 'the public key of this keyring entry (any kind)' },
    message: { type: 'string', short: 'm', value: 'M', help: 'the message, as given' },
    'message-file': { type: 'string', value: 'F', help: 'the exact bytes of this file (- for stdin)' },
    signature: { type: 'string', short: 's', value: 'HEX', required: true, help: '64 bytes r||s in hex' },
    ...KEYRING_FLAGS,
    ...OUTPUT_FLAG,
  },
  rules: [exactlyOneOf('pubkey', 'key'), exactlyOneOf('message', 'message-file'), goWith(KEYRING_FLAG_NAMES, ['key'])],
});
