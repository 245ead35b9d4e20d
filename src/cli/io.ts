import * as fs from 'node:fs';
import { InputError } from '../errors.js';

/**
 * Terminal and stdin input for the CLIs. On a TTY, secrets are read with echo off; otherwise lines are taken
 * from stdin in order (as arkeod's buffered reader does), so `printf 'pass\npass\n' | arkeo-signer …` works.
 */
const MAX_STDIN_BYTES = 1024 * 1024;
let stdinLines: string[] | undefined;

export function stdinIsTTY(): boolean {
  return Boolean(process.stdin.isTTY);
}

function nextStdinLine(what: string): string {
  if (stdinLines === undefined) {
    let text = '';
    try {
      const buf = fs.readFileSync(0);
      if (buf.length > MAX_STDIN_BYTES) throw new InputError('INPUT_TOO_LARGE', `stdin: more than ${MAX_STDIN_BYTES} bytes`);
      text = buf.toString('utf8');
    } catch (e) {
      if (e instanceof InputError) throw e;
      text = '';
    }
    stdinLines = text.split(/\r?\n/);
    if (stdinLines[stdinLines.length - 1] === '') stdinLines.pop();
  }
  const line = stdinLines.shift();
  if (line === undefined) throw new InputError('NO_INPUT', `${what}: no input (stdin is not a terminal and has no more lines)`);
  return line.trim();
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
