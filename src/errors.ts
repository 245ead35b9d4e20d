/**
 * Typed errors. Every error carries a stable `code` for programs and a message a person can act on.
 * Messages name the file or input at fault and never include secret material: callers pass names and
 * paths, not values.
 */
export class ArkeoSignerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad input from a user or a caller: malformed hex, bad mnemonic, invalid key name, bad flag. */
export class InputError extends ArkeoSignerError {}

/** Signing or verification could not be performed (wrong key size, engine failure, self-check failure). */
export class CryptoError extends ArkeoSignerError {}

/** Anything about keyring files: missing key, wrong passphrase, corrupt or unsupported file. */
export class KeyringError extends ArkeoSignerError {}
