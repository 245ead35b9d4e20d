import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuditLog, verifyAuditLog, keyPathOf, headPathOf, sha256Hex, type AuditInput } from '../../src/audit/index.js';
import { setLogSink } from '../../src/log.js';
import { BIN, run, tempDir } from '../helpers.js';

const entry = (i: number): AuditInput => ({ who: { transport: 'unix', token: 'app' }, what: { op: 'claim', key: 'arkeo1xyz', contract: '7', nonce: String(i), msg_sha256: sha256Hex(`7:${i}:`) }, result: 'ok', status: 200, latency_us: 100 + i });

async function freshLog(n = 6): Promise<{ file: string; key: Uint8Array }> {
  const file = path.join(tempDir(), 'audit.log');
  const audit = await AuditLog.open(file);
  await Promise.all(Array.from({ length: n }, (_, i) => audit.append(entry(i + 1))));
  await audit.close();
  return { file, key: new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file), 'utf8').trim(), 'hex')) };
}

const lines = (f: string) => fs.readFileSync(f, 'utf8').split('\n').slice(0, -1);
const writeLines = (f: string, ls: string[]) => fs.writeFileSync(f, ls.map((l) => l + '\n').join(''));

test('a fresh log verifies: chain, MACs and head; files are 0600', { timeout: 60_000 }, async () => {
  const { file, key } = await freshLog();
  const r = verifyAuditLog(file, key);
  assert.deepEqual(r, { ok: true, entries: 6, notes: [] });
  for (const f of [file, keyPathOf(file), headPathOf(file)]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
  const first = JSON.parse(lines(file)[0]!);
  assert.equal(first.seq, 1);
  assert.equal(first.prev, '0'.repeat(64));
  assert.equal(JSON.parse(lines(file)[1]!).prev, sha256Hex(lines(file)[0]!));
  const cli = run(BIN.arkeoSigner, ['audit', 'verify', file]);
  assert.equal(cli.status, 0);
  assert.equal(cli.stdout, 'ok: 6 entries, chain and MACs intact\n');
});

test('audit verify catches an edit, a deletion, a reordering, a truncation and forged appends, naming the line', { timeout: 60_000 }, async () => {
  const cases: [string, (f: string, key: Uint8Array) => void, RegExp][] = [
    ['edit a field', (f) => writeLines(f, lines(f).map((l, i) => (i === 2 ? l.replace('"nonce":"3"', '"nonce":"9"') : l))), /^line 3: MAC mismatch/],
    ['edit and re-chain', (f) => {
      // Change line 3 and fix every later prev hash: the chain is whole again, only the MAC tells.
      const ls = lines(f);
      ls[2] = ls[2]!.replace('"nonce":"3"', '"nonce":"9"');
      for (let i = 3; i < ls.length; i++) ls[i] = ls[i]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${sha256Hex(ls[i - 1]!)}"`);
      writeLines(f, ls);
      fs.writeFileSync(headPathOf(f), `{"seq":${ls.length},"hash":"${sha256Hex(ls[ls.length - 1]!)}"}\n`);
    }, /^line 3: MAC mismatch/],
    ['not JSON any more', (f) => writeLines(f, lines(f).map((l, i) => (i === 1 ? l.slice(0, 30) + 'x' + l.slice(31) : l))), /^line 2: not a JSON entry|^line 2: MAC/],
    ['delete a middle entry', (f) => writeLines(f, lines(f).filter((_, i) => i !== 3)), /^line 4: sequence 5 where 4 was expected/],
    ['reorder two entries', (f) => {
      const ls = lines(f);
      [ls[1], ls[2]] = [ls[2]!, ls[1]!];
      writeLines(f, ls);
    }, /^line 2: sequence 3 where 2 was expected/],
    ['truncate the last entry', (f) => writeLines(f, lines(f).slice(0, -1)), /^truncated: the head records 6 entries but the file has 5/],
    ['truncate mid-entry', (f) => fs.writeFileSync(f, fs.readFileSync(f, 'utf8').slice(0, -20)), /^line 6: torn last line/],
    ['forge-append with a valid chain', (f) => {
      const ls = lines(f);
      const body = `{"seq":7,"ts":"2026-01-01T00:00:00.000Z","prev":"${sha256Hex(ls[5]!)}","who":{"transport":"unix","token":"app"},"what":{"op":"raw"},"result":"ok"`;
      writeLines(f, [...ls, `${body},"mac":"${'ab'.repeat(32)}"}`]);
    }, /^line 7: MAC mismatch/],
    ['forge-append and move the head', (f) => {
      const ls = lines(f);
      const forged = `{"seq":7,"ts":"2026-01-01T00:00:00.000Z","prev":"${sha256Hex(ls[5]!)}","who":{"transport":"unix"},"what":{"op":"raw"},"result":"ok","mac":"${'cd'.repeat(32)}"}`;
      writeLines(f, [...ls, forged]);
      fs.writeFileSync(headPathOf(f), `{"seq":7,"hash":"${sha256Hex(forged)}"}\n`);
    }, /^line 7: MAC mismatch/],
    ['forge-append without a MAC', (f) => {
      const ls = lines(f);
      writeLines(f, [...ls, `{"seq":7,"ts":"x","prev":"${sha256Hex(ls[5]!)}","who":{},"what":{},"result":"ok"}`]);
    }, /^line 7: no MAC/],
    ['replace the whole log with a shorter valid-looking one', (f) => writeLines(f, lines(f).slice(0, 2)), /^truncated/],
  ];
  for (const [what, tamper, re] of cases) {
    const { file, key } = await freshLog();
    tamper(file, key);
    const r = verifyAuditLog(file, key);
    assert.equal(r.ok, false, `${what}: detected`);
    assert.match(r.problem!, re, what);
    const cli = run(BIN.arkeoSigner, ['audit', 'verify', file]);
    assert.equal(cli.status, 1, what);
    assert.match(cli.stdout, /^BROKEN: /, what);
  }
  // Without the key the chain still catches edits that break it, and says what it cannot see.
  const { file } = await freshLog();
  const r = verifyAuditLog(file);
  assert.equal(r.ok, true);
  assert.match(r.notes.join(' '), /forged append with a valid hash chain would not be detected/);
});

test('a torn last line (crash mid-write) is reported and repaired by truncation, never skipped silently', { timeout: 60_000 }, async () => {
  const { file, key } = await freshLog(3);
  fs.appendFileSync(file, '{"seq":4,"ts":"2026-11-28T00:00:00.000Z","prev":"00');
  const warnings: string[] = [];
  setLogSink((l) => warnings.push(l));
  try {
    const audit = await AuditLog.open(file);
    await audit.append(entry(4));
    await audit.close();
  } finally {
    setLogSink((l) => process.stderr.write(l + '\n'));
  }
  assert.match(warnings.join('\n'), /torn last line \(\d+ bytes, from a crash mid-write\) removed/);
  const ls = lines(file);
  assert.equal(ls.length, 5);
  const repair = JSON.parse(ls[3]!);
  assert.equal(repair.result, 'recovered');
  assert.match(repair.reason, /torn last line of \d+ bytes removed \(sha256 [0-9a-f]{64}\)/);
  assert.deepEqual(verifyAuditLog(file, key), { ok: true, entries: 5, notes: [] });
});

test('a failing disk makes the log refuse every later append (fail closed)', { timeout: 60_000 }, async () => {
  const file = path.join(tempDir(), 'audit.log');
  const audit = await AuditLog.open(file);
  await audit.append(entry(1));
  audit.io.sync = (_fd, done) => done(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
  await assert.rejects(audit.append(entry(2)), /audit log .*: cannot write \(ENOSPC\); refusing to sign/);
  assert.equal(audit.healthy, false);
  audit.io.sync = (fd, done) => fs.fdatasync(fd, done);
  await assert.rejects(audit.append(entry(3)), /refusing to sign/, 'stays failed until restart');
  await audit.close();
});

test('overlapping syncs: a later sync that finishes first releases earlier entries too; the head never goes back', { timeout: 60_000 }, async () => {
  const file = path.join(tempDir(), 'audit.log');
  const audit = await AuditLog.open(file);
  const syncs: (() => void)[] = [];
  audit.io.sync = (fd, done) => void syncs.push(() => fs.fdatasync(fd, done));
  const released: number[] = [];
  const tick = () => new Promise((r) => setImmediate(r));
  const head = () => JSON.parse(fs.readFileSync(headPathOf(file), 'utf8')).seq;
  const appended = [1, 2, 3].map((i) => async () => audit.append(entry(i)).then(() => void released.push(i)));
  const p1 = appended[0]!();
  await tick();
  const p2 = appended[1]!();
  await tick();
  const p3 = appended[2]!();
  await tick();
  assert.equal(syncs.length, 2, 'two syncs may overlap; the third entry waits');
  assert.deepEqual(released, []);
  syncs[1]!(); // the second sync finishes first: entries 1 and 2 are both durable
  await Promise.all([p1, p2]);
  assert.deepEqual(released, [1, 2]);
  assert.equal(head(), 2);
  await tick();
  assert.equal(syncs.length, 3, 'the waiting entry got its own sync');
  syncs[0]!(); // the first sync, late: releases nothing new and must not move the head back
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(head(), 2);
  assert.deepEqual(released, [1, 2]);
  syncs[2]!();
  await p3;
  assert.deepEqual(released, [1, 2, 3]);
  assert.equal(head(), 3);
  audit.io.sync = (fd, done) => fs.fdatasync(fd, done);
  await audit.close();
  const key = new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file), 'utf8').trim(), 'hex'));
  assert.deepEqual(verifyAuditLog(file, key), { ok: true, entries: 3, notes: [] });
});
