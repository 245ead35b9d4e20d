import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as path from 'node:path';
import * as os from 'node:os';
import { ArkeoSignerError, InputError } from '../errors.js';
import { Keyring, type Backend, defaultHome } from '../keyring/index.js';
import { keyringPassphraseSource } from './passphrase.js';

/** Thrown for bad flags and arguments: exit code 2, like Go's flag package and most Unix tools. */
export class UsageError extends InputError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

export const KEYRING_FLAGS = {
  home: { type: 'string' },
  'keyring-backend': { type: 'string' },
  'keyring-dir': { type: 'string' },
  'passphrase-file': { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export interface KeyringFlags {
  home?: string;
  'keyring-backend'?: string;
  'keyring-dir'?: string;
  'passphrase-file'?: string;
}

export function expandHome(p: string): string {
  return p === '~' ? os.homedir() : p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

/** Open the keyring the flags name: `--keyring-dir`, else `--home`, else ~/.arkeo; backend default `test`. */
export function openKeyring(flags: KeyringFlags, mode: 'read' | 'write' = 'read'): Keyring {
  const dir = expandHome(flags['keyring-dir'] ?? flags.home ?? defaultHome());
  const backend = (flags['keyring-backend'] ?? process.env.ARKEO_KEYRING_BACKEND ?? 'test') as Backend;
  const keyring = Keyring.open({ backend, dir, passphrase: backend === 'file' ? keyringPassphraseSource(flags['passphrase-file']) : undefined });
  // Reading from a directory that does not exist is almost always a wrong --home: say so instead of "not found".
  if (mode === 'read') keyring.assertExists();
  return keyring;
}

type ParsedValues<T extends FlagSpec> = { [K in keyof T]?: T[K] extends { type: 'boolean' } ? boolean : string };

/** node:util parseArgs, with its errors turned into usage errors. */
type FlagSpec = NonNullable<ParseArgsConfig['options']>;
export function parseFlags<T extends FlagSpec>(args: string[], options: T): { values: ParsedValues<T>; positionals: string[] } {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as { values: ParsedValues<T>; positionals: string[] };
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

/** A flag the command cannot do without. */
export function required<T>(value: T | undefined, flag: string, command: string): T {
  if (value === undefined) throw new UsageError(`${command}: --${flag} is required`);
  return value;
}

export function exactPositionals(positionals: string[], names: string[], command: string): string[] {
  if (positionals.length !== names.length) {
    throw new UsageError(`${command}: expected ${names.length} argument(s) ${names.map((n) => `<${n}>`).join(' ')}, got ${positionals.length}`);
  }
  return positionals;
}

/**
 * Run a CLI body: errors become one line on stderr and an exit code (2 for usage, 1 otherwise).
 * Messages come from our typed errors, which never carry secrets; anything unexpected is reported by class only
 * unless ARKEO_SIGNER_DEBUG is set.
 */
export async function runCli(prog: string, body: () => Promise<number | void>, formatError = (m: string) => `${prog}: ${m}`): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? 0;
  } catch (e) {
    if (e instanceof ArkeoSignerError) {
      process.stderr.write(formatError(e.message) + '\n');
      process.exitCode = e instanceof UsageError ? 2 : 1;
    } else {
      const err = e as NodeJS.ErrnoException;
      const detail = err?.code ? `${err.code}${err.path ? ` ${err.path}` : ''}` : err?.name ?? 'error';
      process.stderr.write(formatError(`unexpected failure (${detail})${process.env.ARKEO_SIGNER_DEBUG ? `: ${err?.stack}` : ''}`) + '\n');
      process.exitCode = 1;
    }
  }
}
