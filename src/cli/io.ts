import * as fs from 'node:fs';
import { InputError } from '../errors.js';

/**
 * Terminal and stdin input for the CLIs. On a TTY, secrets are read with echo off; otherwise lines are taken
 * from stdin in order (as arkeod's buffered reader does), so `printf 'pass\npass\n' | arkeo-signer …` works.
 */
const MAX_STDIN_BYTES = 1024 * 1024;
/** Bytes read from stdin and not yet handed out as lines. */
let stdinPending = Buffer.alloc(0);
let stdinRead = 0;
let stdinEnded = false;

export function stdinIsTTY(): boolean {
  return Boolean(process.stdin.isTTY);
}

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Read more of stdin, waiting for a slow writer as arkeod's blocking reader does: `(sleep 1; echo "$M") | …` must
 * work. A pipe may be non-blocking (EAGAIN while the writer has not written yet): then wait and read again.
 */
function readMoreStdin(): void {
  const chunk = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, chunk, 0, chunk.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        sleepMs(10);
        continue;
      }
      n = 0; // no stdin at all (EBADF, a closed terminal): nothing more will come
    }
    if (n === 0) {
      stdinEnded = true;
      return;
    }
    stdinRead += n;
    if (stdinRead > MAX_STDIN_BYTES) throw new InputError('INPUT_TOO_LARGE', `stdin: more than ${MAX_STDIN_BYTES} bytes`);
    stdinPending = Buffer.concat([stdinPending, chunk.subarray(0, n)]);
    return;
  }
}

/** The next line of stdin: read until a newline or the end, never further (a later prompt may need the rest). */
function nextStdinLine(what: string): string {
  for (;;) {
    const nl = stdinPending.indexOf(0x0a);
    if (nl >= 0 || (stdinEnded && stdinPending.length > 0)) {
      const end = nl >= 0 ? nl : stdinPending.length;
      const line = stdinPending.subarray(0, end).toString('utf8');
      stdinPending = stdinPending.subarray(end + 1);
      return line.replace(/\r$/, '').trim();
    }
    if (stdinEnded) throw new InputError('NO_INPUT', `${what}: no input (stdin is not a terminal and has no more lines)`);
    readMoreStdin();
  }
}

/** Read a line with echo off on a TTY, or the next stdin line. The prompt goes to stderr. */
export async function readSecret(prompt: string, what: string): Promise<string> {
  if (!stdinIsTTY()) return nextStdinLine(what);
  const stdin = process.stdin;
  // Raw mode before the prompt: a key typed (or Ctrl-C) as soon as the prompt shows must reach us as a byte, not
  // be echoed by the terminal or kill the process with SIGINT.
  stdin.setRawMode(true);
  stdin.resume();
  process.stderr.write(prompt);
  return new Promise<string>((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value.trim());
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new InputError('INTERRUPTED', `${what}: interrupted`));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Read a visible line (confirmations, names). */
export async function readLine(prompt: string, what: string): Promise<string> {
  if (!stdinIsTTY()) return nextStdinLine(what);
  process.stderr.write(prompt);
  const readline = await import('node:readline');
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  return new Promise((resolve) => rl.once('line', (l) => (rl.close(), resolve(l.trim()))));
}

/** `[y/N]` confirmation as the SDK asks it: y, Y, yes, Yes, YES… mean yes. */
export async function confirm(prompt: string): Promise<boolean> {
  const answer = await readLine(`${prompt} [y/N]: `, 'confirmation').catch(() => '');
  return /^y(es)?$/i.test(answer);
}

/** Read a secret from a file: the first line, without its newline. Refuses large files. */
export function readSecretFile(file: string, what: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new InputError('NO_SUCH_FILE', `${file}: cannot read ${what} (${(e as NodeJS.ErrnoException).code})`);
  }
  if (!st.isFile() || st.size > 4096) throw new InputError('BAD_FILE', `${file}: not a small regular file; expected the ${what} on one line`);
  const text = fs.readFileSync(file, 'utf8');
  return (text.split(/\r?\n/)[0] ?? '').trim();
}

const MAX_MESSAGE_FILE = 16 * 1024 * 1024;

/** The exact bytes of a message file (`-` for stdin), as `flag` names it in errors. */
export function readMessageFile(file: string, flag: string): Uint8Array {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file === '-' ? 0 : file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError('NO_SUCH_FILE', `${flag} ${file}: cannot read (${code ?? (e as Error).name})${code === 'ENOENT' ? '; check the path' : ''}`);
  }
  if (buf.length > MAX_MESSAGE_FILE) throw new InputError('INPUT_TOO_LARGE', `${flag} ${file}: larger than ${MAX_MESSAGE_FILE} bytes`);
  return new Uint8Array(buf);
}

/**
 * The exact bytes of a command-line argument. Node decodes argv as UTF-8 and replaces what is not UTF-8 with
 * U+FFFD, so a message such as $'\xff' would otherwise be signed as EF BF BD: bytes the user never gave. Where the
 * decoded text holds U+FFFD, the raw bytes are taken from /proc/self/cmdline (Linux), checked to be the same
 * arguments, or the message is refused.
 */
export function argBytes(value: string, flag: string): Uint8Array {
  if (!value.includes('\uFFFD')) return new Uint8Array(Buffer.from(value, 'utf8'));
  const args = process.argv.slice(2);
  let raw: Buffer[] | undefined;
  try {
    const all = fs.readFileSync('/proc/self/cmdline').toString('latin1').split('\0').slice(0, -1).map((a) => Buffer.from(a, 'latin1'));
    raw = all.slice(all.length - args.length);
    if (raw.length !== args.length || raw.some((r, i) => r.toString('utf8') !== args[i])) raw = undefined;
  } catch {
    raw = undefined;
  }
  if (raw) {
    for (let i = 0; i < args.length; i++) {
      if (args[i] === value) return new Uint8Array(raw[i]!);
      const eq = args[i]!.indexOf('=');
      if (args[i]!.startsWith('-') && eq > 0 && args[i]!.slice(eq + 1) === value) return new Uint8Array(raw[i]!.subarray(raw[i]!.indexOf(0x3d) + 1));
    }
  }
  throw new InputError('NOT_UTF8', `${flag}: the message is not valid UTF-8 and its exact bytes cannot be read here; give it with ${flag === '-m' ? '-message-file' : '--message-file'} instead`);
}
