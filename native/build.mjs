#!/usr/bin/env node
/**
 * This package's `npm install` step: build the three optional N-API addons with npm's node-gyp.
 *
 * Each addon is optional, and a missing prerequisite is the documented, expected case: without a C toolchain
 * there is no native/peercred (the daemon audits callers by token only), and without libsecp256k1's header there
 * is no native/libsecp256k1 (signing uses the npm secp256k1 addon). Those skip with a note. When the
 * prerequisites are there and the build still fails (typically: node-gyp cannot get Node's headers), the install
 * fails with one line saying what to do. The old script swallowed that case and exited 0 after `node-gyp rebuild`
 * had already deleted the working build, so `npm install -g .` silently left a slower engine behind. Running
 * `configure` then `build` (not `rebuild`) also leaves an existing build in place when configure fails.
 *
 * Node's headers: `nodedir` from npm's config (the repository's .npmrc says /usr, Debian's nodejs) or the
 * environment; without one (a global install, where npm ignores the project's .npmrc), the headers installed
 * beside the running node, so nothing is downloaded. A nodedir holding another Node major's headers is refused:
 * better-sqlite3, built by npm just before us with the same nodedir, would not load.
 * ARKEO_SIGNER_NATIVE=skip installs without building.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { headersVersion, localNodeHeaders, npmNodeGyp } from './node-headers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const fail = (line) => {
  process.stderr.write(`arkeo-signer: ${line}\n`);
  process.exit(1);
};

/**
 * The startup snapshots of signhere and `arkeo-signer claim` (src/cli/snapshot-blobs.mjs): built by and for the node
 * that installs the package, when the package comes built (from npm pack; in a clone, npm run build builds them).
 * They need no addon, so ARKEO_SIGNER_NATIVE=skip builds them too.
 */
async function buildStartupSnapshots() {
  const snapshots = path.join(here, '..', 'dist', 'snapshot', 'blobs.mjs');
  if (!fs.existsSync(snapshots)) return;
  const { buildSnapshots } = await import(pathToFileURL(snapshots).href);
  for (const note of buildSnapshots(path.resolve(here, '..'))) process.stderr.write(`arkeo-signer: ${note}\n`);
}

if (process.env.ARKEO_SIGNER_NATIVE === 'skip') {
  process.stderr.write('arkeo-signer: ARKEO_SIGNER_NATIVE=skip: native addons not built\n');
  await buildStartupSnapshots();
  process.exit(0);
}

const local = localNodeHeaders();
const useLocal = local ? `npm_config_nodedir=${local}` : "npm_config_nodedir=<the folder whose include/node has this Node's headers>";
let nodedir = process.env.npm_config_nodedir || undefined;
if (nodedir) {
  const v = headersVersion(nodedir);
  // Addons built for one Node major do not load in another (NODE_MODULE_VERSION); patch releases do not matter.
  if (v && v.split('.')[0] !== process.versions.node.split('.')[0]) {
    fail(`nodedir ${nodedir} holds the headers of Node ${v}, but this is Node ${process.versions.node} (${process.execPath}); better-sqlite3 and our addons would not load. Set ${useLocal} and install again.`);
  }
} else {
  nodedir = local;
}

function onPath(cmd) {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, cmd)));
}

/** Does the C compiler find this header? (Asks the compiler itself, so any include path it knows counts.) */
function compilerFinds(header) {
  const r = spawnSync(process.env.CC || 'cc', ['-E', '-x', 'c', '-'], { input: `#include <${header}>\n`, stdio: ['pipe', 'ignore', 'ignore'] });
  return r.status === 0;
}

const toolchain = ['make', process.env.CC || 'cc', process.env.CXX || 'c++', 'python3'].filter((t) => !onPath(t));
const addons = [
  {
    dir: 'peercred',
    missing: () => (toolchain.length ? `no ${toolchain.join(', ')} on PATH` : ''),
    without: 'the daemon will record unix-socket callers by token only, without uid/pid',
  },
  {
    dir: 'hardening',
    missing: () => (toolchain.length ? `no ${toolchain.join(', ')} on PATH` : ''),
    without: 'the daemon will start without PR_SET_DUMPABLE 0, RLIMIT_CORE 0, memory locking and sd_notify (it warns, and doctor reports it)',
  },
  {
    dir: 'libsecp256k1',
    missing: () => (toolchain.length ? `no ${toolchain.join(', ')} on PATH` : compilerFinds('secp256k1.h') ? '' : 'no secp256k1.h; Debian: apt-get install libsecp256k1-dev'),
    without: 'signing will use the npm secp256k1 addon, or pure JS without it',
  },
];

const nodeGyp = npmNodeGyp();
for (const addon of addons) {
  const missing = addon.missing();
  if (missing) {
    process.stderr.write(`arkeo-signer: native/${addon.dir} not built (${missing}): ${addon.without}\n`);
    continue;
  }
  if (!nodeGyp) fail(`cannot find npm's node-gyp to build native/${addon.dir}; run the install through npm, or ARKEO_SIGNER_NATIVE=skip to install without native addons`);
  const env = { ...process.env, ...(nodedir ? { npm_config_nodedir: nodedir } : {}) };
  for (const step of ['configure', 'build']) {
    const r = spawnSync(process.execPath, [nodeGyp, step], { cwd: path.join(here, addon.dir), env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status === 0) continue;
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n') + '\n');
    fail(
      `node-gyp ${step} failed for native/${addon.dir} (output above), although its prerequisites are present. If it could not get Node's headers, ` +
        `set ${useLocal} and install again; ARKEO_SIGNER_NATIVE=skip installs without native addons (${addon.without}).`,
    );
  }
}

await buildStartupSnapshots();
