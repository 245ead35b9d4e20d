import bcrypt from 'bcryptjs';
import { InputError } from '../errors.js';

/** input.MinPassLength in the SDK; also applied to export passphrases. */
export const MIN_PASSPHRASE_LENGTH = 8;
/** x/crypto bcrypt refuses longer passwords (ErrPasswordTooLong). */
export const MAX_PASSPHRASE_BYTES = 72;

export function checkPassphraseRules(passphrase: string, what: string): void {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new InputError('PASSPHRASE_TOO_SHORT', `${what}: password must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  if (Buffer.byteLength(passphrase, 'utf8') > MAX_PASSPHRASE_BYTES) {
    throw new InputError('PASSPHRASE_TOO_LONG', `${what}: password must be at most ${MAX_PASSPHRASE_BYTES} bytes (bcrypt limit)`);
  }
}

/** `bcrypt.GenerateFromPassword(pass, 2)` in x/crypto raises cost 2 to 10 and writes `$2a$`. */
export function createKeyhash(passphrase: string): string {
  return bcrypt.hashSync(passphrase, 10).replace(/^\$2b\$/, '$2a$');
}

export function checkKeyhash(passphrase: string, keyhash: string): boolean {
  if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(keyhash)) return false;
  return bcrypt.compareSync(passphrase, keyhash);
}
