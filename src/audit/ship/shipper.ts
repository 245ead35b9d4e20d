import * as fs from 'node:fs';
import type * as net from 'node:net';
import { sha256Hex } from '../chain.js';
import { log } from '../../log.js';
import { InputError } from '../../errors.js';
import type { AuditShipConfig } from './config.js';
import { headRecord } from './syslog.js';
import { transportFor, type Link, type Transport } from './transport.js';

/**
 * Sends each durable audit entry, as written, to a syslog server or the journal, and the chain head every interval.
 *
 * Delivery never holds up signing: the local entry is durable (and the signature released) before the shipper sees
 * it, and nothing here is awaited by a request. What the shipper adds is a copy off the host.
 *
 * Plain syslog over TCP or TLS has no acknowledgement, and bytes a receiver never read vanish with its connection.
 * So entries are sent in segments, one connection each: the shipper ends its side, and the receiver closing its
 * side in answer means it read everything up to our end of stream; only then is the segment acknowledged (its last
 * sequence number is kept in `<log>.ship`). A connection that ends any other way (refused, reset, a timeout) leaves
 * its segment unacknowledged: it is sent again, read back from the local log file from the last acknowledged entry,
 * never from memory, and counted (`resent`): the remote copy may then hold those entries twice, always identical.
 * Entries wait in a bounded queue in memory; past `queue_size` they are read from the file instead, so a long
 * outage costs no memory and loses nothing. An entry is dropped (counted, reported, never silently) only when the
 * local log no longer holds it where it was written.
 *
 * RELP (an acknowledging transport) answers every message, so none of the segment machinery applies: one connection
 * carries on, at most WINDOW messages wait for their answer, and each `200` answer acknowledges its message (and
 * moves `<log>.ship` on). A connection that breaks leaves the unanswered ones to be sent again, from the file, as
 * above; the copy then holds an entry twice only if the receiver took it and its answer was lost on the way.
 */

/** The local log as far as it is durable. */
export interface ShipSource {
  file: string;
  durable: { seq: number; hash: string; size: number };
}

export interface ShipStatus {
  target: string;
  connected: boolean;
  /** The local chain's last durable entry. */
  sequence: number;
  /** The last entry the receiver is known to have read (see above). */
  acked: number;
  /** Entries in the memory queue. */
  queued: number;
  /** Entries that will never be shipped (the log no longer held them). */
  dropped: number;
  /** Entries sent again after a connection ended unacknowledged. */
  resent: number;
  lastError?: string;
  /** How long something has been waiting for delivery, in milliseconds (0: nothing is). */
  behindMs: number;
}

/** The last acknowledged entry, beside the log: where shipping resumes after a restart. */
export const shipStatePathOf = (logPath: string) => `${logPath}.ship`;

/** A segment ends after this long, this many bytes, or this long with nothing to send. */
const SEGMENT_MS = 1000;
const SEGMENT_BYTES = 512 * 1024;
const LINGER_MS = 100;
/**
 * New entries go out at most this often, the commits in between in one write: at 1,000 claims/s a hundred writes
 * (and wake-ups of the receiver) a second instead of a thousand, on cores that also sign.
 */
const SEND_EVERY_MS = 10;
/** Our end of stream unanswered this long: the segment is not acknowledged. */
const CLOSE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;
const READ_CHUNK = 256 * 1024;
const WRITE_CHUNK = 64 * 1024;
const STATE_WIDTH = 160;
/** Acknowledging transports: messages sent and not yet answered, at most. */
const WINDOW = 128;
/** Acknowledging transports: the oldest unanswered message waits this long, then the connection is given up. */
const ANSWER_TIMEOUT_MS = 10_000;
/** Acknowledging transports: how long close() waits for the answer to its RELP close. */
const FAREWELL_MS = 500;

type Phase = 'idle' | 'connecting' | 'open' | 'closing' | 'waiting' | 'closed';

interface Queued {
  seq: number;
  line: string;
  /** File offset just after the line's newline. */
  end: number;
}

/** Acknowledging transports: a message sent and not yet answered, an entry (where it ends in the file) or a head record. */
type Unanswered = { seq: number; end: number; line: string } | { head: true };

interface Position {
  seq: number;
  /** File offset just after the entry's newline. */
  offset: number;
  /** SHA-256 of the entry's line. */
  hash: string;
}

export class AuditShipper {
  private durable: Position;
  private acked: Position;
  /** How far the current connection has sent (the acknowledged position when there is none). */
  private sent: Position;
  private sentLine: string | undefined;
  /** memory: the queue holds every entry after `sent`; file: they are read from the log. */
  private mode: 'memory' | 'file' = 'memory';
  private queue: Queued[] = [];
  private phase: Phase = 'idle';
  private socket: net.Socket | undefined;
  private link: Link | undefined;
  /** Acknowledging transports: sent on this connection and not yet answered, oldest first. */
  private unanswered: Unanswered[] = [];
  /** Bumped whenever a connection is given up: callbacks of an older one do nothing. */
  private generation = 0;
  private peerEnded = false;
  private blocked = false;
  private reading = false;
  private headDue = true;
  private segment = { bytes: 0, head: false };
  private timers: { linger?: NodeJS.Timeout; age?: NodeJS.Timeout; close?: NodeJS.Timeout; connect?: NodeJS.Timeout; backoff?: NodeJS.Timeout; answer?: NodeJS.Timeout; send?: NodeJS.Timeout } = {};
  private backoffMs = 0;
  private readonly headTimer: NodeJS.Timeout;
  private dueSince: number | undefined;
  private droppedThrough = 0;
  private lastError: string | undefined;
  private stateFd: number | undefined;
  /** `<log>.ship` written since the last fdatasync began; one sync at a time (see persist). */
  private syncing = false;
  private syncAgain = false;
  private closing: Promise<void> | undefined;
  private waiters: { seq: number; resolve: (ok: boolean) => void }[] = [];
  private readonly stats = { dropped: 0, resent: 0 };
  /** Set when the log on disk did not match what the shipper expected (see dropRest). */
  private problem: string | undefined;

  private constructor(
    readonly config: AuditShipConfig,
    private readonly transport: Transport,
    private readonly file: string,
    private readonly fd: number,
    durable: Position,
    acked: Position,
  ) {
    this.durable = durable;
    this.acked = acked;
    this.sent = { ...acked };
    if (acked.seq < durable.seq) this.mode = 'file';
    this.dueSince = Date.now();
    this.headTimer = setInterval(() => {
      this.headDue = true;
      this.dueSince ??= Date.now();
      this.kick();
    }, config.interval_ms).unref();
  }

  /**
   * Start shipping `source` (its certificate files are read now: a bad one is an InputError naming the field). An
   * unreachable receiver is not an error: the shipper keeps trying, and says so in health() and its metrics.
   */
  static open(config: AuditShipConfig, source: ShipSource): AuditShipper {
    const transport = transportFor(config);
    let fd: number;
    try {
      fd = fs.openSync(source.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      throw new InputError('AUDIT_SHIP', `${source.file}: cannot read the audit log to ship it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const durable = { seq: source.durable.seq, offset: source.durable.size, hash: source.durable.hash };
    const acked = resumeFrom(source.file, fd, durable);
    const shipper = new AuditShipper(config, transport, source.file, fd, durable, acked);
    shipper.kick();
    return shipper;
  }

  // ------------------------------------------------------------------------------------------------ input

  /** AuditLog.onCommit: a batch is durable. */
  committed(lines: readonly string[], offset: number, seq: number, hash: string): void {
    if (this.phase === 'closed' || seq <= this.durable.seq) return;
    let end = offset;
    const fits = this.mode === 'memory' && offset === this.durable.offset && this.queue.length + lines.length <= this.config.queue_size;
    let n = seq - lines.length;
    for (const line of lines) {
      end += Buffer.byteLength(line) + 1;
      if (fits) this.queue.push({ seq: ++n, line, end });
    }
    if (!fits && this.mode === 'memory') {
      // Past the queue's bound (or out of step): from here on, entries are read back from the file.
      this.mode = 'file';
      this.queue = [];
    }
    this.durable = { seq, offset: end, hash };
    this.dueSince ??= Date.now();
    this.timers.send ??= setTimeout(() => {
      this.timers.send = undefined;
      this.kick();
    }, SEND_EVERY_MS).unref();
  }

  // ------------------------------------------------------------------------------------------------ connection

  private kick(): void {
    if (this.phase === 'open') return this.pump();
    if (this.phase !== 'idle') return;
    if (this.sent.seq < this.durable.seq || this.headDue) this.connect();
  }

  private connect(): void {
    this.phase = 'connecting';
    const generation = ++this.generation;
    const link = this.transport.connect();
    const { socket, ready } = link;
    this.link = link;
    this.socket = socket;
    this.unanswered = [];
    const mine = (fn: (...a: any[]) => void) => (...a: any[]) => {
      if (generation === this.generation) fn(...a);
    };
    // For RELP this covers the session's open too: the connection is usable only once that is answered.
    this.timers.connect = setTimeout(mine(() => this.fail(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS).unref();
    socket.setNoDelay(true);
    // Read the receiver's answers; without them (syslog, the journal), read and discard whatever comes back, so
    // the receiver's end of stream, or its reset, is seen at once.
    if (this.transport.acknowledging) socket.on('data', mine((chunk: Buffer) => this.answered(chunk)));
    else socket.resume();
    socket.on('error', mine((e: NodeJS.ErrnoException) => this.fail(e.code ?? e.message)));
    socket.on(
      ready,
      mine(() => {
        this.peerEnded = false;
        this.segment = { bytes: 0, head: false };
        if (this.transport.acknowledging) return this.write(link.preamble); // open when the answer comes
        clearTimeout(this.timers.connect);
        this.phase = 'open';
        this.timers.age = setTimeout(mine(() => this.endSegment()), SEGMENT_MS).unref();
        if (link.preamble) this.write(link.preamble);
        this.pump();
      }),
    );
    socket.on(
      'end',
      mine(() => {
        if (this.phase === 'closing') this.peerEnded = true;
        else this.fail('the receiver closed the connection');
      }),
    );
    socket.on(
      'close',
      mine((hadError: boolean) => {
        if (this.transport.acknowledging) return this.phase === 'closing' ? void (this.peerEnded = true) : this.fail('the connection closed');
        if (this.phase === 'closing' && this.peerEnded && !hadError) this.ack();
        else this.fail(this.phase === 'closing' ? 'the connection ended without the receiver closing it in answer' : 'the connection closed');
      }),
    );
  }

  /** Acknowledging transports: the receiver's answers, each acknowledging the oldest unanswered message. */
  private answered(chunk: Buffer): void {
    const answer = this.link!.receive!(chunk);
    if (answer.opened && this.phase === 'connecting') {
      clearTimeout(this.timers.connect);
      this.phase = 'open';
    }
    if (answer.acked > 0) this.acknowledged(answer.acked);
    if (answer.error) return this.fail(answer.error);
    if (answer.ended && this.phase !== 'closing') return this.fail('the receiver ended the session');
    if (answer.ended) this.peerEnded = true; // the answer to our close
    if (answer.opened || answer.acked > 0) this.pump();
  }

  /** The oldest `n` unanswered messages were answered: the last entry among them is acknowledged, and so all before it. */
  private acknowledged(n: number): void {
    let last: { seq: number; end: number; line: string } | undefined;
    for (const u of this.unanswered.splice(0, n)) if (!('head' in u)) last = u;
    clearTimeout(this.timers.answer);
    this.timers.answer = undefined;
    if (this.unanswered.length > 0) this.awaitAnswer();
    if (last) this.advance({ seq: last.seq, offset: last.end, hash: sha256Hex(last.line) });
    else if (this.dueSince !== undefined && !this.waiting()) this.dueSince = undefined;
  }

  /** Something is unanswered: the oldest of it must be answered within ANSWER_TIMEOUT_MS. */
  private awaitAnswer(): void {
    if (this.timers.answer) return;
    const generation = this.generation;
    this.timers.answer = setTimeout(() => generation === this.generation && this.fail(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`), ANSWER_TIMEOUT_MS).unref();
  }

  /** Whether an entry or a head record still waits for delivery. */
  private waiting(): boolean {
    return this.acked.seq < this.durable.seq || this.headDue || this.unanswered.length > 0;
  }

  /**
   * Send what is due while the socket takes it: the head record when due, then entries from memory or the file.
   * Acknowledging transports stop at WINDOW unanswered messages; each answer calls this again.
   */
  private pump(): void {
    while (this.phase === 'open' && !this.blocked && !this.reading) {
      let room = this.room();
      if (room <= 0) return;
      let text = '';
      if (this.headDue) {
        text += this.sendFrame('head', headRecord(this.durable.seq, this.durable.hash, new Date()));
        this.headDue = false;
        this.segment.head = true;
        room--;
      }
      if (this.mode === 'file') {
        if (this.sent.offset < this.durable.offset) {
          if (text) this.write(text);
          return room > 0 ? this.readFile() : undefined;
        }
        this.mode = 'memory'; // caught up: the queue is empty, and new entries go to it again
      }
      let n = 0;
      while (n < this.queue.length && n < room && text.length < WRITE_CHUNK) {
        const q = this.queue[n++]!;
        text += this.sendFrame('audit', q.line, q);
      }
      if (n > 0) {
        const last = this.queue[n - 1]!;
        this.queue.splice(0, n);
        this.sent = { seq: last.seq, offset: last.end, hash: '' };
        this.sentLine = last.line;
      }
      if (!text) return this.lingering();
      this.write(text);
      if (!this.transport.acknowledging && this.segment.bytes >= SEGMENT_BYTES) return this.endSegment();
    }
  }

  /** How many more messages may go now: unbounded in a segment, the window's free places when each is answered. */
  private room(): number {
    return this.transport.acknowledging ? WINDOW - this.unanswered.length : Infinity;
  }

  /** One message framed for the link; on an acknowledging one, it now waits for its answer. */
  private sendFrame(kind: 'head', line: string): string;
  private sendFrame(kind: 'audit', line: string, at: { seq: number; end: number }): string;
  private sendFrame(kind: 'audit' | 'head', line: string, at?: { seq: number; end: number }): string {
    if (this.transport.acknowledging) {
      this.unanswered.push(kind === 'head' ? { head: true } : { seq: at!.seq, end: at!.end, line });
      this.awaitAnswer();
    }
    return this.link!.frame(kind, line);
  }

  private write(text: string): void {
    this.segment.bytes += text.length;
    if (this.socket!.write(text)) return;
    this.blocked = true;
    const generation = this.generation;
    this.socket!.once('drain', () => {
      if (generation !== this.generation) return;
      this.blocked = false;
      this.pump();
    });
  }

  /** Nothing to send right now: end the segment unless more arrives soon. */
  private lingering(): void {
    if (this.timers.linger || this.transport.acknowledging) return; // no segments: the connection stays open
    const generation = this.generation;
    this.timers.linger = setTimeout(() => {
      this.timers.linger = undefined;
      if (generation !== this.generation || this.phase !== 'open') return;
      if (this.sent.seq < this.durable.seq || this.headDue) this.pump();
      else this.endSegment();
    }, LINGER_MS).unref();
  }

  /** Entries after `sent`, read back from the log file, up to what is durable. */
  private readFile(): void {
    this.reading = true;
    const generation = this.generation;
    const from = this.sent.offset;
    const read = (size: number) => {
      const buf = Buffer.alloc(Math.min(size, this.durable.offset - from));
      fs.read(this.fd, buf, 0, buf.length, from, (err, got) => {
        if (generation !== this.generation) return; // the connection is over: the next one starts from `sent` again
        this.reading = false;
        if (this.phase !== 'open') return; // the segment ended meanwhile: what was read goes in the next one
        if (err || got === 0) return this.dropRest(`the local log cannot be read at byte ${from} (${err?.code ?? 'it ends early'})`);
        const end = buf.lastIndexOf(0x0a, got - 1);
        if (end < 0) {
          if (got < buf.length || from + got >= this.durable.offset) return this.dropRest(`the local log has no complete entry at byte ${from}`);
          this.reading = true;
          return read(size * 2); // a line longer than the chunk
        }
        let text = '';
        let offset = from;
        // What the window has room for (an acknowledging transport): the rest is read again when answers come.
        let room = this.room();
        for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
          if (room-- <= 0) break;
          const seq = Number(/^\{"seq":(\d{1,15}),/.exec(line)?.[1]);
          if (seq !== this.sent.seq + 1) {
            if (text) this.write(text);
            return this.dropRest(`the local log does not hold entry ${this.sent.seq + 1} where it was written (byte ${offset}): it was changed under the running daemon`);
          }
          offset += Buffer.byteLength(line) + 1;
          text += this.sendFrame('audit', line, { seq, end: offset });
          this.sent = { seq, offset, hash: '' };
          this.sentLine = line;
        }
        if (text) this.write(text);
        if (!this.transport.acknowledging && this.segment.bytes >= SEGMENT_BYTES) return this.endSegment();
        this.pump();
      });
    };
    // An acknowledging transport takes at most a window of entries per read: a smaller read wastes less.
    read(this.transport.acknowledging ? READ_CHUNK / 4 : READ_CHUNK);
  }

  /**
   * The log no longer holds what was written where it was written: what is left up to the durable end cannot be
   * shipped as it was. Counted as dropped, reported in health(), and shipping goes on from the durable end.
   */
  private dropRest(why: string): void {
    if (this.durable.seq > this.droppedThrough) {
      const lost = this.durable.seq - Math.max(this.sent.seq, this.droppedThrough);
      this.stats.dropped += lost;
      this.droppedThrough = this.durable.seq;
      this.problem = `${why}; ${lost} entr${lost === 1 ? 'y' : 'ies'} not shipped`;
      log('error', `audit shipping: ${this.problem}`);
    }
    this.sent = { ...this.durable };
    this.sentLine = undefined;
    this.mode = 'memory';
    this.queue = [];
    this.pump();
  }

  /** End our side; the receiver closing its side in answer acknowledges the segment (see the class comment). */
  private endSegment(): void {
    if (this.phase !== 'open') return;
    this.phase = 'closing';
    this.clearTimers();
    this.socket!.end();
    const generation = this.generation;
    this.timers.close = setTimeout(() => generation === this.generation && this.fail(`the receiver did not close the connection within ${CLOSE_TIMEOUT_MS / 1000} s of ours, so delivery is unconfirmed`), CLOSE_TIMEOUT_MS).unref();
  }

  /** The receiver closed in answer to our end of stream: the whole segment is acknowledged. */
  private ack(): void {
    this.clearTimers();
    this.generation++;
    this.socket = undefined;
    this.link = undefined;
    this.blocked = false;
    this.reading = false;
    const hash = this.sent.hash || (this.sentLine !== undefined ? sha256Hex(this.sentLine) : this.acked.hash);
    this.phase = 'idle';
    this.advance({ ...this.sent, hash });
    this.sent = { ...this.acked };
    this.kick();
  }

  /** Entries up to `to` are acknowledged: recorded in `<log>.ship`, and whoever waits for them is told. */
  private advance(to: Position): void {
    this.acked = to;
    this.persist();
    this.backoffMs = 0;
    this.lastError = undefined;
    this.dueSince = this.waiting() ? Date.now() : undefined;
    this.waiters = this.waiters.filter((w) => (w.seq <= this.acked.seq ? (w.resolve(true), false) : true));
  }

  /** The connection is given up: what it sent unacknowledged is sent again, from the file, after a backoff. */
  private fail(why: string): void {
    if (this.phase === 'closed' || this.phase === 'waiting' || this.phase === 'idle') return;
    this.clearTimers();
    this.generation++;
    this.socket?.destroy();
    this.socket = undefined;
    this.link = undefined;
    this.lastError = `${this.transport.describe}: ${why}`;
    const unacked = this.sent.seq - this.acked.seq;
    if (unacked > 0) this.stats.resent += unacked;
    // A head record not known to have arrived is sent again; a second one is harmless.
    if (this.transport.acknowledging ? this.unanswered.some((u) => 'head' in u) : this.segment.head) this.headDue = true;
    this.unanswered = [];
    this.sent = { ...this.acked };
    this.sentLine = undefined;
    this.blocked = false;
    this.reading = false;
    if (this.sent.offset < this.durable.offset) {
      this.mode = 'file';
      this.queue = [];
    }
    this.backoffMs = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 2));
    this.phase = 'waiting';
    this.timers.backoff = setTimeout(() => {
      if (this.phase !== 'waiting') return;
      this.phase = 'idle';
      this.kick();
    }, this.backoffMs).unref();
  }

  private clearTimers(): void {
    for (const t of Object.values(this.timers)) clearTimeout(t);
    this.timers = {};
  }

  /**
   * `<log>.ship`: one fixed-width record overwritten in place, synced in the background (a stale one only means
   * resending). RELP moves it on with every answer, so at most one fdatasync runs at a time, and one more follows
   * if it was written meanwhile: the disk the audit log syncs to is not kept busy by this.
   */
  private persist(): void {
    try {
      if (this.stateFd === undefined) this.stateFd = fs.openSync(shipStatePathOf(this.file), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
      const { seq, offset, hash } = this.acked;
      fs.writeSync(this.stateFd, `{"seq":${seq},"offset":${offset},"hash":"${hash}"}`.padEnd(STATE_WIDTH - 1) + '\n', 0);
      this.sync();
    } catch (e) {
      log('warn', `audit shipping: cannot record the shipped position in ${shipStatePathOf(this.file)} (${(e as NodeJS.ErrnoException).code ?? 'error'}); after a restart some entries are sent again`);
    }
  }

  private sync(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    this.syncAgain = false;
    fs.fdatasync(this.stateFd!, () => {
      this.syncing = false;
      if (this.syncAgain && this.phase !== 'closed') this.sync();
    });
  }

  // ------------------------------------------------------------------------------------------------ reporting

  status(): ShipStatus {
    return {
      target: this.transport.describe,
      connected: this.phase === 'open' || this.phase === 'closing',
      sequence: this.durable.seq,
      acked: this.acked.seq,
      queued: this.queue.length,
      dropped: this.stats.dropped,
      resent: this.stats.resent,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      behindMs: this.dueSince === undefined ? 0 : Date.now() - this.dueSince,
    };
  }

  /**
   * 'ok', or 'error: …' when entries were dropped, or when something has waited for delivery longer than two head
   * intervals (at least a few segments). Not part of the daemon's own ok: shipping never stops signing.
   */
  health(): string {
    const s = this.status();
    const problems: string[] = [];
    if (this.problem) problems.push(this.problem);
    else if (s.dropped > 0) problems.push(`${s.dropped} entries dropped`);
    if (s.behindMs > Math.max(2 * this.config.interval_ms, 3 * SEGMENT_MS)) {
      const waiting = s.sequence - s.acked;
      problems.push(`${waiting > 0 ? `${waiting} entr${waiting === 1 ? 'y' : 'ies'}` : 'the chain head'} not delivered for ${Math.round(s.behindMs / 1000)} s${s.lastError ? ` (${s.lastError})` : ''}`);
    }
    return problems.length ? `error: ${problems.join('; ')}` : 'ok';
  }

  /** Resolves true once entry `seq` is acknowledged, false after `timeoutMs`. */
  delivered(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.acked.seq >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { seq, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs).unref();
    });
  }

  /**
   * Stop: a last head record (the chain as it stands at the stop) and whatever is waiting get up to `flushMs` while
   * the receiver is reachable; what is left is sent after the next start, from `<log>.ship`.
   */
  close(flushMs = 2000): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.headTimer);
      this.headDue = true;
      this.kick();
      const deadline = Date.now() + flushMs;
      const sleep = () => new Promise((r) => setTimeout(r, 10));
      // A segment is done when its connection is; a RELP connection stays open, and is done when all is answered.
      const done = () => !this.waiting() && (this.phase === 'idle' || (this.transport.acknowledging && this.phase === 'open'));
      while (!done() && this.phase !== 'waiting' && Date.now() < deadline) await sleep();
      if (this.phase === 'open' && this.link?.farewell) {
        // RELP's close, and its answer, briefly: the receiver need not guess why the connection went.
        this.phase = 'closing';
        this.write(this.link.farewell());
        const until = Date.now() + FAREWELL_MS;
        while (this.phase === 'closing' && !this.peerEnded && Date.now() < until) await sleep();
      }
      this.clearTimers();
      this.generation++;
      this.phase = 'closed';
      this.socket?.destroy();
      for (const w of this.waiters) w.resolve(false);
      this.waiters = [];
      fs.closeSync(this.fd);
      for (let i = 0; this.syncing && i < 100; i++) await sleep(); // not closed under a running fdatasync
      if (this.stateFd !== undefined) {
        if (this.syncAgain) fs.fdatasyncSync(this.stateFd);
        fs.closeSync(this.stateFd);
      }
    })();
    return this.closing;
  }
}

/**
 * Where shipping resumes: the entry `<log>.ship` records, when the log still holds it there (same sequence number,
 * same hash); from the start when there is no record (the whole log is shipped once). A record the log does not
 * match (the log was rewound, truncated or replaced since) is reported, and shipping goes on from the log's end:
 * the remote copy already holds what was shipped, and `audit verify --against` shows where the two part.
 */
function resumeFrom(file: string, fd: number, durable: Position): Position {
  let text: string;
  try {
    text = fs.readFileSync(shipStatePathOf(file), 'utf8');
  } catch {
    return { seq: 0, offset: 0, hash: '0'.repeat(64) };
  }
  let mismatch: string;
  try {
    const s = JSON.parse(text) as Position;
    if (!Number.isSafeInteger(s.seq) || !Number.isSafeInteger(s.offset) || typeof s.hash !== 'string') throw new Error('fields');
    if (s.seq === 0 && s.offset === 0) return s;
    if (s.seq > durable.seq || s.offset > durable.offset) mismatch = `it records entry ${s.seq} as shipped, and the log ends at entry ${durable.seq}`;
    else {
      const line = lineEndingAt(fd, s.offset);
      if (line !== undefined && line.startsWith(`{"seq":${s.seq},`) && sha256Hex(line) === s.hash) return s;
      mismatch = `the log does not hold the entry ${s.seq} it records as shipped`;
    }
  } catch {
    mismatch = 'it is unreadable';
  }
  log('warn', `audit shipping: ${shipStatePathOf(file)}: ${mismatch} (the log was rewound, truncated or replaced since it was shipped); shipping goes on after entry ${durable.seq}; compare with the shipped copy: arkeo-signer audit verify ${file} --against COPY`);
  return durable;
}

/** The line whose newline is the byte before `offset`, if it is shorter than 64 KiB. */
function lineEndingAt(fd: number, offset: number): string | undefined {
  const from = Math.max(0, offset - 64 * 1024);
  const buf = Buffer.alloc(offset - from);
  if (fs.readSync(fd, buf, 0, buf.length, from) !== buf.length || buf[buf.length - 1] !== 0x0a) return undefined;
  const start = buf.lastIndexOf(0x0a, buf.length - 2) + 1;
  if (start === 0 && from > 0) return undefined;
  return buf.subarray(start, buf.length - 1).toString('utf8');
}
