/**
 * The client side of RELP, the Reliable Event Logging Protocol (rsyslog's imrelp), written from its specification
 * (librelp's doc/relp.md). Every frame is `TXNR SP COMMAND SP DATALEN [SP DATA] LF`; the client numbers its commands
 * 1, 2, 3 … and the server answers each with an `rsp` frame of the same number, in the order it received them. A
 * session starts with `open` (the offers: version, software, commands) and is ready only once that is answered; each
 * `syslog` command carries one message, and its `200` answer is the acknowledgement the shipper waits for.
 *
 * What the server sends is read with bounds (a header of at most 53 bytes, at most RELP_MAX_ANSWER bytes of data)
 * and checked strictly: anything malformed, unexpected or out of order is a RelpError, and the caller drops the
 * connection, as the specification says a peer must ("trying to gracefully resolve communications problems may lead
 * to an attack vector"). Nothing here touches a socket.
 */

/** The most data a server frame may carry: an answer is a status line and, for `open`, a few offers. */
export const RELP_MAX_ANSWER = 16 * 1024;
/** TXNR is at most nine digits; after 999,999,999 it goes back to 1 (0 is the server's hints). */
const MAX_TXNR = 999_999_999;
/** `TXNR SP COMMAND SP DATALEN` and the byte after it: 9 + 1 + 32 + 1 + 9 + 1. */
const MAX_HEADER = 53;
const HEADER = /^(\d{1,9}) ([A-Za-z]{1,32}) (\d{1,9})([ \n])/;
/** What a header not yet complete may look like: anything else is already wrong. */
const HEADER_SO_FAR = /^(?:\d{0,9}|\d{1,9} [A-Za-z]{0,32}|\d{1,9} [A-Za-z]{1,32} \d{0,9})$/;

/** The server broke the protocol; the message says how, for the shipper's last error (no server text beyond 80 printable characters). */
export class RelpError extends Error {}

export interface RelpFrame {
  txnr: number;
  command: string;
  data: Buffer;
}

/** Frames from a byte stream, as they complete; a chunk may hold several, or part of one. */
export class RelpFrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** The next complete frame, undefined until more bytes come; a RelpError for bytes that cannot become one. */
  next(): RelpFrame | undefined {
    const head = this.buf.subarray(0, MAX_HEADER).toString('latin1');
    const m = HEADER.exec(head);
    if (!m) {
      if (this.buf.length >= MAX_HEADER || !HEADER_SO_FAR.test(head)) throw new RelpError(`a malformed frame header from the server (${printable(head, 40)})`);
      return undefined;
    }
    const txnr = Number(m[1]);
    const datalen = Number(m[3]);
    if (datalen > RELP_MAX_ANSWER) throw new RelpError(`a frame of ${datalen} bytes from the server (at most ${RELP_MAX_ANSWER})`);
    if (m[4] === '\n') {
      if (datalen !== 0) throw new RelpError(`a frame from the server ends before its ${datalen} bytes of data`);
      this.buf = this.buf.subarray(m[0].length);
      return { txnr, command: m[2]!, data: Buffer.alloc(0) };
    }
    if (datalen === 0) throw new RelpError('a frame from the server has a space but no data (DATALEN 0)');
    const end = m[0].length + datalen;
    if (this.buf.length <= end) return undefined;
    if (this.buf[end] !== 0x0a) throw new RelpError(`a frame from the server does not end where its DATALEN ${datalen} says (no LF after the data)`);
    const data = Buffer.from(this.buf.subarray(m[0].length, end));
    this.buf = this.buf.subarray(end + 1);
    return { txnr, command: m[2]!, data };
  }
}

/** What a chunk from the server meant. */
export interface RelpAnswer {
  /** The `open` was answered with the offers we need: the session is ready. */
  opened: boolean;
  /** `syslog` commands answered `200`, oldest first. */
  acked: number;
  /** The server ended the session (`serverclose`, or its answer to our `close`). */
  ended: boolean;
  /** The server broke the protocol here: what came before it still counts, the connection must go. */
  error?: string;
}

type Command = 'open' | 'syslog' | 'close';

/**
 * One RELP session: the commands we send, numbered, and the server's answers checked against them. Built fresh for
 * each connection.
 */
export class RelpSession {
  private next = 1;
  /** Commands sent and not yet answered, oldest first. */
  private outstanding: { txnr: number; command: Command }[] = [];
  private readonly reader = new RelpFrameReader();
  private state: 'new' | 'opening' | 'open' | 'closing' | 'ended' | 'broken' = 'new';

  constructor(private readonly software: string) {}

  /** The `open` command: relp_version=0 (what librelp, and so rsyslog, speaks), our name, and the one command we use. */
  open(): string {
    if (this.state !== 'new') throw new Error('RELP open sent twice');
    this.state = 'opening';
    return this.command('open', `relp_version=0\nrelp_software=${this.software}\ncommands=syslog`);
  }

  /** One `syslog` command carrying `message` (an RFC 5424 message). */
  syslog(message: string): string {
    if (this.state !== 'open' && this.state !== 'opening') throw new Error(`RELP syslog in state ${this.state}`);
    return this.command('syslog', message);
  }

  /** The `close` command; nothing may follow it. */
  close(): string {
    this.state = 'closing';
    return this.command('close', '');
  }

  /** Commands sent and not yet answered. */
  get unanswered(): number {
    return this.outstanding.length;
  }

  /**
   * The server's bytes: what they acknowledge. Frames before a fault still count (their messages did arrive); the
   * fault itself is `error`, after which the session is unusable.
   */
  receive(chunk: Buffer): RelpAnswer {
    const answer: RelpAnswer = { opened: false, acked: 0, ended: false };
    if (this.state === 'broken') return { ...answer, error: 'the session is already broken' };
    this.reader.push(chunk);
    try {
      for (let frame = this.reader.next(); frame; frame = this.reader.next()) this.take(frame, answer);
    } catch (e) {
      if (!(e instanceof RelpError)) throw e;
      this.state = 'broken';
      answer.error = e.message;
    }
    return answer;
  }

  private take(frame: RelpFrame, answer: RelpAnswer): void {
    if (frame.command === 'serverclose' && frame.txnr === 0 && frame.data.length === 0) {
      // librelp sends it after its answer to our close too: a second end is no news.
      this.state = 'ended';
      answer.ended = true;
      return;
    }
    if (this.state === 'ended') throw new RelpError(`the server sent "${printable(frame.command, 32)}" after it ended the session`);
    if (frame.command !== 'rsp') throw new RelpError(`the server sent the command "${printable(frame.command, 32)}" (expected only "rsp" and the hint "serverclose")`);
    const expected = this.outstanding[0];
    if (!expected) throw new RelpError(`the server answered transaction ${frame.txnr}, and none is waiting`);
    if (frame.txnr !== expected.txnr) throw new RelpError(`the server answered transaction ${frame.txnr} where ${expected.txnr} was next (answers come in order)`);
    this.outstanding.shift();
    if (expected.command === 'close') {
      // librelp answers close with no data at all; whatever the answer, the session is over.
      this.state = 'ended';
      answer.ended = true;
      return;
    }
    const status = statusOf(frame.data);
    if (expected.command === 'open') {
      if (status.code !== '200') throw new RelpError(`the server refused the session: ${status.code}${status.text ? ` ${status.text}` : ''}`);
      checkOffers(status.rest);
      if (this.state === 'opening') this.state = 'open';
      answer.opened = true;
      return;
    }
    if (status.code !== '200') throw new RelpError(`the server refused a message: ${status.code}${status.text ? ` ${status.text}` : ''}`);
    answer.acked++;
  }

  private command(command: Command, data: string): string {
    const txnr = this.next;
    this.next = txnr === MAX_TXNR ? 1 : txnr + 1;
    this.outstanding.push({ txnr, command });
    const len = Buffer.byteLength(data);
    return len === 0 ? `${txnr} ${command} 0\n` : `${txnr} ${command} ${len} ${data}\n`;
  }
}

/** `rsp` data: `CODE [SP HUMAN-TEXT] [LF CMDDATA]`, the code three digits. */
function statusOf(data: Buffer): { code: string; text: string; rest: string } {
  const text = data.toString('latin1');
  const lf = text.indexOf('\n');
  const line = lf < 0 ? text : text.slice(0, lf);
  const m = /^(\d{3})(?: (.*))?$/.exec(line);
  if (!m) throw new RelpError(`a malformed answer from the server (${printable(line, 40)})`);
  return { code: m[1]!, text: printable(m[2] ?? '', 80), rest: lf < 0 ? '' : text.slice(lf + 1) };
}

/** The offers in the answer to `open`: a relp_version must be there (the specification's rule), and syslog among the commands. */
function checkOffers(rest: string): void {
  const offers = new Map<string, string>();
  for (const line of rest.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    offers.set(eq < 0 ? line : line.slice(0, eq), eq < 0 ? '' : line.slice(eq + 1));
  }
  const version = offers.get('relp_version');
  if (version === undefined || !/^\d{1,9}$/.test(version)) throw new RelpError('the server\'s answer to open has no relp_version offer');
  if (!(offers.get('commands') ?? '').split(',').includes('syslog')) throw new RelpError('the server does not offer the syslog command');
}

/** Server text for a message: printable ASCII only, bounded. */
function printable(text: string, max: number): string {
  const clean = text.replace(/[^ -~]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
