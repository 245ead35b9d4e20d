import * as fs from 'node:fs';
import { GENESIS, readHeadFile, sha256Hex } from './chain.js';
import { verifyAuditLog, type VerifyResult } from './log.js';
import { parseShippedLine } from './ship/syslog.js';

/**
 * `audit verify FILE --against COPY`: the local log held against a copy shipped off the host (the file a syslog
 * server wrote). The local check alone cannot see a log and head rewound together to an earlier consistent state;
 * the copy can: it holds the entries and head records the host sent before the rewind.
 */
export interface AgainstResult {
  ok: boolean;
  /** The local log's own check (chain, MACs, head). */
  local: VerifyResult;
  /** The first sequence number where the local log and the shipped copy part, if they do. */
  partsAt?: number;
  /** Why they part there (one line). */
  problem?: string;
  shipped: {
    entries: number;
    first?: number;
    last?: number;
    /** Entries the copy holds more than once, byte for byte the same (sent again after an unacknowledged connection). */
    repeated: number;
    /** Runs of sequence numbers the copy lacks between its first and last entry. */
    gaps: [number, number][];
    heads: number;
    /** The highest head record: the chain's length when it was sent. */
    lastHead?: { seq: number; hash: string; ts: string };
    /** Lines that carry neither an entry nor a head (other programs' messages). */
    other: number;
  };
  notes: string[];
}

const MAX_GAPS = 20;

export function verifyAgainst(localFile: string, copyFile: string, key?: Uint8Array): AgainstResult {
  const local = verifyAuditLog(localFile, key);
  const lines = fs.readFileSync(localFile, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  // Local line n holds entry n when the chain is intact; when it is not, the local problem is reported as well.
  const localLine = (seq: number): string | undefined => lines[seq - 1];
  const localEnd = lines.length;
  const head = readHeadFile(localFile);

  const shipped: AgainstResult['shipped'] = { entries: 0, repeated: 0, gaps: [], heads: 0, other: 0 };
  const notes: string[] = [];
  const parts: { seq: number; problem: string }[] = [];
  const part = (seq: number, problem: string) => parts.push({ seq, problem });
  const seen = new Map<number, string>();
  let highest = 0;
  let conflict = false;
  let outOfOrder = 0;
  /** The copy holds an entry or a head record past the local log's end. */
  let beyond = false;

  for (const text of fs.readFileSync(copyFile, 'utf8').split('\n')) {
    if (text === '') continue;
    const m = parseShippedLine(text);
    if (m.kind === 'other') {
      shipped.other++;
      continue;
    }
    if (m.kind === 'head') {
      shipped.heads++;
      if (!shipped.lastHead || m.seq >= shipped.lastHead.seq) shipped.lastHead = { seq: m.seq, hash: m.hash, ts: m.ts };
      const mine = m.seq === 0 ? GENESIS : localLine(m.seq) !== undefined ? sha256Hex(localLine(m.seq)!) : undefined;
      if (mine === undefined) beyond = true;
      else if (mine !== m.hash) part(m.seq, `entry ${m.seq} is not the one a head record shipped at ${m.ts} names (hash ${m.hash.slice(0, 12)}…): the local log was rewritten from entry ${m.seq} or before`);
      continue;
    }
    const before = seen.get(m.seq);
    if (before !== undefined) {
      if (before === m.line) shipped.repeated++;
      else {
        conflict = true;
        part(m.seq, `the shipped copy holds two different entries ${m.seq}: the host's log was rewound and written again from entry ${m.seq}`);
      }
      continue;
    }
    seen.set(m.seq, m.line);
    shipped.entries++;
    shipped.first ??= m.seq;
    if (m.seq > highest + 1 && highest > 0) {
      if (shipped.gaps.length < MAX_GAPS) shipped.gaps.push([highest + 1, m.seq - 1]);
    } else if (m.seq < highest) outOfOrder++;
    highest = Math.max(highest, m.seq);
    const mine = localLine(m.seq);
    if (mine === undefined) beyond = true;
    else if (mine !== m.line) part(m.seq, `entry ${m.seq} differs between the local log and the shipped copy: the local log was edited, or rewound and written again`);
  }
  shipped.last = highest || undefined;
  if (beyond) {
    const held = [highest > localEnd ? `entries up to ${highest}` : '', shipped.lastHead && shipped.lastHead.seq > localEnd ? `a head record of entry ${shipped.lastHead.seq} (sent ${shipped.lastHead.ts})` : ''].filter(Boolean).join(' and ');
    part(localEnd + 1, `the shipped copy holds ${held}, and the local log ends at entry ${localEnd}: it was rewound or truncated`);
  }

  if (typeof head === 'object' && shipped.lastHead && head.seq < shipped.lastHead.seq) {
    part(head.seq + 1, `the local head records entry ${head.seq}, older than the head record shipped at ${shipped.lastHead.ts} (entry ${shipped.lastHead.seq}): log and head were rewound`);
  }
  if (shipped.entries === 0) notes.push('the shipped copy holds no audit entries (is it the file the syslog server writes them to?)');
  if (shipped.first !== undefined && shipped.first > 1) notes.push(`the shipped copy starts at entry ${shipped.first} (shipping began later, or the copy was rotated): entries before it are checked locally only`);
  if (shipped.last !== undefined && shipped.last < localEnd && !conflict) notes.push(`${localEnd - shipped.last} local entr${localEnd - shipped.last === 1 ? 'y' : 'ies'} after entry ${shipped.last} not in the shipped copy (not shipped yet, or lost: see arkeo_signer_audit_ship_dropped_total)`);
  if (shipped.gaps.length) notes.push(`the shipped copy lacks entries ${shipped.gaps.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(', ')}${shipped.gaps.length === MAX_GAPS ? ', …' : ''}: those are checked locally only`);
  if (shipped.repeated) notes.push(`${shipped.repeated} entr${shipped.repeated === 1 ? 'y' : 'ies'} shipped twice, identical (sent again after a connection ended unacknowledged)`);
  if (shipped.heads === 0 && shipped.entries > 0) notes.push('the shipped copy holds no head records: a rewind to before its last entry is still seen, one after it is not');
  if (outOfOrder) notes.push(`${outOfOrder} entr${outOfOrder === 1 ? 'y' : 'ies'} of the shipped copy arrived after a later one (out of order)`);
  if (shipped.other) notes.push(`${shipped.other} line${shipped.other === 1 ? '' : 's'} of the copy are not audit entries or head records (skipped)`);

  const first = parts.sort((a, b) => a.seq - b.seq)[0];
  return {
    ok: local.ok && first === undefined,
    local,
    ...(first ? { partsAt: first.seq, problem: first.problem } : {}),
    shipped,
    notes,
  };
}
