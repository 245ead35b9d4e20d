import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ArkeoSignerError } from '../errors.js';
import { ensurePrivateDir, FILE_MODE, writeFileAtomic } from '../fsutil.js';
import { log } from '../log.js';

/**
 * Tamper-evident audit log: append-only JSON lines. Each entry carries its sequence number, the SHA-256 of the
 * previous line (a hash chain) and, last, an HMAC-SHA256 under a key kept beside the log (0600), so that an edit,
 * a deletion, a reordering, a truncation or a forged append is found by `audit verify`. A head file records the
 * last committed (seq, hash) so truncation of whole entries is visible too.
 *
 * Entries are group-committed: everything appended in one event-loop turn is written with one write and one
 * fdatasync, and every append resolves only after that. A failed write makes the log unhealthy and every later
 * append fails (fail closed) until restart.
 */
export class AuditError extends ArkeoSignerError {}

export interface AuditWho {
  token?: string;
  transport: 'unix' | 'tcp' | 'tls' | 'local';
  remote?: string;
  client_cert?: string;
  uid?: number;
  pid?: number;
}

export interface AuditWhat {
  op: string;
  key?: string;
  contract?: string;
  nonce?: string;
  msg_sha256?: string;
  path?: string;
}

export interface AuditInput {
  who: AuditWho;
  what: AuditWhat;
  result: 'ok' | 'denied' | 'unauthenticated' | 'error' | 'recovered' | 'started' | 'stopped';
  status?: number;
  reason?: string;
  latency_us?: number;
}

export const GENESIS = '0'.repeat(64);
const HEAD_WIDTH = 128;
const MAC_SUFFIX = /,"mac":"([0-9a-f]{64})"\}$/;

export const sha256Hex = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');

function macOf(key: Uint8Array, body: string): string {
  return createHmac('sha256', key).update(body).digest('hex');
}

/** `<log>.key` holds the HMAC key; `<log>.head` the last committed {seq, hash}. */
export const keyPathOf = (logPath: string) => `${logPath}.key`;
export const headPathOf = (logPath: string) => `${logPath}.head`;

export function loadOrCreateAuditKey(keyPath: string): Uint8Array {
  if (fs.existsSync(keyPath)) {
    const text = fs.readFileSync(keyPath, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new AuditError('AUDIT_KEY', `${keyPath}: not a 32-byte hex audit key`);
    return new Uint8Array(Buffer.from(text, 'hex'));
  }
  const key = new Uint8Array(randomBytes(32));
  writeFileAtomic(keyPath, Buffer.from(key).toString('hex') + '\n');
  return key;
}

/** Why the audit log cannot be opened or repaired, and what to do: one line for the operator. */
function auditFileError(file: string, e: unknown, doing: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ELOOP') {
    return new AuditError('AUDIT_SYMLINK', `${file}: is a symbolic link; refusing to write the audit log through a link (it could redirect or hide entries): replace it with a regular file or point [audit] path at the real one`);
  }
  if (code === 'EPERM') {
    return new AuditError('AUDIT_NOT_WRITABLE', `${file}: cannot ${doing} the audit log (EPERM): the file is probably immutable or append-only; check its attributes (lsattr '${file}') and clear them (chattr -i / chattr -a), or point [audit] path elsewhere`);
  }
  if (code === 'EACCES' || code === 'EROFS') {
    return new AuditError('AUDIT_NOT_WRITABLE', `${file}: cannot ${doing} the audit log (${code}): the daemon's user needs to read and append to it; check its owner and mode, or point [audit] path elsewhere`);
  }
  return e;
}

interface Pending {
  input: AuditInput;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class AuditLog {
  private fd: number;
  private seq: number;
  private lastHash: string;
  private queue: Pending[] = [];
  private scheduled = false;
  private failure: string | undefined;
  /** Seconds each flush took (for metrics). */
  onFlush?: (seconds: number, entries: number) => void;
  /**
   * The two system calls a flush makes. A fault-injection seam: tests replace them to emulate a full or failing
   * disk (ENOSPC, EIO), which cannot be produced on demand here.
   */
  io = {
    write: (fd: number, text: string) => fs.writeSync(fd, text),
    sync: (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => fs.fdatasync(fd, done),
  };
  /**
   * Batches written and waiting for their fdatasync, oldest first. A second batch may start its own sync while
   * the first is still running, so an entry appended just after a sync began waits for one sync, not two; a sync
   * that completes makes every earlier write durable too, so it releases every batch up to its own.
   */
  private unsynced: { batch: Pending[]; seq: number; hash: string }[] = [];
  private static readonly MAX_SYNCS = 2;

  private headFd: number | undefined;

  private constructor(readonly file: string, private readonly key: Uint8Array, fd: number, seq: number, lastHash: string) {
    this.fd = fd;
    this.seq = seq;
    this.lastHash = lastHash;
  }

  /**
   * Open (creating if needed). A torn last line (a crash mid-write) is reported and cut off, and an entry
   * recording the repair is appended; it is never skipped silently.
   */
  static async open(file: string): Promise<AuditLog> {
    ensurePrivateDir(path.dirname(file));
    const key = loadOrCreateAuditKey(keyPathOf(file));
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW, FILE_MODE);
    } catch (e) {
      throw auditFileError(file, e, 'open');
    }
    const content = fs.readFileSync(file, 'utf8');
    let good = content;
    let torn: string | undefined;
    if (content.length && !content.endsWith('\n')) {
      const cut = content.lastIndexOf('\n') + 1;
      torn = content.slice(cut);
      good = content.slice(0, cut);
      try {
        fs.ftruncateSync(fd, Buffer.byteLength(good));
        fs.fsyncSync(fd);
      } catch (e) {
        fs.closeSync(fd);
        throw auditFileError(file, e, 'cut the torn last line (from a crash) of');
      }
      log('warn', `${file}: torn last line (${Buffer.byteLength(torn)} bytes, from a crash mid-write) removed; the chain continues from the last complete entry`);
    }
    const lines = good.split('\n').filter((l) => l.length);
    const last = lines[lines.length - 1];
    let seq = 0;
    if (last) {
      const m = /^\{"seq":(\d+),/.exec(last);
      if (!m) throw new AuditError('AUDIT_CORRUPT', `${file}: last entry is not an audit entry; run arkeo-signer audit verify`);
      seq = Number(m[1]);
    }
    const audit = new AuditLog(file, key, fd, seq, last ? sha256Hex(last) : GENESIS);
    if (torn !== undefined) {
      await audit.append({ who: { transport: 'local' }, what: { op: 'audit-repair' }, result: 'recovered', reason: `torn last line of ${Buffer.byteLength(torn)} bytes removed (sha256 ${sha256Hex(torn)})` });
    }
    return audit;
  }

  get healthy(): boolean {
    return this.failure === undefined;
  }

  get problem(): string | undefined {
    return this.failure;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Resolves when the entry is on disk (fdatasync), rejects when it could not be written. */
  append(input: AuditInput): Promise<void> {
    if (this.failure) return Promise.reject(new AuditError('AUDIT_UNAVAILABLE', `audit log ${this.file}: ${this.failure}; refusing to sign`));
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.failure || this.unsynced.length >= AuditLog.MAX_SYNCS || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const started = performance.now();
    let seq = this.seq;
    let prev = this.lastHash;
    const lines: string[] = [];
    for (const p of batch) {
      const { who, what, result, status, reason, latency_us } = p.input;
      const body =
        `{"seq":${++seq},"ts":"${new Date().toISOString()}","prev":"${prev}","who":${JSON.stringify(who)},"what":${JSON.stringify(what)}` +
        `,"result":"${result}"${status !== undefined ? `,"status":${status}` : ''}${reason !== undefined ? `,"reason":${JSON.stringify(reason)}` : ''}` +
        `${latency_us !== undefined ? `,"latency_us":${Math.round(latency_us)}` : ''}`;
      const line = `${body},"mac":"${macOf(this.key, body)}"}`;
      lines.push(line);
      prev = sha256Hex(line);
    }
    const failed = (e: unknown) => {
      this.failure ??= `cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
      const err = new AuditError('AUDIT_UNAVAILABLE', `audit log ${this.file}: ${this.failure}; refusing to sign`);
      for (const p of [...this.unsynced.flatMap((u) => u.batch), ...batch, ...this.queue]) p.reject(err);
      this.unsynced = [];
      this.queue = [];
    };
    try {
      this.io.write(this.fd, lines.join('\n') + '\n');
    } catch (e) {
      return failed(e);
    }
    // The chain advances now (later batches link to these lines); they are released only after a sync.
    this.seq = seq;
    this.lastHash = prev;
    const mine = { batch, seq, hash: prev };
    this.unsynced.push(mine);
    const settle = (err: NodeJS.ErrnoException | null) => {
      if (this.failure) return;
      if (err) return failed(err);
      // Everything written before this sync began is durable now: release this batch and every older one.
      const upTo = this.unsynced.indexOf(mine);
      if (upTo < 0) return; // a later sync finished first and released this batch already
      const released = this.unsynced.splice(0, upTo + 1);
      this.onFlush?.((performance.now() - started) / 1000, batch.length);
      for (const u of released) for (const p of u.batch) p.resolve();
      this.writeHead(mine.seq, mine.hash);
      if (this.queue.length) this.flush();
    };
    try {
      this.io.sync(this.fd, settle);
    } catch (e) {
      settle(e as NodeJS.ErrnoException);
    }
    if (this.queue.length) this.flush();
  }

  /**
   * Best effort, after the entries are durable: an anchor against truncation of whole entries. The head is a
   * fixed-width record overwritten in place (no open/truncate per flush); JSON.parse ignores the padding.
   */
  private writeHead(seq: number, hash: string): void {
    try {
      this.headFd ??= fs.openSync(headPathOf(this.file), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, FILE_MODE);
      fs.writeSync(this.headFd, `{"seq":${seq},"hash":"${hash}"}`.padEnd(HEAD_WIDTH - 1) + '\n', 0);
    } catch {
      /* the log itself is durable; verify reports a stale head as unanchored entries */
    }
  }

  async close(): Promise<void> {
    while (this.unsynced.length || this.queue.length) {
      if (this.failure) break;
      this.flush();
      await new Promise((r) => setImmediate(r));
    }
    try {
      fs.fsyncSync(this.fd);
    } catch {
      /* already reported through append */
    }
    fs.closeSync(this.fd);
    if (this.headFd !== undefined) fs.closeSync(this.headFd);
  }
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  /** The first broken link, naming the line. */
  problem?: string;
  notes: string[];
}

/** Check the chain, the MACs (when the key is given) and the head. Names the first broken link. */
export function verifyAuditLog(file: string, key?: Uint8Array): VerifyResult {
  const notes: string[] = [];
  const content = fs.readFileSync(file, 'utf8');
  const lines = content.split('\n');
  const last = lines.pop();
  const fail = (entries: number, problem: string): VerifyResult => ({ ok: false, entries, problem, notes });
  if (last !== '') return fail(lines.length, `line ${lines.length + 1}: torn last line (no newline): truncated mid-entry`);
  let prev = GENESIS;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const n = i + 1;
    let entry: { seq?: unknown; prev?: unknown };
    try {
      entry = JSON.parse(line);
    } catch {
      return fail(i, `line ${n}: not a JSON entry (edited)`);
    }
    if (entry.seq !== n) {
      return fail(i, `line ${n}: sequence ${String(entry.seq)} where ${n} was expected (an entry was deleted, inserted or reordered)`);
    }
    if (entry.prev !== prev) return fail(i, `line ${n}: previous-hash link broken (line ${n - 1} was edited, or an entry was removed before line ${n})`);
    const m = MAC_SUFFIX.exec(line);
    if (!m) return fail(i, `line ${n}: no MAC (edited or forged)`);
    if (key) {
      const want = Buffer.from(macOf(key, line.slice(0, m.index)), 'hex');
      if (!timingSafeEqual(want, Buffer.from(m[1]!, 'hex'))) return fail(i, `line ${n}: MAC mismatch (edited or forged without the audit key)`);
    }
    prev = sha256Hex(line);
  }
  if (!key) notes.push('no audit key given: MACs not checked, so a forged append with a valid hash chain would not be detected');
  const headFile = headPathOf(file);
  if (fs.existsSync(headFile)) {
    try {
      const head = JSON.parse(fs.readFileSync(headFile, 'utf8')) as { seq: number; hash: string };
      if (head.seq > lines.length) return fail(lines.length, `truncated: the head records ${head.seq} entries but the file has ${lines.length}`);
      if (head.seq > 0 && sha256Hex(lines[head.seq - 1]!) !== head.hash) return fail(head.seq - 1, `line ${head.seq}: does not match the head's hash (edited or replaced)`);
      if (head.seq < lines.length) notes.push(`${lines.length - head.seq} entr${lines.length - head.seq === 1 ? 'y' : 'ies'} after the recorded head (written just before a crash, or appended by someone else; the MAC check decides)`);
    } catch {
      notes.push(`${headFile}: unreadable head file`);
    }
  } else notes.push('no head file: truncation of whole trailing entries cannot be detected');
  return { ok: true, entries: lines.length, notes };
}
