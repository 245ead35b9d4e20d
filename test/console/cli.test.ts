import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import * as https from 'node:https';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { AuditLog } from '../../src/audit/index.js';
import { defaultConfig } from '../../src/daemon/index.js';
import { ConsoleServer } from '../../src/console/index.js';
import { BIN, requireComponent, run, tempDir } from '../helpers.js';

/** `arkeo-signer console` as an operator runs it: the printed URL, the one-time login, 401 without it, a clean stop. */

test('arkeo-signer console prints a one-time login URL and stops cleanly on SIGTERM', { timeout: 60_000 }, async (t) => {
  const home = tempDir();
  const file = path.join(home, 'signer', 'audit.log');
  const log = await AuditLog.open(file);
  await log.append({ who: { transport: 'local' }, what: { op: 'start' }, result: 'started' });
  await log.close();
  const config = path.join(home, 'daemon.toml');
  fs.writeFileSync(config, `[keyring]\nhome = "${home}"\n`);
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'console', '--listen', '127.0.0.1:0', '--allowed-host', 'console.lan', '--allowed-host', 'proxy.example:443', '--config', config, '--sample-interval', '0.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  // The names given with --allowed-host are answered (the first with the console's port); others are not.
  const port = Number(new URL(loginUrl).port);
  const status = (host: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/api/audit', headers: { host, cookie }, setHost: false, agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject);
    });
  for (const host of [`console.lan:${port}`, 'proxy.example']) assert.equal(await status(host), 200, host);
  for (const host of [`evil.example:${port}`, 'console.lan']) assert.equal(await status(host), 421, host);
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
    [['--allowed-host', 'http://console.lan'], /--allowed-host: expected a host name or address with an optional :PORT \(for example console\.lan or console\.lan:7446\), got "http:\/\/console\.lan"/],
    [['--bogus'], /console: unknown flag --bogus/],
    [['--settle-config', '/nonexistent/settle.toml'], /console: --settle-config \/nonexistent\/settle\.toml: .*no such file/],
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

test('the console over TLS: HTTPS, a Secure session cookie, still 401 without it', { timeout: 60_000 }, async (t) => {
  const dir = tempDir();
  if (!requireComponent(t, spawnSync('openssl', ['version'], { timeout: 30_000 }).status === 0, 'the openssl command (to make a test certificate)')) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'tls.key', '-out', 'tls.crt', '-subj', '/CN=console', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2'], { cwd: dir, stdio: 'pipe', timeout: 30_000 });
  const config = defaultConfig(dir);
  const server = await ConsoleServer.start({ config, listen: '127.0.0.1:0', tls: { cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') }, sampleIntervalMs: 60_000 });
  t.after(() => server.close());
  assert.match(server.loginUrl, /^https:\/\/127\.0\.0\.1:\d+\/login\?secret=/);
  const ca = fs.readFileSync(path.join(dir, 'tls.crt'));
  const get = (url: string, cookie?: string) =>
    new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
      const req = https.get(url, { ca, headers: cookie ? { cookie } : {}, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on('error', reject);
    });
  assert.equal((await get(server.url + 'api/audit')).status, 401);
  const login = await get(server.loginUrl);
  assert.equal(login.status, 303);
  const setCookie = String((login.headers['set-cookie'] as string[])[0]);
  assert.match(setCookie, /; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+; Secure$/);
  assert.equal((await get(server.url + 'api/audit', setCookie.split(';')[0])).status, 200);
  // A non-loopback address without TLS is refused by the library too, not only by the CLI; a port in use is one line.
  await assert.rejects(ConsoleServer.start({ config, listen: '0.0.0.0:0' }), /not a loopback address/);
  await assert.rejects(ConsoleServer.start({ config, listen: `127.0.0.1:${server.port}` }), /cannot listen \(EADDRINUSE\); another console or program uses that port/);
});
