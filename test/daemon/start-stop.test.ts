import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { DaemonClient } from '../../src/daemon/index.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { BIN, run, tempDir } from '../helpers.js';
import { rawRequest } from '../support/daemon.js';

/**
 * Start-up and shutdown as operators meet them (issue 13, items 2, 3, 5–9): a clean stop skips no nonce, a
 * `nonce set` reaches a running daemon, a second start leaves the first alone, a failed start exits promptly, a
 * SIGTERM right after the socket appears is a clean stop, and the audit log is checked at start.
 */
const KEY_HEX = toHex(sha256(utf8('arkeo-signer start-stop test key')));

interface Home {
  home: string;
  env: Record<string, string>;
  socket: string;
  log: string;
  token: string;
}

function setup(): Home {
  const home = tempDir();
  const env = { ARKEO_HOME: home };
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX], { env }).status, 0);
  assert.equal(run(BIN.arkeoSigner, ['daemon', 'init'], { env }).status, 0);
  const tok = run(BIN.arkeoSigner, ['daemon', 'token', 'create', '--name', 't', '--keys', 'k'], { env });
  assert.equal(tok.status, 0, tok.stderr);
  return { home, env, socket: path.join(home, 'signer', 'keyd.sock'), log: path.join(home, 'signer', 'audit.log'), token: tok.stdout.trim() };
}

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A daemon process, killed when the test ends whatever happens. */
function spawnDaemon(t: TestContext, h: Home, ...args: string[]): Proc {
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'daemon', 'start', ...args], { env: { ...process.env, ...h.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  t.after(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  return { child, stderr: () => err, exited };
}

async function listening(p: Proc): Promise<void> {
  for (let i = 0; i < 400 && !/listening on/.test(p.stderr()); i++) await new Promise((r) => setTimeout(r, 25));
  assert.match(p.stderr(), /listening on/, `daemon did not start: ${p.stderr()}`);
}

const entries = (h: Home) => fs.readFileSync(h.log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { what: { op: string }; result: string });

async function claimOnce(h: Home, contract: bigint): Promise<string> {
  const c = new DaemonClient(h.socket, { token: h.token, timeoutMs: 5000 });
  try {
    return (await c.claim(contract, 'k')).nonce;
  } finally {
    c.close();
  }
}

// Guards the bug where a clean stop threw the prefetched block away: one claim, SIGTERM, and the next claim was 65.
test('a clean stop gives the unused nonce block back: the next claim after a restart is the next nonce', { timeout: 60_000 }, async (t) => {
  const h = setup();
  const d = spawnDaemon(t, h);
  await listening(d);
  assert.equal(await claimOnce(h, 42n), '1');
  d.child.kill('SIGTERM');
  assert.deepEqual(await d.exited, { code: 0, signal: null }, d.stderr());
  const next = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '42', '--key', 'k'], { env: h.env });
  assert.equal(next.status, 0, next.stderr);
  assert.match(next.stdout, /^42:2:/, 'nonce 2, not 65');
});

// Guards the bug where `nonce set --nonce 1000` left the daemon handing out 6, 7, 8 from its block.
test('nonce set reaches a running daemon before its next claim', { timeout: 60_000 }, async (t) => {
  const h = setup();
  const d = spawnDaemon(t, h);
  await listening(d);
  assert.equal(await claimOnce(h, 42n), '1');
  assert.equal(await claimOnce(h, 42n), '2');
  const set = run(BIN.arkeoSigner, ['nonce', 'set', '--contract', '42', '--key', 'k', '--nonce', '1000'], { env: h.env });
  assert.equal(set.status, 0, set.stderr);
  assert.equal(await claimOnce(h, 42n), '1001');
  d.child.kill('SIGTERM');
  assert.equal((await d.exited).code, 0);
});

// Guards the bug where a second `daemon start` deleted the first daemon's socket on its way out.
test('a second daemon start is refused and leaves the running daemon reachable; a file at the socket path is left alone', { timeout: 60_000 }, async (t) => {
  const h = setup();
  const first = spawnDaemon(t, h);
  await listening(first);
  const second = spawnDaemon(t, h);
  const r = await second.exited;
  assert.equal(r.code, 1);
  assert.match(second.stderr(), /another daemon is listening/);
  assert.ok(fs.existsSync(h.socket), 'the running daemon keeps its socket');
  assert.equal(await claimOnce(h, 7n), '1', 'and still answers');
  first.child.kill('SIGTERM');
  assert.equal((await first.exited).code, 0);

  fs.writeFileSync(h.socket, 'not a socket');
  const third = spawnDaemon(t, h);
  assert.equal((await third.exited).code, 1);
  assert.match(third.stderr(), /exists and is not a socket; refusing to replace it/);
  assert.equal(fs.readFileSync(h.socket, 'utf8'), 'not a socket', 'the file it refused to replace is still there');
});

// Guards the bug where a corrupt tokens.json printed the error and then hung for ever (a signing thread was left
// running); every failed start must exit non-zero promptly.
test('every failed start exits 1 promptly with one line', { timeout: 120_000 }, async (t) => {
  const cases: [string, (h: Home) => void, RegExp][] = [
    ['corrupt tokens.json', (h) => fs.writeFileSync(path.join(h.home, 'signer', 'tokens.json'), '{"tokens": [', { mode: 0o600 }), /tokens/],
    ['audit.log is a symbolic link', (h) => fs.symlinkSync('/etc/hostname', h.log), /audit\.log: is a symbolic link; refusing/],
    ['a truncated audit log', (h) => {
      fs.writeFileSync(h.log, fs.readFileSync(h.log, 'utf8').split('\n').slice(0, 1).join('\n') + '\n');
    }, /the head records \d+ entries but the log ends at entry 1.*--accept-audit-log/],
  ];
  for (const [name, damage, expected] of cases) {
    const h = setup();
    if (name === 'a truncated audit log') {
      // Give the log a few entries and a head first.
      const d = spawnDaemon(t, h);
      await listening(d);
      await claimOnce(h, 1n);
      d.child.kill('SIGTERM');
      await d.exited;
    }
    damage(h);
    const started = Date.now();
    const d = spawnDaemon(t, h);
    const r = await Promise.race([d.exited, new Promise<'hung'>((res) => setTimeout(() => res('hung'), 15_000))]);
    assert.notEqual(r, 'hung', `${name}: still running after 15 s: ${d.stderr()}`);
    assert.equal((r as { code: number }).code, 1, `${name}: ${d.stderr()}`);
    assert.match(d.stderr(), expected, name);
    assert.equal(d.stderr().trim().split('\n').length, 1, `${name}: one line: ${d.stderr()}`);
    assert.ok(Date.now() - started < 15_000);
    assert.ok(!fs.existsSync(h.socket), `${name}: no socket left behind`);
  }
});

test('a config naming a missing key, or a missing nonce store, fails start promptly with one line', { timeout: 60_000 }, async (t) => {
  for (const [name, toml, expected] of [
    ['missing key', '[keyring]\nkeys = ["nosuch"]\n', /keyring\.keys: nosuch is not a local, pkcs11 or cloud KMS key/],
    ['missing store', `[nonces]\nstore = "${'/nonexistent/n.db'}"\n`, /nonexistent\/n\.db does not exist/],
  ] as const) {
    const h = setup();
    const config = path.join(h.home, 'custom.toml');
    fs.writeFileSync(config, toml);
    const d = spawnDaemon(t, h, '--config', config);
    const r = await Promise.race([d.exited, new Promise<'hung'>((res) => setTimeout(() => res('hung'), 15_000))]);
    assert.notEqual(r, 'hung', `${name}: hung: ${d.stderr()}`);
    assert.equal((r as { code: number }).code, 1, d.stderr());
    assert.match(d.stderr(), expected);
  }
});

// Guards the bug where the SIGTERM handler was installed only after the socket appeared: a stop right then exited
// 143 with no "stopped" entry.
test('SIGTERM the moment the socket appears is a clean stop, eight times in a row', { timeout: 120_000 }, async (t) => {
  const h = setup();
  for (let i = 0; i < 8; i++) {
    const d = spawnDaemon(t, h);
    for (let n = 0; n < 10_000 && !fs.existsSync(h.socket); n++) await new Promise((r) => setTimeout(r, 1));
    assert.ok(fs.existsSync(h.socket), `round ${i}: no socket: ${d.stderr()}`);
    d.child.kill('SIGTERM');
    assert.deepEqual(await d.exited, { code: 0, signal: null }, `round ${i}: ${d.stderr()}`);
    const last = entries(h).at(-1)!;
    assert.equal(last.result, 'stopped', `round ${i}: the last entry is the stop`);
  }
});

test('the audit log is checked at start: a truncated log is refused, --accept-audit-log records and continues', { timeout: 60_000 }, async (t) => {
  const h = setup();
  let d = spawnDaemon(t, h);
  await listening(d);
  await claimOnce(h, 3n);
  d.child.kill('SIGTERM');
  await d.exited;
  fs.writeFileSync(h.log, fs.readFileSync(h.log, 'utf8').split('\n').slice(0, 1).join('\n') + '\n');
  d = spawnDaemon(t, h);
  assert.equal((await d.exited).code, 1);
  assert.match(d.stderr(), /audit verify .*--accept-audit-log/);
  d = spawnDaemon(t, h, '--accept-audit-log');
  await listening(d);
  d.child.kill('SIGTERM');
  assert.equal((await d.exited).code, 0);
  assert.ok(entries(h).some((e) => e.what.op === 'audit-accept' && e.result === 'recovered'));
  const verify = run(BIN.arkeoSigner, ['audit', 'verify', h.log]);
  assert.equal(verify.status, 0, verify.stdout);
});

// Guards the bug where deleting audit.log under a running daemon went unnoticed: claims succeeded, /healthz said ok.
test('deleting audit.log under a running daemon: /healthz 503 and no more signatures', { timeout: 60_000 }, async (t) => {
  const h = setup();
  const d = spawnDaemon(t, h);
  await listening(d);
  assert.equal(await claimOnce(h, 9n), '1');
  fs.rmSync(h.log);
  const health = await rawRequest(h.socket, 'GET', '/healthz');
  assert.equal(health.status, 503);
  assert.match(String(health.json?.audit), /deleted while open/);
  const claim = await rawRequest(h.socket, 'POST', '/v1/claims', { token: h.token, body: JSON.stringify({ contract: '9', key: 'k' }) });
  assert.equal(claim.status, 503);
  assert.equal(claim.json?.signature, undefined);
  d.child.kill('SIGTERM');
  assert.equal((await d.exited).code, 0);
});
