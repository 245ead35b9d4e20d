import * as fs from 'node:fs';
import { AuditChainChecker, readHeadFile, sha256Hex } from '../audit/index.js';

/**
 * A compact index of the audit log, built by reading it once from the start and then only what is appended: per
 * entry its byte offset and length, time, and small integer codes for the fields the console filters on. A page is
 * a scan of these columns (a few milliseconds for a million entries) and one read per shown entry; the log is
 * never read whole for a page. The same pass checks the hash chain and the MACs, so the integrity banner costs
 * nothing extra. About 40 bytes per entry: 40 MB for a million.
 */

export const SIGNING_OPS = new Set(['claim', 'arkcontract', 'raw', 'tx']);
const REFUSED = new Set(['denied', 'unauthenticated', 'error']);
const CHUNK = 1 << 20;
/** Entries a scan looks at between two looks at the clock (a few tens of microseconds). */
const SCAN_STEP = 4096;

/** Awaited now and then by a long scan: resolves at once, or when it is the scan's turn again (see TimeSlices). */
export type Pause = () => Promise<void>;
const NO_PAUSE: Pause = () => Promise.resolve();

/** Strings of one field, each given a small code (0: absent). */
class Dictionary {
  private readonly codes = new Map<string, number>();
  readonly values: string[] = [''];
  code(value: unknown): number {
    if (value === undefined || value === null || value === '') return 0;
    const s = String(value);
    let c = this.codes.get(s);
    if (c === undefined) {
      c = this.values.length;
      this.values.push(s);
      this.codes.set(s, c);
    }
    return c;
  }
  find(value: string): number | undefined {
    return this.codes.get(value);
  }
}

export interface AuditFilter {
  /** Unix ms, inclusive. */
  from?: number;
  to?: number;
  token?: string;
  /** A key name or address: what.key or what.address. */
  key?: string;
  op?: string;
  contract?: string;
  result?: string;
}

export interface Integrity {
  ok: boolean;
  /** Entries whose chain and MAC were checked. */
  verifiedThrough: number;
  /** When that check last advanced or was redone (unix ms). */
  checkedAt: number;
  brokenAt?: number;
  problem?: string;
  /** Notes that are not breaks (no key given, no head file). */
  notes: string[];
  indexing: boolean;
  indexedBytes: number;
  fileBytes: number;
}

export interface KeyStats {
  total: number;
  byDay: Map<string, number>;
  last: number;
  /** Where its last signature was made, as the audit entry records it (the key's backend). */
  backend?: string;
}
export interface TokenStats {
  requests: number;
  refusals: number;
  last: number;
}
export interface ContractKeyStats {
  contract: string;
  key: string;
  lastNonce: bigint;
  claims: number;
  last: number;
}

const grow = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(a: T, n: number): T => {
  if (n < a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(1024, a.length * 2));
  b.set(a);
  return b;
};

export class AuditIndex {
  count = 0;
  offsets = new Float64Array(1024);
  lengths = new Uint32Array(1024);
  times = new Float64Array(1024);
  tokenCol = new Uint32Array(1024);
  keyCol = new Uint32Array(1024);
  addrCol = new Uint32Array(1024);
  opCol = new Uint32Array(1024);
  contractCol = new Uint32Array(1024);
  resultCol = new Uint8Array(1024);
  statusCol = new Uint16Array(1024);
  readonly tokens = new Dictionary();
  readonly keys = new Dictionary();
  readonly ops = new Dictionary();
  readonly contracts = new Dictionary();
  readonly results = new Dictionary();
  private aggs = newAggregates();
  private checker: AuditChainChecker;
  private indexed = 0;
  private fileSize = 0;
  private checkedAt = Date.now();
  /** SHA-256 of the last indexed line and its newline: appends must leave it as it was. */
  private tailHash: string | undefined;

  get keyStats(): Map<string, KeyStats> {
    return this.aggs.keyStats;
  }
  get tokenStats(): Map<string, TokenStats> {
    return this.aggs.tokenStats;
  }
  get contractKeys(): Map<string, ContractKeyStats> {
    return this.aggs.contractKeys;
  }
  /** Entries by HTTP status, 400 and up. */
  get statusTotals(): Map<number, number> {
    return this.aggs.statusTotals;
  }

  constructor(
    readonly file: string,
    private readonly key: Uint8Array | undefined,
  ) {
    this.checker = new AuditChainChecker(key);
  }

  get indexedBytes(): number {
    return this.indexed;
  }

  /** Read what was appended since the last call (whole lines only). Yields to the event loop between chunks. */
  async catchUp(): Promise<void> {
    let last: string | undefined;
    const done = await this.scan(this.indexed, (line, offset, length) => {
      this.ensure(this.count + 1);
      this.record(this.count, line, offset, length, this.checker, this.aggs);
      this.count++;
      last = line;
      return true;
    });
    if (last !== undefined) this.tailHash = sha256Hex(last + '\n');
    this.indexed = done.end;
    this.fileSize = done.size;
    this.checkedAt = Date.now();
  }

  /**
   * Check the whole log again, from the first byte, without a second index: every line must still sit where the
   * index has it (else false: the caller rebuilds), and its columns and the aggregates are written again in place,
   * so an edit that kept the line's length is shown as it now reads. Entries appended meanwhile are added after.
   */
  async recheck(): Promise<boolean> {
    const checker = new AuditChainChecker(this.key);
    const aggs = newAggregates();
    let i = 0;
    const upTo = this.indexed;
    const done = await this.scan(0, (line, offset, length) => {
      if (offset >= upTo) return false;
      if (i >= this.count || this.offsets[i] !== offset || this.lengths[i] !== length) return (i = -1), false;
      this.record(i++, line, offset, length, checker, aggs);
      return true;
    }, upTo);
    if (i !== this.count || done.end !== upTo) return false;
    this.checker = checker;
    this.aggs = aggs;
    await this.catchUp();
    return true;
  }

  /** Whether the last indexed line is still where, and what, it was (checked before reading appends). */
  tailIntact(): boolean {
    if (this.count === 0 || this.tailHash === undefined) return true;
    const i = this.count - 1;
    try {
      const fd = fs.openSync(this.file, 'r');
      try {
        const buf = Buffer.alloc(this.lengths[i]! + 1);
        const n = fs.readSync(fd, buf, 0, buf.length, this.offsets[i]!);
        return n === buf.length && sha256Hex(buf) === this.tailHash;
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return false;
    }
  }

  /** Complete lines from `from` on (up to `until`), to `each` until it returns false. */
  private async scan(from: number, each: (line: string, offset: number, length: number) => boolean, until = Infinity): Promise<{ end: number; size: number }> {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { end: from, size: 0 };
      throw e;
    }
    let pos = from;
    try {
      const size = fs.fstatSync(fd).size;
      const limit = Math.min(size, until);
      const buf = Buffer.allocUnsafe(CHUNK);
      let carry: Buffer | undefined;
      while (pos < limit) {
        const want = Math.min(CHUNK, limit - pos - (carry?.length ?? 0));
        if (want <= 0) break;
        const n = fs.readSync(fd, buf, 0, want, pos + (carry?.length ?? 0));
        if (n <= 0) break;
        const data: Buffer = carry ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
        let start = 0;
        for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
          if (!each(data.toString('utf8', start, nl), pos, nl - start)) return { end: pos, size };
          pos += nl - start + 1;
          start = nl + 1;
        }
        // A line not yet complete (being written, or longer than a chunk) is read again with the next chunk.
        carry = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
        if (carry && carry.length >= 16 * CHUNK) {
          // No entry is that long: count it as unparsable and move on rather than grow without bound.
          this.aggs.unparsable++;
          pos += carry.length;
          carry = undefined;
        }
        await new Promise((r) => setImmediate(r));
      }
      return { end: pos, size };
    } finally {
      fs.closeSync(fd);
    }
  }

  private record(i: number, line: string, offset: number, length: number, checker: AuditChainChecker, aggs: Aggregates): void {
    let e = checker.next(line) as Entry | undefined;
    if (!e) {
      try {
        e = JSON.parse(line) as Entry;
      } catch {
        e = undefined;
      }
    }
    this.offsets[i] = offset;
    this.lengths[i] = length;
    if (!e || typeof e !== 'object') {
      aggs.unparsable++;
      this.times[i] = NaN;
      this.tokenCol[i] = this.keyCol[i] = this.addrCol[i] = this.opCol[i] = this.contractCol[i] = this.resultCol[i] = this.statusCol[i] = 0;
      return;
    }
    const ts = Date.parse(String(e.ts));
    const what = (e.what ?? {}) as Record<string, unknown>;
    const token = e.who?.token;
    this.times[i] = ts;
    this.tokenCol[i] = this.tokens.code(token);
    this.keyCol[i] = this.keys.code(what.key);
    this.addrCol[i] = this.keys.code(what.address);
    this.opCol[i] = this.ops.code(what.op);
    this.contractCol[i] = this.contracts.code(what.contract);
    this.resultCol[i] = this.results.code(e.result);
    this.statusCol[i] = typeof e.status === 'number' && e.status > 0 && e.status < 1000 ? e.status : 0;
    if (this.statusCol[i]! >= 400) aggs.statusTotals.set(this.statusCol[i]!, (aggs.statusTotals.get(this.statusCol[i]!) ?? 0) + 1);
    const op = String(what.op ?? '');
    if (typeof token === 'string') {
      let t = aggs.tokenStats.get(token);
      if (!t) aggs.tokenStats.set(token, (t = { requests: 0, refusals: 0, last: 0 }));
      t.requests++;
      if (REFUSED.has(String(e.result))) t.refusals++;
      if (ts > t.last) t.last = ts;
    }
    if (e.result === 'ok' && SIGNING_OPS.has(op) && typeof what.key === 'string') {
      let k = aggs.keyStats.get(what.key);
      if (!k) aggs.keyStats.set(what.key, (k = { total: 0, byDay: new Map(), last: 0 }));
      k.total++;
      const day = String(e.ts).slice(0, 10);
      k.byDay.set(day, (k.byDay.get(day) ?? 0) + 1);
      if (ts >= k.last) {
        k.last = ts;
        if (typeof what.backend === 'string') k.backend = what.backend;
      }
      if (op === 'claim' && typeof what.contract === 'string' && typeof what.nonce === 'string' && /^[0-9]{1,20}$/.test(what.nonce)) {
        const id = `${what.contract}/${what.key}`;
        let c = aggs.contractKeys.get(id);
        if (!c) aggs.contractKeys.set(id, (c = { contract: what.contract, key: what.key, lastNonce: 0n, claims: 0, last: 0 }));
        const nonce = BigInt(what.nonce);
        if (nonce > c.lastNonce) c.lastNonce = nonce;
        c.claims++;
        if (ts > c.last) c.last = ts;
      }
    }
  }

  private ensure(n: number): void {
    if (n <= this.offsets.length) return;
    this.offsets = grow(this.offsets, n);
    this.lengths = grow(this.lengths, n);
    this.times = grow(this.times, n);
    this.tokenCol = grow(this.tokenCol, n);
    this.keyCol = grow(this.keyCol, n);
    this.addrCol = grow(this.addrCol, n);
    this.opCol = grow(this.opCol, n);
    this.contractCol = grow(this.contractCol, n);
    this.resultCol = grow(this.resultCol, n);
    this.statusCol = grow(this.statusCol, n);
  }

  integrity(indexing: boolean): Integrity {
    const notes: string[] = [];
    let { problem, brokenAt } = this.checker;
    if (!this.key) notes.push('no audit key: MACs not checked, so a forged append with a valid chain would go unseen');
    if (this.aggs.unparsable && !problem) problem = `${this.aggs.unparsable} line(s) could not be read`;
    if (!problem) {
      const head = readHeadFile(this.file);
      if (head === 'missing') notes.push('no head file: truncation of whole trailing entries cannot be detected');
      else if (head === 'unreadable') notes.push('head file unreadable');
      else if (!indexing && head.seq > this.checker.entries && this.indexed >= this.fileSize) {
        problem = `truncated: the head records ${head.seq} entries but the log has ${this.checker.entries}`;
        brokenAt = this.checker.entries + 1;
      }
    }
    return {
      ok: problem === undefined,
      verifiedThrough: this.checker.entries,
      checkedAt: this.checkedAt,
      brokenAt,
      problem,
      notes,
      indexing,
      indexedBytes: this.indexed,
      fileBytes: this.fileSize,
    };
  }

  /** Entry positions matching the filter, newest first: one page of them and how many there are in all. */
  async query(f: AuditFilter, offset: number, limit: number, pause: Pause = NO_PAUSE): Promise<{ total: number; rows: number[] }> {
    const rows: number[] = [];
    let total = 0;
    for await (const run of this.matches(f, pause, SCAN_STEP)) {
      for (const i of run) if (total++ >= offset && rows.length < limit) rows.push(i);
    }
    return { total, rows };
  }

  /**
   * Every matching position, newest first, in runs of at most `runLength`. `pause` is awaited every SCAN_STEP
   * entries scanned and after each run (the caller's work on it counts too), so that a long scan lets other
   * requests in. Entries appended meanwhile are not included: the scan starts from the count at the call.
   */
  async *matches(f: AuditFilter, pause: Pause = NO_PAUSE, runLength = 200): AsyncGenerator<number[]> {
    const match = this.matcher(f);
    if (!match) return;
    let run: number[] = [];
    for (let i = this.count - 1; i >= 0; i--) {
      if (match(i) && run.push(i) >= runLength) {
        yield run;
        run = [];
        await pause();
      } else if (i % SCAN_STEP === 0) await pause();
    }
    if (run.length) yield run;
  }

  /** A predicate over positions; undefined when a named value never occurs (nothing can match). */
  private matcher(f: AuditFilter): ((i: number) => boolean) | undefined {
    const code = (d: Dictionary, v: string | undefined): number | undefined | null => (v === undefined ? null : d.find(v));
    const token = code(this.tokens, f.token);
    const key = code(this.keys, f.key);
    const op = code(this.ops, f.op);
    const contract = code(this.contracts, f.contract);
    const result = code(this.results, f.result);
    if (token === undefined || key === undefined || op === undefined || contract === undefined || result === undefined) return undefined;
    const from = f.from ?? -Infinity;
    const to = f.to ?? Infinity;
    const { times, tokenCol, keyCol, addrCol, opCol, contractCol, resultCol } = this;
    return (i) =>
      (token === null || tokenCol[i] === token) &&
      (key === null || keyCol[i] === key || addrCol[i] === key) &&
      (op === null || opCol[i] === op) &&
      (contract === null || contractCol[i] === contract) &&
      (result === null || resultCol[i] === result) &&
      (from === -Infinity || times[i]! >= from) &&
      (to === Infinity || times[i]! <= to);
  }

  /** The lines at these positions, read from the file (one read each). */
  read(rows: number[]): string[] {
    if (rows.length === 0) return [];
    const fd = fs.openSync(this.file, 'r');
    try {
      return rows.map((i) => {
        const buf = Buffer.allocUnsafe(this.lengths[i]!);
        fs.readSync(fd, buf, 0, buf.length, this.offsets[i]!);
        return buf.toString('utf8');
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Refusals by HTTP status since `since` (unix ms), scanning back from the newest entry. */
  statusesSince(since: number): Map<number, number> {
    const out = new Map<number, number>();
    for (let i = this.count - 1; i >= 0 && !(this.times[i]! < since); i--) {
      const s = this.statusCol[i]!;
      if (s >= 400) out.set(s, (out.get(s) ?? 0) + 1);
    }
    return out;
  }

  /** Distinct values seen, for the filter menus. */
  values(): { tokens: string[]; keys: string[]; ops: string[]; contracts: string[]; results: string[] } {
    const v = (d: Dictionary) => d.values.slice(1).sort();
    return { tokens: v(this.tokens), keys: v(this.keys), ops: v(this.ops), contracts: v(this.contracts), results: v(this.results) };
  }
}

interface Aggregates {
  keyStats: Map<string, KeyStats>;
  tokenStats: Map<string, TokenStats>;
  contractKeys: Map<string, ContractKeyStats>;
  statusTotals: Map<number, number>;
  unparsable: number;
}

function newAggregates(): Aggregates {
  return { keyStats: new Map(), tokenStats: new Map(), contractKeys: new Map(), statusTotals: new Map(), unparsable: 0 };
}

interface Entry {
  ts?: unknown;
  who?: { token?: string };
  what?: unknown;
  result?: unknown;
  status?: unknown;
}

/**
 * Follows the log: catches up with appends, and rebuilds the index from the start (re-checking every link) when
 * the file was changed other than by appending: it shrank, was replaced, or changed without growing.
 */
export class AuditFollower {
  index: AuditIndex;
  private last: { size: bigint; mtime: bigint; ino: bigint } | undefined;
  private running: Promise<void> | undefined;
  private lastFull = Date.now();

  constructor(
    private readonly file: string,
    private readonly key: Uint8Array | undefined,
    /** Redo the whole check this often even when the file only grew (an edit hidden behind appends). */
    private readonly fullCheckMs = 15 * 60_000,
  ) {
    this.index = new AuditIndex(file, key);
  }

  get indexing(): boolean {
    return this.running !== undefined;
  }

  /** Look at the file and catch up or rebuild; concurrent calls share one pass. */
  refresh(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(this.file, { bigint: true });
    } catch {
      return;
    }
    const prev = this.last;
    const now = { size: st.size, mtime: st.mtimeNs, ino: st.ino };
    // Not an append: another file, a shorter one, the same size with a new mtime, or a last line that moved or changed.
    const changedInPlace = prev && (now.ino !== prev.ino || now.size < prev.size || (now.size === prev.size && now.mtime !== prev.mtime) || (now.size > prev.size && !this.index.tailIntact()));
    const due = Date.now() - this.lastFull > this.fullCheckMs;
    this.last = now;
    if (changedInPlace || due) {
      this.lastFull = Date.now();
      // In place when every line is where it was; otherwise the old index goes first (one index in memory, never two).
      if (await this.index.recheck()) return;
      this.index = new AuditIndex(this.file, this.key);
      await this.index.catchUp();
      return;
    }
    if (!prev || now.size !== BigInt(this.index.indexedBytes)) await this.index.catchUp();
  }

  integrity(): Integrity {
    return this.index.integrity(this.indexing);
  }
}
