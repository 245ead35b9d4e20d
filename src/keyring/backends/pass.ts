import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { KeyringError } from '../../errors.js';
import { FileExternalStore } from '../external.js';
import { decodeItem, encodeItem, type Item } from '../item.js';
import { byteOrder, serviceStorage, type ItemStore, type Storage, type StorageBackend, type StorageCheck, type StorageOptions } from '../store.js';

/**
 * arkeod's `pass` backend: the `pass` program (the standard unix password manager, GPG-encrypted files) as
 * 99designs/keyring v1.2.1 (pass.go) drives it, with cosmos-sdk's prefix `keyring-<service>`:
 * - the store is $PASSWORD_STORE_DIR, else ~/.password-store, handed to `pass` as PASSWORD_STORE_DIR;
 * - one entry per keyring item, `keyring-<service>/<item key>` (`pass insert -m -f`, the Item's JSON on stdin;
 *   `pass show`; `pass rm -f`), so the file <store>/keyring-<service>/<item key>.gpg;
 * - the item list is every `*.gpg` file below keyring-<service>/, by its path without ".gpg".
 * Secrets go through `pass` and gpg only (pipes, never arguments). Errors are read from gpg's own words and said
 * in one line; before anything is written, a dry-run encryption to the store's keys proves a write can succeed.
 */

const MAX_ITEM_BYTES = 64 * 1024;

/** pass's own choice of GnuPG binary, and the options it always adds (pass 1.7: GPG_OPTS). */
function gpgCommand(env: NodeJS.ProcessEnv): { gpg: string; opts: string[] } {
  const gpg = onPath('gpg2', env) ? 'gpg2' : 'gpg';
  const opts = [...(env.PASSWORD_STORE_GPG_OPTS ?? '').split(/\s+/).filter(Boolean), '--quiet', '--yes', '--compress-algo=none', '--no-encrypt-to'];
  if (env.GPG_AGENT_INFO || gpg === 'gpg2') opts.push('--batch', '--use-agent');
  return { gpg, opts };
}

function onPath(program: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.PATH ?? '').split(':').some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', program), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run a program with an optional stdin, collecting its output; never a shell. */
function run(program: string, args: string[], env: NodeJS.ProcessEnv, input?: Uint8Array): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= MAX_ITEM_BYTES) out.push(b);
      else child.kill('SIGKILL');
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.stdin.on('error', () => {}); // a program that exits without reading: its exit status says why
    child.on('close', (code) => {
      const stdout = Buffer.concat(out);
      for (const b of out) b.fill(0);
      resolve({ code: size > MAX_ITEM_BYTES ? -1 : code, stdout, stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(input ? Buffer.from(input) : undefined);
  });
}

/** The terminal gpg-agent's pinentry should use, as pass sets it (`GPG_TTY=$(tty)`), when we have one. */
function gpgTty(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GPG_TTY || !process.stdin.isTTY) return undefined;
  try {
    return fs.readlinkSync('/proc/self/fd/0');
  } catch {
    return undefined;
  }
}

const lastLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .at(-1) ?? '';

/** The pass item keys of a store, relative paths of its *.gpg files (filepath.Walk: no symlinked folder is entered). */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...walk(dir, name));
    else if (path.extname(entry.name) === '.gpg') out.push(name.slice(0, -'.gpg'.length));
  }
  return out;
}

export class PassStore implements ItemStore {
  readonly location: string;
  mustExist = false;
  private writable: Promise<void> | undefined;

  constructor(
    /** The password store: $PASSWORD_STORE_DIR or ~/.password-store. */
    readonly root: string,
    /** `keyring-<service>`. */
    readonly prefix: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.location = path.join(root, prefix);
  }

  private fileOf(key: string): string {
    return path.join(this.location, `${key}.gpg`);
  }

  describe(key: string): string {
    return this.fileOf(key);
  }

  /**
   * 99designs joins prefix and key with Go's filepath.Join, which cleans the path: "a//b", "./a", "../a" or
   * "a/" would be stored under another name (or outside keyring-<service>/) and never listed again. Such names
   * are refused; so is a path component too long for a file name.
   */
  keyProblem(key: string): string | undefined {
    const parts = key.split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..')) {
      return `pass would store it under another path (empty, "." or ".." parts between its slashes), where arkeod would not find it; choose a name without them`;
    }
    const long = parts.find((p, i) => Buffer.byteLength(i === parts.length - 1 ? `${p}.gpg` : p) > 255);
    if (long !== undefined) return `a part of it is too long for a file name in the password store (255 bytes with ".gpg"); choose a shorter name`;
    return undefined;
  }

  private passEnv(): NodeJS.ProcessEnv {
    const tty = gpgTty(this.env);
    return { ...this.env, PASSWORD_STORE_DIR: this.root, ...(tty ? { GPG_TTY: tty } : {}) };
  }

  private async pass(args: string[], doing: string, input?: Uint8Array, file?: string): Promise<Buffer> {
    let r: Run;
    try {
      r = await run('pass', args, this.passEnv(), input);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw noPassProgram();
      throw new KeyringError('KEYRING_UNAVAILABLE', `${this.location}: cannot run pass (${(e as Error).message})`);
    }
    if (r.code === 0) return r.stdout;
    r.stdout.fill(0);
    throw await this.failure(r.stderr, doing, r.code, file);
  }

  /**
   * gpg says "No secret key" both when it has none and when gpg-agent could not ask for the key's passphrase (a
   * pinentry without a terminal). Which one: does this GnuPG home hold a secret key the file is encrypted to?
   */
  private async secretKeyFor(file: string): Promise<boolean> {
    const { gpg } = gpgCommand(this.env);
    const to = await run(gpg, ['--batch', '--status-fd', '1', '--list-only', '-d', file], this.env).catch(() => undefined);
    const ids = [...(to?.stdout.toString('utf8') ?? '').matchAll(/^\[GNUPG:\] ENC_TO ([0-9A-F]{16}) /gm)].map((m) => m[1]!);
    for (const id of ids) {
      const listed = await run(gpg, ['--batch', '--with-colons', '--list-secret-keys', id], this.env).catch(() => undefined);
      const line = (listed?.stdout.toString('utf8') ?? '').split('\n').find((l) => /^(sec|ssb):/.test(l) && l.split(':')[4] === id);
      // Field 15 is "+" when the secret part is here (not "#", a stub, nor on a card elsewhere).
      if (line && line.split(':')[14] === '+') return true;
    }
    return false;
  }

  /** gpg's and pass's words, said in one line with what to do. */
  private async failure(stderr: string, doing: string, code: number | null, file?: string): Promise<KeyringError> {
    if (/You must run:[\s\S]*init/.test(stderr)) return noGpgId(this.root);
    const pinentry = /Inappropriate ioctl|No pinentry|pinentry|cannot open .*tty|Operation cancelled|Timeout|Bad passphrase/i.test(stderr);
    if (pinentry || (/No secret key/i.test(stderr) && file && (await this.secretKeyFor(file)))) {
      return new KeyringError(
        'KEYRING_LOCKED',
        `${this.location}: ${doing}: gpg-agent needs the passphrase of the store's GPG key and cannot ask for it here (no terminal for its pinentry: ${lastLine(stderr)}); enter it once in a terminal (pass show ${this.prefix}/<any item>) or preset it in gpg-agent, then run again`,
      );
    }
    if (/No secret key/i.test(stderr)) {
      return new KeyringError('KEYRING_UNAVAILABLE', `${this.location}: ${doing}: the GPG secret key it is encrypted to is not in this GnuPG home (${this.env.GNUPGHOME ?? '~/.gnupg'}); import it, or set GNUPGHOME`);
    }
    if (/No public key|unusable public key|no assurance|encryption failed/i.test(stderr)) {
      return new KeyringError('KEYRING_UNAVAILABLE', `${this.location}: ${doing}: gpg cannot encrypt to the store's GPG key (${lastLine(stderr)}); import and trust that key, or run pass init with a key you have`);
    }
    if (code === -1) return new KeyringError('CORRUPT_ITEM', `${this.location}: ${doing}: more than ${MAX_ITEM_BYTES} bytes, not a keyring item`);
    return new KeyringError('KEYRING_UNAVAILABLE', `${this.location}: ${doing} failed (pass exited ${code}${lastLine(stderr) ? `: ${lastLine(stderr)}` : ''})`);
  }

  private requireKeyring(): void {
    if (this.mustExist && !fs.existsSync(this.location)) {
      throw new KeyringError('NO_KEYRING', `${this.location}: does not exist (no key was added with --keyring-backend pass to this store${this.env.PASSWORD_STORE_DIR ? '' : ' (set PASSWORD_STORE_DIR for another)'}, or ARKEO_KEYRING_SERVICE names another service)`);
    }
  }

  async keys(): Promise<string[]> {
    this.requireKeyring();
    try {
      return walk(this.location).sort(byteOrder);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return [];
      throw new KeyringError('READ_FAILED', `${this.location}: cannot list the password store folder (${code})`);
    }
  }

  async get(key: string): Promise<Item | undefined> {
    this.requireKeyring();
    if (!fs.existsSync(this.fileOf(key))) return undefined;
    const plaintext = await this.pass(['show', path.posix.join(this.prefix, key)], `reading ${key}`, undefined, this.fileOf(key));
    try {
      const item = decodeItem(plaintext, this.describe(key));
      if (item.key !== key) throw new KeyringError('CORRUPT_ITEM', `${this.describe(key)}: holds item "${item.key}", expected "${key}"`);
      return item;
    } finally {
      plaintext.fill(0);
    }
  }

  async set(item: Item): Promise<void> {
    await this.checkWritable();
    const json = encodeItem(item);
    try {
      await this.pass(['insert', '-m', '-f', path.posix.join(this.prefix, item.key)], `writing ${item.key}`, json);
    } finally {
      json.fill(0);
    }
  }

  async remove(key: string): Promise<void> {
    if (!fs.existsSync(this.fileOf(key))) return;
    await this.pass(['rm', '-f', path.posix.join(this.prefix, key)], `deleting ${key}`);
  }

  /** The GPG ids pass would encrypt a new entry to: $PASSWORD_STORE_KEY, else the nearest .gpg-id up from keyring-<service>/. */
  recipients(): string[] | undefined {
    if (this.env.PASSWORD_STORE_KEY) return this.env.PASSWORD_STORE_KEY.split(/\s+/).filter(Boolean);
    for (let dir = this.location; ; dir = path.dirname(dir)) {
      const file = path.join(dir, '.gpg-id');
      if (fs.existsSync(file)) {
        return fs
          .readFileSync(file, 'utf8')
          .split('\n')
          .map((l) => l.replace(/#.*/, '').trim())
          .filter(Boolean);
      }
      if (dir === this.root || dir === path.dirname(dir)) return undefined;
    }
  }

  /**
   * Before the first write: `pass` is there, the store has a GPG key, and gpg encrypts to it as pass would (same
   * binary and options, output thrown away). pass itself creates the entry's folder before it finds out, so
   * without this check a failing write would leave folders behind.
   */
  checkWritable(): Promise<void> {
    this.writable ??= this.dryRun().catch((e: unknown) => {
      this.writable = undefined;
      throw e;
    });
    return this.writable;
  }

  private async dryRun(): Promise<void> {
    if (!onPath('pass', this.env)) throw noPassProgram();
    const ids = this.recipients();
    if (!ids || ids.length === 0) throw noGpgId(this.root);
    const { gpg, opts } = gpgCommand(this.env);
    let r: Run;
    try {
      r = await run(gpg, ['-e', ...ids.flatMap((id) => ['-r', id]), '-o', '/dev/null', ...opts], this.passEnv(), new Uint8Array(0));
    } catch (e) {
      throw new KeyringError('KEYRING_UNAVAILABLE', `${this.location}: cannot run ${gpg} (${(e as Error).message}); install GnuPG (Debian: apt-get install gnupg)`);
    }
    if (r.code !== 0) {
      throw new KeyringError('KEYRING_UNAVAILABLE', `${this.location}: nothing written: gpg cannot encrypt to the store's GPG key ${ids.join(', ')} (${lastLine(r.stderr)}); import that key (gpg --import) or run pass init with a key you have`);
    }
  }

  /** doctor: the program, the store's key (public and secret), and whether gpg-agent can decrypt without asking. */
  async check(): Promise<StorageCheck[]> {
    const out: StorageCheck[] = [];
    if (!onPath('pass', this.env)) return [{ level: 'fail', message: noPassProgram().message, fix: 'apt-get install pass gnupg' }];
    try {
      await this.dryRun();
      out.push({ level: 'ok', message: `${this.root}: pass encrypts to ${this.recipients()!.join(', ')}` });
    } catch (e) {
      return [{ level: 'fail', message: (e as Error).message, fix: `pass init <your GPG key id> (PASSWORD_STORE_DIR=${this.root})` }];
    }
    const { gpg } = gpgCommand(this.env);
    const secret = await run(gpg, ['--batch', '--list-secret-keys', '--with-colons', ...this.recipients()!], this.env).catch(() => undefined);
    if (secret?.code !== 0 || !/^sec:/m.test(secret.stdout.toString('utf8'))) {
      out.push({ level: 'fail', message: `${this.root}: no GPG secret key for ${this.recipients()!.join(', ')} in this GnuPG home: keys can be written but not read`, fix: 'import the secret key (gpg --import), or set GNUPGHOME' });
      return out;
    }
    const items = fs.existsSync(this.location) ? walk(this.location) : [];
    if (items.length === 0) {
      out.push({ level: 'skip', message: `${this.location}: no items yet, gpg-agent not tried` });
      return out;
    }
    // Decrypt one item to nowhere, forbidding any pinentry: what the daemon, without a terminal, will meet.
    const probe = await run(gpg, ['--batch', '--pinentry-mode', 'error', '-d', '-o', '/dev/null', this.fileOf(items[0]!)], this.env).catch(() => undefined);
    if (probe?.code === 0) out.push({ level: 'ok', message: `${this.location}: gpg-agent decrypts without asking for a passphrase` });
    else {
      out.push({
        level: 'warn',
        message: `${this.location}: gpg-agent would ask for the GPG key's passphrase (${lastLine(probe?.stderr ?? '')}); a daemon without a terminal cannot start until it is cached`,
        fix: `enter it once in a terminal before starting the daemon (pass show ${this.prefix}/${items[0]}), or preset it: gpg-preset-passphrase (allow-preset-passphrase in gpg-agent.conf)`,
      });
    }
    return out;
  }
}

function noPassProgram(): KeyringError {
  return new KeyringError('KEYRING_UNAVAILABLE', 'keyring backend pass: the pass program is not installed or not on PATH (Debian: apt-get install pass)');
}

function noGpgId(root: string): KeyringError {
  return new KeyringError('KEYRING_UNAVAILABLE', `${root}: the password store has no GPG key (no .gpg-id, no PASSWORD_STORE_KEY); nothing written; run: pass init <your GPG key id>`);
}

/** $PASSWORD_STORE_DIR, else ~/.password-store (99designs: ExpandTilde of either). */
export function passStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.PASSWORD_STORE_DIR ?? path.join(os.homedir(), '.password-store');
  return dir.startsWith('~/') ? path.join(os.homedir(), dir.slice(2)) : dir;
}

/** arkeod's `pass` backend: <store>/keyring-<service>/, through the pass program. */
export const passBackend: StorageBackend = {
  name: 'pass',
  description: 'the pass password store ($PASSWORD_STORE_DIR or ~/.password-store), folder keyring-<service>',
  open(options: StorageOptions): Storage {
    return serviceStorage(new PassStore(passStoreDir(), `keyring-${options.service}`), new FileExternalStore(path.join(options.home, 'keyring-pass')));
  },
  check: async (options) => new PassStore(passStoreDir(), `keyring-${options.service}`).check(),
};
