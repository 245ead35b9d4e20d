import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as dns from 'node:dns/promises';
import * as net from 'node:net';
import { defaultConfig } from '../../src/daemon/index.js';
import { ConsoleServer, type ConsoleOptions } from '../../src/console/index.js';
import { tempDir } from '../helpers.js';
import { writeLog } from './audit-logs.js';

/**
 * The console's HTTP guards, without a browser: the Host check (DNS rebinding), read-only methods for a logged-in
 * session, and session expiry on the console's own clock. Each refusal is shown beside the request it allows.
 */

async function startConsole(t: TestContext, options: Partial<ConsoleOptions> = {}): Promise<ConsoleServer> {
  const config = defaultConfig(tempDir());
  await writeLog(config.audit.path, 12);
  const server = await ConsoleServer.start({ config, listen: '127.0.0.1:0', sampleIntervalMs: 60_000, ...options });
  t.after(() => server.close());
  return server;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with full control of the Host header (fetch cannot set it); `host: null` sends none. */
function request(server: ConsoleServer, target: string, { method = 'GET', host = `127.0.0.1:${server.port}` as string | null, cookie = '', connect = '127.0.0.1' } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = cookie ? { cookie } : {};
    if (host !== null) headers.host = host;
    const req = http.request({ host: connect, port: server.port, method, path: target, headers, setHost: false, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const loginPath = (server: ConsoleServer) => new URL(server.loginUrl).pathname + new URL(server.loginUrl).search;

async function logIn(server: ConsoleServer, host?: string, connect?: string): Promise<string> {
  const r = await request(server, loginPath(server), { host, connect });
  assert.equal(r.status, 303, r.body);
  return String(r.headers['set-cookie']).split(';')[0]!;
}

const PAGES = ['/', '/assets/app.js', '/assets/app.css', '/api/overview', '/api/keys', '/api/contracts', '/api/settlement', '/api/tokens', '/api/audit', '/api/audit?token=agent&page=1', '/api/audit/export?format=csv'];

function assertRefused(r: Reply, status: number, what: string): void {
  assert.equal(r.status, status, what);
  assert.equal(r.headers['set-cookie'], undefined, `${what}: no cookie`);
  assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', what);
  assert.ok(r.body.length < 300 && r.body.trim().split('\n').length === 1, `${what}: one short line, got ${JSON.stringify(r.body)}`);
}

test('a request naming another host is refused before anything else, the login included (DNS rebinding)', { timeout: 60_000 }, async (t) => {
  const server = await startConsole(t);
  const port = server.port;
  const otherPort = port === 65535 ? port - 1 : port + 1;
  const hostile = [`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `127.0.0.1:${otherPort}`, `localhost:${otherPort}`, `[::1]:${port}`, '127.0.0.1'];

  // The login secret sent with a hostile Host: refused, no cookie, and the secret is not used up.
  for (const host of hostile) {
    const r = await request(server, loginPath(server), { host });
    assertRefused(r, 421, `/login with Host ${host}`);
    assert.match(r.body, /^misdirected request: this console does not answer to the host ".+"; if that is its name, start it with --allowed-host /);
  }
  const cookie = await logIn(server);

  // With a valid session cookie, nothing is served to another host: static pages and APIs alike.
  for (const p of PAGES) {
    for (const host of hostile) {
      const r = await request(server, p, { host, cookie });
      assertRefused(r, 421, `${p} with Host ${host}`);
      assert.doesNotMatch(r.body, /tokens|integrity|<html|\{/, `${p} with Host ${host}: nothing of the page`);
    }
    // The control: the same request to the console's own names.
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`]) assert.equal((await request(server, p, { host, cookie })).status, 200, `${p} with Host ${host}`);
  }

  // A missing or malformed Host, and the absolute form (which names its own host): 400. Node itself refuses an
  // HTTP/1.1 request without Host; HTTP/1.0 allows it, so the console must.
  assert.equal((await request(server, '/api/tokens', { host: null, cookie })).status, 400, 'HTTP/1.1 without Host');
  const http10 = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(`GET /api/tokens HTTP/1.0\r\nCookie: ${cookie}\r\n\r\n`));
    let reply = '';
    socket.setEncoding('utf8').on('data', (d: string) => (reply += d)).on('end', () => resolve(reply)).on('error', reject);
  });
  assert.match(http10, /^HTTP\/1\.1 400 Bad Request\r\n/, 'HTTP/1.0 without Host');
  assert.match(http10, /\r\n\r\nbad request: expected a Host header naming this console \(host:port\)\n$/);
  assert.doesNotMatch(http10, /set-cookie/i);
  for (const host of ['', 'evil example', `127.0.0.1:${port}:1`, '[zz]:1', `127.0.0.1:99999`, `user@127.0.0.1:${port}`]) {
    assertRefused(await request(server, '/api/tokens', { host, cookie }), 400, `Host ${JSON.stringify(host)}`);
  }
  assertRefused(await request(server, `http://127.0.0.1:${port}/api/tokens`, { cookie }), 400, 'absolute-form request target');
});

test('a loopback listener also answers to localhost and to its address in the form a browser writes it', { timeout: 60_000 }, async (t) => {
  const v6 = await startConsole(t, { listen: '[::1]:0' }).catch((e: Error) => e);
  if (v6 instanceof Error) return t.skip(`no IPv6 loopback here: ${v6.message}`);
  const p = v6.port;
  const cookie = await logIn(v6, `[::1]:${p}`, '::1');
  for (const host of [`[::1]:${p}`, `localhost:${p}`]) assert.equal((await request(v6, '/api/tokens', { host, cookie, connect: '::1' })).status, 200, host);
  for (const host of [`127.0.0.1:${p}`, `::1:${p}`]) assert.notEqual((await request(v6, '/api/tokens', { host, cookie, connect: '::1' })).status, 200, host);

  // --listen localhost: the name, and the address it was bound to.
  const named = await startConsole(t, { listen: 'localhost:0' });
  const bound = await dns.lookup('localhost'); // as listen() resolves it
  const literal = bound.family === 6 ? `[${bound.address}]` : bound.address;
  const c2 = await logIn(named, `localhost:${named.port}`, bound.address);
  for (const host of [`localhost:${named.port}`, `${literal}:${named.port}`]) assert.equal((await request(named, '/api/overview', { host, cookie: c2, connect: bound.address })).status, 200, host);
  assert.equal((await request(named, '/api/overview', { host: `evil.example:${named.port}`, cookie: c2, connect: bound.address })).status, 421);
});

test('--allowed-host names: with the console port by default, or the port given (a Host without one is 80 or 443)', { timeout: 60_000 }, async (t) => {
  const server = await startConsole(t, { allowedHosts: ['console.lan', 'Proxy.Example:443', '[fd00:0::1]', 'plain.example:80'] });
  const port = server.port;
  const cookie = await logIn(server, `console.lan:${port}`);
  for (const host of [`console.lan:${port}`, `CONSOLE.lan:${port}`, 'proxy.example', 'proxy.example:443', `[fd00::1]:${port}`, 'plain.example', `127.0.0.1:${port}`]) {
    assert.equal((await request(server, '/api/tokens', { host, cookie })).status, 200, host);
  }
  for (const host of ['console.lan', 'console.lan:443', `proxy.example:${port}`, 'proxy.example:80', `other.lan:${port}`, `[fd00::2]:${port}`, 'plain.example:443']) {
    assertRefused(await request(server, '/api/tokens', { host, cookie }), 421, host);
  }
  // A bad name is one line, before anything listens.
  for (const bad of ['http://console.lan', 'console.lan:99999', 'console lan', '']) {
    await assert.rejects(startConsole(t, { allowedHosts: [bad] }), (e: Error) => /^--allowed-host: expected a host name or address with an optional :PORT/.test(e.message) && !e.message.includes('\n'), bad);
  }
});

test('a logged-in session gets 405 for anything but GET and HEAD, on every route', { timeout: 60_000 }, async (t) => {
  const server = await startConsole(t);
  const cookie = await logIn(server);
  for (const p of [...PAGES, '/login', '/no-such-page']) {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await request(server, p, { method, cookie });
      assert.equal(r.status, 405, `${method} ${p}`);
      assert.equal(r.headers.allow, 'GET, HEAD', `${method} ${p}`);
      assert.match(JSON.parse(r.body).error, new RegExp(`^${method}: the console is read-only; changes are made with the arkeo-signer CLI$`));
    }
  }
  // The control: reading works with the same session.
  for (const p of PAGES) {
    assert.equal((await request(server, p, { cookie })).status, 200, `GET ${p}`);
    assert.equal((await request(server, p, { method: 'HEAD', cookie })).status, 200, `HEAD ${p}`);
  }
});

test("a session is accepted until it expires on the console's clock, and refused after", { timeout: 60_000 }, async (t) => {
  let clock = Date.parse('2026-03-01T12:00:00Z');
  const server = await startConsole(t, { now: () => clock });
  const cookie = await logIn(server);
  const login = clock;
  const twelveHours = 12 * 3600_000;
  clock = login + twelveHours - 1;
  assert.equal((await request(server, '/api/overview', { cookie })).status, 200, 'a millisecond before it expires');
  clock = login + twelveHours;
  assert.equal((await request(server, '/api/tokens', { cookie })).status, 200, 'at the moment it expires');
  clock = login + twelveHours + 1;
  const expired = await request(server, '/api/tokens', { cookie });
  assert.equal(expired.status, 401, 'a millisecond after');
  assert.match(expired.body, /^not logged in: open the URL that arkeo-signer console printed/);
  clock = login;
  assert.equal((await request(server, '/api/tokens', { cookie })).status, 401, 'an expired session is forgotten, not revived by a clock set back');
});
