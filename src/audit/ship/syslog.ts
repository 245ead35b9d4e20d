/**
 * The syslog side of audit shipping: an audit line as an RFC 5424 message, octet-counted (RFC 6587 §3.4.1) for TCP
 * and TLS (RFC 5425), and the way back: a line of the file a syslog server wrote, parsed to the audit line or the
 * head record it carries. The message text is the audit line itself, byte for byte, so that the shipped copy can be
 * compared with the local log line by line and hashed into the same chain.
 */

/** RFC 5424 §6.2.1 facility codes offered in [audit.ship] facility. */
export const FACILITIES = {
  auth: 4,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
export type Facility = keyof typeof FACILITIES;

/** The fixed header fields of every message this process sends. */
export interface SyslogOrigin {
  facility: Facility;
  /** HOSTNAME: printable US-ASCII, at most 255 characters. */
  hostname: string;
  /** APP-NAME: printable US-ASCII, at most 48 characters ([audit.ship] app_name). */
  appName: string;
  procId: string;
}

/** Printable US-ASCII without the space (RFC 5424 PRINTUSASCII), bounded; "-" (the nil value) when nothing is left. */
export function headerField(text: string, max: number): string {
  const clean = text.replace(/[^!-~]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** RFC 5424 severity of an entry, read from its result: refusals are notices, errors errors, repairs warnings. */
export function severityOf(line: string): number {
  const result = /,"result":"([a-z]+)"/.exec(line)?.[1];
  switch (result) {
    case 'error':
      return 3;
    case 'recovered':
      return 4;
    case 'denied':
    case 'unauthenticated':
      return 5;
    default:
      return 6;
  }
}

/** The message kinds (RFC 5424 MSGID): an audit entry, or the chain head record sent every interval. */
export type MessageKind = 'audit' | 'head';

/**
 * The head record: the local chain's last committed (seq, hash) at `ts`. Shipped every interval so that a host whose
 * log and head were both rewound is found out by the copy it already sent.
 */
export function headRecord(seq: number, hash: string, ts: Date): string {
  return `{"head":{"seq":${seq},"hash":"${hash}"},"ts":"${ts.toISOString()}"}`;
}

/** `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, no structured data; the timestamp is the entry's own. */
export function syslogMessage(origin: SyslogOrigin, kind: MessageKind, line: string, severity = kind === 'audit' ? severityOf(line) : 6): string {
  const ts = /^\{"seq":\d+,"ts":"([0-9T:.Z-]{20,30})"/.exec(line)?.[1] ?? /,"ts":"([0-9T:.Z-]{20,30})"\}$/.exec(line)?.[1] ?? new Date().toISOString();
  return `<${FACILITIES[origin.facility] * 8 + severity}>1 ${ts} ${origin.hostname} ${origin.appName} ${origin.procId} ${kind} - ${line}`;
}

/** RFC 6587 octet counting: the message's length in bytes, a space, the message. */
export function octetCounted(message: string): string {
  return `${Buffer.byteLength(message)} ${message}`;
}

/** What one line of a shipped copy holds. */
export type ShippedLine =
  | { kind: 'entry'; seq: number; line: string }
  | { kind: 'head'; seq: number; hash: string; ts: string }
  | { kind: 'other' };

const RFC5424 = /^(?:<\d{1,3}>)?1 \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\"]|\\.|"(?:[^"\\]|\\.)*")*\])+) ?/;

/**
 * One line of the file a syslog server wrote (rsyslog's RSYSLOG_SyslogProtocol23Format, or any format that ends
 * with the message), or of `journalctl -o cat`: the audit entry or head record it carries, or 'other' for another
 * program's message. An RFC 5424 header is parsed when present; otherwise the message is found where the audit
 * line begins, so a traditional "TIMESTAMP HOST APP[PID]: MSG" file reads too.
 */
export function parseShippedLine(text: string): ShippedLine {
  const header = RFC5424.exec(text);
  let msg = header ? text.slice(header[0].length) : text;
  if (msg.charCodeAt(0) === 0xfeff) msg = msg.slice(1); // an RFC 5424 BOM, should a relay add one
  if (!msg.startsWith('{')) {
    const at = Math.max(msg.indexOf('{"seq":'), msg.indexOf('{"head":'));
    if (at < 0) return { kind: 'other' };
    msg = msg.slice(at);
  }
  msg = msg.replace(/\r$/, '');
  const entry = /^\{"seq":(\d{1,15}),"ts":"[^"]*","prev":"[0-9a-f]{64}",.*,"mac":"[0-9a-f]{64}"\}$/.exec(msg);
  if (entry) return { kind: 'entry', seq: Number(entry[1]), line: msg };
  const head = /^\{"head":\{"seq":(\d{1,15}),"hash":"([0-9a-f]{64})"\},"ts":"([^"]{1,40})"\}$/.exec(msg);
  if (head) return { kind: 'head', seq: Number(head[1]), hash: head[2]!, ts: head[3]! };
  return { kind: 'other' };
}
