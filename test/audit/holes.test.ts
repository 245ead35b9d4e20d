import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fsModule from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { createHmac } from 'node:crypto';
import { AuditLog, verifyAuditLog, keyPathOf, headPathOf, sha256Hex, type AuditInput, type AuditOpenOptions } from '../../src/audit/index.js';
import { setLogSink } from '../../src/log.js';
import { requireComponent, tempDir } from '../helpers.js';

/**
 * The audit log must never lose a signature (issue 13, items 4–6; issue 17, item 6): short writes, a log deleted
 * or replaced under a running writer, truncation or rollback found at start, and appends that resolve only after
 * fdatasync on the log's own descriptor.
 */
const entry = (i: number): AuditInput => ({ who: { transport: 'unix', token: 'app' }, what: { op: 'claim', key: 'arkeo1xyz', contract: '7', nonce: String(i), msg_sha256: sha256Hex(`7:${i}:`) }, result: 'ok', status: 200 });
const keyOf = (file: string) => new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file), 'utf8').trim(), 'hex'));
const lines = (f: string) => fs.readFileSync(f, 'utf8').split('\n').slice(0, -1);
const tick = () => new Promise((r) => setImmediate(r));

async function logWith(n: number): Promise<string> {
  const file = path.join(tempDir(), 'audit.log');
  const audit = await AuditLog.open(file);
  for (let i = 1; i <= n; i++) await audit.append(entry(i));
  await audit.close();
  return file;
}

function quietly<T>(fn: () => Promise<T>): Promise<T> {
  setLogSink(() => {});
  return fn().finally(() => setLogSink((l) => process.stderr.write(l + '\n')));
}

// Guards the bug where fs.writeSync's short count was ignored: the batch was fsynced and released with its last
// line torn, and a restart cut that line off as "recovered", so the released signature had no entry.
test('a short write (a full disk) releases nothing, leaves no partial entry and fails closed', { timeout: 30_000 }, async () => {
  const file = await logWith(3);
  const audit = await AuditLog.open(file);
  const real = audit.io.write;
  audit.io.write = (fd, text) => fs.writeSync(fd, text.slice(0, 37)); // what write(2) does when the disk fills
  const results = await Promise.allSettled([audit.append(entry(4)), audit.append(entry(5))]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected'], 'nothing in the batch is released');
  assert.match(String((results[0] as PromiseRejectedResult).reason.message), /short write: 37 of \d+ bytes \(disk full\?\); refusing to sign/);
  assert.equal(audit.healthy, false);
  audit.io.write = real;
  await assert.rejects(audit.append(entry(6)), /refusing to sign/, 'stays failed until restart');
  await audit.close();
  assert.equal(lines(file).length, 3, 'the partial batch was cut back to the 3 durable entries');
  assert.ok(fs.readFileSync(file, 'utf8').endsWith('\n'));
  assert.equal(verifyAuditLog(file, keyOf(file)).ok, true);
});

test('on a real full disk (a small tmpfs) every released append is whole in the log', { timeout: 60_000 }, async (t) => {
  if (!requireComponent(t, process.getuid?.() === 0, 'root, to mount a small tmpfs')) return;
  const mnt = tempDir('arkeo-tmpfs-');
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt], { timeout: 10_000 });
  } catch {
    if (!requireComponent(t, false, 'mount -t tmpfs (refused here)')) return;
  }
  try {
    const file = path.join(mnt, 'audit.log');
    const audit = await AuditLog.open(file);
    const released: number[] = [];
    let failed = 0;
    // Batches of 8 until the disk is full; each batch is one write.
    for (let i = 1; failed === 0 && i < 5000; i += 8) {
      const batch = Array.from({ length: 8 }, (_, j) => audit.append(entry(i + j)).then(() => void released.push(i + j), () => void failed++));
      await Promise.all(batch);
    }
    assert.ok(failed > 0, 'the disk filled');
    assert.equal(audit.healthy, false);
    await audit.close().catch(() => {});
    const inLog = new Set(lines(file).map((l) => JSON.parse(l).what.nonce as string));
    for (const n of released) assert.ok(inLog.has(String(n)), `entry ${n} was released but is not whole in the log`);
    assert.ok(fs.readFileSync(file, 'utf8').endsWith('\n'), 'no torn line left behind');
    assert.equal(verifyAuditLog(file, keyOf(file)).ok, true);
  } finally {
    execFileSync('umount', ['-l', mnt], { timeout: 10_000 });
  }
});

// Guards the bug where deleting audit.log under a running daemon went unnoticed and later entries were lost.
test('a log deleted or replaced while open fails closed', { timeout: 30_000 }, async () => {
  for (const how of ['delete', 'replace'] as const) {
    const file = await logWith(2);
    const audit = await AuditLog.open(file);
    await audit.append(entry(3));
    assert.equal(audit.checkFile(), undefined);
    if (how === 'delete') fs.rmSync(file);
    else {
      fs.writeFileSync(file + '.new', '');
      fs.renameSync(file + '.new', file);
    }
    await assert.rejects(audit.append(entry(4)), how === 'delete' ? /deleted while open/ : /leads to another file/);
    assert.equal(audit.healthy, false);
    assert.match(audit.checkFile() ?? '', /restart the daemon/);
    await audit.close();
  }
});

// Guards the bug where AuditLog.open never read the head, so a truncated or rolled-back log was continued and its
// head overwritten, erasing the evidence.
test('at start the tail is checked against the head: truncation, rollback, an edited tail, a removed head', { timeout: 30_000 }, async () => {
  const cases: [string, (file: string) => void, RegExp][] = [
    ['truncated by whole entries', (f) => fs.writeFileSync(f, lines(f).slice(0, 4).map((l) => l + '\n').join('')), /the head records 6 entries but the log ends at entry 4/],
    ['rolled back to an older copy, then one entry forged with the key', (f) => {
      const old = lines(f).slice(0, 5);
      // Same length as before, so only the head's hash tells: entry 6 differs from the one the head recorded.
      const body = `{"seq":6,"ts":"2026-01-01T00:00:00.000Z","prev":"${sha256Hex(old[4]!)}","who":{"transport":"local"},"what":{"op":"x"},"result":"ok"`;
      const mac = createHmac('sha256', keyOf(f)).update(body).digest('hex');
      fs.writeFileSync(f, [...old, `${body},"mac":"${mac}"}`].map((l) => l + '\n').join(''));
    }, /entry 6 does not match the head's hash/],
    ['last entry edited', (f) => fs.writeFileSync(f, lines(f).map((l, i) => (i === 5 ? l.replace('"nonce":"6"', '"nonce":"9"') : l) + '\n').join('')), /entry 6 has a bad MAC/],
    ['head removed', (f) => fs.rmSync(headPathOf(f)), /head file .* is missing/],
    ['head garbled', (f) => fs.writeFileSync(headPathOf(f), 'not json'), /head file .* is unreadable/],
  ];
  for (const [name, damage, expected] of cases) {
    const file = await logWith(6);
    damage(file);
    const before = fs.readFileSync(file);
    const err = await AuditLog.open(file).then(() => undefined, (e: Error & { code?: string }) => e);
    assert.ok(err, `${name}: refused`);
    assert.equal(err.code, 'AUDIT_MISMATCH', name);
    assert.match(err.message, expected, name);
    assert.match(err.message, /arkeo-signer audit verify .*--accept-audit-log/, `${name}: says how to inspect and accept`);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.deepEqual(fs.readFileSync(file), before, `${name}: the evidence is left as it was`);
    // Accepting is explicit and leaves a record.
    const audit = await quietly(() => AuditLog.open(file, { acceptMismatch: true }));
    await audit.append(entry(100));
    await audit.close();
    const accepted = lines(file).map((l) => JSON.parse(l)).find((e) => e.what.op === 'audit-accept');
    assert.ok(accepted, `${name}: the acceptance is in the log`);
    assert.match(accepted.reason, /operator accepted/);
    await (await AuditLog.open(file)).close(); // and from then on it opens normally
  }
});

test('entries written after the head (a crash before the head caught up) chain onto it and are accepted', { timeout: 30_000 }, async () => {
  const file = await logWith(6);
  const ls = lines(file);
  fs.writeFileSync(headPathOf(file), `{"seq":4,"hash":"${sha256Hex(ls[3]!)}"}`.padEnd(127) + '\n');
  await (await AuditLog.open(file)).close();
  // …but not when they do not chain onto the head's entry.
  fs.writeFileSync(headPathOf(file), `{"seq":4,"hash":"${sha256Hex(ls[3]!)}"}`.padEnd(127) + '\n');
  fs.writeFileSync(file, [...ls.slice(0, 4), ls[5]!].map((l) => l + '\n').join(''));
  await assert.rejects(AuditLog.open(file), /does not chain onto it/);
});

test('--verify-audit (verifyChain) finds an edit far from the tail that the start-up tail check does not read', { timeout: 30_000 }, async () => {
  const file = await logWith(6);
  fs.writeFileSync(file, lines(file).map((l, i) => (i === 1 ? l.replace('"nonce":"2"', '"nonce":"8"') : l) + '\n').join(''));
  await (await AuditLog.open(file)).close();
  await assert.rejects(AuditLog.open(file, { verifyChain: true }), /line 2: MAC mismatch/);
});

// Guards against durability switched off unnoticed: an append must not resolve before fdatasync on the log's
// own descriptor has completed. The spy sits on the fs binding itself, under the AuditLog.io seam, so replacing
// io.sync with an immediate callback is caught too.
test('an append resolves only after fdatasync of the log file has completed', { timeout: 30_000 }, async () => {
  const file = await logWith(1);
  const audit = await AuditLog.open(file);
  const original = fsModule.fdatasync;
  const held: (() => void)[] = [];
  const synced: number[] = [];
  fsModule.fdatasync = ((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => {
    synced.push(fs.fstatSync(fd).ino);
    held.push(() => original(fd, cb));
  }) as typeof fs.fdatasync;
  syncBuiltinESMExports();
  try {
    let resolved = false;
    const p = audit.append(entry(2)).then(() => void (resolved = true));
    for (let i = 0; i < 20; i++) await tick();
    assert.equal(resolved, false, 'not released before the sync completed');
    assert.deepEqual(synced, [fs.statSync(file).ino], 'fdatasync was called on the log file');
    held.shift()!();
    await p;
    assert.equal(resolved, true);
  } finally {
    fsModule.fdatasync = original;
    syncBuiltinESMExports();
    await audit.close();
  }
});

/**
 * A simulated power cut: writes are recorded and only what a completed fdatasync covered is sure to survive; of
 * the rest any prefix may survive (the page cache flushes on its own), and the head file may be any version
 * written so far. At random points the "disk" is rebuilt that way and reopened: it must open (repairing a torn
 * line) and hold every entry that was released before the cut. What this covers: the audit log's own ordering of
 * write, sync and release. What it does not: the file system's and the device's keeping of fdatasync's promise.
 */
test('power-cut simulation: every entry released before the cut survives it, and the log reopens', { timeout: 60_000 }, async () => {
  for (let round = 0; round < 25; round++) {
    const file = path.join(tempDir(), 'audit.log');
    const audit = await AuditLog.open(file);
    let written = Buffer.alloc(0);
    let durable = 0;
    const heads: string[] = [fs.readFileSync(headPathOf(file), 'utf8')];
    audit.io.write = (fd, text) => {
      const n = fs.writeSync(fd, text);
      written = Buffer.concat([written, Buffer.from(text)]);
      return n;
    };
    audit.io.sync = (fd, done) => {
      const covers = written.length;
      fs.fdatasync(fd, (err) => {
        if (!err) durable = Math.max(durable, covers);
        heads.push(fs.readFileSync(headPathOf(file), 'utf8'));
        done(err);
      });
    };
    const released: number[] = [];
    const cutAfter = 5 + Math.floor(Math.random() * 60);
    const pending: Promise<void>[] = [];
    for (let i = 1; i <= cutAfter; i++) {
      pending.push(audit.append(entry(i)).then(() => void released.push(i)));
      if (Math.random() < 0.3) await tick();
    }
    // The cut: take the disk as it would be now.
    const survivors = released.slice();
    const keep = durable + Math.floor(Math.random() * (written.length - durable + 1));
    const image = path.join(tempDir(), 'audit.log');
    fs.copyFileSync(keyPathOf(file), keyPathOf(image));
    fs.writeFileSync(image, fs.readFileSync(file).subarray(0, keep));
    fs.writeFileSync(headPathOf(image), heads[Math.floor(Math.random() * heads.length)]!);
    await Promise.allSettled(pending);
    await audit.close();

    const reopened = await quietly(() => AuditLog.open(image));
    await reopened.close();
    const inLog = new Set(lines(image).map((l) => JSON.parse(l).what.nonce as string));
    for (const n of survivors) assert.ok(inLog.has(String(n)), `round ${round}: entry ${n} was released before the cut but is gone`);
    assert.equal(verifyAuditLog(image, keyOf(image)).ok, true, `round ${round}`);
  }
});

// Guards the review finding where a late fdatasync error (after a later sync had released both batches) cut the
// log back below the released entries: evidence of released signatures lost, and the next start refused.
test('a sync that fails after a later one released its batch fails the log but keeps every released entry', { timeout: 30_000 }, async () => {
  const file = await logWith(1);
  const audit = await AuditLog.open(file);
  const syncs: ((err: NodeJS.ErrnoException | null) => void)[] = [];
  audit.io.sync = (_fd, done) => void syncs.push(done);
  const a = audit.append(entry(2));
  await tick();
  const b = audit.append(entry(3));
  await tick();
  assert.equal(syncs.length, 2);
  fs.fdatasyncSync(fs.openSync(file, 'r')); // the data really is on disk before the second sync reports success
  syncs[1]!(null);
  await Promise.all([a, b]);
  syncs[0]!(Object.assign(new Error('EIO'), { code: 'EIO' }));
  assert.equal(audit.healthy, false);
  await assert.rejects(audit.append(entry(4)), /refusing to sign/);
  await audit.close();
  assert.deepEqual(lines(file).map((l) => JSON.parse(l).what.nonce), ['1', '2', '3'], 'the released entries stay');
  await (await AuditLog.open(file)).close(); // and the log still matches its head
});

// Guards the review finding where a health check that found the log deleted set the failure without rejecting
// the appends waiting for their sync: those requests hung for ever.
test('a health check that finds the log deleted rejects the appends waiting for a sync, instead of leaving them hanging', { timeout: 30_000 }, async () => {
  const file = await logWith(1);
  const audit = await AuditLog.open(file);
  const syncs: ((err: NodeJS.ErrnoException | null) => void)[] = [];
  audit.io.sync = (_fd, done) => void syncs.push(done);
  const waiting = audit.append(entry(2));
  await tick();
  fs.rmSync(file);
  assert.match(audit.checkFile() ?? '', /deleted while open/);
  await assert.rejects(waiting, /refusing to sign/);
  syncs[0]!(null); // a late success changes nothing
  await audit.close();
  await assert.rejects(audit.append(entry(3)), /closed|refusing/, 'and nothing is appended after close');
});

// Guards the review finding where --verify-audit refused an ordinary crash's torn last line before repairing it.
test('--verify-audit accepts a torn last line from a crash (it is repaired first)', { timeout: 30_000 }, async () => {
  const file = await logWith(3);
  fs.appendFileSync(file, '{"seq":4,"ts":"2026-');
  const audit = await quietly(() => AuditLog.open(file, { verifyChain: true }));
  await audit.close();
  assert.equal(verifyAuditLog(file, keyOf(file)).ok, true);
});

/** The log's lines with a byte range [from, to) of the file replaced by NUL bytes (a power cut's unwritten blocks). */
function zeroed(file: string, from: number, to: number): void {
  const bytes = fs.readFileSync(file);
  bytes.fill(0, from, to);
  fs.writeFileSync(file, bytes);
}
const offsetOfLine = (file: string, n: number) => lines(file).slice(0, n).reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0);
const setHead = (file: string, seq: number) => fs.writeFileSync(headPathOf(file), `{"seq":${seq},"hash":"${seq ? sha256Hex(lines(file)[seq - 1]!) : '0'.repeat(64)}"}`.padEnd(127) + '\n');

async function openCapturing(file: string): Promise<{ warnings: string[] }> {
  const warnings: string[] = [];
  setLogSink((l) => warnings.push(l));
  try {
    await (await AuditLog.open(file)).close();
  } finally {
    setLogSink((l) => process.stderr.write(l + '\n'));
  }
  return { warnings };
}

// Guards the review finding about power cuts on ext4/xfs: the file's new size reached the disk but its data did
// not, so the log ends in NUL bytes after its last complete entry, beyond what the head records as written. That
// is a torn write, not tampering: the zeros are cut, the repair is reported and recorded, and start proceeds.
test('a zero-filled tail after a power cut (beyond the head) is cut like a torn line, recorded, and start proceeds', { timeout: 30_000 }, async () => {
  const cases: [string, number, (file: string) => void][] = [
    ['entries after the head zero-filled', 4, (f) => zeroed(f, offsetOfLine(f, 4), fs.statSync(f).size)],
    ['NUL bytes appended after the last entry', 6, (f) => fs.appendFileSync(f, Buffer.alloc(4096))],
    ['a torn line, then zeros', 5, (f) => zeroed(f, offsetOfLine(f, 5) + 40, fs.statSync(f).size)],
    ['a young log whose head never moved past 0, all zeros', 0, (f) => zeroed(f, 0, fs.statSync(f).size)],
  ];
  for (const [name, head, damage] of cases) {
    const file = await logWith(6);
    const kept = lines(file).slice(0, head);
    setHead(file, head);
    damage(file);
    const { warnings } = await openCapturing(file);
    assert.match(warnings.join('\n'), /zero-filled tail \(\d+ NUL bytes after entry \d+.*\) removed/, `${name}: reported`);
    const bytes = fs.readFileSync(file);
    assert.equal(bytes.indexOf(0), -1, `${name}: no NUL byte left`);
    const after = lines(file);
    assert.deepEqual(after.slice(0, head), kept, `${name}: every entry up to the head kept`);
    const repair = JSON.parse(after.at(-1)!);
    assert.equal(repair.what.op, 'audit-repair', name);
    assert.equal(repair.result, 'recovered', name);
    assert.match(repair.reason, /zero-filled tail of \d+ bytes removed/, `${name}: recorded in the log`);
    assert.equal(verifyAuditLog(file, keyOf(file)).ok, true, name);
  }
});

// …but NUL bytes where the head says entries were written (they were synced: that is not a power cut's torn
// write), or NUL bytes followed by more data, are damage: start is refused as for any mismatch, and nothing is cut.
test('NUL bytes inside the durable chain or followed by more data refuse start, leaving the file as it was', { timeout: 30_000 }, async () => {
  const cases: [string, (file: string) => void, RegExp, AuditOpenOptions?][] = [
    ['entries the head records as written are zeros', (f) => zeroed(f, offsetOfLine(f, 4), fs.statSync(f).size), /the head records 6 entries but the log ends at entry 4 \(then \d+ NUL bytes\)/],
    ['a torn line below the head', (f) => fs.truncateSync(f, offsetOfLine(f, 5) + 30), /the head records 6 entries but the log ends at entry 5 \(then a torn line of 30 bytes\)/],
    ['zeros, then part of an entry', (f) => {
      const [from, to] = [offsetOfLine(f, 4), offsetOfLine(f, 5)];
      setHead(f, 4);
      zeroed(f, from, to);
      fs.truncateSync(f, to + 30);
    }, /NUL bytes followed by other data/],
    ['zeros, then a whole entry', (f) => (setHead(f, 4), zeroed(f, offsetOfLine(f, 4), offsetOfLine(f, 5))), /an entry near the end is not an audit entry/],
    ['zeros inside the chain, found by --verify-audit', (f) => zeroed(f, offsetOfLine(f, 1), offsetOfLine(f, 2) - 1), /line 2: not a JSON entry/, { verifyChain: true }],
  ];
  for (const [name, damage, expected, options] of cases) {
    const file = await logWith(6);
    damage(file);
    const before = fs.readFileSync(file);
    const err = await AuditLog.open(file, options).then(() => undefined, (e: Error & { code?: string }) => e);
    assert.ok(err, `${name}: refused`);
    assert.equal(err.code, 'AUDIT_MISMATCH', name);
    assert.match(err.message, expected, name);
    assert.ok(!err.message.includes('\n'), `${name}: one line`);
    assert.deepEqual(fs.readFileSync(file), before, `${name}: nothing was cut`);
    // Accepting is explicit and recorded; from then on the log opens normally.
    const audit = await quietly(() => AuditLog.open(file, { ...options, acceptMismatch: true }));
    await audit.close();
    assert.ok(lines(file).some((l) => l.includes('"op":"audit-accept"')), `${name}: the acceptance is in the log`);
    await (await AuditLog.open(file)).close();
  }
});
