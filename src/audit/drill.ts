import * as fs from 'node:fs';
import * as path from 'node:path';
import { headPathOf, keyPathOf, sha256Hex } from './chain.js';
import { AuditLog, verifyAuditLog } from './log.js';
import { verifyAgainst } from './against.js';
import { AuditShipper, shipStatePathOf } from './ship/shipper.js';
import { startFileReceiver } from './ship/receiver.js';
import type { AuditShipConfig } from './ship/config.js';

/**
 * `audit drill`: the attacks the audit log guide names, each on its own scratch copy, and which check catches it:
 * `audit verify` (the chain, the MACs, the head), the daemon's start-up check, and `audit verify --against` the
 * copy shipped off the host. Nothing outside `dir` is touched; a log given with `from` is copied first.
 */
export interface DrillCheck {
  caught: boolean;
  /** What the check said, or why it cannot see the attack. */
  detail: string;
}

export interface DrillAttack {
  name: string;
  /** What was done to the copy. */
  done: string;
  local: DrillCheck;
  start: DrillCheck;
  remote: DrillCheck;
}

export interface DrillReport {
  dir: string;
  /** Entries in the log before the attacks, and how many of them the receiver got. */
  entries: number;
  shipped: number;
  attacks: DrillAttack[];
}

const SHIP: Omit<AuditShipConfig, 'address'> = { target: 'tcp', app_name: 'arkeo-signer-drill', facility: 'authpriv', queue_size: 10_000, interval_ms: 60_000 };

const drillEntry = (i: number) => ({ who: { transport: 'local' as const }, what: { op: 'drill', contract: '7', nonce: String(i) }, result: 'ok' as const, status: 200 });

const lines = (f: string) => fs.readFileSync(f, 'utf8').split('\n').slice(0, -1);
const writeLines = (f: string, ls: string[]) => fs.writeFileSync(f, ls.map((l) => l + '\n').join(''));

/** The log, its key and its head (not the shipper's record: each copy ships, or is checked, on its own). */
function copyLog(from: string, toDir: string): string {
  fs.mkdirSync(toDir, { recursive: true, mode: 0o700 });
  const to = path.join(toDir, 'audit.log');
  for (const [src, dst] of [[from, to], [keyPathOf(from), keyPathOf(to)], [headPathOf(from), headPathOf(to)]] as const) {
    if (fs.existsSync(src)) fs.copyFileSync(src, dst);
  }
  return to;
}

/** Ship `log` (opened) to a receiver writing `copy`, with `more` entries appended meanwhile; resolves when all is acknowledged. */
async function shipWhileWriting(file: string, copy: string, more: number, firstNonce: number): Promise<number> {
  const receiver = await startFileReceiver(copy);
  const audit = await AuditLog.open(file);
  const shipper = AuditShipper.open({ ...SHIP, address: `127.0.0.1:${receiver.port}` }, { file, durable: audit.durable });
  audit.onCommit = (ls, offset, seq, hash) => shipper.committed(ls, offset, seq, hash);
  try {
    for (let i = 0; i < more; i++) await audit.append(drillEntry(firstNonce + i));
    if (!(await shipper.delivered(audit.lastSeq, 20_000))) throw new Error(`the drill's own syslog receiver did not acknowledge the entries (${shipper.status().lastError ?? 'no error'})`);
  } finally {
    await shipper.close(5000);
    await audit.close();
    await receiver.close();
  }
  return audit.lastSeq;
}

function keyOf(file: string): Uint8Array {
  return new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file), 'utf8').trim(), 'hex'));
}

function localCheck(file: string, key: Uint8Array, whyMissed: string): DrillCheck {
  if (!fs.existsSync(file)) return { caught: true, detail: `${path.basename(file)}: no such audit log` };
  const r = verifyAuditLog(file, key);
  return r.ok ? { caught: false, detail: whyMissed } : { caught: true, detail: r.problem! };
}

/** What `daemon start` does with the log, on a copy of the copy (opening may append a repair entry). */
async function startCheck(file: string, dir: string, whyMissed: string): Promise<{ check: DrillCheck; opened: string }> {
  const copy = copyLog(file, dir);
  if (!fs.existsSync(file)) fs.rmSync(copy, { force: true });
  try {
    const audit = await AuditLog.open(copy);
    await audit.close();
    return { check: { caught: false, detail: whyMissed }, opened: copy };
  } catch (e) {
    // The first sentence, without the scratch path it names.
    return { check: { caught: true, detail: (e as Error).message.split('. ')[0]!.replace(`audit log ${copy}: `, '') }, opened: copy };
  }
}

function remoteCheck(file: string, copy: string, key: Uint8Array): DrillCheck {
  const r = verifyAgainst(file, copy, key);
  return r.partsAt !== undefined ? { caught: true, detail: r.problem! } : { caught: false, detail: 'the local log agrees with the shipped copy' };
}

export async function auditDrill(dir: string, from?: string): Promise<DrillReport> {
  const host = path.join(dir, 'host');
  let base: string;
  if (from) base = copyLog(from, host);
  else {
    base = path.join(host, 'audit.log');
    const audit = await AuditLog.open(base);
    for (let i = 1; i <= 8; i++) await audit.append(drillEntry(i));
    await audit.close();
  }
  // The attacker's copy, taken before the last entries were written (and shipped).
  const snapshot = copyLog(base, path.join(dir, 'snapshot'));
  const shipped = path.join(dir, 'shipped.log');
  const entries = await shipWhileWriting(base, shipped, 4, 1000);
  const key = keyOf(base);
  const all = lines(base);
  const mid = Math.max(1, Math.ceil(all.length / 2));
  const attacks: DrillAttack[] = [];
  const run = async (name: string, done: string, attack: (file: string) => Promise<void> | void, why: { local: string; start: string }) => {
    const n = attacks.length + 1;
    const file = copyLog(base, path.join(dir, `attack-${n}`));
    await attack(file);
    const local = localCheck(file, key, why.local);
    const { check: start, opened } = await startCheck(file, path.join(dir, `attack-${n}-start`), why.start);
    // A deleted log is checked as the daemon would have it after starting: a new, empty one.
    const remote = remoteCheck(fs.existsSync(file) ? file : opened, shipped, key);
    attacks.push({ name, done, local, start, remote });
  };

  await run('edit an entry', `entry ${mid}'s timestamp changed`, (f) => writeLines(f, lines(f).map((l, i) => (i === mid - 1 ? l.replace(/"ts":"(\d)/, (_, d) => `"ts":"${(Number(d) + 1) % 10}`) : l))), {
    local: 'the entry still parses',
    start: 'the start reads only the tail (daemon start --verify-audit reads every entry)',
  });
  await run('delete an entry', `entry ${mid} removed`, (f) => writeLines(f, lines(f).filter((_, i) => i !== mid - 1)), {
    local: 'the chain still links',
    start: 'the start reads only the tail, which is intact (daemon start --verify-audit reads every entry)',
  });
  await run('truncate', `the last 2 entries cut off, the head left as it was`, (f) => writeLines(f, lines(f).slice(0, -2)), {
    local: 'the head still names the last entry',
    start: 'the head still names the last entry',
  });
  await run('truncate the log and its head', `the last 2 entries cut off, the head moved back to match`, (f) => {
    const kept = lines(f).slice(0, -2);
    writeLines(f, kept);
    fs.writeFileSync(headPathOf(f), `{"seq":${kept.length},"hash":"${sha256Hex(kept.at(-1)!)}"}\n`);
  }, {
    local: 'every entry and the head are genuine and consistent: nothing on the host can tell',
    start: 'every entry and the head are genuine and consistent',
  });
  await run('rewind the log and its head', `both replaced by the copy taken at entry ${lines(snapshot).length}`, (f) => {
    fs.copyFileSync(snapshot, f);
    fs.copyFileSync(headPathOf(snapshot), headPathOf(f));
  }, {
    local: 'every entry and the head are genuine (an earlier state): nothing on the host can tell',
    start: 'every entry and the head are genuine (an earlier state)',
  });
  await run('delete the log and its head', 'both files removed (the key left)', (f) => {
    fs.rmSync(f);
    fs.rmSync(headPathOf(f));
  }, {
    local: '',
    start: 'a new, empty log is started',
  });

  // The realistic rewind: the log and head put back, and the daemon signing on, shipping its new entries.
  {
    const n = attacks.length + 1;
    const file = copyLog(base, path.join(dir, `attack-${n}`));
    fs.copyFileSync(snapshot, file);
    fs.copyFileSync(headPathOf(snapshot), headPathOf(file));
    const copy = path.join(dir, `attack-${n}-shipped.log`);
    fs.copyFileSync(shipped, copy);
    // Without the shipper's record (a copy never has one) the whole log is shipped again; with it, the entries after
    // the rewind: either way entries the copy already holds come back different.
    fs.rmSync(shipStatePathOf(file), { force: true });
    await shipWhileWriting(file, copy, 2, 2000);
    const local = localCheck(file, key, 'every entry and the head are genuine, and the new ones chain onto them');
    const { check: start } = await startCheck(file, path.join(dir, `attack-${n}-start`), 'every entry and the head are genuine, and the new ones chain onto them');
    const remote = remoteCheck(file, copy, key);
    attacks.push({ name: 'rewind, then keep signing', done: `log and head put back to entry ${lines(snapshot).length}, then 2 new entries written and shipped`, local, start, remote });
  }
  return { dir, entries, shipped: lines(shipped).length, attacks };
}
