import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runDoctor, type Finding, type Level } from '../../src/doctor/index.js';
import { exampleConfig, parsePolicy, TokenStore } from '../../src/daemon/index.js';
import { AuditLog, headPathOf } from '../../src/audit/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { BIN, REPO_ROOT, run, tempDir } from '../helpers.js';

/**
 * `arkeo-signer doctor` on prepared homes (issue 18): a home laid out as the README recommends reports no fail,
 * and each bad home makes exactly the check it targets flag, with a fix. The running-daemon checks are in
 * process.test.ts, the unit's score in unit.test.ts.
 */
const KEY_HEX = toHex(sha256(utf8('arkeo-signer doctor test key')));

interface Home {
  root: string;
  home: string;
  config: string;
  passwd: string;
  audit: string;
  tokens: string;
}

/** The README's layout: a 0700 home under a root-owned parent, one test key, one narrow token that was used. */
async function goodHome(options: { parentMode?: number } = {}): Promise<Home> {
  const root = tempDir();
  const parent = path.join(root, 'p');
  fs.mkdirSync(parent, { mode: options.parentMode ?? 0o755 });
  fs.chmodSync(parent, options.parentMode ?? 0o755);
  const home = path.join(parent, 'home');
  fs.mkdirSync(home, { mode: 0o700 });
  const env = { ARKEO_HOME: home };
  const add = run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX], { env });
  assert.equal(add.status, 0, add.stderr);
  const signer = path.join(home, 'signer');
  fs.mkdirSync(signer, { mode: 0o700 });
  const config = path.join(signer, 'daemon.toml');
  fs.writeFileSync(config, exampleConfig(home), { mode: 0o600 });
  const tokens = path.join(signer, 'tokens.json');
  TokenStore.load(tokens).create('t', parsePolicy({ keys: ['k'], contracts: ['42'] }));
  const audit = path.join(signer, 'audit.log');
  const log = await AuditLog.open(audit);
  await log.append({ who: { transport: 'unix', token: 't' }, what: { op: 'claim', contract: '42', nonce: '1' }, result: 'ok', status: 200 });
  await log.close();
  const store = SqliteNonceStore.open(path.join(signer, 'nonces.db'));
  await store.putContract({ contractId: 42n, rate: 1n, deposit: 100n, source: 'manual' });
  await store.reserve(42n, 'arkeo1signer', 10);
  await store.close();
  const passwd = path.join(root, 'passwd');
  fs.writeFileSync(passwd, `root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
  return { root, home, config, passwd, audit, tokens };
}

const doctor = (h: Home, extra: Partial<Parameters<typeof runDoctor>[0]> = {}) => runDoctor({ configFile: h.config, passwdFile: h.passwd, unitFiles: [], ...extra });
const of = (fs: Finding[], check: string) => fs.filter((f) => f.check === check);

function assertFlags(findings: Finding[], check: string, level: Level, pattern: RegExp): void {
  const hit = of(findings, check).find((f) => f.level === level && pattern.test(f.message));
  assert.ok(hit, `expected ${level} ${check} matching ${pattern}; got ${JSON.stringify(of(findings, check))}`);
  assert.ok(hit.fix, `a ${level} finding says what to do`);
}

test('a home laid out as the README recommends: no fail, and every home check ok', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  const findings = await doctor(h);
  assert.deepEqual(findings.filter((f) => f.level === 'fail' || f.level === 'warn'), []);
  for (const c of ['paths', 'keyring.test', 'audit.chain', 'tokens.use', 'tokens.grants', 'contracts.ceiling']) {
    assert.deepEqual(of(findings, c).map((f) => f.level), ['ok'], `${c}: ${JSON.stringify(of(findings, c))}`);
  }
});

test('the CLI: exit 0 and no fail on the good home, exit 1 with the fix on a bad one, -o json', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  const good = run(BIN.arkeoSigner, ['doctor', '--config', h.config, '-o', 'json'], { env: { ARKEO_HOME: h.home } });
  assert.equal(good.status, 0, good.stdout + good.stderr);
  const parsed = JSON.parse(good.stdout) as { ok: boolean; findings: Finding[] };
  assert.equal(parsed.ok, true);
  assert.ok(parsed.findings.every((f) => f.level !== 'fail'));
  fs.chmodSync(path.join(h.home, 'keyring-test', 'k.info'), 0o644);
  const bad = run(BIN.arkeoSigner, ['doctor', '--home', h.home]);
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /^fail {2}paths: .*k\.info \(key file\): mode 0644, readable by group or others\n {6}fix: chmod 600 /m);
  assert.doesNotMatch(bad.stdout + bad.stderr, new RegExp(KEY_HEX), 'no secret in the output');
});

test('paths: a key file readable by others, owned by another uid, or a symlink fails', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  const key = path.join(h.home, 'keyring-test', 'k.info');
  fs.chmodSync(key, 0o640);
  assertFlags(await doctor(h), 'paths', 'fail', /k\.info \(key file\): mode 0640, readable/);
  fs.chmodSync(key, 0o600);
  if (process.getuid!() === 0) {
    fs.chownSync(h.audit, 12345, 12345);
    assertFlags(await doctor(h), 'paths', 'fail', /audit\.log \(audit log\): owned by uid 12345/);
    fs.chownSync(h.audit, 0, 0);
  }
  fs.renameSync(h.tokens, h.tokens + '.real');
  fs.symlinkSync(h.tokens + '.real', h.tokens);
  assertFlags(await doctor(h), 'paths', 'fail', /tokens\.json \(tokens file\): is a symbolic link/);
});

test('paths: a parent folder writable by others without the sticky bit fails; with it, passes', { timeout: 60_000 }, async () => {
  const h = await goodHome({ parentMode: 0o777 });
  assertFlags(await doctor(h), 'paths', 'fail', /\/p \(parent folder\): mode 0777, writable by group or others without the sticky bit/);
  fs.chmodSync(path.dirname(h.home), 0o1777);
  assert.deepEqual(of(await doctor(h), 'paths').map((f) => f.level), ['ok']);
});

test('paths: the audit key readable by group fails, a world-writable socket directory fails', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  fs.chmodSync(h.audit + '.key', 0o640);
  assertFlags(await doctor(h), 'paths', 'fail', /audit\.log\.key \(audit key\): mode 0640/);
  fs.chmodSync(h.audit + '.key', 0o600);
  fs.chmodSync(path.join(h.home, 'signer'), 0o733);
  assertFlags(await doctor(h), 'paths', 'fail', /signer \(socket directory\): mode 0733, writable/);
});

test('keyring.test: test keys with the home open to others fail; other login users warn; neither passes', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  fs.chmodSync(h.home, 0o755);
  assertFlags(await doctor(h), 'keyring.test', 'fail', /key\(s\) in the test backend .* open to group or others/);
  fs.chmodSync(h.home, 0o700);
  // bob's uid must not be the runner's own (the keys' owner is not "another user"): 1001 was, for a non-root runner.
  const bob = process.getuid!() + 4242;
  fs.appendFileSync(h.passwd, `bob:x:${bob}:${bob}::/home/bob:/bin/bash\nsvc:x:998:998::/:/usr/sbin/nologin\n`);
  const f = await doctor(h);
  assertFlags(f, 'keyring.test', 'warn', /other users have login shells \(bob\)/);
  assert.doesNotMatch(JSON.stringify(of(f, 'keyring.test')), /svc/, 'a nologin account is not a login user');
});

test('audit.chain: an edited entry fails, a missing head warns (as audit verify says)', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  fs.writeFileSync(h.audit, fs.readFileSync(h.audit, 'utf8').replace('"nonce":"1"', '"nonce":"2"'));
  assertFlags(await doctor(h), 'audit.chain', 'fail', /line 1: .*(MAC|head)/);
  const h2 = await goodHome();
  fs.rmSync(headPathOf(h2.audit));
  assertFlags(await doctor(h2), 'audit.chain', 'warn', /no head file/);
});

test('tokens.use: a token never used, and one last used over 30 days ago, warn (last use from the audit log)', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  TokenStore.load(h.tokens).create('idle', parsePolicy({ keys: ['k'], contracts: ['42'] }));
  const f = await doctor(h);
  assertFlags(f, 'tokens.use', 'warn', /token idle: never used/);
  assert.ok(!of(f, 'tokens.use').some((x) => /token t:/.test(x.message)), 'the used token is not flagged');
  const later = new Date(Date.now() + 31 * 86_400_000);
  assertFlags(await doctor(h, { now: later }), 'tokens.use', 'warn', /token t: last used .* more than 30 days ago/);
});

test('tokens.grants: raw, every key and every contract warn', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  TokenStore.load(h.tokens).create('wide', parsePolicy({ keys: ['*'], operations: ['claim', 'raw'] }));
  assertFlags(await doctor(h), 'tokens.grants', 'warn', /token wide: grants the raw operation .*every key \(\*\), every contract \(\*\)/);
});

test('contracts.ceiling: a contract past 80 % of its ceiling warns', { timeout: 60_000 }, async () => {
  const h = await goodHome();
  const store = SqliteNonceStore.open(path.join(h.home, 'signer', 'nonces.db'));
  await store.reserve(42n, 'arkeo1signer', 75);
  await store.close();
  assertFlags(await doctor(h), 'contracts.ceiling', 'warn', /contract 42 \(arkeo1signer\): nonce 85 of 100 allowed, 85 %/);
});

test('unit: the shipped unit passes; the README\'s old unit and MemoryDenyWriteExecute fail; missing directives warn', { timeout: 120_000 }, async () => {
  const h = await goodHome();
  const shipped = path.join(REPO_ROOT, 'contrib', 'systemd', 'arkeo-signer.service');
  assert.deepEqual(of(await doctor(h, { unitFiles: [shipped] }), 'unit').map((f) => f.level), ['ok']);
  const text = fs.readFileSync(shipped, 'utf8');
  const mdwe = path.join(h.root, 'mdwe.service');
  fs.writeFileSync(mdwe, text.replace('[Service]\n', '[Service]\nMemoryDenyWriteExecute=yes\n'));
  assertFlags(await doctor(h, { unitFiles: [mdwe] }), 'unit', 'fail', /MemoryDenyWriteExecute=yes stops Node's JIT/);
  const noCore = path.join(h.root, 'nocore.service');
  fs.writeFileSync(noCore, text.replace('LimitCORE=0\n', ''));
  assertFlags(await doctor(h, { unitFiles: [noCore] }), 'unit', 'warn', /missing LimitCORE=0/);
  const old = path.join(h.root, 'old.service');
  fs.writeFileSync(old, '[Unit]\nDescription=x\n[Service]\nUser=arkeo\nExecStart=/usr/bin/arkeo-signer daemon start\nNoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=read-only\nPrivateTmp=yes\nUMask=0077\n');
  assertFlags(await doctor(h, { unitFiles: [old] }), 'unit', fs.existsSync('/usr/bin/systemd-analyze') ? 'fail' : 'warn', /missing LimitCORE=0/);
});
