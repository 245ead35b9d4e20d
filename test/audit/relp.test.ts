import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { AuditLog, AuditShipper, SHIP_DEFAULTS, parseShippedLine, sha256Hex, type AuditInput, type AuditShipConfig } from '../../src/audit/index.js';
import { RELP_MAX_ANSWER, RelpSession, type RelpAnswer } from '../../src/audit/ship/relp.js';
import { setLogSink } from '../../src/log.js';
import { tempDir } from '../helpers.js';

/**
 * The RELP client (src/audit/ship/relp.ts) against what a server may send: librelp's own answers (the control),
 * then malformed, truncated, oversized and hostile ones, each of which must break the session (and only that); and
 * the shipper over RELP against a fake server in this process: one answer acknowledges one entry, at most a window
 * of entries waits, and a server that misbehaves costs a reconnection and a resend, never an entry.
 */

/** What librelp 1.11 (rsyslog's imrelp) answers to our open, byte for byte. */
const LIBRELP_OPEN_ANSWER = '1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n';

/** A session that sent open and `n` syslog commands (txnr 2 … n + 1). */
function sessionWith(n: number): RelpSession {
  const s = new RelpSession('arkeo-signer');
  s.open();
  for (let i = 0; i < n; i++) s.syslog(`<86>1 - - - - audit - message ${i}`);
  return s;
}

const sum = (answers: RelpAnswer[]): RelpAnswer => {
  const out: RelpAnswer = { opened: false, acked: 0, ended: false };
  for (const a of answers) {
    out.opened ||= a.opened;
    out.acked += a.acked;
    out.ended ||= a.ended;
    if (a.error && !out.error) out.error = a.error;
  }
  return out;
};

test('RELP frames we send: open with our offers, syslog with its length in bytes, close without data; numbered from 1', () => {
  const s = new RelpSession('arkeo-signer');
  const offers = 'relp_version=0\nrelp_software=arkeo-signer\ncommands=syslog';
  assert.equal(s.open(), `1 open ${offers.length} ${offers}\n`);
  const msg = '<86>1 2026-01-02T03:04:05.678Z host arkeo-signer 42 audit - {"who":"é"}';
  assert.equal(s.syslog(msg), `2 syslog ${Buffer.byteLength(msg)} ${msg}\n`);
  assert.notEqual(Buffer.byteLength(msg), msg.length, 'DATALEN counts bytes, not characters');
  assert.equal(s.close(), '3 close 0\n');
  assert.throws(() => s.syslog('x'), /RELP syslog in state closing/, 'nothing after close');
  assert.equal(s.unanswered, 3);
});

test('RELP answers: librelp\'s own session (open, two acks, the close answer and serverclose) in one chunk and byte by byte alike (control)', () => {
  const server = `${LIBRELP_OPEN_ANSWER}2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 0\n0 serverclose 0\n`;
  for (const split of [server.length, 1, 7]) {
    const s = sessionWith(2);
    s.close();
    const answers: RelpAnswer[] = [];
    for (let i = 0; i < server.length; i += split) answers.push(s.receive(Buffer.from(server.slice(i, i + split), 'latin1')));
    assert.deepEqual(sum(answers), { opened: true, acked: 2, ended: true }, `chunks of ${split}`);
    assert.equal(s.unanswered, 0);
  }
  // A truncated frame is no answer yet, and no error: the rest may come.
  const s = sessionWith(1);
  assert.deepEqual(s.receive(Buffer.from(LIBRELP_OPEN_ANSWER)), { opened: true, acked: 0, ended: false });
  assert.deepEqual(s.receive(Buffer.from('2 rsp 6 200 O')), { opened: false, acked: 0, ended: false });
  assert.deepEqual(s.receive(Buffer.from('K\n')), { opened: false, acked: 1, ended: false });
  // serverclose on its own: the server ends the session (rsyslog stopping).
  assert.deepEqual(sessionWith(0).receive(Buffer.from(`${LIBRELP_OPEN_ANSWER}0 serverclose 0\n`)), { opened: true, acked: 0, ended: true });
});

test('RELP answers that are malformed, oversized or hostile break the session, each beside a well-formed control', () => {
  // [what, the bad bytes after a good open answer, the well-formed control, the error]
  const cases: [string, string, string, RegExp][] = [
    ['a TXNR that is not a number', 'x rsp 6 200 OK\n', '2 rsp 6 200 OK\n', /malformed frame header/],
    ['a TXNR of ten digits', '0000000002 rsp 6 200 OK\n', '000000002 rsp 6 200 OK\n', /malformed frame header/],
    ['a command that is not letters', '2 rs_p 6 200 OK\n', '2 rsp 6 200 OK\n', /malformed frame header/],
    ['a command of 33 letters', `2 ${'r'.repeat(33)} 6 200 OK\n`, '2 rsp 6 200 OK\n', /malformed frame header/],
    ['two spaces', '2  rsp 6 200 OK\n', '2 rsp 6 200 OK\n', /malformed frame header/],
    ['a negative DATALEN', '2 rsp -6 200 OK\n', '2 rsp 6 200 OK\n', /malformed frame header/],
    ['no trailer after the data', '2 rsp 6 200 OKX', '2 rsp 6 200 OK\n', /does not end where its DATALEN 6 says/],
    ['DATALEN shorter than the data', '2 rsp 3 200 OK\n', '2 rsp 3 200\n', /does not end where its DATALEN 3 says/],
    ['the trailer where data should be', '2 rsp 6\n200 OK\n', '2 rsp 6 200 OK\n', /ends before its 6 bytes of data/],
    ['an answer without a status', '2 rsp 0\n', '2 rsp 6 200 OK\n', /malformed answer from the server \(\)/],
    ['a space and no data', '0 serverclose 0 \n', '0 serverclose 0\n', /a space but no data/],
    ['a status that is not three digits', '2 rsp 5 20 OK\n', '2 rsp 6 200 OK\n', /malformed answer from the server \(20 OK\)/],
    ['a refusal', '2 rsp 15 500 queue full\x07\n', '2 rsp 6 200 OK\n', /^the server refused a message: 500 queue full\?$/],
    ['an answer out of order', '3 rsp 6 200 OK\n', '2 rsp 6 200 OK\n', /answered transaction 3 where 2 was next/],
    ['an answer to nothing', '2 rsp 6 200 OK\n2 rsp 6 200 OK\n', '2 rsp 6 200 OK\n', /answered transaction 2, and none is waiting/],
    ['an answer at txnr 0', '0 rsp 6 200 OK\n', '2 rsp 6 200 OK\n', /answered transaction 0 where 2 was next/],
    ['a command from the server', '2 syslog 5 hello\n', '2 rsp 6 200 OK\n', /sent the command "syslog"/],
    ['a hint we do not know', '0 abort 0\n', '0 serverclose 0\n', /sent the command "abort"/],
    ['a frame after serverclose', '0 serverclose 0\n2 rsp 6 200 OK\n', '0 serverclose 0\n0 serverclose 0\n', /sent "rsp" after it ended the session/],
    ['a DATALEN past the bound', `2 rsp ${RELP_MAX_ANSWER + 1} 200 `, `2 rsp ${RELP_MAX_ANSWER} 200 ${'x'.repeat(RELP_MAX_ANSWER - 4)}\n`, new RegExp(`a frame of ${RELP_MAX_ANSWER + 1} bytes from the server \\(at most ${RELP_MAX_ANSWER}\\)`)],
    ['a DATALEN of 999,999,999', '2 rsp 999999999 ', '2 rsp 6 200 OK\n', /a frame of 999999999 bytes/],
    ['binary garbage', '\x00\xff\x16\x03\x01\x02\x00', '2 rsp 6 200 OK\n', /malformed frame header from the server \(\?\?\?\?\?\?\?\)/],
    ['a TLS alert on a plain connection', '\x15\x03\x03\x00\x02\x02\x28', '2 rsp 6 200 OK\n', /malformed frame header/],
  ];
  for (const [what, bad, good, re] of cases) {
    const control = sessionWith(1).receive(Buffer.from(LIBRELP_OPEN_ANSWER + good, 'latin1'));
    assert.equal(control.error, undefined, `control for ${what}: ${control.error}`);
    const s = sessionWith(1);
    const a = s.receive(Buffer.from(LIBRELP_OPEN_ANSWER + bad, 'latin1'));
    assert.match(a.error ?? '', re, what);
    assert.equal(a.opened, true, `${what}: the open answer before the fault still counts`);
    assert.doesNotMatch(a.error!, /[^ -~…]/, `${what}: the message is printable`);
    assert.equal(s.receive(Buffer.from('2 rsp 6 200 OK\n')).error, 'the session is already broken', `${what}: nothing after a fault counts`);
  }
  // Answers before a fault in the same chunk still acknowledge their messages (they did arrive).
  const s = sessionWith(3);
  assert.deepEqual(s.receive(Buffer.from(`${LIBRELP_OPEN_ANSWER}2 rsp 6 200 OK\n3 rsp 6 200 OK\nGET / HTTP/1.1\r\n`)), { opened: true, acked: 2, ended: false, error: 'a malformed frame header from the server (GET / HTTP/1.1??)' });
});

test('RELP: a refused open, an open answer without relp_version or without the syslog command break the session; librelp\'s answer opens it (control)', () => {
  const open = (data: string) => sessionWith(0).receive(Buffer.from(`1 rsp ${Buffer.byteLength(data)} ${data}\n`));
  assert.deepEqual(open('200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog'), { opened: true, acked: 0, ended: false });
  assert.deepEqual(open('200 OK\nrelp_version=1\ncommands=eventlog,syslog'), { opened: true, acked: 0, ended: false });
  assert.match(open('500 unsupported relp version').error!, /^the server refused the session: 500 unsupported relp version$/);
  assert.match(open('200 OK\ncommands=syslog').error!, /has no relp_version offer/);
  assert.match(open('200 OK\nrelp_version=x\ncommands=syslog').error!, /has no relp_version offer/);
  assert.match(open('200 OK\nrelp_version=0\ncommands=eventlog').error!, /does not offer the syslog command/);
  assert.match(open('200 OK\nrelp_version=0').error!, /does not offer the syslog command/);
});

test('RELP reads are bounded: a header that never ends fails within 53 bytes, a frame never completes past its bound, a flood fails at once', () => {
  // Digits without end: an error once the header cannot be complete, without waiting for more.
  const s1 = sessionWith(0);
  s1.receive(Buffer.from(LIBRELP_OPEN_ANSWER));
  let fed = 0;
  let err: string | undefined;
  while (!err && fed < 1000) {
    err = s1.receive(Buffer.from('1')).error;
    fed++;
  }
  assert.ok(err && fed <= 10, `failed after ${fed} bytes: ${err}`);
  const s2 = sessionWith(1);
  s2.receive(Buffer.from(LIBRELP_OPEN_ANSWER));
  fed = 0;
  err = undefined;
  for (const chunk of ['2 ', ...Array.from({ length: 40 }, () => 'r')]) {
    err = s2.receive(Buffer.from(chunk)).error;
    fed += chunk.length;
    if (err) break;
  }
  assert.ok(err && fed <= 53, `a long command failed after ${fed} bytes: ${err}`);
  // A megabyte of garbage in one chunk: an error, not a scan of all of it.
  const t0 = process.hrtime.bigint();
  assert.match(sessionWith(0).receive(Buffer.alloc(1 << 20, 0x41)).error!, /malformed frame header/);
  assert.ok(process.hrtime.bigint() - t0 < 50_000_000n, 'answered at once');
  // Control: a frame at the bound, delivered a byte at a time, completes.
  const s3 = sessionWith(1);
  s3.receive(Buffer.from(LIBRELP_OPEN_ANSWER));
  const big = `2 rsp ${RELP_MAX_ANSWER} 200 ${'x'.repeat(RELP_MAX_ANSWER - 4)}\n`;
  let acked = 0;
  for (let i = 0; i < big.length; i += 1000) acked += s3.receive(Buffer.from(big.slice(i, i + 1000))).acked;
  assert.equal(acked, 1);
});

test('RELP transaction numbers go back to 1 after 999,999,999 (0 is the server\'s)', () => {
  const s = new RelpSession('arkeo-signer');
  s.open();
  (s as unknown as { next: number }).next = 999_999_999; // as if that many had gone before
  assert.match(s.syslog('a'), /^999999999 syslog 1 a\n$/);
  assert.match(s.syslog('b'), /^1 syslog 1 b\n$/);
  const a = s.receive(Buffer.from(`${LIBRELP_OPEN_ANSWER}999999999 rsp 6 200 OK\n1 rsp 6 200 OK\n`));
  assert.deepEqual(a, { opened: true, acked: 2, ended: false });
});

// ------------------------------------------------------------------------------------------------ the shipper over RELP

const entry = (i: number): AuditInput => ({ who: { transport: 'unix', token: 'app' }, what: { op: 'claim', key: 'arkeo1xyz', contract: '7', nonce: String(i), msg_sha256: sha256Hex(`7:${i}:`) }, result: 'ok', status: 200, latency_us: 100 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quietLog(t: TestContext): void {
  setLogSink(() => {});
  t.after(() => setLogSink((l) => process.stderr.write(l + '\n')));
}

/** What the fake server does with a connection's `n`-th syslog command (1-based, counting over all connections). */
type Misbehaviour = { at: number; send: string } | undefined;

interface FakeRelp {
  port: number;
  /** The messages taken (acknowledged or not), in arrival order. */
  got: string[];
  connections: number;
  /** The most syslog commands seen waiting for their answer at once. */
  maxUnanswered: number;
}

/**
 * A RELP server of our own: parses the client's frames (with its own parser, not the client's), answers open as
 * librelp does and each syslog with 200, unless `misbehave` says what to send instead at one message (once), or
 * `holdMs` delays answers to let them pile up.
 */
async function fakeRelp(t: TestContext, options: { misbehave?: Misbehaviour; openAnswer?: string; holdMs?: number } = {}): Promise<FakeRelp> {
  const state: FakeRelp = { port: 0, got: [], connections: 0, maxUnanswered: 0 };
  const sockets = new Set<net.Socket>();
  let syslogs = 0;
  let misbehave = options.misbehave;
  const server = net.createServer((s) => {
    sockets.add(s);
    state.connections++;
    let buf = Buffer.alloc(0);
    let held: string[] = [];
    const flush = () => {
      if (held.length && !s.destroyed) s.write(held.join(''));
      held = [];
    };
    const timer = options.holdMs ? setInterval(flush, options.holdMs) : undefined;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const m = /^(\d+) ([a-z]+) (\d+)[ \n]/.exec(buf.subarray(0, 60).toString('latin1'));
        if (!m) break;
        const len = Number(m[3]);
        const end = m[0].length + len + (len > 0 ? 1 : 0);
        if (buf.length < end) break;
        const data = len > 0 ? buf.subarray(m[0].length, m[0].length + len).toString('utf8') : '';
        buf = buf.subarray(end);
        const [txnr, command] = [m[1]!, m[2]!];
        if (command === 'open') s.write(options.openAnswer ?? LIBRELP_OPEN_ANSWER.replace(/^1 /, `${txnr} `));
        else if (command === 'close') s.end(`${txnr} rsp 0\n0 serverclose 0\n`);
        else if (command === 'syslog') {
          state.got.push(data);
          syslogs++;
          if (misbehave && syslogs === misbehave.at) {
            const send = misbehave.send.replace('TXNR', txnr);
            misbehave = undefined;
            if (send === 'RESET') return void s.resetAndDestroy();
            if (send === 'SERVERCLOSE') return void s.end('0 serverclose 0\n');
            s.write(send);
            continue;
          }
          held.push(`${txnr} rsp 6 200 OK\n`);
          state.maxUnanswered = Math.max(state.maxUnanswered, held.length);
          if (!options.holdMs) flush();
        }
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      sockets.delete(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.port = (server.address() as net.AddressInfo).port;
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return state;
}

async function relpLog(t: TestContext, port: number, n: number, extra: Partial<AuditShipConfig> = {}): Promise<{ audit: AuditLog; shipper: AuditShipper; file: string }> {
  const file = path.join(tempDir(), 'audit.log');
  const audit = await AuditLog.open(file);
  for (let i = 1; i <= n; i++) await audit.append(entry(i));
  const shipper = AuditShipper.open({ ...SHIP_DEFAULTS, target: 'relp', address: `127.0.0.1:${port}`, interval_ms: 60_000, ...extra }, { file, durable: audit.durable });
  audit.onCommit = (ls, offset, seq, hash) => shipper.committed(ls, offset, seq, hash);
  t.after(async () => {
    await shipper.close(0);
    await audit.close();
  });
  return { audit, shipper, file };
}

/** The entries among `got`, as sequence numbers in arrival order. */
const seqs = (got: string[]) => got.map((m) => parseShippedLine(m)).flatMap((m) => (m.kind === 'entry' ? [m.seq] : []));

test('the shipper over RELP: each answer acknowledges its entry, one connection, no resend, the position kept beside the log (control)', { timeout: 60_000 }, async (t) => {
  quietLog(t);
  const rx = await fakeRelp(t);
  const { audit, shipper, file } = await relpLog(t, rx.port, 300);
  assert.equal(await shipper.delivered(300, 10_000), true, JSON.stringify(shipper.status()));
  for (let i = 301; i <= 400; i++) await audit.append(entry(i));
  assert.equal(await shipper.delivered(400, 10_000), true);
  const s = shipper.status();
  assert.deepEqual([s.acked, s.resent, s.dropped, s.connected, rx.connections], [400, 0, 0, true, 1]);
  assert.deepEqual(seqs(rx.got), Array.from({ length: 400 }, (_, i) => i + 1), 'every entry once, in order');
  assert.equal(parseShippedLine(rx.got[0]!).kind, 'head', 'the head record first');
  assert.ok(fs.readFileSync(`${file}.ship`, 'utf8').startsWith('{"seq":400,'));
  assert.equal(shipper.health(), 'ok');
});

test('the shipper over RELP keeps at most 128 entries unanswered; a slow server is waited for, not overrun', { timeout: 60_000 }, async (t) => {
  quietLog(t);
  const rx = await fakeRelp(t, { holdMs: 50 });
  const { shipper } = await relpLog(t, rx.port, 2000, { queue_size: 100 }); // past the queue: read from the file
  assert.equal(await shipper.delivered(2000, 30_000), true, JSON.stringify(shipper.status()));
  assert.ok(rx.maxUnanswered <= 128 && rx.maxUnanswered >= 100, `at most 128 waited for an answer (${rx.maxUnanswered})`);
  assert.deepEqual(seqs(rx.got), Array.from({ length: 2000 }, (_, i) => i + 1));
  assert.equal(shipper.status().resent, 0);
});

test('a RELP server that misbehaves mid-stream loses the connection; the unanswered entries are sent again from the file, none lost, repeats within the count', { timeout: 120_000 }, async (t) => {
  quietLog(t);
  const cases: [string, string, RegExp][] = [
    ['garbage instead of an answer', 'HTTP/1.1 400 Bad Request\r\n\r\n', /RELP to 127\.0\.0\.1:\d+: a malformed frame header from the server \(HTTP\/1\.1 400 Bad Request\?\?/],
    ['an answer out of order', '999 rsp 6 200 OK\n', /answered transaction 999 where \d+ was next/],
    ['an oversized answer', 'TXNR rsp 200000 200 ', /a frame of 200000 bytes from the server/],
    ['a refusal', 'TXNR rsp 12 500 no space\n', /the server refused a message: 500 no space/],
    ['serverclose mid-stream, its answers unsent', 'SERVERCLOSE', /the receiver ended the session/],
    ['a reset', 'RESET', /ECONNRESET|the connection closed/],
  ];
  for (const [what, send, re] of cases) {
    const rx = await fakeRelp(t, { misbehave: { at: 150, send } });
    const { shipper, file } = await relpLog(t, rx.port, 400);
    const errors = new Set<string>();
    const watch = setInterval(() => {
      const e = shipper.status().lastError;
      if (e) errors.add(e);
    }, 1);
    const ok = await shipper.delivered(400, 20_000);
    clearInterval(watch);
    const s = shipper.status();
    assert.equal(ok, true, `${what}: ${JSON.stringify(s)}`);
    assert.ok([...errors].some((e) => re.test(e)), `${what}: ${[...errors].join('; ')}`);
    assert.ok(rx.connections >= 2, `${what}: a new connection`);
    assert.ok(s.resent > 0 && s.resent <= 128, `${what}: ${s.resent} sent again`);
    const got = seqs(rx.got);
    const unique = new Set(got);
    assert.equal(unique.size, 400, `${what}: every entry arrived`);
    assert.ok(got.length - unique.size <= s.resent, `${what}: ${got.length - unique.size} repeats within the ${s.resent} sent again`);
    assert.ok(fs.readFileSync(`${file}.ship`, 'utf8').startsWith('{"seq":400,'), what);
  }
});

test('a RELP server that takes messages and never answers acknowledges nothing; one that does not offer syslog never gets an entry', { timeout: 60_000 }, async (t) => {
  quietLog(t);
  const silent = await fakeRelp(t, { holdMs: 3_600_000 });
  const a = await relpLog(t, silent.port, 50);
  await sleep(1500);
  assert.equal(seqs(silent.got).length, 50, 'sent');
  assert.equal(a.shipper.status().acked, 0, 'written to the socket is not acknowledged');
  const offers = '200 OK\nrelp_version=0\ncommands=eventlog';
  const noSyslog = await fakeRelp(t, { openAnswer: `1 rsp ${offers.length} ${offers}\n` });
  const b = await relpLog(t, noSyslog.port, 5);
  await sleep(800);
  assert.equal(noSyslog.got.length, 0);
  assert.match(b.shipper.status().lastError ?? '', /RELP to 127\.0\.0\.1:\d+: the server does not offer the syslog command/);
  // Control: the well-behaved server gets and acknowledges the same.
  const good = await fakeRelp(t);
  const c = await relpLog(t, good.port, 50);
  assert.equal(await c.shipper.delivered(50, 10_000), true);
});
