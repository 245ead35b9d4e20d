import * as path from 'node:path';
import * as os from 'node:os';
import { ArkeoSignerError, InputError, describeFsError } from '../errors.js';
import { EXIT } from './exit-codes.js';

/** Thrown for bad flags and arguments: exit code 2, like Go's flag package and most Unix tools. */
export class UsageError extends InputError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

export interface KeyringFlags {
  home?: string;
  'keyring-backend'?: string;
  'keyring-dir'?: string;
  'passphrase-file'?: string;
}

export function expandHome(p: string): string {
  return p === '~' ? os.homedir() : p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

/** A flag the command cannot do without in this use (a flag always required says so in its table). */
export function required<T>(value: T | undefined, flag: string, command: string): T {
  if (value === undefined) throw new UsageError(`${command}: --${flag} is required`);
  return value;
}

/**
 * True when the arguments ask for help: `--help` or `-h` anywhere before a `--`. Checked before any other parsing,
 * so that `keys add --help` prints the usage instead of complaining that NAME is missing.
 */
export function helpRequested(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** Print a usage text on stdout (help was asked for, so it is the command's output) and succeed. */
export function printUsage(usage: string): void {
  process.stdout.write(usage.endsWith('\n') ? usage : usage + '\n');
}

/**
 * A flag's value parsed by a library function: its InputError (bad hex, not a decimal, …) becomes a usage error,
 * so that a bad flag value exits 2 like an unknown flag.
 */
export function flagValue<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof InputError && !(e instanceof UsageError)) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * For the commands whose exit 1 is a verdict (verify, claim explain, audit verify): an error that stops the check
 * (ours, or a file that cannot be read) is not a "no", so it exits 2 (exit-codes.ts).
 */
export async function checking<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (e instanceof ArkeoSignerError) throw new UsageError(e.message);
    const fsError = describeFsError(e);
    if (fsError) throw new UsageError(fsError);
    throw e;
  }
}

let outputFailed = false;

/**
 * stdout and stderr can fail (a closed pipe, a full disk, /dev/full). Node reports that as an 'error' event, which
 * without a listener is a crash with a stack trace. A closed pipe (`| head`) ends the command quietly, as it does
 * for most Unix tools; any other write error is reported in one line, once, and the exit code becomes 1.
 */
function guardOutput(formatError: (m: string) => string): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    process.exitCode = EXIT.refused;
    if (outputFailed) return;
    outputFailed = true;
    if (e.code === 'EPIPE') return;
    try {
      process.stderr.write(formatError(`stdout: cannot write the output (${e.code ?? e.name}); check where stdout goes (a full disk, a closed pipe)`) + '\n');
    } catch {
      /* stderr is gone too: the exit code is all that is left */
    }
  });
  // Nothing sensible can be done when stderr itself fails; the exit code still says so.
  process.stderr.on('error', () => {
    process.exitCode = EXIT.refused;
  });
}

/**
 * Run a CLI body: errors become one line on stderr and an exit code (exit-codes.ts: usage, else refused).
 * Messages come from our typed errors, which never carry secrets; a file-system error that escaped them is
 * described by its path and code; anything else is reported by class only unless ARKEO_SIGNER_DEBUG is set.
 */
export async function runCli(prog: string, body: () => Promise<number | void>, formatError = (m: string) => `${prog}: ${m}`): Promise<void> {
  guardOutput(formatError);
  try {
    const code = await body();
    process.exitCode = outputFailed ? EXIT.refused : (code ?? EXIT.ok);
  } catch (e) {
    if (e instanceof ArkeoSignerError) {
      process.stderr.write(formatError(e.message) + '\n');
      process.exitCode = e instanceof UsageError ? EXIT.usage : EXIT.refused;
    } else {
      const err = e as NodeJS.ErrnoException;
      const known = describeFsError(err);
      const detail = err?.code ? `${err.code}${err.path ? ` ${err.path}` : ''}` : err?.name ?? 'error';
      const debug = process.env.ARKEO_SIGNER_DEBUG ? `: ${err?.stack}` : '';
      process.stderr.write(formatError(known ? known + debug : `unexpected failure (${detail})${debug}`) + '\n');
      process.exitCode = EXIT.refused;
    }
  }
}

/**
 * An `arkeo-signer <command>` entry: the command runs under its own runCli. The dispatcher (arkeo-signer.ts) calls
 * it without a runCli around it, so each command can be bundled apart, errors and all (src/cli/build.mjs).
 */
export function commandRunner(command: (args: string[]) => Promise<number | void>): (args: string[]) => Promise<void> {
  return (args) => runCli('arkeo-signer', () => command(args));
}
