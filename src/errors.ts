/**
 * Typed errors. Every error carries a stable `code` for programs and a message a person can act on.
 * Messages name the file or input at fault and never include secret material: callers pass names and
 * paths, not values.
 */
export class ArkeoSignerError extends Error {
  readonly code: string;
  /** What the error was about, as fields: the audit log and the metrics read these, never the message. */
  context: ErrorContext;
  constructor(code: string, message: string, options?: { cause?: unknown; context?: ErrorContext }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.context = { ...options?.context };
  }

  /** Adds what a caller knows about the failure; a field the thrower already set stays as it was. */
  about(context: ErrorContext): this {
    this.context = { ...context, ...this.context };
    return this;
  }
}

/**
 * The fields an error can carry (and an audit entry records): the operation, the key (its name where a request
 * named it), its address, the contract and nonce, and whatever detail a backend adds. Values are identifiers,
 * never secrets.
 */
export interface ErrorContext {
  op?: string;
  key?: string;
  address?: string;
  contract?: string;
  nonce?: string;
  [field: string]: string | undefined;
}

/** Bad input from a user or a caller: malformed hex, bad mnemonic, invalid key name, bad flag. */
export class InputError extends ArkeoSignerError {}

/** Signing or verification could not be performed (wrong key size, engine failure, self-check failure). */
export class CryptoError extends ArkeoSignerError {}

/** Anything about keyring files: missing key, wrong passphrase, corrupt or unsupported file. */
export class KeyringError extends ArkeoSignerError {}

const ERRNO_ADVICE: Record<string, string> = {
  ENOENT: 'no such file or directory; check the path',
  EACCES: 'permission denied; check the ownership and mode of the file and of its directory',
  EPERM: 'operation not permitted; the file or its directory may be immutable or append-only (check with lsattr; chattr -i / chattr -a) or belong to someone else',
  EROFS: 'read-only file system; choose a writable location',
  ELOOP: 'is a symbolic link, which is refused; point the setting at the real file',
  EISDIR: 'is a directory; expected a file',
  ENOTDIR: 'a component of the path is not a directory; check the path',
  ENOSPC: 'no space left on the device; free some space',
  EDQUOT: 'disk quota exceeded; free some space',
  EEXIST: 'already exists',
};

/**
 * One line for a Node file-system error: the path, the call, what the code means and what to do, e.g.
 * "/x/audit.log: open: operation not permitted; … (EPERM)". Node's own message is not used: it is long and, for
 * some calls, repeats arguments. undefined when the error carries no code and path.
 */
export function fsErrorAdvice(code: string | undefined): string {
  return (code && ERRNO_ADVICE[code]) || 'failed';
}

export function describeFsError(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== 'string' || typeof err.path !== 'string') return undefined;
  return `${err.path}: ${err.syscall ? `${err.syscall}: ` : ''}${fsErrorAdvice(err.code)} (${err.code})`;
}
