import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { TestContext } from 'node:test';
import { requireComponent, tempDir } from '../helpers.js';

/**
 * A real SoftHSM2 for tests: a temporary token directory through SOFTHSM2_CONF (set in this process, so the module
 * loaded here sees it, and passed to child processes through `env`), tokens initialised with softhsm2-util.
 */
export const SOFTHSM_MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];
export const USER_PIN = '24681357';
export const SO_PIN = '1357924680';

export interface SoftHsm {
  module: string;
  conf: string;
  tokens: string;
  /** Environment for child processes (SOFTHSM2_CONF). */
  env: Record<string, string>;
  initToken(label: string, pin?: string): void;
}

export function softhsmModule(): string | undefined {
  return SOFTHSM_MODULES.find((m) => fs.existsSync(m));
}

function pkcs11jsLoads(): boolean {
  try {
    createRequire(import.meta.url)('pkcs11js');
    return true;
  } catch {
    return false;
  }
}

/** SoftHSM2 with a fresh token directory, or undefined (skipped; a failure under CI=true) when a part is missing. */
export function startSoftHsm(t: TestContext): SoftHsm | undefined {
  const module = softhsmModule();
  if (!requireComponent(t, module !== undefined, 'SoftHSM2 (apt softhsm2: libsofthsm2.so)')) return undefined;
  if (!requireComponent(t, spawnSync('softhsm2-util', ['--version']).status === 0, 'softhsm2-util (apt softhsm2)')) return undefined;
  if (!requireComponent(t, pkcs11jsLoads(), 'npm pkcs11js (built by node-gyp)')) return undefined;
  const dir = tempDir('arkeo-softhsm-');
  const tokens = path.join(dir, 'tokens');
  fs.mkdirSync(tokens, { mode: 0o700 });
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = conf;
  const env = { SOFTHSM2_CONF: conf };
  return {
    module: module!,
    conf,
    tokens,
    env,
    initToken(label: string, pin = USER_PIN) {
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', pin], { env: { ...process.env, ...env }, stdio: 'pipe', timeout: 30_000 });
    },
  };
}

/** Re-initialise an existing token from outside (another process): its objects are gone. */
export function reinitToken(hsm: SoftHsm, label: string, pin = USER_PIN): void {
  execFileSync('softhsm2-util', ['--init-token', '--token', label, '--label', label, '--so-pin', SO_PIN, '--pin', pin], { env: { ...process.env, ...hsm.env }, stdio: 'pipe', timeout: 30_000 });
}
