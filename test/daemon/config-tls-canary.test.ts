import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { InputError } from '../../src/errors.js';
import { DaemonClient, exampleConfig, parseConfig, parsePolicy, SignerDaemon, TokenStore } from '../../src/daemon/index.js';
import { setLogSink } from '../../src/log.js';
import { BIN, requireComponent, run, tempDir } from '../helpers.js';
import { rawRequest, startTestDaemon } from '../support/daemon.js';

function badConfig(text: string, file: string, re: RegExp) {
  assert.throws(() => parseConfig(text, file), (e: unknown) => e instanceof InputError && e.code === 'BAD_CONFIG' && re.test(e.message) && !e.message.includes('\n'), `${text.slice(0, 40)} → ${re}`);
}

test('config: the init example parses, YAML works too, and every error names the file and field', { timeout: 120_000 }, () => {
  const home = tempDir();
  const c = parseConfig(exampleConfig(home), '/etc/daemon.toml');
  assert.equal(c.keyring.home, home);
  assert.equal(c.listen.socket, path.join(home, 'signer', 'keyd.sock'));
  assert.equal(c.nonces.block_size, 64);
  const y = parseConfig('keyring:\n  backend: file\n  home: /srv/arkeo\nnonces:\n  block_size: 16\n', '/etc/d.yaml');
  assert.equal(y.keyring.backend, 'file');
  assert.equal(y.nonces.store, '/srv/arkeo/signer/nonces.db');
  assert.equal(y.nonces.block_size, 16);
  assert.equal(parseConfig('[nonces]\nstore = "postgres://u@h/db"\n', '/x.toml').nonces.store, 'postgres://u@h/db');
  badConfig('[keyrng]\nbackend="test"', 'd.toml', /^d\.toml: keyrng: unknown section/);
  badConfig('[keyring]\nbakend="test"', 'd.toml', /keyring\.bakend: unknown field/);
  badConfig('[keyring]\nbackend="kwallet"', 'd.toml', /keyring\.backend: expected one of test, file, os, pass, got "kwallet"/);
  assert.equal(parseConfig('[keyring]\nbackend = "pass"\n', '/x.toml').keyring.backend, 'pass');
  badConfig('[keyring]\nbackend="memory"', 'd.toml', /keyring\.backend: expected one of test, file, os, pass, got "memory"/);
  badConfig('[nonces]\nblock_size="1"', 'd.toml', /nonces\.block_size: expected a positive integer/);
  badConfig('[nonces]\nblock_size=0', 'd.toml', /nonces\.block_size/);
  badConfig('[keyring]\nkeys="alice"', 'd.toml', /keyring\.keys: expected a list of strings/);
  badConfig('[listen]\ntcp="0.0.0.0:7445"', 'd.toml', /listen\.tcp: TCP needs tls_cert and tls_key/);
  badConfig('[listen]\ntcp="nope"\ntls_cert="a"\ntls_key="b"', 'd.toml', /listen\.tcp: expected host:port/);
  badConfig(`[listen]\nsocket="/${'s'.repeat(120)}"`, 'd.toml', /listen\.socket: path longer than 100 bytes/);
  badConfig('[keyring\nbackend=', 'd.toml', /\(syntax\)/);
  badConfig('keyring: [1, 2', 'd.yml', /\(syntax\)/);
  badConfig('x'.repeat(300 * 1024), 'd.toml', /larger than/);
  badConfig('- 1\n- 2\n', 'd.yaml', /top level/);
  const r = run(BIN.arkeoSigner, ['daemon', 'start', '--config', path.join(home, 'missing.toml')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^arkeo-signer: \S+missing\.toml: cannot read \(ENOENT\)\n$/);
});

test('token policies: validated with the field named; raw is off by default', { timeout: 120_000 }, () => {
  assert.deepEqual(parsePolicy({ keys: ['a'] }).operations, ['claim']);
  const bad: [object, RegExp][] = [
    [{ keys: [] }, /policy\.keys: expected a non-empty list/],
    [{ keys: ['a'], operations: ['claim', 'steal'] }, /policy\.operations: unknown operation "steal"/],
    [{ keys: ['a'], contracts: ['01'] }, /contract id/],
    [{ keys: ['a'], rate: { per_second: -1 } }, /policy\.rate\.per_second/],
    [{ keys: ['a'], max_spend: 5 }, /policy\.max_spend: expected a decimal string/],
    [{ keys: ['a'], admin: true }, /policy\.admin: unknown field/],
  ];
  for (const [p, re] of bad) assert.throws(() => parsePolicy(p), (e: unknown) => e instanceof InputError && re.test(e.message), JSON.stringify(p));
  const home = tempDir();
  const store = TokenStore.load(path.join(home, 'tokens.json'));
  const token = store.create('app', parsePolicy({ keys: ['a'] }));
  assert.match(token, /^ark_[A-Za-z0-9_-]{43}$/);
  assert.ok(!fs.readFileSync(path.join(home, 'tokens.json'), 'utf8').includes(token), 'only the hash is stored');
  assert.equal(fs.statSync(path.join(home, 'tokens.json')).mode & 0o777, 0o600);
  assert.equal(TokenStore.load(path.join(home, 'tokens.json')).lookup(token)?.name, 'app');
  fs.writeFileSync(path.join(home, 'bad.json'), '{"not":"a list"}');
  assert.throws(() => TokenStore.load(path.join(home, 'bad.json')), /expected a JSON list/);
});

function makeCerts(dir: string): boolean {
  // Synchronous calls block the event loop, so a test timeout cannot stop them: each has its own.
  if (spawnSync('openssl', ['version'], { timeout: 60_000 }).status !== 0) return false;
  const o = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 60_000, killSignal: 'SIGKILL' });
  o('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=test-ca', '-days', '2');
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1'], ['client', 'extendedKeyUsage=clientAuth']]) {
    o('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}-one`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext + '\n');
    o('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  }
  return true;
}

test('TCP with mutual TLS: a client certificate is required and recorded in the audit log', { timeout: 120_000 }, async (t) => {
  const certs = tempDir();
  if (!requireComponent(t, makeCerts(certs), 'the openssl command (to make test certificates)')) return;
  const f = (n: string) => path.join(certs, n);
  const d = await startTestDaemon({ k: '11'.repeat(32) }, { app: { keys: ['k'] } }, (c) => {
    Object.assign(c.listen, { tcp: '127.0.0.1:0', tls_cert: f('server.crt'), tls_key: f('server.key'), client_ca: f('ca.crt') });
  });
  // t.after as well as finally: after a timeout the finally never runs, and a live daemon would keep the file from ending.
  t.after(() => d.daemon.stop());
  try {
    const url = `https://127.0.0.1:${d.daemon.tcpPort}`;
    const withCert = new DaemonClient(url, { token: d.tokens.app!, ca: fs.readFileSync(f('ca.crt')), cert: fs.readFileSync(f('client.crt')), key: fs.readFileSync(f('client.key')) });
    assert.equal((await withCert.claim(3n, 'k')).nonce, '1');
    withCert.close();
    const last = JSON.parse(fs.readFileSync(d.config.audit.path, 'utf8').trim().split('\n').pop()!);
    assert.equal(last.who.transport, 'tls');
    assert.equal(last.who.client_cert, 'client-one');
    const noCert = new DaemonClient(url, { token: d.tokens.app!, ca: fs.readFileSync(f('ca.crt')) });
    await assert.rejects(noCert.claim(3n, 'k'), /UNREACHABLE|ECONNRESET|certificate|alert/i);
    noCert.close();
    const wrongCa = new DaemonClient(url, { token: d.tokens.app! });
    await assert.rejects(wrongCa.claim(3n, 'k'), /UNREACHABLE|certificate|SELF_SIGNED|UNABLE/i);
    wrongCa.close();
    assert.throws(() => new DaemonClient('http://127.0.0.1:1', { token: 'x' }), /plain http/);
  } finally {
    await d.daemon.stop();
  }
});

test('canary: with known secrets, none appears in logs, audit, metrics, error bodies or the daemon files', { timeout: 120_000 }, async (t) => {
  const CANARY_PRIV = '5eed'.repeat(16);
  const CANARY_PASS = 'canary-daemon-pass-31c7';
  const logs: string[] = [];
  setLogSink((l) => logs.push(l));
  const d = await startTestDaemon({ canary: CANARY_PRIV }, { app: { keys: ['canary'], operations: ['claim', 'raw'] }, other: { keys: ['nobody'] } });
  // t.after as well as finally: after a timeout the finally never runs, and a live daemon would keep the file from ending.
  t.after(() => d.daemon.stop());
  try {
    const bodies: string[] = [];
    const req = async (...a: Parameters<typeof rawRequest>) => {
      const r = await rawRequest(...a);
      bodies.push(r.body);
      return r;
    };
    await req(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: '{"contract":"1","key":"canary"}' });
    await req(d.socket, 'POST', '/v1/sign', { token: d.tokens.app, body: JSON.stringify({ key: 'canary', message: CANARY_PASS }) });
    await req(d.socket, 'POST', '/v1/claims', { token: d.tokens.other, body: '{"contract":"1","key":"canary"}' });
    await req(d.socket, 'POST', '/v1/claims', { token: d.tokens.app!.slice(0, -2) + 'xx', body: '{"contract":"1","key":"canary"}' });
    await req(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: `{"contract":"1","key":"canary","${CANARY_PASS}":1}` });
    await req(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: `{"contract":"${CANARY_PRIV}","key":"canary"}` });
    await req(d.socket, 'POST', '/v1/claims', { token: d.tokens.app, body: `{"contract":"1","key":"${CANARY_PRIV}"}` });
    await req(d.socket, 'POST', `/v1/${CANARY_PASS}`, { token: d.tokens.app, body: '{}' });
    const metrics = (await req(d.socket, 'GET', '/metrics')).body;
    const secrets = [CANARY_PRIV, Buffer.from(CANARY_PRIV, 'hex').toString('base64'), CANARY_PASS, d.tokens.app!, d.tokens.other!, d.tokens.app!.slice(4, 24)];
    const files = ['audit.log', 'audit.log.head', 'tokens.json', 'daemon.toml'].map((f) => path.join(d.home, 'signer', f)).filter((f) => fs.existsSync(f));
    const haystacks: [string, string][] = [
      ['logs', logs.join('\n')],
      ['metrics', metrics],
      ['error bodies', bodies.join('\n')],
      ...files.map((f) => [f, fs.readFileSync(f, 'latin1')] as [string, string]),
    ];
    for (const [where, text] of haystacks) for (const s of secrets) assert.ok(!text.includes(s), `${where} contains a canary secret (${s.slice(0, 6)}…)`);
  } finally {
    await d.daemon.stop();
    setLogSink((l) => process.stderr.write(l + '\n'));
  }
});

test('a file keyring is unlocked once at start from a systemd credential', { timeout: 120_000 }, async (t) => {
  const home = tempDir();
  const creds = tempDir();
  fs.writeFileSync(path.join(creds, 'keyring-passphrase'), 'credential-pass-1\n');
  const env = { ARKEO_HOME: home, ARKEO_KEYRING_PASSPHRASE: 'credential-pass-1' };
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', '22'.repeat(32), '--keyring-backend', 'file'], { env }).status, 0);
  assert.equal(run(BIN.arkeoSigner, ['daemon', 'init'], { env: { ARKEO_HOME: home } }).status, 0);
  const cfgFile = path.join(home, 'signer', 'daemon.toml');
  fs.writeFileSync(cfgFile, fs.readFileSync(cfgFile, 'utf8').replace('backend = "test"', 'backend = "file"'));
  const prev = { ...process.env };
  Object.assign(process.env, { ARKEO_HOME: home, CREDENTIALS_DIRECTORY: creds });
  try {
    const { loadConfig } = await import('../../src/daemon/index.js');
    const { keyringPassphraseSource } = await import('../../src/cli/passphrase.js');
    const daemon = await SignerDaemon.start(loadConfig(cfgFile), { passphrase: keyringPassphraseSource(path.join(creds, 'keyring-passphrase')) });
    t.after(() => daemon.stop()); // on a failed assertion too (stop() is idempotent)
    const store = TokenStore.load(path.join(home, 'signer', 'tokens.json'));
    const token = store.create('t', parsePolicy({ keys: ['k'] }));
    await daemon.reload();
    const c = new DaemonClient(path.join(home, 'signer', 'keyd.sock'), { token });
    assert.equal((await c.claim(4n, 'k')).nonce, '1');
    c.close();
    await daemon.stop();
  } finally {
    process.env = prev;
  }
});
