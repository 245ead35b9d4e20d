import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { unitScore } from '../../src/doctor/index.js';
import { hardeningAvailable } from '../../src/hardening.js';
import { sha256, toHex, utf8 } from '../../src/crypto/index.js';
import { BIN, REPO_ROOT, requireComponent, run, tempDir } from '../helpers.js';

/**
 * The shipped systemd unit (issue 18, item 3): `systemd-analyze security --offline` rates it OK or better, and
 * Type=notify is honest: the daemon sends READY=1 to $NOTIFY_SOCKET once it listens, and STOPPING=1 on SIGTERM.
 */
const UNIT = path.join(REPO_ROOT, 'contrib', 'systemd', 'arkeo-signer.service');
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

test('contrib/systemd/arkeo-signer.service scores OK or better with systemd-analyze security --offline', { timeout: 60_000 }, (t) => {
  if (!requireComponent(t, hasAnalyze, "systemd-analyze (Debian's systemd package)")) return;
  const score = unitScore(UNIT);
  assert.ok(score, 'systemd-analyze printed an overall exposure level');
  assert.ok(['OK', 'SAFE'].includes(score.level), `scored ${score.value} ${score.level}`);
  // The control: the unit the README used to show scores EXPOSED, so this test can fail.
  const old = path.join(tempDir(), 'old.service');
  fs.writeFileSync(old, '[Service]\nUser=arkeo\nExecStart=/usr/bin/arkeo-signer daemon start\nNoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=read-only\nPrivateTmp=yes\nUMask=0077\n');
  assert.equal(unitScore(old)?.level, 'EXPOSED');
});

test('the unit keeps what the issue asks for and leaves out what would stop Node', { timeout: 10_000 }, () => {
  const text = fs.readFileSync(UNIT, 'utf8');
  for (const line of ['Type=notify', 'Wants=network-online.target', 'After=network-online.target', 'RuntimeDirectory=arkeo-signer', 'LimitCORE=0', 'PrivateDevices=yes', 'ProtectKernelTunables=yes', 'ProtectKernelModules=yes', 'ProtectKernelLogs=yes', 'RestrictAddressFamilies=AF_UNIX', 'CapabilityBoundingSet=', 'SystemCallFilter=@system-service', 'IPAddressDeny=any', 'NoNewPrivileges=yes']) {
    assert.match(text, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
  }
  assert.match(text, /^User=arkeo-signer$/m);
  assert.doesNotMatch(text, /^MemoryDenyWriteExecute=yes/m, "V8's JIT needs writable then executable memory");
});

test('Type=notify: the daemon sends READY=1 to $NOTIFY_SOCKET after it listens, STOPPING=1 on SIGTERM', { timeout: 60_000 }, async (t) => {
  if (!requireComponent(t, hardeningAvailable(), 'the native/hardening addon (npm install builds it)')) return;
  const home = tempDir();
  const env = { ARKEO_HOME: home };
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', toHex(sha256(utf8('notify test key')))], { env }).status, 0);
  // Node has no unix datagram sockets: python3 (node-gyp's prerequisite) plays systemd's side.
  const notify = path.join(home, 'notify.sock');
  const recv = spawn('python3', ['-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\nfor _ in range(2): print(s.recv(4096).decode(),flush=True)`, notify], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void recv.kill('SIGKILL'));
  let got = '';
  recv.stdout.on('data', (d: Buffer) => (got += d.toString()));
  for (let i = 0; i < 200 && !got.includes('bound'); i++) await new Promise((r) => setTimeout(r, 25));
  assert.match(got, /bound/, 'python3 bound the notify socket');
  const d = spawn(process.execPath, [BIN.arkeoSigner, 'daemon', 'start'], { env: { ...process.env, ...env, NOTIFY_SOCKET: notify }, stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => void (d.exitCode === null && d.kill('SIGKILL')));
  let err = '';
  d.stderr.on('data', (b: Buffer) => (err += b.toString()));
  for (let i = 0; i < 400 && !got.includes('READY=1'); i++) await new Promise((r) => setTimeout(r, 25));
  assert.match(got, /READY=1/, err);
  assert.match(err, /listening on/, 'READY=1 comes after the socket is bound');
  d.kill('SIGTERM');
  for (let i = 0; i < 400 && !got.includes('STOPPING=1'); i++) await new Promise((r) => setTimeout(r, 25));
  assert.match(got, /STOPPING=1/);
  await new Promise((r) => (d.exitCode !== null ? r(null) : d.once('exit', r)));
  assert.equal(d.exitCode, 0, err);
});
