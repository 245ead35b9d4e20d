import { verifySignature } from '../crypto/secp256k1.js';
import { parseHex } from '../crypto/bytes.js';
import { InputError } from '../errors.js';
import { checking, commandRunner } from './common.js';
import { openKeyring } from './open-keyring.js';
import { argBytes, readMessageFile } from './io.js';
import { parsePublicKeyArg } from './public-key.js';
import { bind, runCommand, type Parsed } from './table.js';
import { VERIFY } from './tables/verify.js';
import { EXIT } from './exit-codes.js';

/** Check a signature: exit 1 is the verdict "invalid", so any input that cannot be checked exits 2 (checking). */
async function verify({ values }: Parsed<typeof VERIFY>): Promise<number> {
  const { publicKey, message, signature } = await checking(async () => ({
    publicKey: values.key !== undefined ? await keyPublicKey(values, values.key) : parsePublicKeyArg(values.pubkey!),
    signature: parseHex(values.signature, 'signature', 64),
    message: values.message !== undefined ? argBytes(values.message, '--message') : readMessageFile(values['message-file']!, '--message-file'),
  }));
  const ok = verifySignature(publicKey, message, signature);
  process.stdout.write(values.output === 'json' ? JSON.stringify({ valid: ok }) + '\n' : ok ? 'valid\n' : 'invalid\n');
  return ok ? EXIT.ok : EXIT.refused;
}

/** The public key of a keyring entry of any kind (local, offline, pkcs11, …): no private half is touched. */
async function keyPublicKey(flags: Parameters<typeof openKeyring>[0], name: string): Promise<Uint8Array> {
  const info = await openKeyring(flags).get(name);
  if (!info.publicKey) throw new InputError('BAD_PUBLIC_KEY', `${name}: not a secp256k1 key`);
  return info.publicKey;
}

/** `arkeo-signer verify …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner((args) => runCommand(bind(VERIFY, verify), args));
