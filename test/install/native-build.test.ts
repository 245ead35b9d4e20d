import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, requireComponent, tempDir } from '../helpers.js';

/** native/node-headers.mjs is plain JS (npm runs it before anything is compiled); its helpers, typed here. */
interface NodeHeaders {
  headersVersion(dir: string): string | undefined;
  localNodeHeaders(execPath?: string, version?: string): string | undefined;
  npmNodeGyp(): string | undefined;
}
const headers = (await import(pathToFileURL(path.join(REPO_ROOT, 'native', 'node-headers.mjs')).href)) as NodeHeaders;

/** A fake Node prefix: bin/node (any file) and include/node with node_version.h for `version`. */
function fakePrefix(version: string, withCommonGypi = true): string {
  const prefix = tempDir();
  fs.mkdirSync(path.join(prefix, 'bin'));
  fs.writeFileSync(path.join(prefix, 'bin', 'node'), '');
  fs.mkdirSync(path.join(prefix, 'include', 'node'), { recursive: true });
  const [major, minor, patch] = version.split('.');
  fs.writeFileSync(
    path.join(prefix, 'include', 'node', 'node_version.h'),
    `#define NODE_MAJOR_VERSION ${major}\n#define NODE_MINOR_VERSION ${minor}\n#define NODE_PATCH_VERSION ${patch}\n`,
  );
  if (withCommonGypi) fs.writeFileSync(path.join(prefix, 'include', 'node', 'common.gypi'), '{}');
  return prefix;
}

test("headers beside the running node are used only when they are that node's version", () => {
  const good = fakePrefix('24.22.3');
  assert.equal(headers.headersVersion(good), '24.22.3');
  assert.equal(headers.localNodeHeaders(path.join(good, 'bin', 'node'), '24.22.3'), good);
  assert.equal(headers.localNodeHeaders(path.join(good, 'bin', 'node'), '24.22.4'), undefined, 'another release');
  assert.equal(headers.localNodeHeaders(path.join(fakePrefix('24.22.3', false), 'bin', 'node'), '24.22.3'), undefined, 'no common.gypi');
  assert.equal(headers.localNodeHeaders(path.join(tempDir(), 'node'), '24.22.3'), undefined, 'no include/node at all');
  assert.ok(headers.npmNodeGyp(), "npm's own node-gyp is found");
});

test('.npmrc gives node-gyp Debian\'s headers with an option npm 11 reads (it refuses only `npm config set nodedir`)', () => {
  const npmrc = fs.readFileSync(path.join(REPO_ROOT, '.npmrc'), 'utf8');
  assert.match(npmrc, /^nodedir=\/usr$/m);
  // npm treats nodedir as an internal option: passed to scripts as npm_config_nodedir, without a warning.
  const r = spawnSync('npm', ['config', 'get', 'nodedir'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, npm_config_nodedir: undefined, npm_config_userconfig: path.join(tempDir(), 'none') } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '/usr');
  assert.doesNotMatch(r.stderr, /warn/i);
});

const toolchain = ['make', 'cc', 'c++', 'python3'].every((t) => (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, t))));

/** A copy of native/ without build output, so the install step can be run without touching the real builds. */
function nativeCopy(): string {
  const native = tempDir();
  fs.cpSync(path.join(REPO_ROOT, 'native'), native, { recursive: true, filter: (src) => path.basename(src) !== 'build' });
  return native;
}

function install(native: string, env: Record<string, string | undefined>) {
  const full: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  return spawnSync(process.execPath, [path.join(native, 'build.mjs')], { encoding: 'utf8', env: full });
}

test('install step: node-gyp failing with the prerequisites present fails the install with one line, and keeps the old build', (t) => {
  if (!requireComponent(t, toolchain, 'a C toolchain (make, cc, c++, python3)')) return;
  const native = nativeCopy();
  const built = path.join(native, 'peercred', 'build', 'Release', 'peercred.node');
  fs.mkdirSync(path.dirname(built), { recursive: true });
  fs.writeFileSync(built, 'an earlier build');
  // Headers that do not exist stand for "node-gyp cannot get Node's headers" without depending on the network.
  const r = install(native, { npm_config_nodedir: path.join(native, 'no-such-headers'), ARKEO_SIGNER_NATIVE: undefined });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr.trim().split('\n').at(-1)!, /^arkeo-signer: node-gyp configure failed for native\/peercred .*npm_config_nodedir=.*ARKEO_SIGNER_NATIVE=skip/);
  assert.equal(fs.readFileSync(built, 'utf8'), 'an earlier build', 'configure failing must not delete a working build');

  const skipped = install(native, { ARKEO_SIGNER_NATIVE: 'skip' });
  assert.equal(skipped.status, 0);
  assert.match(skipped.stderr, /ARKEO_SIGNER_NATIVE=skip: native addons not built/);
});

test("install step: a nodedir with another Node major's headers is refused before anything is built", () => {
  const other = fakePrefix(`${Number(process.versions.node.split('.')[0]) - 2}.0.0`);
  const r = install(nativeCopy(), { npm_config_nodedir: other, ARKEO_SIGNER_NATIVE: undefined });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^arkeo-signer: nodedir ${other} holds the headers of Node \\d+\\.0\\.0, but this is Node ${process.versions.node} .*Set npm_config_nodedir=`));
});
