import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Histogram, Registry } from 'prom-client';
import { AuditLog, keyPathOf } from '../../src/audit/index.js';
import { AuditFollower, type AuditFilter } from '../../src/console/index.js';
import { parseProm, quantile } from '../../src/console/sampler.js';
import { tempDir } from '../helpers.js';
import { entryFor, writeLog } from './audit-logs.js';

/** The console's audit index against a brute-force reading of the same log (real AuditLog files). */

const parsed = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);

function brute(entries: Record<string, any>[], f: AuditFilter): number[] {
  return entries
    .filter(
      (e) =>
        (f.token === undefined || e.who.token === f.token) &&
        (f.key === undefined || e.what.key === f.key || e.what.address === f.key) &&
        (f.op === undefined || e.what.op === f.op) &&
        (f.contract === undefined || e.what.contract === f.contract) &&
        (f.result === undefined || e.result === f.result) &&
        (f.from === undefined || Date.parse(e.ts) >= f.from) &&
        (f.to === undefined || Date.parse(e.ts) <= f.to),
    )
    .map((e) => e.seq as number)
    .reverse();
}

test('the index answers every filter and page as a full read of the log would', { timeout: 60_000 }, async () => {
  const file = path.join(tempDir(), 'audit.log');
  await writeLog(file, 600);
  const follower = new AuditFollower(file, new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file), 'utf8').trim(), 'hex')));
  await follower.refresh();
  const index = follower.index;
  const entries = parsed(file);
  assert.equal(index.count, 600);
  const mid = Date.parse(entries[300]!.ts);
  const filters: AuditFilter[] = [
    {},
    { token: 'narrow' },
    { key: 'bob' },
    { key: 'arkeo1alice' },
    { op: 'arkcontract' },
    { contract: '18446744073709551615' },
    { result: 'denied' },
    { token: 'agent', result: 'ok', contract: '42' },
    { from: mid },
    { to: mid },
    { from: mid, to: mid + 5, op: 'claim' },
    { token: 'nobody' },
  ];
  for (const f of filters) {
    const want = brute(entries, f);
    for (const [offset, limit] of [[0, 50], [50, 50], [want.length - 3, 10]] as const) {
      const got = await index.query(f, Math.max(0, offset), limit);
      assert.equal(got.total, want.length, JSON.stringify(f));
      assert.deepEqual(
        index.read(got.rows).map((l) => JSON.parse(l).seq),
        want.slice(Math.max(0, offset), Math.max(0, offset) + limit),
        `${JSON.stringify(f)} at ${offset}`,
      );
    }
  }
  const integrity = follower.integrity();
  assert.equal(integrity.ok, true);
  assert.equal(integrity.verifiedThrough, 600);
  // Aggregates: per token, per key and per (contract, key).
  assert.equal(index.tokenStats.get('narrow')!.requests, entries.filter((e) => e.who.token === 'narrow').length);
  assert.equal(index.tokenStats.get('narrow')!.refusals, entries.filter((e) => e.who.token === 'narrow' && e.result !== 'ok').length);
  const okClaims = entries.filter((e) => e.result === 'ok' && e.what.op === 'claim' && e.what.contract === '42' && e.what.key === 'arkeo1alice');
  assert.ok(okClaims.length > 10);
  assert.equal(index.contractKeys.get('42/arkeo1alice')!.lastNonce, BigInt(Math.max(...okClaims.map((e) => Number(e.what.nonce)))));
});

test('the index follows appends, and finds an edit, a truncation and a missing key', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const file = path.join(dir, 'audit.log');
  await writeLog(file, 200);
  const key = new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file), 'utf8').trim(), 'hex'));
  const follower = new AuditFollower(file, key);
  await follower.refresh();
  assert.equal(follower.index.count, 200);

  // Appends (through the real writer) are read incrementally and verified.
  const log = await AuditLog.open(file);
  for (let i = 0; i < 7; i++) await log.append(entryFor(1000 + i));
  // A half-written line is not read until it is complete.
  await follower.refresh();
  assert.equal(follower.index.count, 207);
  assert.equal(follower.integrity().verifiedThrough, 207);
  await log.close();

  // One byte edited in place (same size): the whole log is checked again and the broken entry named.
  const text = fs.readFileSync(file);
  let offset = 0;
  for (let i = 1; i < 123; i++) offset = text.indexOf(0x0a, offset) + 1;
  const at = offset + text.subarray(offset).indexOf('"nonce":"') + 9;
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from([text[at] === 0x39 ? 0x38 : text[at]! + 1]), 0, 1, at);
  fs.closeSync(fd);
  await follower.refresh();
  const broken = follower.integrity();
  assert.equal(broken.ok, false);
  assert.equal(broken.brokenAt, 123);
  assert.match(broken.problem!, /^line 123: MAC mismatch/);
  assert.equal(broken.verifiedThrough, 122);
  assert.equal(follower.index.count, 207, 'entries after the break are still listed');

  // A line rewritten with another length: the index is rebuilt (one index at a time) and the break named.
  const file3 = path.join(dir, 'audit3.log');
  await writeLog(file3, 80);
  const f3key = new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file3), 'utf8').trim(), 'hex'));
  const follow3 = new AuditFollower(file3, f3key);
  await follow3.refresh();
  const original = follow3.index;
  const lines3 = fs.readFileSync(file3, 'utf8').split('\n');
  lines3[29] = lines3[29]!.replace('"result":', '"result": ');
  fs.writeFileSync(file3, lines3.join('\n'));
  await follow3.refresh();
  assert.notEqual(follow3.index, original, 'rebuilt');
  assert.equal(follow3.index.count, 80);
  assert.equal(follow3.integrity().brokenAt, 30);
  // The periodic full check of an unchanged log keeps the index and finds it intact.
  const file4 = path.join(dir, 'audit4.log');
  await writeLog(file4, 50);
  const follow4 = new AuditFollower(file4, new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file4), 'utf8').trim(), 'hex')), 0);
  await follow4.refresh();
  const kept = follow4.index;
  await new Promise((r) => setTimeout(r, 5));
  await follow4.refresh();
  assert.equal(follow4.index, kept, 're-checked in place');
  assert.equal(follow4.integrity().ok, true);
  assert.equal(follow4.index.tokenStats.get('agent')!.requests, parsed(file4).filter((e) => e.who.token === 'agent').length, 'aggregates not counted twice');

  // A log cut back by whole entries: the head file says how many there were.
  const file2 = path.join(dir, 'audit2.log');
  await writeLog(file2, 60);
  const lines = fs.readFileSync(file2, 'utf8').split('\n');
  fs.writeFileSync(file2, lines.slice(0, 55).join('\n') + '\n');
  const f2 = new AuditFollower(file2, new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file2), 'utf8').trim(), 'hex')));
  await f2.refresh();
  const cut = f2.integrity();
  assert.equal(cut.ok, false);
  assert.match(cut.problem!, /truncated: the head records 60 entries but the log has 55/);

  // Without the key the chain is still checked, and the banner says the MACs were not.
  const f3 = new AuditFollower(file2, undefined);
  await f3.refresh();
  assert.match(f3.integrity().notes.join(), /no audit key: MACs not checked/);
});

test('claims/s latency quantiles from two /metrics scrapes', { timeout: 10_000 }, async () => {
  const registry = new Registry();
  const h = new Histogram({ name: 'arkeo_signer_request_seconds', help: 'x', labelNames: ['operation'], buckets: [0.001, 0.002, 0.005, 0.01], registers: [registry] });
  for (let i = 0; i < 10; i++) h.observe({ operation: 'POST /v1/claims' }, 0.0005);
  const buckets = (text: string) =>
    parseProm(text)
      .filter((l) => l.name === 'arkeo_signer_request_seconds_bucket' && l.labels.operation === 'POST /v1/claims')
      .map((l) => [l.labels.le === '+Inf' ? Infinity : Number(l.labels.le), l.value] as [number, number])
      .sort((a, b) => a[0] - b[0]);
  const before = buckets(await registry.metrics());
  // 90 fast (≤1 ms) and 10 slow (5–10 ms) requests between the scrapes.
  for (let i = 0; i < 90; i++) h.observe({ operation: 'POST /v1/claims' }, 0.0008);
  for (let i = 0; i < 10; i++) h.observe({ operation: 'POST /v1/claims' }, 0.007);
  const after = buckets(await registry.metrics());
  assert.ok(Math.abs(quantile(0.5, before, after)! - 0.0005556) < 1e-6, 'p50 inside the first bucket, interpolated');
  const p99 = quantile(0.99, before, after)!;
  assert.ok(p99 > 0.005 && p99 <= 0.01, `p99 ${p99} in the 5–10 ms bucket`);
  assert.equal(quantile(0.5, after, after), null, 'no requests: no quantile');
});
