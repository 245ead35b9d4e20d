import * as fs from 'node:fs';
import { AuditChainChecker, headPathOf } from '../audit/index.js';

/**
 * A compact index of the audit log, built by reading it once from the start and then only what is appended: per
 * entry its byte offset and length, time, and small integer codes for the fields the console filters on. A page is
 * a scan of these columns (a few milliseconds for a million entries) and one read per shown entry; the log is
 * never read whole for a page. The same pass checks the hash chain and the MACs, so the integrity banner costs
 * nothing extra. About 40 bytes per entry: 40 MB for a million.
 */

export const SIGNING_OPS = new Set(['claim', 'arkcontract', 'raw']);
const REFUSED = new Set(['denied', 'unauthenticated', 'error']);
const CHUNK = 1 << 20;

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
  readonly keyStats = new Map<string, KeyStats>();
  readonly tokenStats = new Map<string, TokenStats>();
  readonly contractKeys = new Map<string, ContractKeyStats>();
  /** Entries by HTTP status, 400 and up. */
  readonly statusTotals = new Map<number, number>();
  private checker: AuditChainChecker;
  private indexed = 0;
  private fileSize = 0;
  private checkedAt = Date.now();
  private unparsable = 0;

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
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      this.fileSize = fs.fstatSync(fd).size;
      const buf = Buffer.allocUnsafe(CHUNK);
      let carry: Buffer | undefined;
      while (this.indexed < this.fileSize) {
        const want = Math.min(CHUNK, this.fileSize - this.indexed - (carry?.length ?? 0));
        if (want <= 0) break;
        const n = fs.readSync(fd, buf, 0, want, this.indexed + (carry?.length ?? 0));
        if (n <= 0) break;
        const data: Buffer = carry ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
        let start = 0;
        for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
          this.add(data.toString('utf8', start, nl), this.indexed, nl - start);
          this.indexed += nl - start + 1;
          start = nl + 1;
        }
        // A line not yet complete (being written, or longer than a chunk) is read again with the next chunk.
        carry = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
        if (carry && carry.length >= 16 * CHUNK) {
          // No entry is that long: count it as unparsable and move on rather than grow without bound.
          this.unparsable++;
          this.indexed += carry.length;
          carry = undefined;
        }
        await new Promise((r) => setImmediate(r));
      }
      this.checkedAt = Date.now();
    } finally {
      fs.closeSync(fd);
    }
  }

  private add(line: string, offset: number, length: number): void {
    let e = this.checker.next(line) as Entry | undefined;
    if (!e) {
      try {
        e = JSON.parse(line) as Entry;
      } catch {
        e = undefined;
      }
    }
    const i = this.count;
    this.ensure(i + 1);
    this.offsets[i] = offset;
    this.lengths[i] = length;
    if (!e || typeof e !== 'object') {
      this.unparsable++;
      this.times[i] = NaN;
      this.count++;
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
    this.statusCol[i] = typeof e.status === 'number' ? e.status : 0;
    if (this.statusCol[i]! >= 400) this.statusTotals.set(this.statusCol[i]!, (this.statusTotals.get(this.statusCol[i]!) ?? 0) + 1);
    this.count++;
    const op = String(what.op ?? '');
    if (typeof token === 'string') {
      let t = this.tokenStats.get(token);
      if (!t) this.tokenStats.set(token, (t = { requests: 0, refusals: 0, last: 0 }));
      t.requests++;
      if (REFUSED.has(String(e.result))) t.refusals++;
      if (ts > t.last) t.last = ts;
    }
    if (e.result === 'ok' && SIGNING_OPS.has(op) && typeof what.key === 'string') {
      let k = this.keyStats.get(what.key);
      if (!k) this.keyStats.set(what.key, (k = { total: 0, byDay: new Map(), last: 0 }));
      k.total++;
      const day = String(e.ts).slice(0, 10);
      k.byDay.set(day, (k.byDay.get(day) ?? 0) + 1);
      if (ts > k.last) k.last = ts;
      if (op === 'claim' && typeof what.contract === 'string' && typeof what.nonce === 'string' && /^[0-9]{1,20}$/.test(what.nonce)) {
        const id = `${what.contract}/${what.key}`;
        let c = this.contractKeys.get(id);
        if (!c) this.contractKeys.set(id, (c = { contract: what.contract, key: what.key, lastNonce: 0n, claims: 0, last: 0 }));
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
    if (this.unparsable && !problem) problem = `${this.unparsable} line(s) could not be read`;
    if (!problem) {
      const head = readHead(this.file);
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
  query(f: AuditFilter, offset: number, limit: number): { total: number; rows: number[] } {
    const match = this.matcher(f);
    if (!match) return { total: 0, rows: [] };
    const rows: number[] = [];
    let total = 0;
    for (let i = this.count - 1; i >= 0; i--) {
      if (!match(i)) continue;
      if (total >= offset && rows.length < limit) rows.push(i);
      total++;
    }
    return { total, rows };
  }

  /** Every matching position, newest first, in slices (for exports). */
  *matches(f: AuditFilter): Generator<number> {
    const match = this.matcher(f);
    if (!match) return;
    for (let i = this.count - 1; i >= 0; i--) if (match(i)) yield i;
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

interface Entry {
  ts?: unknown;
  who?: { token?: string };
  what?: unknown;
  result?: unknown;
  status?: unknown;
}

function readHead(file: string): { seq: number } | 'missing' | 'unreadable' {
  try {
    const h = JSON.parse(fs.readFileSync(headPathOf(file), 'utf8')) as { seq?: unknown };
    return typeof h.seq === 'number' ? { seq: h.seq } : 'unreadable';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
}

/**
 * Follows the log: catches up with appends, and rebuilds the index from the start (re-checking every link) when
 * the file was changed other than by appending: it shrank, was replaced, or changed without growing.
 */
export class AuditFollower {
  index: AuditIndex;
  private building: AuditIndex | undefined;
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
    const changedInPlace = prev && (now.ino !== prev.ino || now.size < prev.size || (now.size === prev.size && now.mtime !== prev.mtime));
    const due = Date.now() - this.lastFull > this.fullCheckMs;
    this.last = now;
    if (changedInPlace || due) {
      this.building = new AuditIndex(this.file, this.key);
      await this.building.catchUp();
      this.index = this.building;
      this.building = undefined;
      this.lastFull = Date.now();
      return;
    }
    if (!prev || now.size !== BigInt(this.index.indexedBytes)) await this.index.catchUp();
  }

  integrity(): Integrity {
    return this.index.integrity(this.indexing);
  }
}
