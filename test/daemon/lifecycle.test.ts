import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { verifyAuditLog } from '../../src/audit/index.js';
import { DaemonClient } from '../../src/daemon/index.js';
import { parseHex, utf8, verifySignature } from '../../src/crypto/index.js';
import { BIN, readVector, requireVectors, run, tempDir, type ClaimVectors } from '../helpers.js';

/**
 * The daemon as operators run it: a process, signals, crashes.
 *
 * Every daemon and load loop a test starts is stopped in t.after, which runs however the test ends (an assertion,
 * an exception, its timeout): loops stop first, then a daemon still running gets SIGKILL. Without this a failed
 * assertion left the daemon child and its load loops running, and the file never finished (issue 17: one mutant
 * ran for over five minutes and wrote 834k audit lines).
 */
interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function setup(): { home: string; config: string; socket: string; token: string; pub: Uint8Array; env: Record<string, string> } {
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  const home = tempDir();
  const env = { ARKEO_HOME: home };
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'dog', v.keys.dog!.priv], { env }).status, 0);
  assert.equal(run(BIN.arkeoSigner, ['daemon', 'init'], { env }).status, 0);
  const tok = run(BIN.arkeoSigner, ['daemon', 'token', 'create', '--name', 'load', '--keys', 'dog', '--rate', '100000'], { env });
  assert.equal(tok.status, 0, tok.stderr);
  return { home, config: path.join(home, 'signer', 'daemon.toml'), socket: path.join(home, 'signer', 'keyd.sock'), token: tok.stdout.trim(), pub: parseHex(v.keys.dog!.pub, 'p'), env };
}

async function startDaemon(t: TestContext, env: Record<string, string>, socket: string): Promise<Proc> {
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'daemon', 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // Registered before the wait below, so a daemon that never gets to "listening" is killed too.
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  for (let i = 0; i < 200 && !/listening on/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(err, /listening on/, `daemon did not start: ${err}`);
  assert.ok(fs.existsSync(socket));
  return { child, stderr: () => err, exited };
}

interface Released {
  nonce: bigint;
  preimage: string;
  signature: string;
}

/**
 * `clients` loops claiming on contract 5 until stopped; collects every 200 reply (a released signature). The
 * loops are also stopped in t.after, so a failed assertion cannot leave them running.
 */
function load(t: TestContext, socket: string, token: string, clients: number) {
  const released: Released[] = [];
  const failures: string[] = [];
  let running = true;
  const client = new DaemonClient(socket, { token, timeoutMs: 5000 });
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        const c = await client.claim(5n, 'dog');
        released.push({ nonce: BigInt(c.nonce), preimage: c.preimage, signature: c.signature });
      } catch (e) {
        failures.push((e as Error).message);
        if (!running) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      running = false;
      await Promise.all(loops);
      client.close();
    })());
  t.after(stop);
  return { released, failures, stop };
}

function checkReleased(released: Released[], pub: Uint8Array): void {
  const seen = new Set<bigint>();
  for (const r of released) {
    assert.ok(!seen.has(r.nonce), `nonce ${r.nonce} released twice`);
    seen.add(r.nonce);
    assert.equal(r.preimage, `5:${r.nonce}:`);
    assert.ok(verifySignature(pub, utf8(r.preimage), parseHex(r.signature, 's', 64)));
  }
}

const auditKey = (home: string) => new Uint8Array(Buffer.from(fs.readFileSync(path.join(home, 'signer', 'audit.log.key'), 'utf8').trim(), 'hex'));

test('SIGTERM under load: requests in flight finish, the audit log is flushed, exit 0', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const s = setup();
  const d = await startDaemon(t, s.env, s.socket);
  const l = load(t, s.socket, s.token, 16);
  await new Promise((r) => setTimeout(r, 700));
  const before = l.released.length;
  d.child.kill('SIGTERM');
  assert.equal(await d.exited, 0, d.stderr());
  await l.stop();
  assert.ok(before > 20, `claims were being served (${before})`);
  // Only new requests fail: refused connections, or (EPIPE/ECONNRESET) a request written onto an idle keep-alive
  // connection the server had just closed, which it never received. The equality below shows that every request
  // the daemon did take (and audited) got its reply.
  for (const f of l.failures) assert.match(f, /UNREACHABLE|ECONNREFUSED|ENOENT|EPIPE|socket hang up|ECONNRESET/, f);
  checkReleased(l.released, s.pub);
  const log = path.join(s.home, 'signer', 'audit.log');
  const r = verifyAuditLog(log, auditKey(s.home));
  assert.equal(r.ok, true, r.problem);
  const entries = fs.readFileSync(log, 'utf8').trim().split('\n').map((x) => JSON.parse(x));
  assert.equal(entries[entries.length - 1].result, 'stopped');
  assert.equal(entries.filter((e) => e.what.op === 'claim' && e.result === 'ok').length, l.released.length, 'every released signature has its audit entry');
  assert.ok(!fs.existsSync(s.socket), 'socket removed');
});

test('SIGHUP reloads tokens without dropping requests in flight: a revoked token stops working', { timeout: 120_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const s = setup();
  const second = run(BIN.arkeoSigner, ['daemon', 'token', 'create', '--name', 'temp', '--keys', 'dog'], { env: s.env }).stdout.trim();
  const d = await startDaemon(t, s.env, s.socket);
  const l = load(t, s.socket, s.token, 8);
  const temp = new DaemonClient(s.socket, { token: second });
  t.after(() => temp.close());
  assert.equal((await temp.claim(6n, 'dog')).nonce, '1');
  assert.equal(run(BIN.arkeoSigner, ['daemon', 'token', 'revoke', 'temp'], { env: s.env }).status, 0);
  d.child.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 500));
  await assert.rejects(temp.claim(6n, 'dog'), /unknown or revoked token/);
  temp.close();
  await l.stop();
  assert.deepEqual(l.failures, [], 'no request failed across the reload');
  d.child.kill('SIGTERM');
  assert.equal(await d.exited, 0);
  assert.match(fs.readFileSync(path.join(s.home, 'signer', 'audit.log'), 'utf8'), /"op":"reload"/);
});

test('kill -9 under load, five times: after each restart no nonce is reused and the chain verifies; a torn line is repaired', { timeout: 300_000 }, async (t) => {
  if (!requireVectors(t)) return;
  const s = setup();
  const all: Released[] = [];
  const log = path.join(s.home, 'signer', 'audit.log');
  for (let round = 0; round < 5; round++) {
    const d = await startDaemon(t, s.env, s.socket);
    if (round === 3) assert.match(d.stderr(), /torn last line \(\d+ bytes, from a crash mid-write\) removed/, 'the torn line was reported');
    const l = load(t, s.socket, s.token, 32);
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 400));
    d.child.kill('SIGKILL');
    await d.exited;
    await l.stop();
    const maxBefore = all.reduce((m, r) => (r.nonce > m ? r.nonce : m), 0n);
    for (const r of l.released) assert.ok(r.nonce > maxBefore, `round ${round}: nonce ${r.nonce} not above ${maxBefore} released before the crash`);
    all.push(...l.released);
    checkReleased(all, s.pub);
    const v = verifyAuditLog(log, auditKey(s.home));
    assert.ok(v.ok || /torn last line/.test(v.problem ?? ''), `round ${round}: ${v.problem}`);
    // Round 2 ends with a write torn by the crash: the next start must report and repair it.
    if (round === 2) fs.appendFileSync(log, '{"seq":999999,"ts":"2026-11-28T00:00:00Z","prev":"ab');
  }
  assert.ok(all.length > 100, `claims were released between crashes (${all.length})`);
  const d = await startDaemon(t, s.env, s.socket);
  d.child.kill('SIGTERM');
  assert.equal(await d.exited, 0);
  const final = verifyAuditLog(log, auditKey(s.home));
  assert.equal(final.ok, true, final.problem);
  // The torn line planted in round 2 is repaired and recorded; a kill -9 that itself lands mid-write leaves another
  // one, which is repaired the same way. Every recovery is a torn-line repair, never anything else.
  const recovered = fs.readFileSync(log, 'utf8').split('\n').filter((x) => x.includes('"result":"recovered"')).map((x) => JSON.parse(x));
  assert.ok(recovered.length >= 1, 'the planted torn line was recorded');
  for (const r of recovered) assert.match(r.reason, /^torn last line of \d+ bytes removed/);
});
