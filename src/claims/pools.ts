import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { ensurePrivateDir, readPrivateFile, writeFileAtomic } from '../fsutil.js';

/**
 * A pool: contracts with one provider and service, each paid by its own delegate key, used as one. A sentinel
 * serves one request per contract at a time in nonce order, so N contracts carry N requests at once; the proxy and
 * curl spread requests over the pool (`--contract pool:NAME`), each contract still strictly in order.
 * Kept as <home>/signer/pools/NAME.json.
 */
export interface PoolMember {
  contractId: bigint;
  /** The keyring name of the delegate key that signs this contract's claims. */
  key: string;
}

export interface Pool {
  name: string;
  provider: string;
  service: string;
  members: PoolMember[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_POOL_FILE = 1024 * 1024;

/** The name, if it can name a pool file; else a one-line error. */
export function checkPoolName(name: string): string {
  if (!NAME.test(name)) throw new InputError('BAD_POOL_NAME', `pool name "${name.slice(0, 70)}": use letters, digits, '.', '_' and '-' (at most 64)`);
  return name;
}

export function poolFile(home: string, name: string): string {
  return path.join(home, 'signer', 'pools', `${checkPoolName(name)}.json`);
}

export function writePool(home: string, pool: Pool): string {
  const file = poolFile(home, pool.name);
  ensurePrivateDir(path.dirname(file));
  const json = { name: pool.name, provider: pool.provider, service: pool.service, members: pool.members.map((m) => ({ contract_id: String(m.contractId), key: m.key })) };
  writeFileAtomic(file, JSON.stringify(json, null, 2) + '\n');
  return file;
}

export function readPool(home: string, name: string): Pool {
  const file = poolFile(home, name);
  const raw = readPrivateFile(file, MAX_POOL_FILE);
  if (!raw) throw new InputError('POOL_NOT_FOUND', `pool ${name}: no ${file}; create it with \`arkeo-signer contract open --delegates N --pool ${name} …\``);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new InputError('BAD_POOL', `${file}: not JSON; a pool file is written by \`arkeo-signer contract open --delegates N --pool ${name} …\``);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InputError('BAD_POOL', `${file}: expected a JSON object with provider, service and members`);
  const members = o.members;
  if (typeof o.provider !== 'string' || typeof o.service !== 'string' || !Array.isArray(members) || members.length === 0) throw new InputError('BAD_POOL', `${file}: expected provider, service and a non-empty members list`);
  const seen = new Set<bigint>();
  return {
    name,
    provider: o.provider,
    service: o.service,
    members: members.map((m: unknown, i: number) => {
      const r = m as Record<string, unknown>;
      if (typeof r?.contract_id !== 'string' || !/^[1-9][0-9]{0,19}$/.test(r.contract_id) || typeof r.key !== 'string' || r.key === '') throw new InputError('BAD_POOL', `${file}: members[${i}] needs a contract_id and a key`);
      const contractId = BigInt(r.contract_id);
      // Two members on one contract would each keep a request in flight on it: arrivals could swap (bad nonce).
      if (seen.has(contractId)) throw new InputError('BAD_POOL', `${file}: contract ${contractId} is listed twice; each contract is one member`);
      seen.add(contractId);
      return { contractId, key: r.key };
    }),
  };
}

/** A member a process took for itself (`release` when done), or shares because every member was busy. */
export interface HeldMember {
  member: PoolMember;
  /** False: every member was in use by another process; this one is shared (the sentinel may refuse a claim as out of order, and a resync follows). */
  idle: boolean;
  release(): void;
}

/**
 * A member for one request from a process of its own (`curl --contract pool:NAME`): one that no other live process
 * on this home holds (a file pools/NAME.busy/<contract> with its pid), taken in turn after the one taken last
 * (pools/NAME.next), so that requests of separate processes go to different contracts and the spend stays even.
 * Members in `skip` (tried and stopped) are passed over; undefined when none is left.
 */
export function holdMember(home: string, pool: Pool, skip: ReadonlySet<bigint> = new Set()): HeldMember | undefined {
  const dir = path.join(home, 'signer', 'pools');
  const busy = path.join(dir, `${checkPoolName(pool.name)}.busy`);
  const cursor = path.join(dir, `${pool.name}.next`);
  ensurePrivateDir(busy);
  const n = pool.members.length;
  const start = readCursor(cursor) % n;
  const order = Array.from({ length: n }, (_, k) => (start + k) % n).filter((i) => !skip.has(pool.members[i]!.contractId));
  if (order.length === 0) return undefined;
  // The turn moves on even when this process is refused every member: the next one starts elsewhere.
  const take = (i: number, idle: boolean, release: () => void): HeldMember => {
    writeCursor(cursor, (i + 1) % n);
    return { member: pool.members[i]!, idle, release };
  };
  for (const i of order) {
    const lock = path.join(busy, String(pool.members[i]!.contractId));
    if (tryLock(lock)) {
      let held = true;
      return take(i, true, () => {
        if (held) fs.rmSync(lock, { force: true });
        held = false;
      });
    }
  }
  return take(order[0]!, false, () => {});
}

/** A small file's text, or '' when it is missing or unreadable (these files only steer; none is authoritative). */
function smallText(file: string): string {
  try {
    return readPrivateFile(file, 32)?.toString('utf8').trim() ?? '';
  } catch {
    return '';
  }
}

function readCursor(file: string): number {
  const raw = smallText(file);
  return /^[0-9]{1,6}$/.test(raw) ? Number(raw) : 0;
}

function writeCursor(file: string, next: number): void {
  // Only spreads the load: a lost or torn write costs evenness, never correctness, so no fsync.
  fs.writeFileSync(file, `${next}\n`, { mode: 0o600 });
}

/** Create `file` holding our pid, unless a live process holds it; a file left by a process that died is taken over. */
function tryLock(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const text = smallText(file);
    // An empty file is one being written this instant by the process that just created it.
    if (text === '' && Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 5000) return false;
    if (alive(/^[0-9]{1,10}$/.test(text) ? Number(text) : NaN)) return false;
    fs.rmSync(file, { force: true });
  }
  return false;
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
