import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AuditChainChecker, GENESIS, MAC_SUFFIX, headPathOf, keyPathOf, macMatches, macOf, readHeadFile, sha256Hex } from './chain.js';
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

export type AuditWhat = {
  op: string;
  key?: string;
  contract?: string;
  nonce?: string;
  msg_sha256?: string;
  path?: string;
  /** Where the key signed: 'local' (signing thread) or an external kind ('pkcs11'). */
  backend?: string;
  /** More identifiers a failure carried (its ErrorContext): an address, the nonce a resync asked for. */
  [field: string]: string | undefined;
};

export interface AuditInput {
  who: AuditWho;
  what: AuditWhat;
  result: 'ok' | 'denied' | 'unauthenticated' | 'error' | 'recovered' | 'started' | 'stopped';
  status?: number;
  reason?: string;
  latency_us?: number;
}

const HEAD_WIDTH = 128;

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
   * Each batch once it is durable (released), in order: its lines (without newlines), the file offset of its
   * first line, and the chain head after it. The shipper sends them on; a throw here never reaches signing.
   */
  onCommit?: (lines: readonly string[], offset: number, seq: number, hash: string) => void;
  /** The last released entry: its (seq, hash) and the file's size after it. */
  private released: { seq: number; hash: string; size: number };
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
  private unsynced: { batch: Pending[]; lines: string[]; seq: number; hash: string; sizeBefore: number }[] = [];
  /** The end of the last released batch: a failure never truncates below it. */
  private durableSize = 0;
  private closed = false;
  /** Bytes written so far (the file's size while we are its only writer). */
  private size: number;
  /** The inode we hold open: the path must still lead to it (see checkFile). */
  private readonly ino: number;
  private static readonly MAX_SYNCS = 2;

  private headFd: number | undefined;

  private constructor(readonly file: string, private readonly key: Uint8Array, fd: number, seq: number, lastHash: string, size: number) {
    this.fd = fd;
    this.seq = seq;
    this.lastHash = lastHash;
    this.size = size;
    this.durableSize = size;
    this.released = { seq, hash: lastHash, size };
    this.ino = fs.fstatSync(fd).ino;
  }

  /**
   * Open (creating if needed). What follows the last complete line is judged first: a torn last line (a crash
   * mid-write) and a zero-filled tail (a power cut that made the file's new size durable but not its data: NUL
   * bytes, perhaps after a torn line) are leftovers of a write never released; NUL bytes followed by other data
   * are not. Then the tail is checked against the head file, up to the last complete line: the last entry's
   * MAC, and the head's entry and everything after it (chain and MACs), so a leftover is cut only above what the
   * head records as written. A log that was truncated, rolled back or edited since the head was written is
   * refused, with nothing cut, unless `acceptMismatch` is given, which records what was accepted. Otherwise a
   * leftover is reported, cut off, and an entry recording the repair is appended; it is never skipped silently.
   * `verifyChain` checks the whole file first (it reads all of it).
   */
  static async open(file: string, options: AuditOpenOptions = {}): Promise<AuditLog> {
    ensurePrivateDir(path.dirname(file));
    const key = loadOrCreateAuditKey(keyPathOf(file));
    const fd = openLogFile(file);
    try {
      const size = fs.fstatSync(fd).size;
      const tail = new TailReader(fd, size);
      // Everything after the last complete line is a crash's leftover (or damage): judged before anything is cut.
      const end = tail.lastNewlineBefore(size) + 1;
      const leftover = end < size ? leftoverOf(tail.bytes(end, size)) : undefined;
      let chainProblem: string | undefined;
      if (options.verifyChain) {
        // Up to the last complete line: a crash mid-write is not tampering.
        const r = verifyAuditLog(file, key, end);
        if (!r.ok && !options.acceptMismatch) throw mismatchError(file, r.problem!);
        chainProblem = r.problem;
      }
      // The head must be met at or before `end`: a cut never goes below an entry the head records as written.
      const { seq, hash, problem: tailProblem } = checkTail(file, key, tail, end);
      const problem = [chainProblem, tailProblem && `${tailProblem}${leftover ? ` (then ${leftover.what})` : ''}`, leftover?.problem].filter(Boolean).join('; ') || undefined;
      // Refused before anything is cut: the evidence stays as it was for `audit verify`.
      if (problem && !options.acceptMismatch) throw mismatchError(file, problem);
      if (leftover) {
        try {
          fs.ftruncateSync(fd, end);
          fs.fsyncSync(fd);
        } catch (e) {
          throw auditFileError(file, e, leftover.cutting);
        }
        log('warn', `${file}: ${leftover.warning(seq)} removed; the chain continues from the last complete entry`);
      }
      const audit = new AuditLog(file, key, fd, seq, hash, end);
      if (leftover) await audit.append({ who: { transport: 'local' }, what: { op: 'audit-repair' }, result: 'recovered', reason: leftover.reason(seq) });
      if (problem) {
        log('warn', `${file}: ${problem}; accepted (--accept-audit-log), recorded in the log`);
        await audit.append({ who: { transport: 'local' }, what: { op: 'audit-accept' }, result: 'recovered', reason: `operator accepted: ${problem}`.slice(0, 300) });
      }
      // A head from the start, so that "no head file" later means someone removed it, not a young log.
      if (audit.seq === 0) audit.writeHead(0, GENESIS);
      return audit;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get healthy(): boolean {
    return this.failure === undefined;
  }

  /**
   * The path must still lead to the file we write: a log deleted or replaced while the daemon runs would take
   * every later entry with it. Checked before every batch and by health checks; a problem fails closed.
   */
  checkFile(): string | undefined {
    if (this.failure) return this.failure;
    let problem: string | undefined;
    try {
      if (fs.statSync(this.file).ino !== this.ino) problem = 'the log path now leads to another file (replaced or renamed)';
      else if (fs.fstatSync(this.fd).nlink === 0) problem = 'the log file was deleted while open';
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problem = code === 'ENOENT' ? 'the log file was deleted while open' : `the log path cannot be checked (${code ?? 'error'})`;
    }
    if (problem) this.fail(`${problem}; restart the daemon to open a new log`);
    return this.failure;
  }

  /**
   * The one way into the failed state (until restart): every append not yet released is rejected, and lines
   * written but not durable are cut back (they were never released, so they must not stay behind as "ok";
   * ftruncate needs no free space), never below what was already released.
   */
  private fail(why: string): void {
    this.failure ??= why;
    const err = new AuditError('AUDIT_UNAVAILABLE', `audit log ${this.file}: ${this.failure}; refusing to sign`);
    try {
      fs.ftruncateSync(this.fd, Math.max(this.durableSize, this.unsynced[0]?.sizeBefore ?? this.size));
    } catch {
      /* reported by the failure already; a restart reports and removes a torn line */
    }
    const pending = [...this.unsynced.flatMap((u) => u.batch), ...this.queue];
    this.unsynced = [];
    this.queue = [];
    for (const p of pending) p.reject(err);
  }

  get problem(): string | undefined {
    return this.failure;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** The last entry released (durable), where the file ends after it: what a reader of the file may rely on. */
  get durable(): { seq: number; hash: string; size: number } {
    return { ...this.released };
  }

  /** Resolves when the entry is on disk (fdatasync), rejects when it could not be written. */
  append(input: AuditInput): Promise<void> {
    if (this.closed) return Promise.reject(new AuditError('AUDIT_UNAVAILABLE', `audit log ${this.file}: closed; refusing to sign`));
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
    const ts = new Date().toISOString(); // the batch is written at one moment
    for (const p of batch) {
      const { who, what, result, status, reason, latency_us } = p.input;
      const body =
        `{"seq":${++seq},"ts":"${ts}","prev":"${prev}","who":${JSON.stringify(who)},"what":${JSON.stringify(what)}` +
        `,"result":"${result}"${status !== undefined ? `,"status":${status}` : ''}${reason !== undefined ? `,"reason":${JSON.stringify(reason)}` : ''}` +
        `${latency_us !== undefined ? `,"latency_us":${Math.round(latency_us)}` : ''}`;
      const line = `${body},"mac":"${macOf(this.key, body)}"}`;
      lines.push(line);
      prev = sha256Hex(line);
    }
    const text = lines.join('\n') + '\n';
    const bytes = Buffer.byteLength(text);
    const sizeBefore = this.size;
    const failed = (e: unknown) => {
      this.queue.unshift(...batch); // not written (or not whole): fail() rejects it with the rest
      this.fail(typeof e === 'string' ? e : `cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    };
    if (this.checkFile()) return failed(this.failure);
    try {
      const written = this.io.write(this.fd, text);
      // A short write (a full disk) is a failure, not a smaller success: the batch's last line would be torn.
      if (written !== bytes) return failed(`short write: ${written} of ${bytes} bytes (disk full?)`);
    } catch (e) {
      return failed(e);
    }
    this.size += bytes;
    // The chain advances now (later batches link to these lines); they are released only after a sync.
    this.seq = seq;
    this.lastHash = prev;
    const mine = { batch, lines, seq, hash: prev, sizeBefore };
    this.unsynced.push(mine);
    const settle = (err: NodeJS.ErrnoException | null) => {
      if (this.failure) return; // fail() rejected everything pending already
      // A failed sync fails the log even when a later sync already released this batch (Linux reports a
      // writeback error to one fdatasync only): fail() never cuts below what was released.
      if (err) return this.fail(`cannot write (${err.code ?? err.message})`);
      // Everything written before this sync began is durable now: release this batch and every older one.
      const upTo = this.unsynced.indexOf(mine);
      if (upTo < 0) return; // a later sync finished first and released this batch already
      const released = this.unsynced.splice(0, upTo + 1);
      this.durableSize = Math.max(this.durableSize, sizeBefore + bytes);
      this.onFlush?.((performance.now() - started) / 1000, batch.length);
      for (const u of released) for (const p of u.batch) p.resolve();
      this.writeHead(mine.seq, mine.hash);
      this.released = { seq: mine.seq, hash: mine.hash, size: sizeBefore + bytes };
      if (this.onCommit) {
        for (const u of released) {
          try {
            this.onCommit(u.lines, u.sizeBefore, u.seq, u.hash);
          } catch (e) {
            log('error', `audit log ${this.file}: the commit hook failed (${(e as Error).message}); signing goes on`);
          }
        }
      }
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
  writeHead(seq: number, hash: string): void {
    try {
      if (this.headFd === undefined) {
        // The file itself must survive a power cut whole (start-up refuses a log whose head is missing or
        // garbled), so it is first written atomically (temp file, fsync, rename, fsync of the directory); its later
        // in-place updates need not be durable: a stale head only means a few more entries to check at start.
        if (!fs.existsSync(headPathOf(this.file))) writeFileAtomic(headPathOf(this.file), `{"seq":${seq},"hash":"${hash}"}`.padEnd(HEAD_WIDTH - 1) + '\n');
        this.headFd = fs.openSync(headPathOf(this.file), fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
      }
      fs.writeSync(this.headFd, `{"seq":${seq},"hash":"${hash}"}`.padEnd(HEAD_WIDTH - 1) + '\n', 0);
    } catch {
      /* the log itself is durable; verify reports a stale head as unanchored entries */
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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

export interface AuditOpenOptions {
  /** Check the whole chain and every MAC before starting (reads the whole file). */
  verifyChain?: boolean;
  /** Start even though the log does not match its head; the acceptance is recorded in the log. */
  acceptMismatch?: boolean;
}

function openLogFile(file: string): number {
  try {
    return fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW, FILE_MODE);
  } catch (e) {
    throw auditFileError(file, e, 'open');
  }
}

function mismatchError(file: string, problem: string): AuditError {
  return new AuditError(
    'AUDIT_MISMATCH',
    `audit log ${file}: ${problem}. It was truncated, rolled back or edited since the daemon last wrote it. Inspect with: arkeo-signer audit verify ${file}; to continue from the log as it is, start once with --accept-audit-log (the acceptance is recorded in the log)`,
  );
}

/** What follows the log's last complete line, and how its repair is reported and recorded. */
interface Leftover {
  /** For messages: "a torn line of 30 bytes", "4096 NUL bytes", … */
  what: string;
  /** For "cannot … the audit log": what cutting it is. */
  cutting: string;
  /** Set when this is not a crash's leftover: start is refused (nothing cut) unless accepted. */
  problem?: string;
  warning(afterSeq: number): string;
  reason(afterSeq: number): string;
}

/**
 * A crash mid-write leaves a torn line (no NUL byte: a write() copies its bytes in order). A power cut on ext4 or
 * xfs can also leave the file's new size with its data never written: NUL bytes, perhaps after a torn line. NUL
 * bytes followed by anything else are neither.
 */
function leftoverOf(bytes: Buffer): Leftover {
  const nul = bytes.indexOf(0);
  const text = nul < 0 ? bytes : bytes.subarray(0, nul);
  const zeros = bytes.length - text.length;
  const sum = sha256Hex(text);
  if (zeros === 0) {
    return {
      what: `a torn line of ${text.length} bytes`,
      cutting: 'cut the torn last line (from a crash) of',
      warning: () => `torn last line (${text.length} bytes, from a crash mid-write)`,
      reason: () => `torn last line of ${text.length} bytes removed (sha256 ${sum})`,
    };
  }
  if (bytes.subarray(nul).some((b) => b !== 0)) {
    return {
      what: `${bytes.length} bytes where NUL bytes are followed by other data`,
      cutting: 'cut the damaged end (accepted) of',
      problem: `its last ${bytes.length} bytes (after its last complete entry) are NUL bytes followed by other data, which no crash leaves behind`,
      warning: (seq) => `the last ${bytes.length} bytes after entry ${seq} (NUL bytes followed by other data; accepted)`,
      reason: (seq) => `last ${bytes.length} bytes after entry ${seq} removed (NUL bytes followed by other data; sha256 ${sha256Hex(bytes)})`,
    };
  }
  if (text.length === 0) {
    return {
      what: `${zeros} NUL bytes`,
      cutting: 'cut the zero-filled tail (from a power cut) of',
      warning: (seq) => `zero-filled tail (${zeros} NUL bytes after entry ${seq}: the file's size reached the disk before its data, a power cut)`,
      reason: (seq) => `zero-filled tail of ${zeros} bytes removed (NUL bytes after entry ${seq}, from a power cut)`,
    };
  }
  return {
    what: `a torn line of ${text.length} bytes and ${zeros} NUL bytes`,
    cutting: 'cut the torn last line and zero-filled tail (from a power cut) of',
    warning: (seq) => `torn last line (${text.length} bytes) and zero-filled tail (${zeros} NUL bytes after entry ${seq}, from a power cut mid-write)`,
    reason: (seq) => `torn last line of ${text.length} bytes (sha256 ${sum}) and zero-filled tail of ${zeros} bytes removed (NUL bytes after entry ${seq}, from a power cut)`,
  };
}

/** Reads a file backwards in growing windows: start-up needs the last lines, never the whole log. */
class TailReader {
  private start: number;
  private buf = Buffer.alloc(0);
  constructor(private readonly fd: number, private readonly end: number) {
    this.start = end;
  }

  /** Make bytes [from, end) available. */
  private need(from: number): void {
    if (from >= this.start) return;
    const newStart = Math.max(0, Math.min(from, this.end - Math.max(64 * 1024, (this.end - this.start) * 2)));
    const more = Buffer.alloc(this.start - newStart);
    fs.readSync(this.fd, more, 0, more.length, newStart);
    this.buf = Buffer.concat([more, this.buf]);
    this.start = newStart;
  }

  /** Offset of the last '\n' before `pos`, or -1. */
  lastNewlineBefore(pos: number): number {
    for (let from = pos; from > 0; ) {
      from = Math.max(0, from - 64 * 1024);
      this.need(from);
      // The buffer runs from this.start to the end, so the first '\n' found searching back from pos is the answer.
      const i = this.buf.lastIndexOf(0x0a, pos - 1 - this.start);
      if (i >= 0) return i + this.start;
    }
    return -1;
  }

  bytes(from: number, to: number): Buffer {
    this.need(from);
    return this.buf.subarray(from - this.start, to - this.start);
  }

  text(from: number, to: number): string {
    return this.bytes(from, to).toString('utf8');
  }

  /** The complete lines of [0, end), newest first, one at a time. */
  *linesBackward(end: number): Generator<string> {
    let to = end - 1; // the '\n' that ends the current line
    while (to > 0) {
      const from = this.lastNewlineBefore(to) + 1;
      yield this.text(from, to);
      to = from - 1;
    }
  }
}

/**
 * The start-up check: the last entry's MAC, and the head's entry and every entry after it. Returns the last
 * (seq, hash), and the problem if the log does not match its head.
 */
function checkTail(file: string, key: Uint8Array, tail: TailReader, size: number): { seq: number; hash: string; problem?: string } {
  const after: string[] = []; // entries after the head's, newest first
  const headFile = headPathOf(file);
  const read = readHeadFile(file);
  const head = typeof read === 'object' ? read : undefined;
  const headProblem = read === 'unreadable' ? `its head file ${headFile} is unreadable` : read === 'missing' && size > 0 ? `its head file ${headFile} is missing` : undefined;
  let last: { seq: number; hash: string } | undefined;
  let found = false;
  for (const line of tail.linesBackward(size)) {
    const m = /^\{"seq":(\d+),/.exec(line);
    const mac = MAC_SUFFIX.exec(line);
    if (!m || !mac) return { seq: 0, hash: GENESIS, problem: `an entry near the end is not an audit entry` };
    const seq = Number(m[1]);
    if (!macMatches(key, line, mac)) {
      return { seq, hash: sha256Hex(line), problem: `entry ${seq} has a bad MAC (edited or forged)` };
    }
    last ??= { seq, hash: sha256Hex(line) };
    if (!head || seq <= head.seq) {
      if (head && seq === head.seq) found = sha256Hex(line) === head.hash;
      break;
    }
    after.push(line);
  }
  last ??= { seq: 0, hash: GENESIS };
  if (headProblem) return { ...last, problem: headProblem };
  if (!head) return last;
  if (head.seq > last.seq) return { ...last, problem: `the head records ${head.seq} entries but the log ends at entry ${last.seq}` };
  if (head.seq > 0 && !found) return { ...last, problem: `entry ${head.seq} does not match the head's hash` };
  // Entries after the head (written just before a crash, before the head caught up) must chain onto it.
  let prev = head.seq === 0 ? GENESIS : head.hash;
  for (let i = after.length - 1; i >= 0; i--) {
    const line = after[i]!;
    if (!line.includes(`"prev":"${prev}"`)) return { ...last, problem: `an entry after the head does not chain onto it` };
    prev = sha256Hex(line);
  }
  return last;
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  /** The first broken link, naming the line. */
  problem?: string;
  notes: string[];
}

/**
 * Check the chain, the MACs (when the key is given) and the head. Names the first broken link. `end` limits the
 * check to the file's first `end` bytes (start-up: up to the last complete line, before a leftover is cut).
 */
export function verifyAuditLog(file: string, key?: Uint8Array, end?: number): VerifyResult {
  const notes: string[] = [];
  const whole = fs.readFileSync(file);
  const content = (end === undefined ? whole : whole.subarray(0, end)).toString('utf8');
  const lines = content.split('\n');
  const last = lines.pop();
  const fail = (entries: number, problem: string): VerifyResult => ({ ok: false, entries, problem, notes });
  if (last !== '') return fail(lines.length, `line ${lines.length + 1}: torn last line (no newline): truncated mid-entry`);
  const chain = new AuditChainChecker(key);
  for (const line of lines) if (!chain.next(line)) return fail(chain.entries, chain.problem!);
  if (!key) notes.push('no audit key given: MACs not checked, so a forged append with a valid hash chain would not be detected');
  const head = readHeadFile(file);
  if (head === 'missing') notes.push('no head file: truncation of whole trailing entries cannot be detected');
  else if (head === 'unreadable') notes.push(`${headPathOf(file)}: unreadable head file`);
  else {
    if (head.seq > lines.length) return fail(lines.length, `truncated: the head records ${head.seq} entries but the file has ${lines.length}`);
    if (head.seq > 0 && sha256Hex(lines[head.seq - 1]!) !== head.hash) return fail(head.seq - 1, `line ${head.seq}: does not match the head's hash (edited or replaced)`);
    if (head.seq < lines.length) notes.push(`${lines.length - head.seq} entr${lines.length - head.seq === 1 ? 'y' : 'ies'} after the recorded head (written just before a crash, or appended by someone else; the MAC check decides)`);
  }
  return { ok: true, entries: lines.length, notes };
}
