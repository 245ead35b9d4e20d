import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import type { PinSource } from '../signers/index.js';
import { readSecret, readSecretFile } from './io.js';

export const PKCS11_PIN_ENV = 'ARKEO_PKCS11_PIN';
/** systemd: LoadCredential=pkcs11-pin:/path gives $CREDENTIALS_DIRECTORY/pkcs11-pin. */
export const PKCS11_PIN_CREDENTIAL = 'pkcs11-pin';

/**
 * A PKCS#11 user PIN, in this order: `--pin-file`, `$ARKEO_PKCS11_PIN`, the systemd credential `pkcs11-pin`, a
 * prompt (echo off on a terminal, else the next stdin line). Never a flag value: argv is visible to every user.
 * Asked once; the signer keeps it for re-login and never logs it.
 */
export function pkcs11PinSource(pinFile?: string): PinSource {
  return async (token) => {
    const what = `PIN for pkcs11 token "${token}"`;
    let pin: string;
    if (pinFile) pin = readSecretFile(pinFile, what);
    else if (process.env[PKCS11_PIN_ENV]) pin = process.env[PKCS11_PIN_ENV]!;
    else {
      const cred = process.env.CREDENTIALS_DIRECTORY ? path.join(process.env.CREDENTIALS_DIRECTORY, PKCS11_PIN_CREDENTIAL) : undefined;
      pin = cred && fs.existsSync(cred) ? readSecretFile(cred, what) : await readSecret(`Enter ${what}:`, what);
    }
    if (pin === '') throw new InputError('EMPTY_PIN', `${what}: empty (from ${pinFile ?? (process.env[PKCS11_PIN_ENV] !== undefined ? PKCS11_PIN_ENV : 'input')})`);
    return pin;
  };
}
