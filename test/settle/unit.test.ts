import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { unitScore } from '../../src/doctor/index.js';
import { REPO_ROOT, requireComponent, tempDir } from '../helpers.js';

/**
 * contrib/systemd/arkeo-signer-settle.service is hardened as arkeo-signer.service is: `systemd-analyze security
 * --offline` rates it OK or better (the control: a bare unit rates EXPOSED), and it keeps the daemon unit's
 * directives except those a settler cannot have (it reaches the sentinel and the node over TCP).
 */
const UNIT = path.join(REPO_ROOT, 'contrib', 'systemd', 'arkeo-signer-settle.service');
const DAEMON_UNIT = path.join(REPO_ROOT, 'contrib', 'systemd', 'arkeo-signer.service');
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

test('the settle unit scores OK or better with systemd-analyze security --offline; a bare unit does not', { timeout: 60_000 }, (t) => {
  if (!requireComponent(t, hasAnalyze, "systemd-analyze (Debian's systemd package)")) return;
  const score = unitScore(UNIT);
  assert.ok(score, 'systemd-analyze printed an overall exposure level');
  assert.ok(['OK', 'SAFE'].includes(score.level), `scored ${score.value} ${score.level}`);
  const bare = path.join(tempDir(), 'bare.service');
  fs.writeFileSync(bare, '[Service]\nUser=arkeo-signer\nExecStart=/usr/bin/arkeo-signer settle --config /etc/arkeo-signer/settle.toml\n');
  assert.ok(!['OK', 'SAFE'].includes(unitScore(bare)?.level ?? ''), 'the control scores worse (UNSAFE or EXPOSED)');
});

test('the settle unit keeps every hardening line of the daemon unit but its network and socket ones', () => {
  const lines = (f: string) => new Set(fs.readFileSync(f, 'utf8').split('\n').filter((l) => /^[A-Z]\w+=/.test(l)));
  const settle = lines(UNIT);
  const apart = /^(Description|Documentation|After|Type|NotifyAccess|ExecStart|ExecReload|RuntimeDirectory|RuntimeDirectoryMode|LimitMEMLOCK|RestrictAddressFamilies|PrivateNetwork|IPAddressDeny)=/;
  for (const line of lines(DAEMON_UNIT)) if (!apart.test(line)) assert.ok(settle.has(line), `settle unit lacks ${line}`);
  assert.ok(settle.has('RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'));
  assert.ok(settle.has('ExecStart=/usr/bin/arkeo-signer settle --config /etc/arkeo-signer/settle.toml'));
  assert.ok(!settle.has('MemoryDenyWriteExecute=yes'), "V8's JIT needs writable then executable memory");
});
