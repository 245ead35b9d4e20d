import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { AuditLog, AuditShipper, SHIP_DEFAULTS, headPathOf, keyPathOf, parseShippedLine, sha256Hex, verifyAgainst, type AuditInput, type AuditShipConfig } from '../../src/audit/index.js';
import { headRecord, octetCounted, syslogMessage } from '../../src/audit/ship/syslog.js';
import { parseConfig } from '../../src/daemon/index.js';
import { InputError } from '../../src/errors.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { setLogSink } from '../../src/log.js';
import { BIN, requireComponent, run, runAsync, tempDir } from '../helpers.js';
import { rawRequest, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { freePort, remoteLines, rsyslogAvailable, startRsyslog } from '../support/rsyslog.js';

/**
 * Audit shipping ([audit.ship]): every durable entry, as written, to Debian's rsyslogd started by the test (TCP, TLS,
 * RELP and RELP over TLS), through an outage, and back: the remote copy holds every entry in order, and what it holds
 * twice (identical) is within what the shipper counted as sent again (over RELP, at most one window, and only what
 * rsyslog took without answering as it stopped); `audit verify --against` finds a rewind the local checks cannot.
 * The outage lasts AUDIT_SHIP_OUTAGE_SECONDS (30 under CI, 5 otherwise).
 */
const OUTAGE_SECONDS = Number(process.env.AUDIT_SHIP_OUTAGE_SECONDS ?? (process.env.CI === 'true' ? 30 : 5));
const KEY_HEX = toHex(sha256(utf8('arkeo-signer audit shipping test key')));
const RUN = 10_000;

const entry = (i: number): AuditInput => ({ who: { transport: 'unix', token: 'app' }, what: { op: 'claim', key: 'arkeo1xyz', contract: '7', nonce: String(i), msg_sha256: sha256Hex(`7:${i}:`) }, result: 'ok', status: 200, latency_us: 100 });
const lines = (f: string) => fs.readFileSync(f, 'utf8').split('\n').slice(0, -1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const shipConfig = (c: Partial<AuditShipConfig> & Pick<AuditShipConfig, 'target'>): AuditShipConfig => ({ ...SHIP_DEFAULTS, ...c });

/** Quiet the shipper's warnings for the test's own faults; restored after. */
function quietLog(t: TestContext): string[] {
  const seen: string[] = [];
  setLogSink((l) => seen.push(l));
  t.after(() => setLogSink((l) => process.stderr.write(l + '\n')));
  return seen;
}

/**
 * The copy against the local log: entries in file order, each the local line of its number; a number seen again
 * must repeat its line byte for byte. Returns how many were repeated and how many local entries it lacks.
 */
function compareCopy(localFile: string, copyLines: string[]): { entries: number; repeated: number; missing: number; heads: number } {
  const local = lines(localFile);
  let next = 1;
  let repeated = 0;
  let heads = 0;
  const missing: number[] = [];
  for (const text of copyLines) {
    const m = parseShippedLine(text);
    if (m.kind === 'head') {
      heads++;
      assert.equal(m.hash, m.seq === 0 ? '0'.repeat(64) : sha256Hex(local[m.seq - 1]!), `head record of entry ${m.seq}`);
      continue;
    }
    assert.equal(m.kind, 'entry', `a line of the copy that is neither entry nor head: ${text.slice(0, 120)}`);
    if (m.kind !== 'entry') continue;
    assert.equal(m.line, local[m.seq - 1], `entry ${m.seq}: the copy holds the local line byte for byte`);
    if (m.seq < next) {
      repeated++;
      continue;
    }
    for (let s = next; s < m.seq; s++) missing.push(s);
    next = m.seq + 1;
  }
  for (let s = next; s <= local.length; s++) missing.push(s);
  return { entries: next - 1, repeated, missing: missing.length, heads };
}

test('RFC 5424 with octet counting: an entry and a head record are read back from the line rsyslog writes; other lines are skipped', () => {
  const origin = { facility: 'authpriv' as const, hostname: 'host', appName: 'arkeo-signer', procId: '42' };
  const line = `{"seq":7,"ts":"2026-01-02T03:04:05.678Z","prev":"${'a'.repeat(64)}","who":{"transport":"unix","token":"é"},"what":{"op":"claim"},"result":"denied","status":403,"mac":"${'b'.repeat(64)}"}`;
  const msg = syslogMessage(origin, 'audit', line);
  // authpriv (10) × 8 + notice (5): a refusal
  assert.equal(msg, `<85>1 2026-01-02T03:04:05.678Z host arkeo-signer 42 audit - ${line}`);
  assert.equal(octetCounted(msg), `${Buffer.byteLength(msg)} ${msg}`);
  assert.notEqual(Buffer.byteLength(msg), msg.length, 'the count is in bytes, not characters');
  assert.deepEqual(parseShippedLine(msg), { kind: 'entry', seq: 7, line });
  const head = headRecord(7, 'c'.repeat(64), new Date('2026-01-02T03:04:06.000Z'));
  assert.deepEqual(parseShippedLine(syslogMessage(origin, 'head', head)), { kind: 'head', seq: 7, hash: 'c'.repeat(64), ts: '2026-01-02T03:04:06.000Z' });
  // A traditional file format, and journalctl -o cat output, read too.
  assert.deepEqual(parseShippedLine(`Jan  2 03:04:05 host arkeo-signer[42]: ${line}`), { kind: 'entry', seq: 7, line });
  assert.deepEqual(parseShippedLine(line), { kind: 'entry', seq: 7, line });
  // Controls: other programs' messages, and an entry without its MAC, are not entries.
  assert.deepEqual(parseShippedLine('<13>1 2026-01-02T03:04:05Z host cron 1 - - {"seq":1} hello'), { kind: 'other' });
  assert.deepEqual(parseShippedLine(`<85>1 2026-01-02T03:04:05.678Z host arkeo-signer 42 audit - ${line.replace(/,"mac":"b+"/, '')}`), { kind: 'other' });
});

test('[audit.ship] config: defaults filled in; a bad address, a missing or unreadable CA, a bad target each stop the start in one line naming the field', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const c = parseConfig('[audit.ship]\ntarget = "tcp"\naddress = "127.0.0.1:6514"\n', path.join(dir, 'd.toml'));
  assert.deepEqual(c.audit.ship, { ...SHIP_DEFAULTS, target: 'tcp', address: '127.0.0.1:6514' });
  assert.equal(parseConfig('[audit.ship]\ntarget = "tls"\naddress = "[::1]:6514"\ntls_ca = "ca.pem"\n', path.join(dir, 'd.toml')).audit.ship!.tls_ca, path.join(dir, 'ca.pem'));
  assert.equal(parseConfig('[audit.ship]\ntarget = "journal"\n', path.join(dir, 'd.toml')).audit.ship!.address, undefined);
  assert.deepEqual(parseConfig('[audit.ship]\ntarget = "relp"\naddress = "logs.example.net:2514"\n', path.join(dir, 'd.toml')).audit.ship, { ...SHIP_DEFAULTS, target: 'relp', address: 'logs.example.net:2514' });
  assert.equal(parseConfig('[audit.ship]\ntarget = "relp-tls"\naddress = "h:2514"\ntls_ca = "ca.pem"\ntls_cert = "c.pem"\ntls_key = "c.key"\n', path.join(dir, 'd.toml')).audit.ship!.tls_key, path.join(dir, 'c.key'));
  const bad: [string, RegExp][] = [
    ['target = "udp"\naddress = "h:1"', /audit\.ship\.target: expected "relp", "relp-tls", "tcp", "tls" or "journal", got "udp"/],
    ['address = "h:1"', /audit\.ship\.target: missing/],
    ['target = "tcp"', /audit\.ship\.address: missing/],
    ['target = "tcp"\naddress = "logs.example.net"', /audit\.ship\.address: expected host:port/],
    ['target = "tcp"\naddress = "h:70000"', /audit\.ship\.address: expected host:port/],
    ['target = "tcp"\naddress = "h :1"', /audit\.ship\.address: expected host:port/],
    ['target = "tls"\naddress = "h:1"', /audit\.ship\.tls_ca: missing/],
    ['target = "relp"', /audit\.ship\.address: missing: target "relp" needs/],
    ['target = "relp"\naddress = "h"', /audit\.ship\.address: expected host:port/],
    ['target = "relp-tls"\naddress = "h:1"', /audit\.ship\.tls_ca: missing: target "relp-tls" needs the CA/],
    ['target = "relp"\naddress = "h:1"\ntls_cert = "c.pem"', /audit\.ship\.tls_cert: only meaningful with target "tls" or "relp-tls"/],
    ['target = "tcp"\naddress = "h:1"\ntls_ca = "ca.pem"', /audit\.ship\.tls_ca: only meaningful with target "tls"/],
    ['target = "tls"\naddress = "h:1"\ntls_ca = "a"\ntls_cert = "c"', /audit\.ship\.tls_key: a client certificate needs both/],
    ['target = "tcp"\naddress = "h:1"\napp_name = "two words"', /audit\.ship\.app_name/],
    ['target = "tcp"\naddress = "h:1"\nfacility = "kern"', /audit\.ship\.facility: expected one of auth, authpriv/],
    ['target = "tcp"\naddress = "h:1"\ninterval_ms = 10', /audit\.ship\.interval_ms: between 100/],
    ['target = "tcp"\naddress = "h:1"\nqueue_size = 0', /audit\.ship\.queue_size: expected a positive integer/],
    ['target = "tcp"\naddress = "h:1"\nport = 1', /audit\.ship\.port: unknown field/],
  ];
  for (const [body, re] of bad) {
    assert.throws(() => parseConfig(`[audit.ship]\n${body}\n`, '/etc/d.toml'), (e: unknown) => e instanceof InputError && re.test(e.message) && !e.message.includes('\n') && e.message.startsWith('/etc/d.toml: '), body);
  }
  // Files are read at start: a missing CA, and a file that is not a certificate.
  const notPem = path.join(dir, 'not.pem');
  fs.writeFileSync(notPem, 'hello\n');
  for (const [ca, re] of [[path.join(dir, 'missing.pem'), /^audit\.ship\.tls_ca: cannot read \S+missing\.pem \(ENOENT\): no such file/], [notPem, /^audit\.ship\.tls_ca: \S+not\.pem is not a PEM certificate$/]] as const) {
    await assert.rejects(
      startTestDaemon({ k: KEY_HEX }, {}, (cfg) => void (cfg.audit.ship = shipConfig({ target: 'tls', address: '127.0.0.1:1', tls_ca: ca }))),
      (e: unknown) => e instanceof InputError && re.test(e.message) && !e.message.includes('\n'),
    );
  }
  // The same through the CLI: one line on stderr, a failed exit, nothing left listening.
  const home = tempDir();
  const env = { ARKEO_HOME: home };
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX], { env }).status, 0);
  const conf = path.join(home, 'daemon.toml');
  fs.writeFileSync(conf, `[keyring]\nhome = "${home}"\n[audit.ship]\ntarget = "tls"\naddress = "127.0.0.1:6514"\ntls_ca = "${path.join(dir, 'missing.pem')}"\n`);
  const r = run(BIN.arkeoSigner, ['daemon', 'start', '--config', conf], { env });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^arkeo-signer: audit\.ship\.tls_ca: cannot read \S+ \(ENOENT\)[^\n]*\n$/);
  fs.writeFileSync(conf, `[keyring]\nhome = "${home}"\n[audit.ship]\ntarget = "tcp"\naddress = "logs.example.net"\n`);
  const r2 = run(BIN.arkeoSigner, ['daemon', 'start', '--config', conf], { env });
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /^arkeo-signer: \S+daemon\.toml: audit\.ship\.address: expected host:port[^\n]*\n$/);
  assert.equal(fs.existsSync(path.join(home, 'signer', 'keyd.sock')), false);
});

/** `n` claims over the daemon's socket, `concurrency` at a time; every one must be signed. */
async function claims(d: TestDaemon, n: number, concurrency = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await rawRequest(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":"1","key":"k"}' });
      assert.equal(r.status, 200, r.body);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function health(d: TestDaemon): Promise<Record<string, any>> {
  const r = await rawRequest(d.socket, 'GET', '/healthz');
  return r.json!;
}

async function metric(d: TestDaemon, name: string): Promise<number> {
  const body = (await rawRequest(d.socket, 'GET', '/metrics')).body;
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('rsyslog over TCP, through a real daemon: 10,000 claims, rsyslog stopped during a second 10,000 and restarted; the copy holds every entry in order; a rewind is found by audit verify --against', { timeout: 600_000 }, async (t) => {
  if (!requireComponent(t, rsyslogAvailable(false), `rsyslogd at /usr/sbin/rsyslogd (Debian package rsyslog)`)) return;
  quietLog(t);
  const rs = await startRsyslog();
  t.after(() => rs.destroy());
  const d = await startTestDaemon({ k: KEY_HEX }, { app: { keys: ['k'], contracts: ['*'], rate: { per_second: 1e6, burst: 1e6 } } }, (c) => {
    c.audit.ship = shipConfig({ target: 'tcp', address: rs.address, interval_ms: 500, queue_size: 2000 });
  });
  let stopped = false;
  t.after(() => (stopped ? undefined : d.daemon.stop()));
  const file = d.config.audit.path;

  await claims(d, RUN);
  await until('the first run shipped', async () => (await health(d)).audit_ship_acked === d.daemon.audit.lastSeq, 60_000);
  assert.equal((await health(d)).audit_ship, 'ok');
  // The attacker's copy of log and head, taken now.
  const snapshot = path.join(tempDir(), 'audit.log');
  fs.copyFileSync(file, snapshot);
  fs.copyFileSync(headPathOf(file), headPathOf(snapshot));
  const firstRun = d.daemon.audit.lastSeq;

  // The second run: rsyslog stopped a third of the way in, for OUTAGE_SECONDS; signing goes on.
  const second = claims(d, RUN);
  await until('a third of the second run', () => d.daemon.audit.lastSeq >= firstRun + RUN / 3, 120_000);
  await rs.stop();
  const stoppedAt = Date.now();
  await second;
  const behind = await health(d);
  assert.equal(behind.ok, true, 'shipping is not part of ok: the daemon signs on');
  if (OUTAGE_SECONDS >= 4) {
    await until('the shipper reports the outage', async () => /^error: \d+ entries not delivered for \d+ s \(syslog over TCP to [^)]+\)$/.test((await health(d)).audit_ship), (OUTAGE_SECONDS + 1) * 1000);
  }
  assert.ok((await metric(d, 'arkeo_signer_audit_ship_last_acked_sequence')) < d.daemon.audit.lastSeq);
  assert.ok((await metric(d, 'arkeo_signer_audit_ship_queue_entries')) <= 2000, 'the memory queue stays within queue_size');
  await sleep(Math.max(0, stoppedAt + OUTAGE_SECONDS * 1000 - Date.now()));
  await rs.start();
  await until('the backlog shipped', async () => (await health(d)).audit_ship_acked === d.daemon.audit.lastSeq, 120_000);
  assert.equal((await health(d)).audit_ship, 'ok');
  assert.equal(await metric(d, 'arkeo_signer_audit_sequence'), d.daemon.audit.lastSeq);
  const dropped = await metric(d, 'arkeo_signer_audit_ship_dropped_total');
  const resent = await metric(d, 'arkeo_signer_audit_ship_resent_total');
  stopped = true;
  await d.daemon.stop();
  await rs.stop();

  const copy = compareCopy(file, remoteLines(rs));
  const total = lines(file).length;
  assert.ok(total >= 2 * RUN + 2, `${total} entries: 20,000 claims, the start and the stop`);
  assert.equal(copy.missing, dropped, 'every entry arrived, or the dropped count says how many did not');
  assert.equal(dropped, 0);
  assert.equal(copy.entries, total);
  assert.ok(copy.repeated <= resent, `${copy.repeated} entries arrived twice (identical), within the ${resent} sent again`);
  assert.ok(copy.heads >= 2, 'head records were shipped');
  t.diagnostic(`${total} entries, ${copy.heads} head records; ${resent} sent again after the outage, ${copy.repeated} of them arrived twice; outage ${OUTAGE_SECONDS} s`);

  // The copy agrees with the log; the log and head rewound to the snapshot are found by it, and only by it.
  const ok = run(BIN.arkeoSigner, ['audit', 'verify', file, '--against', rs.file]);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, new RegExp(`^ok: ${total} entries, chain and MACs intact\\nok: agrees with the shipped copy \\(entries 1–${total}, head records up to entry ${total}\\)\\n$`));
  fs.copyFileSync(snapshot, file);
  fs.copyFileSync(headPathOf(snapshot), headPathOf(file));
  assert.equal(run(BIN.arkeoSigner, ['audit', 'verify', file]).status, 0, 'the local check cannot see the rewind');
  const caught = run(BIN.arkeoSigner, ['audit', 'verify', file, '--against', rs.file]);
  assert.equal(caught.status, 1);
  assert.match(caught.stdout, new RegExp(`^ok: ${firstRun} entries, chain and MACs intact\\nPARTS at entry ${firstRun + 1}: the shipped copy holds entries up to ${total} and a head record of entry ${total} \\(sent [^)]+\\), and the local log ends at entry ${firstRun}: it was rewound or truncated\\n$`));
});

test('rsyslog over TLS, through the audit log API: 10,000 entries, rsyslog stopped during a second 10,000 (past the memory queue: read back from the file) and restarted; every entry in order', { timeout: 600_000 }, async (t) => {
  if (!requireComponent(t, rsyslogAvailable(true), 'rsyslogd with its TLS module (Debian packages rsyslog, rsyslog-gnutls) and openssl')) return;
  quietLog(t);
  const rs = await startRsyslog({ tls: true });
  t.after(() => rs.destroy());
  const file = path.join(tempDir(), 'audit.log');
  const audit = await AuditLog.open(file);
  const shipper = AuditShipper.open(shipConfig({ target: 'tls', address: rs.address, tls_ca: rs.ca!, interval_ms: 500, queue_size: 500 }), { file, durable: audit.durable });
  audit.onCommit = (ls, offset, seq, hash) => shipper.committed(ls, offset, seq, hash);
  let closed = false;
  t.after(async () => {
    if (closed) return;
    await shipper.close(0);
    await audit.close();
  });
  const write = async (from: number, n: number) => {
    for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => audit.append(entry(from + i + j))));
  };

  await write(1, RUN);
  assert.equal(await shipper.delivered(RUN, 60_000), true, JSON.stringify(shipper.status()));
  const second = write(RUN + 1, RUN);
  await until('a third of the second run', () => audit.lastSeq >= RUN + RUN / 3, 120_000);
  await rs.stop();
  const stoppedAt = Date.now();
  await second;
  const during = shipper.status();
  assert.ok(during.acked < 2 * RUN && during.queued <= 500, JSON.stringify(during));
  await sleep(Math.max(0, stoppedAt + OUTAGE_SECONDS * 1000 - Date.now()));
  await rs.start();
  assert.equal(await shipper.delivered(2 * RUN, 120_000), true, JSON.stringify(shipper.status()));
  const status = shipper.status();
  closed = true;
  await shipper.close();
  await audit.close();
  await rs.stop();

  const copy = compareCopy(file, remoteLines(rs));
  assert.equal(copy.missing, status.dropped);
  assert.equal(copy.entries, 2 * RUN);
  assert.ok(copy.repeated <= status.resent, `${copy.repeated} arrived twice, ${status.resent} sent again`);
  t.diagnostic(`${2 * RUN} entries over TLS, ${copy.heads} head records; ${status.resent} sent again, ${copy.repeated} arrived twice`);
  const r = verifyAgainst(file, rs.file, new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file), 'utf8').trim(), 'hex')));
  assert.equal(r.ok, true, r.problem);
  assert.equal(r.shipped.entries, 2 * RUN);
});

/** At most this many messages wait for their answer over RELP (the shipper's window): what one broken connection can leave to send again. */
const RELP_WINDOW = 128;

test('rsyslog over RELP, through a real daemon: 10,000 claims, rsyslog stopped during a second 10,000 and restarted; the copy holds every entry in order, and repeats only what rsyslog took unanswered as it stopped', { timeout: 600_000 }, async (t) => {
  if (!requireComponent(t, rsyslogAvailable(false, true), 'rsyslogd with imrelp at /usr/sbin/rsyslogd (Debian packages rsyslog, rsyslog-relp)')) return;
  quietLog(t);
  const rs = await startRsyslog({ relp: true });
  t.after(() => rs.destroy());
  const d = await startTestDaemon({ k: KEY_HEX }, { app: { keys: ['k'], contracts: ['*'], rate: { per_second: 1e6, burst: 1e6 } } }, (c) => {
    c.audit.ship = shipConfig({ target: 'relp', address: rs.address, interval_ms: 500, queue_size: 2000 });
  });
  let stopped = false;
  t.after(() => (stopped ? undefined : d.daemon.stop()));
  const file = d.config.audit.path;

  await claims(d, RUN);
  await until('the first run shipped', async () => (await health(d)).audit_ship_acked === d.daemon.audit.lastSeq, 60_000);
  assert.equal((await health(d)).audit_ship, 'ok');
  assert.equal(await metric(d, 'arkeo_signer_audit_ship_resent_total'), 0, 'nothing sent twice while rsyslog ran');
  const firstRun = d.daemon.audit.lastSeq;

  // The second run: rsyslog stopped (SIGTERM) a third of the way in, for OUTAGE_SECONDS; signing goes on.
  const second = claims(d, RUN);
  await until('a third of the second run', () => d.daemon.audit.lastSeq >= firstRun + RUN / 3, 120_000);
  await rs.stop();
  const stoppedAt = Date.now();
  await second;
  assert.equal((await health(d)).ok, true, 'shipping is not part of ok: the daemon signs on');
  if (OUTAGE_SECONDS >= 4) {
    await until('the shipper reports the outage', async () => /^error: \d+ entries not delivered for \d+ s \(RELP to [^)]+\)$/.test((await health(d)).audit_ship), (OUTAGE_SECONDS + 1) * 1000);
  }
  assert.ok((await metric(d, 'arkeo_signer_audit_ship_last_acked_sequence')) < d.daemon.audit.lastSeq);
  assert.ok((await metric(d, 'arkeo_signer_audit_ship_queue_entries')) <= 2000, 'the memory queue stays within queue_size');
  await sleep(Math.max(0, stoppedAt + OUTAGE_SECONDS * 1000 - Date.now()));
  await rs.start();
  await until('the backlog shipped', async () => (await health(d)).audit_ship_acked === d.daemon.audit.lastSeq, 120_000);
  assert.equal((await health(d)).audit_ship, 'ok');
  const dropped = await metric(d, 'arkeo_signer_audit_ship_dropped_total');
  const resent = await metric(d, 'arkeo_signer_audit_ship_resent_total');
  stopped = true;
  await d.daemon.stop();
  await rs.stop();

  const copy = compareCopy(file, remoteLines(rs));
  const total = lines(file).length;
  assert.ok(total >= 2 * RUN + 2, `${total} entries: 20,000 claims, the start and the stop`);
  assert.equal(dropped, 0);
  assert.equal(copy.missing, dropped, 'every entry arrived, or the dropped count says how many did not');
  assert.equal(copy.entries, total);
  // Repeats come only from the stop: rsyslog (librelp) stops answering at once on SIGTERM, and what it had read and
  // queued without an answer is sent again; counted here, never more than was sent again, at most one window.
  assert.ok(copy.repeated <= resent, `${copy.repeated} entries arrived twice (identical), within the ${resent} sent again`);
  assert.ok(resent <= RELP_WINDOW, `at most one window sent again: ${resent}`);
  assert.ok(copy.heads >= 2, 'head records were shipped');
  t.diagnostic(`RELP: ${total} entries, ${copy.heads} head records; ${resent} sent again after the outage, ${copy.repeated} arrived twice, ${copy.missing} missing; outage ${OUTAGE_SECONDS} s`);
  const ok = run(BIN.arkeoSigner, ['audit', 'verify', file, '--against', rs.file]);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, new RegExp(`^ok: ${total} entries, chain and MACs intact\\nok: agrees with the shipped copy \\(entries 1–${total}, head records up to entry ${total}\\)\\n$`));
});

test('rsyslog over RELP with TLS (a client certificate), through the audit log API: 10,000 entries, rsyslog stopped during a second 10,000 (read back from the file) and restarted; every entry in order, repeats counted', { timeout: 600_000 }, async (t) => {
  if (!requireComponent(t, rsyslogAvailable(true, true), 'rsyslogd with imrelp (Debian packages rsyslog, rsyslog-relp) and openssl')) return;
  quietLog(t);
  const rs = await startRsyslog({ tls: true, relp: true });
  t.after(() => rs.destroy());
  const file = path.join(tempDir(), 'audit.log');
  const audit = await AuditLog.open(file);
  const config = shipConfig({ target: 'relp-tls', address: rs.address, tls_ca: rs.ca!, tls_cert: rs.clientCert!, tls_key: rs.clientKey!, interval_ms: 500, queue_size: 500 });
  const shipper = AuditShipper.open(config, { file, durable: audit.durable });
  audit.onCommit = (ls, offset, seq, hash) => shipper.committed(ls, offset, seq, hash);
  let closed = false;
  t.after(async () => {
    if (closed) return;
    await shipper.close(0);
    await audit.close();
  });
  const write = async (from: number, n: number) => {
    for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => audit.append(entry(from + i + j))));
  };

  await write(1, RUN);
  assert.equal(await shipper.delivered(RUN, 60_000), true, JSON.stringify(shipper.status()));
  assert.equal(shipper.status().resent, 0);
  const second = write(RUN + 1, RUN);
  await until('a third of the second run', () => audit.lastSeq >= RUN + RUN / 3, 120_000);
  await rs.stop();
  const stoppedAt = Date.now();
  await second;
  const during = shipper.status();
  assert.ok(during.acked < 2 * RUN && during.queued <= 500, JSON.stringify(during));
  await sleep(Math.max(0, stoppedAt + OUTAGE_SECONDS * 1000 - Date.now()));
  await rs.start();
  assert.equal(await shipper.delivered(2 * RUN, 120_000), true, JSON.stringify(shipper.status()));
  const status = shipper.status();
  closed = true;
  await shipper.close();
  await audit.close();
  await rs.stop();

  const copy = compareCopy(file, remoteLines(rs));
  assert.equal(status.dropped, 0);
  assert.equal(copy.missing, status.dropped);
  assert.equal(copy.entries, 2 * RUN);
  assert.ok(copy.repeated <= status.resent, `${copy.repeated} entries arrived twice (identical), within the ${status.resent} sent again`);
  assert.ok(status.resent <= RELP_WINDOW, `at most one window sent again: ${status.resent}`);
  t.diagnostic(`RELP over TLS: ${2 * RUN} entries, ${copy.heads} head records; ${status.resent} sent again, ${copy.repeated} arrived twice, ${copy.missing} missing; outage ${OUTAGE_SECONDS} s`);
  const r = verifyAgainst(file, rs.file, new Uint8Array(Buffer.from(fs.readFileSync(keyPathOf(file), 'utf8').trim(), 'hex')));
  assert.equal(r.ok, true, r.problem);
  assert.equal(r.shipped.entries, 2 * RUN);
});

test('an unreachable syslog at start does not stop signing; the entries wait (in the file past the queue) and arrive once it listens', { timeout: 300_000 }, async (t) => {
  if (!requireComponent(t, rsyslogAvailable(true), 'rsyslogd with its TLS module (Debian packages rsyslog, rsyslog-gnutls) and openssl')) return;
  quietLog(t);
  const rs = await startRsyslog({ tls: true, started: false });
  t.after(() => rs.destroy());
  const d = await startTestDaemon({ k: KEY_HEX }, { app: { keys: ['k'], contracts: ['*'], rate: { per_second: 1e6, burst: 1e6 } } }, (c) => {
    c.audit.ship = shipConfig({ target: 'tls', address: rs.address, tls_ca: rs.ca!, interval_ms: 200, queue_size: 50 });
  });
  t.after(() => d.daemon.stop());
  await claims(d, 300, 8);
  const h = await health(d);
  assert.equal(h.ok, true);
  assert.equal(h.audit_ship_acked, 0);
  await until('health reports the unreachable receiver', async () => /^error: \d+ entries not delivered for \d+ s \(syslog over TLS to 127\.0\.0\.1:\d+: ECONNREFUSED\)$/.test((await health(d)).audit_ship), 15_000);
  assert.ok((await metric(d, 'arkeo_signer_audit_ship_queue_entries')) <= 50);
  assert.equal(await metric(d, 'arkeo_signer_audit_ship_connected'), 0);
  // Control: once it listens, everything arrives and health is ok again.
  await rs.start();
  await until('the backlog shipped', async () => (await health(d)).audit_ship_acked === d.daemon.audit.lastSeq, 60_000);
  assert.equal((await health(d)).audit_ship, 'ok');
  await rs.stop();
  const copy = compareCopy(d.config.audit.path, remoteLines(rs));
  assert.equal(copy.entries, d.daemon.audit.lastSeq);
  assert.equal(copy.missing, 0);
});

/** A receiver we control: octet-counted messages to `got`, and what it does when the sender ends its side. */
async function fakeReceiver(t: TestContext, behaviour: { onEnd: 'close' | 'ignore'; resetAfterBytes?: number }): Promise<{ port: number; got: string[]; connections: number }> {
  const state = { port: 0, got: [] as string[], connections: 0 };
  const sockets = new Set<net.Socket>();
  let received = 0;
  // allowHalfOpen: our end of stream does not close its side unless the behaviour says so (Node's default would).
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    state.connections++;
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      received += d.length;
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) break;
        const len = Number(buf.subarray(0, sp).toString());
        if (buf.length < sp + 1 + len) break;
        state.got.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
        buf = buf.subarray(sp + 1 + len);
      }
      if (behaviour.resetAfterBytes !== undefined && received >= behaviour.resetAfterBytes) {
        behaviour.resetAfterBytes = undefined; // once
        s.resetAndDestroy();
      }
    });
    s.on('end', () => behaviour.onEnd === 'close' && s.end());
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.port = (server.address() as net.AddressInfo).port;
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return state;
}

async function apiLog(t: TestContext, config: AuditShipConfig, n: number): Promise<{ audit: AuditLog; shipper: AuditShipper; file: string }> {
  const file = path.join(tempDir(), 'audit.log');
  const audit = await AuditLog.open(file);
  for (let i = 1; i <= n; i++) await audit.append(entry(i));
  const shipper = AuditShipper.open(config, { file, durable: audit.durable });
  audit.onCommit = (ls, offset, seq, hash) => shipper.committed(ls, offset, seq, hash);
  t.after(async () => {
    await shipper.close(0);
    await audit.close();
  });
  return { audit, shipper, file };
}

test('acknowledged means the receiver closed its side in answer to ours: a reset mid-segment is sent again (counted, identical); a receiver that never answers acknowledges nothing', { timeout: 120_000 }, async (t) => {
  quietLog(t);
  // Reset after some bytes: the first segment is lost part-way, then sent again from the file.
  const resetting = await fakeReceiver(t, { onEnd: 'close', resetAfterBytes: 50_000 });
  const a = await apiLog(t, shipConfig({ target: 'tcp', address: `127.0.0.1:${resetting.port}`, interval_ms: 60_000 }), 400);
  assert.equal(await a.shipper.delivered(400, 30_000), true);
  const s = a.shipper.status();
  assert.ok(s.resent > 0, 'the reset segment was sent again');
  const copy = compareCopy(a.file, resetting.got);
  assert.equal(copy.entries, 400);
  assert.ok(copy.repeated > 0 && copy.repeated <= s.resent, `${copy.repeated} twice, ${s.resent} sent again`);
  assert.ok(fs.readFileSync(a.file + '.ship', 'utf8').startsWith(`{"seq":400,`), 'the acknowledged position is recorded beside the log');

  // Never closes in answer: everything arrives, yet nothing is acknowledged.
  const silent = await fakeReceiver(t, { onEnd: 'ignore' });
  const b = await apiLog(t, shipConfig({ target: 'tcp', address: `127.0.0.1:${silent.port}`, interval_ms: 60_000 }), 50);
  await until('the entries reach the silent receiver', () => silent.got.filter((m) => / audit - /.test(m)).length >= 50, 10_000);
  await sleep(1500);
  assert.equal(b.shipper.status().acked, 0, 'written to the socket is not acknowledged');
  // Control: the same entries to a receiver that closes in answer are acknowledged.
  const good = await fakeReceiver(t, { onEnd: 'close' });
  const c = await apiLog(t, shipConfig({ target: 'tcp', address: `127.0.0.1:${good.port}`, interval_ms: 60_000 }), 50);
  assert.equal(await c.shipper.delivered(50, 10_000), true);
  assert.equal(c.shipper.status().resent, 0);
  assert.equal(compareCopy(c.file, good.got).repeated, 0);
});

test('after a restart shipping resumes after the recorded entry; a log rewound under the record is reported and its new entries show the rewind in the copy', { timeout: 120_000 }, async (t) => {
  const seen = quietLog(t);
  const rx = await fakeReceiver(t, { onEnd: 'close' });
  const config = shipConfig({ target: 'tcp', address: `127.0.0.1:${rx.port}`, interval_ms: 60_000 });
  const file = path.join(tempDir(), 'audit.log');
  const session = async (from: number, n: number) => {
    const audit = await AuditLog.open(file);
    const shipper = AuditShipper.open(config, { file, durable: audit.durable });
    audit.onCommit = (ls, offset, seq, hash) => shipper.committed(ls, offset, seq, hash);
    for (let i = 0; i < n; i++) await audit.append(entry(from + i));
    assert.equal(await shipper.delivered(audit.lastSeq, 10_000), true);
    await shipper.close();
    await audit.close();
  };
  await session(1, 20);
  const snapshot = { log: fs.readFileSync(file), head: fs.readFileSync(headPathOf(file)) };
  await session(21, 10);
  const first = compareCopy(file, rx.got);
  assert.equal(first.entries, 30);
  assert.equal(first.repeated, 0, 'the second session sent only what the first had not');
  // Rewind log and head to entry 20 (the shipper's record still says 30), and sign on.
  fs.writeFileSync(file, snapshot.log);
  fs.writeFileSync(headPathOf(file), snapshot.head);
  await session(100, 3);
  assert.ok(seen.some((l) => /audit shipping: \S+\.ship: it records entry 30 as shipped, and the log ends at entry 20/.test(l)), seen.join('\n'));
  const copyFile = path.join(tempDir(), 'copy.log');
  fs.writeFileSync(copyFile, rx.got.join('\n') + '\n');
  const r = verifyAgainst(file, copyFile);
  assert.equal(r.partsAt, 21);
  assert.match(r.problem!, /^entry 21 differs between the local log and the shipped copy/);
});

test('the journal target: the stream header, one line per entry with its severity, acknowledged when journald closes; its copy (journalctl -o cat) verifies', { timeout: 60_000 }, async (t) => {
  quietLog(t);
  const dir = tempDir();
  const sock = path.join(dir, 'stdout');
  const streams: string[] = [];
  const server = net.createServer((s) => {
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('utf8')));
    s.on('end', () => {
      streams.push(text);
      s.end(); // journald closes a stream when it reads its end
    });
  });
  await new Promise<void>((r) => server.listen(sock, () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { shipper, file } = await apiLog(t, shipConfig({ target: 'journal', address: sock, app_name: 'arkeo-audit', interval_ms: 60_000 }), 5);
  assert.equal(await shipper.delivered(5, 10_000), true);
  assert.ok(streams.length >= 1);
  const [header, ...body] = streams[0]!.split('\n');
  assert.equal(streams[0]!.split('\n').slice(0, 7).join('\n'), 'arkeo-audit\n\n6\n1\n0\n0\n0', 'identifier, unit id, priority, level prefix, no forwarding');
  assert.equal(header, 'arkeo-audit');
  const messages = body.slice(6).filter(Boolean);
  assert.match(messages[0]!, /^<6>\{"head":\{"seq":5,/);
  assert.deepEqual(messages.slice(1), lines(file).map((l) => `<6>${l}`));
  // What journalctl -o cat prints (the message without its level prefix) is a copy audit verify reads.
  const copy = path.join(dir, 'journal.txt');
  fs.writeFileSync(copy, messages.map((m) => m.replace(/^<\d>/, '')).join('\n') + '\n');
  const r = await runAsync(BIN.arkeoSigner, ['audit', 'verify', file, '--against', copy]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /\nok: agrees with the shipped copy \(entries 1–5, head records up to entry 5\)\n$/);
});

test('a log changed under the running shipper: the entries it can no longer read back are counted as dropped, and health says so', { timeout: 60_000 }, async (t) => {
  quietLog(t);
  const port = await freePort(); // nothing listens yet
  const { audit, shipper, file } = await apiLog(t, shipConfig({ target: 'tcp', address: `127.0.0.1:${port}`, interval_ms: 60_000, queue_size: 1 }), 0);
  for (let i = 1; i <= 10; i++) await audit.append(entry(i));
  // Entry 4's bytes overwritten in place (same length) while they wait to be shipped.
  const text = fs.readFileSync(file, 'utf8');
  const at = text.indexOf('{"seq":4,');
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, '{"seq":9,', at);
  fs.closeSync(fd);
  const rx = await fakeReceiverOn(t, port);
  await until('the shipper got as far as it could', () => shipper.status().acked === 10, 20_000);
  assert.equal(shipper.status().dropped, 7, 'entries 4 to 10');
  assert.match(shipper.health(), /^error: the local log does not hold entry 4 where it was written \(byte \d+\): it was changed under the running daemon; 7 entries not shipped$/);
  assert.equal(compareCopy(file, rx.got).missing, 7, 'exactly the dropped ones are missing from the copy');
});

/** Like fakeReceiver, on a given port (closing in answer). */
async function fakeReceiverOn(t: TestContext, port: number): Promise<{ got: string[] }> {
  const got: string[] = [];
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let sp = buf.indexOf(0x20); sp >= 0; sp = buf.indexOf(0x20)) {
        const len = Number(buf.subarray(0, sp).toString());
        if (buf.length < sp + 1 + len) break;
        got.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
        buf = buf.subarray(sp + 1 + len);
      }
    });
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { got };
}

test('audit drill: every attack caught by some check; the rewinds of log and head only by the shipped copy; the start check misses a mid-log edit (control)', { timeout: 120_000 }, async () => {
  const r = await runAsync(BIN.arkeoSigner, ['audit', 'drill', '-o', 'json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { all_caught: boolean; attacks: { name: string; local: { caught: boolean }; start: { caught: boolean }; remote: { caught: boolean; detail: string } }[] };
  assert.equal(report.all_caught, true);
  const by = Object.fromEntries(report.attacks.map((a) => [a.name, [a.local.caught, a.start.caught, a.remote.caught]]));
  assert.deepEqual(by, {
    'edit an entry': [true, false, true],
    'delete an entry': [true, false, true],
    truncate: [true, true, true],
    'truncate the log and its head': [false, false, true],
    'rewind the log and its head': [false, false, true],
    'delete the log and its head': [true, false, true],
    'rewind, then keep signing': [false, false, true],
  });
  const text = await runAsync(BIN.arkeoSigner, ['audit', 'drill']);
  assert.equal(text.status, 0);
  assert.match(text.stdout, /\nrewind the log and its head: both replaced by the copy taken at entry 8\n  audit verify +missed .*\n  daemon start +missed .*\n  audit verify --against +caught +the shipped copy holds entries up to 12 and a head record of entry 12/);
  assert.match(text.stdout, /\nevery attack was caught by at least one check; only the shipped copy catches: truncate the log and its head, rewind the log and its head, rewind, then keep signing\n$/);
  // From an existing log: copied, never changed.
  const dir = tempDir();
  const file = path.join(dir, 'audit.log');
  const audit = await AuditLog.open(file);
  for (let i = 1; i <= 5; i++) await audit.append(entry(i));
  await audit.close();
  const before = fs.readFileSync(file);
  const from = await runAsync(BIN.arkeoSigner, ['audit', 'drill', '--log', file, '--keep', path.join(dir, 'drill')]);
  assert.equal(from.status, 0, from.stderr);
  assert.match(from.stdout, /^audit drill: 9 entries/);
  assert.deepEqual(fs.readFileSync(file), before);
  assert.equal(fs.existsSync(path.join(dir, 'drill', 'shipped.log')), true);
  const noKey = await runAsync(BIN.arkeoSigner, ['audit', 'drill', '--log', path.join(dir, 'drill', 'shipped.log')]);
  assert.equal(noKey.status, 2);
  assert.match(noKey.stderr, /^arkeo-signer: --log \S+shipped\.log: \S+shipped\.log\.key is missing; the drill needs the log's key beside it\n$/);
});

test('SignerDaemon without [audit.ship] has no shipping field and still reports its sequence (control)', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ k: KEY_HEX }, { app: { keys: ['k'], contracts: ['*'] } });
  t.after(() => d.daemon.stop());
  await claims(d, 3, 1);
  const h = await health(d);
  assert.equal('audit_ship' in h, false);
  assert.equal(await metric(d, 'arkeo_signer_audit_sequence'), d.daemon.audit.lastSeq);
  assert.doesNotMatch((await rawRequest(d.socket, 'GET', '/metrics')).body, /arkeo_signer_audit_ship_/);
});
