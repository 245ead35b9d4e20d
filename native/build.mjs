#!/usr/bin/env node
/**
 * This package's `npm install` step: build the two optional N-API addons with node-gyp (through native/node-gyp.mjs,
 * so Node's headers are found without nodejs.org).
 *
 * Each addon is optional, and a missing prerequisite is the documented, expected case: without a C toolchain
 * there is no native/peercred (the daemon audits callers by token only), and without libsecp256k1's header there
 * is no native/libsecp256k1 (signing uses the npm secp256k1 addon). Those skip with a note. But when the
 * prerequisites are there and the build still fails (typically: node-gyp cannot get Node's headers), we fail the
 * install with one line saying what to do. The old script swallowed that case and exited 0 after `node-gyp rebuild`
 * had already deleted the working build, so `npm install -g .` silently left a slower engine behind.
 * `configure` then `build` (not `rebuild`) also leaves an existing build in place when configure fails.
 * ARKEO_SIGNER_NATIVE=skip installs without trying.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeGyp = path.join(here, 'node-gyp.mjs');

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
    dir: 'libsecp256k1',
    missing: () => (toolchain.length ? `no ${toolchain.join(', ')} on PATH` : compilerFinds('secp256k1.h') ? '' : 'no secp256k1.h (Debian: apt-get install libsecp256k1-dev)'),
    without: 'signing will use the npm secp256k1 addon, or pure JS without it',
  },
];

if (process.env.ARKEO_SIGNER_NATIVE === 'skip') {
  process.stderr.write('arkeo-signer: ARKEO_SIGNER_NATIVE=skip: native addons not built\n');
  process.exit(0);
}

for (const addon of addons) {
  const dir = path.join(here, addon.dir);
  const missing = addon.missing();
  if (missing) {
    process.stderr.write(`arkeo-signer: native/${addon.dir} not built (${missing}): ${addon.without}\n`);
    continue;
  }
  for (const step of ['configure', 'build']) {
    const r = spawnSync(process.execPath, [nodeGyp, step], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status === 0) continue;
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    process.stderr.write(
      `${tail}\narkeo-signer: node-gyp ${step} failed for native/${addon.dir}, although its prerequisites are present (output above). ` +
        `If node-gyp could not get Node's headers, set npm_config_nodedir to the folder that has include/node (Debian: /usr) and install again; ` +
        `ARKEO_SIGNER_NATIVE=skip installs without native addons (${addon.without}).\n`,
    );
    process.exit(1);
  }
}
