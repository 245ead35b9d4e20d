import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { runDoctor, socketProcess, type Finding } from '../../src/doctor/index.js';
import { hardeningAvailable } from '../../src/hardening.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { BIN, requireComponent, run } from '../helpers.js';

/**
 * The daemon's memory against a process of its own (non-root) user, and doctor's checks of the running daemon
 * (issue 18, item 2). CI runs as root, so each test creates the user it needs and removes it afterwards.
 */
const KEY_HEX = toHex(sha256(utf8('arkeo-signer process test key')));
const onPath = (cmd: string) => (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));

function canRun(t: TestContext): boolean {
  return requireComponent(t, process.getuid!() === 0 && onPath('useradd') && onPath('runuser'), 'root with useradd and runuser (to create a non-root user)') && requireComponent(t, hardeningAvailable(), 'the native/hardening addon (npm install builds it)');
}

/** A system user without a login shell, removed when the test ends. */
function createUser(t: TestContext, shell = '/usr/sbin/nologin'): { name: string; uid: number } {
  const name = `arkdoc${randomBytes(3).toString('hex')}`;
  const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', shell, name], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  t.after(() => void spawnSync('userdel', ['-r', name], { timeout: 30_000 }));
  return { name, uid: Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim()) };
}

/** A home with one key and a daemon config, owned by `uid`, in a folder of its own under /tmp. */
function userHome(t: TestContext, uid: number): { home: string; config: string; socket: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-doctor-proc-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const env = { ARKEO_HOME: home };
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY_HEX], { env }).status, 0);
  assert.equal(run(BIN.arkeoSigner, ['daemon', 'init'], { env }).status, 0);
  for (const p of [home, ...(fs.readdirSync(home, { recursive: true }) as string[]).map((f) => path.join(home, f))]) fs.chownSync(p, uid, uid);
  return { home, config: path.join(home, 'signer', 'daemon.toml'), socket: path.join(home, 'signer', 'keyd.sock') };
}

function spawnKilled(t: TestContext, cmd: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; err: () => string } {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // runuser forks: kill the whole group, so the daemon under it goes too.
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  });
  return { child, err: () => err };
}

async function listenerOf(socket: string, err: () => string) {
  for (let i = 0; i < 400; i++) {
    const p = socketProcess(socket);
    if (p) return p;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`nothing listens on ${socket}: ${err()}`);
}

/** As `user`: open /proc/<pid>/mem of a plain node child of its own (the control) and of `target`. */
function readAs(user: string, target: number): { control: string; target: string } {
  const script = `
    const fs = require('node:fs');
    const { spawn } = require('node:child_process');
    const try_ = (pid) => { try { fs.closeSync(fs.openSync('/proc/' + pid + '/mem', 'r')); return 'readable'; } catch (e) { return e.code; } };
    const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    setTimeout(() => { const out = { control: try_(c.pid), target: try_(${target}) }; c.kill('SIGKILL'); console.log(JSON.stringify(out)); }, 300);`;
  const r = spawnSync('runuser', ['-u', user, '--', process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { control: string; target: string };
}

const of = (f: Finding[], c: string) => f.filter((x) => x.check === c);

test("the daemon's memory is not readable by another process of its user; a plain process of that user is", { timeout: 90_000 }, async (t) => {
  if (!canRun(t)) return;
  const user = createUser(t);
  const h = userHome(t, user.uid);
  const d = spawnKilled(t, 'runuser', ['-u', user.name, '--', process.execPath, BIN.arkeoSigner, 'daemon', 'start', '--config', h.config], { ARKEO_HOME: h.home });
  const proc = await listenerOf(h.socket, d.err);
  assert.equal(proc.uid, user.uid);
  const r = readAs(user.name, proc.pid);
  assert.equal(r.control, 'readable', 'the control: same user, no protection, so the test can fail');
  assert.match(r.target, /^(EACCES|EPERM)$/, `the daemon's /proc/${proc.pid}/mem`);
  assert.equal(proc.dumpable, false);
  assert.equal(proc.coreLimit, 0);
  assert.ok(proc.lockedKiB > 0, 'the key page is locked');
  assert.doesNotMatch(d.err(), /WARNING/, 'no hardening warning');

  // doctor agrees: a dedicated user without a login shell, no core, not dumpable, locked.
  const passwd = path.join(h.home, 'passwd');
  fs.writeFileSync(passwd, `root:x:0:0::/root:/bin/bash\n${user.name}:x:${user.uid}:${user.uid}::/:/usr/sbin/nologin\n`);
  const f = await runDoctor({ configFile: h.config, passwdFile: passwd, unitFiles: [] });
  assert.deepEqual(of(f, 'daemon.user').map((x) => x.level), ['ok'], JSON.stringify(f));
  assert.deepEqual(of(f, 'daemon.memory').map((x) => x.level), ['ok'], JSON.stringify(f));
  // The same user with a login shell: whatever it runs can read the keys.
  fs.writeFileSync(passwd, `${user.name}:x:${user.uid}:${user.uid}::/:/bin/bash\n`);
  const w = of(await runDoctor({ configFile: h.config, passwdFile: passwd, unitFiles: [] }), 'daemon.user');
  assert.equal(w[0]?.level, 'warn');
  assert.match(w[0]!.message, /has a login shell \(\/bin\/bash\)/);
});

test('doctor: a listener without the protections (dumpable, core unlimited) fails daemon.memory; as root, daemon.user', { timeout: 90_000 }, async (t) => {
  if (!canRun(t)) return;
  const user = createUser(t);
  const h = userHome(t, user.uid);
  // Stands in for a daemon started without native/hardening, under `ulimit -c unlimited`.
  const listen = `require('node:net').createServer().listen(${JSON.stringify(h.socket)})`;
  const bare = spawnKilled(t, 'runuser', ['-u', user.name, '--', '/bin/sh', '-c', `ulimit -c unlimited && exec "${process.execPath}" -e "$0"`, listen]);
  const proc = await listenerOf(h.socket, bare.err);
  assert.equal(proc.dumpable, true);
  const passwd = path.join(h.home, 'passwd');
  fs.writeFileSync(passwd, `${user.name}:x:${user.uid}:${user.uid}::/:/usr/sbin/nologin\n`);
  const m = of(await runDoctor({ configFile: h.config, passwdFile: passwd, unitFiles: [] }), 'daemon.memory');
  assert.equal(m[0]?.level, 'fail', JSON.stringify(m));
  assert.match(m[0]!.message, /is dumpable \(core limit unlimited\): processes of uid \d+ can read its memory/);
  assert.ok(m[0]!.fix);
  bare.child.kill('SIGKILL');
  process.kill(-bare.child.pid!, 'SIGKILL');
  for (let i = 0; i < 200 && socketProcess(h.socket); i++) await new Promise((r) => setTimeout(r, 25));
  fs.rmSync(h.socket, { force: true });

  // The real daemon, started as root.
  const root = spawnKilled(t, process.execPath, [BIN.arkeoSigner, 'daemon', 'start', '--config', h.config], { ARKEO_HOME: h.home });
  await listenerOf(h.socket, root.err);
  const u = of(await runDoctor({ configFile: h.config, passwdFile: passwd, unitFiles: [] }), 'daemon.user');
  assert.equal(u[0]?.level, 'fail', JSON.stringify(u));
  assert.match(u[0]!.message, /runs as root/);
});
