import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KeyringError } from './errors.js';
import { log } from './log.js';

/**
 * File operations for secret-bearing files: atomic replace (temp file, fsync, rename, fsync of the directory),
 * 0600 files in 0700 directories, no following of symlinks when reading.
 */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

const warnedDirs = new Set<string>();

/** Create the directory (0700) if missing. Warn once, as ssh does, when group or others can read it. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  warnIfExposed(dir);
}

export function warnIfExposed(dir: string): void {
  if (warnedDirs.has(dir)) return;
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    return;
  }
  if ((st.mode & 0o077) !== 0 && process.platform !== 'win32') {
    warnedDirs.add(dir);
    log('warn', `${dir} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 700 '${dir}'`);
  }
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Atomically replace `file` with `data`. On any failure the old content stays and no temp file is left. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(file);
  // The temp name starts with '.' and ends with '.tmp', so neither arkeod (which lists "*info") nor we read it. It
  // keeps at most 32 characters of the name, so any file name that fits (255 bytes) can be written atomically.
  const tmp = path.join(dir, `.${[...path.basename(file)].slice(0, 32).join('')}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, FILE_MODE);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
    fsyncDir(dir);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Remove a file and make the removal durable. Missing files are fine. */
export function removeFileDurable(file: string): void {
  fs.rmSync(file, { force: true });
  fsyncDir(path.dirname(file));
}

/** Read a regular file without following a symlink, refusing anything over `maxBytes`. undefined when missing. */
export function readPrivateFile(file: string, maxBytes: number): Buffer | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new KeyringError('SYMLINK_REFUSED', `${file}: is a symbolic link; refusing to read key material through a link`);
    throw new KeyringError('READ_FAILED', `${file}: cannot read (${code ?? (e as Error).message})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new KeyringError('READ_FAILED', `${file}: not a regular file`);
    if (st.size > maxBytes) throw new KeyringError('CORRUPT_FILE', `${file}: ${st.size} bytes is larger than ${maxBytes}; not a keyring file`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
