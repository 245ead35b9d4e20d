import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { AuditLog } from '../../src/audit/index.js';
import { BIN, run, tempDir } from '../helpers.js';

/** `arkeo-signer console` as an operator runs it: the printed URL, the one-time login, 401 without it, a clean stop. */

test('arkeo-signer console prints a one-time login URL and stops cleanly on SIGTERM', { timeout: 60_000 }, async (t) => {
  const home = tempDir();
  const file = path.join(home, 'signer', 'audit.log');
  const log = await AuditLog.open(file);
  await log.append({ who: { transport: 'local' }, what: { op: 'start' }, result: 'started' });
  await log.close();
  const config = path.join(home, 'daemon.toml');
  fs.writeFileSync(config, `[keyring]\nhome = "${home}"\n`);
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'console', '--listen', '127.0.0.1:0', '--config', config, '--sample-interval', '0.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const loginUrl = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/login\?secret=[A-Za-z0-9_-]{43})\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  const secret = new URL(loginUrl).searchParams.get('secret')!;
  const base = new URL(loginUrl).origin;
  assert.equal((await fetch(base + '/api/audit')).status, 401);
  const login = await fetch(loginUrl, { redirect: 'manual' });
  assert.equal(login.status, 303);
  const setCookie = login.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /^arkeo_console=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\//);
  assert.ok(!setCookie.includes(secret), 'the session is not the login secret');
  const cookie = setCookie.split(';')[0]!;
  const audit = (await (await fetch(base + '/api/audit', { headers: { cookie } })).json()) as { total: number; integrity: { ok: boolean } };
  assert.equal(audit.total, 1);
  assert.equal(audit.integrity.ok, true);
  // The daemon is not running: the overview says so instead of failing.
  const overview = (await (await fetch(base + '/api/overview', { headers: { cookie } })).json()) as { alerts: { text: string }[] };
  assert.match(overview.alerts.map((a) => a.text).join('\n'), /daemon not running/);
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.ok(!err.includes(secret), 'the secret is printed once, on stdout only');
  assert.equal(out.split(secret).length - 1, 1);
});

test('arkeo-signer console: bad flags are one line and exit 2', { timeout: 30_000 }, () => {
  const cases: [string[], RegExp][] = [
    [['--listen', 'nonsense'], /--listen: expected host:port/],
    [['--listen', '0.0.0.0:7446'], /not a loopback address; listening beyond this host needs --tls-cert and --tls-key/],
    [['--tls-cert', 'x.pem'], /--tls-cert and --tls-key go together/],
    [['--sample-interval', 'often'], /--sample-interval: expected seconds/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = run(BIN.arkeoSigner, ['console', ...args]);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, args.join(' '));
    assert.equal(r.status, 2, args.join(' '));
  }
  const help = run(BIN.arkeoSigner, ['console', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: arkeo-signer console/);
});
