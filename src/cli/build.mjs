// Bundles the bins into dist/bin with esbuild: run by npm run build after tsc. package.json's `bin` points here.
//
// A cold start (one signhere or one `arkeo-signer claim sign` per process) then reads a few files instead of
// resolving and loading some sixty modules. Each program is bundled on its own: signhere; the arkeo-signer
// dispatcher (help, version); each arkeo-signer command (dist/bin/<command>.js, which the dispatcher imports as
// './<command>.js', the same path as in dist/src/cli); and the two worker threads, which keep their file names so
// that `new URL('./signing-thread.js', import.meta.url)` finds them. One build for all of them would share code
// between commands in chunks, and a command would load some twenty of those. Within a program, code that it runs
// only on some paths (PKCS#11, cloud KMS, the daemon client, the file backend's bcrypt, BIP32, @noble/curves as
// the fallback engine) stays in chunks loaded by its `await import()`. dist/bin is two folders below the package
// root, like dist/src, which src/paths.ts relies on.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { builtinModules, createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROGRAMS, buildSnapshots } from './snapshot-blobs.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = path.join(root, 'dist', 'bin');
const src = (...p) => path.join(root, 'src', ...p);

// Inlined: the small pure-JS ES-module packages that claim sign and the key commands use at start (bech32,
// hashes, TOML), so a start opens no files of theirs and their unused parts are left out. Every other dependency
// stays in node_modules: @noble/curves, BIP32/39, bcrypt and the ciphers are loaded only on some paths and would be
// copied into every program; native addons, the cloud SDKs and CommonJS packages (bundled into an ES module,
// their require() of Node's modules would fail) cannot be inlined.
const INLINE = ['@noble/hashes', '@scure/base', 'smol-toml'];
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
for (const d of INLINE) if (!pkg.dependencies[d]) throw new Error(`src/cli/build.mjs: ${d} is inlined but not a dependency`);
const external = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }).filter((d) => !INLINE.includes(d));

// The commands arkeo-signer.ts imports (`import('./<name>.js')`); each is its own program.
const COMMANDS = ['keys', 'verify', 'claim', 'nonce', 'daemon', 'proxy', 'curl', 'doctor', 'console', 'contract', 'tx', 'settle'];
const dispatcherImports = new Set([...fs.readFileSync(src('cli', 'arkeo-signer.ts'), 'utf8').matchAll(/import\('\.\/([\w-]+)\.js'\)/g)].map((m) => m[1]));
if ([...dispatcherImports].sort().join() !== [...COMMANDS].sort().join()) {
  throw new Error(`src/cli/build.mjs: COMMANDS (${COMMANDS}) must be what arkeo-signer.ts imports (${[...dispatcherImports]})`);
}

const builtinRequire = createRequire(import.meta.url);
const isIdentifier = (k) => /^[A-Za-z_$][\w$]*$/.test(k);

const options = (entryPoints, plugins = []) => ({
  entryPoints,
  outdir,
  entryNames: '[name]',
  bundle: true,
  splitting: true,
  external,
  plugins,
  format: 'esm',
  platform: 'node',
  target: 'node20.11',
  logLevel: 'warning',
});

// The dispatcher's `import('./claim.js')` etc. stay imports of the command programs beside it.
const commandsApart = {
  name: 'commands-apart',
  setup(b) {
    b.onResolve({ filter: /^\.\/[\w-]+\.js$/ }, (a) => (a.importer === src('cli', 'arkeo-signer.ts') && COMMANDS.includes(a.path.slice(2, -3)) ? { path: a.path, external: true } : undefined));
  },
};

fs.rmSync(outdir, { recursive: true, force: true });
await Promise.all([
  build(options({ signhere: src('cli', 'signhere-bin.ts') })),
  build(options({ 'arkeo-signer': src('cli', 'arkeo-signer.ts') }, [commandsApart])),
  ...COMMANDS.map((c) => build(options({ [c]: src('cli', `${c}.ts`) }))),
  build(options({ 'signing-thread': src('signers', 'signing-thread.ts') })),
  build(options({ 'sqlite-writer': src('nonces', 'sqlite-writer.ts') })),
]);

// Startup snapshots (snapshot-main.ts; the launcher and the blobs: snapshot-blobs.mjs). Each snapshotted program is
// bundled once more, whole (its `await import()`s inlined, loaded only when reached), into a builder script for
// `node --build-snapshot`: an ES-module bundle, its body wrapped in an async function (top-level await stays
// legal), with no import or export left. What a builder cannot hold is reached through `__snapshot`:
// - Node's modules: those a snapshot supports (mksnapshot's list) are required while building and are part of the
//   blob, Node's crypto first; the others (child_process, module, worker_threads…) are loaded at their first use.
// - packages in node_modules (native addons, the cloud SDKs, @noble/curves): required at their first use, from the
//   bin's own folder, as the bundle would import them. import.meta.url is the bin's URL, at run time.
const snapshotDir = path.join(root, 'dist', 'snapshot');
// node:util's parts load at their first use; claim's argument parser is one of them, at every start: all are read
// while building (util has no part a snapshot cannot hold, unlike fs's promises or crypto's WebCrypto).
const READ_WHOLE = new Set(['util']);
const SNAPSHOT_BUILTINS = new Set(['assert', 'buffer', 'console', 'constants', 'crypto', 'events', 'fs', 'os', 'path', 'querystring', 'stream', 'string_decoder', 'timers', 'url', 'util', 'v8', 'zlib']);
// Packages bundled into a snapshot (their JavaScript; their native addon is loaded at start from the installed
// package): better-sqlite3, whose loading through Node's module loader and \`bindings\` was a third of a claim's
// start. The builder checks that the installed version is the bundled one (else no blob: the plain bundle runs).
const SNAPSHOT_PACKAGES = ['better-sqlite3'];
const packageVersion = (name) => JSON.parse(fs.readFileSync(builtinRequire.resolve(`${name}/package.json`), 'utf8')).version;

const snapshotModules = {
  name: 'snapshot-modules',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (a) => {
      const id = a.path.replace(/^node:/, '');
      if (a.path.startsWith('node:') || builtinModules.includes(id)) return { path: id, namespace: 'snapshot-builtin' };
      if (a.kind === 'entry-point' || a.path.startsWith('.') || path.isAbsolute(a.path)) return undefined;
      const top = a.path.startsWith('@') ? a.path.split('/').slice(0, 2).join('/') : a.path.split('/')[0];
      if (INLINE.includes(top)) return undefined;
      if (SNAPSHOT_PACKAGES.includes(top)) return undefined;
      // better-sqlite3 finds its addon with \`bindings\`, which looks for it beside the file that calls it.
      if (a.path === 'bindings' && SNAPSHOT_PACKAGES.some((p) => a.importer.includes(`/node_modules/${p}/`))) return { path: a.importer, namespace: 'snapshot-bindings' };
      return { path: a.path, namespace: 'snapshot-package' };
    });
    b.onLoad({ filter: /.*/, namespace: 'snapshot-builtin' }, (a) => {
      const id = JSON.stringify(`node:${a.path}`);
      if (SNAPSHOT_BUILTINS.has(a.path)) return { loader: 'js', contents: `module.exports = __snapshot.builtin(${id}${READ_WHOLE.has(a.path) ? ', true' : ''});` };
      const keys = Object.keys(builtinRequire(`node:${a.path}`)).filter(isIdentifier);
      // node:module's createRequire loads a native addon by its absolute path without Node's module loader,
      // whose first use in a started snapshot costs more than the rest of signhere's start.
      const own = a.path === 'module' ? { createRequire: '__snapshot.createRequire' } : {};
      return { loader: 'js', contents: `const load = () => __snapshot.builtin(${id});\n${keys.map((k) => `Object.defineProperty(exports, '${k}', { enumerable: true, get: () => ${own[k] ?? `load().${k}`} });`).join('\n')}` };
    });
    b.onLoad({ filter: /.*/, namespace: 'snapshot-package' }, (a) => ({ loader: 'js', contents: `module.exports = __snapshot.package(${JSON.stringify(a.path)});` }));
    b.onLoad({ filter: /.*/, namespace: 'snapshot-bindings' }, (a) => {
      const pkg = SNAPSHOT_PACKAGES.find((p) => a.path.includes(`/node_modules/${p}/`));
      return { loader: 'js', contents: `module.exports = (name) => __snapshot.packageAddon(${JSON.stringify(pkg)}, name);` };
    });
  },
};

/** The builder script's frame around the bundle: what `__snapshot` is, while building and once started. */
const builderScript = (name, body, packages) => `'use strict';
// ${name}'s startup snapshot builder, written by src/cli/build.mjs from src/cli/snapshot-${name}.ts: run by
// node --build-snapshot (snapshot-blobs.mjs), not by hand.
const building = Symbol.for('arkeo-signer.building-snapshot');
globalThis[building] = true;
// process.stdout and stderr are made at their first write, as sockets when they are pipes (a script reading the
// output): with node:net in the blob, that takes 1 ms instead of 3.
require('node:net');
let bin;
let binUrl;
let binRequire;
require('node:v8').startupSnapshot.addDeserializeCallback(() => {
  delete globalThis[building];
  if (!process.argv[1]) throw new Error('a startup snapshot of arkeo-signer starts as: node --snapshot-blob BLOB BIN ARGS');
  bin = require('node:fs').realpathSync.native(process.argv[1]);
  binUrl = binRequire = undefined;
});
const fromBin = (id) => (binRequire ??= require('node:module').createRequire(bin))(id);
const path = require('node:path');
const fs = require('node:fs');
// The packages whose JavaScript is in this snapshot, and the folder each is installed in, found as Node would
// from dist/bin while building (the blob is built where it runs): their addons are loaded from there.
const BUNDLED = ${JSON.stringify(Object.fromEntries(packages.map((p) => [p, packageVersion(p)])))};
const packageDirs = {};
for (const [name, version] of Object.entries(BUNDLED)) {
  for (let dir = path.resolve(__dirname, '..', 'bin'); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) {
      const installed = JSON.parse(fs.readFileSync(path.join(candidate, 'package.json'), 'utf8')).version;
      if (installed !== version) throw new Error(\`\${candidate} is version \${installed}, but this snapshot holds \${name} \${version}; run npm run build\`);
      packageDirs[name] = candidate;
      break;
    }
    if (path.dirname(dir) === dir) throw new Error(\`\${name} is not installed beside \${__dirname}\`);
  }
}
const __snapshot = {
  builtin: (id, readWhole) => {
    const m = require(id);
    if (readWhole) for (const k of Object.keys(m)) void m[k];
    return m;
  },
  // A package is loaded where the bundle would import it, at run time. One that a module loaded while building
  // imports statically cannot be: bundle its JavaScript (SNAPSHOT_PACKAGES in src/cli/build.mjs), or import it
  // where it is used.
  package: (id) => {
    if (globalThis[building]) throw new Error(\`\${id} is imported by a module that the snapshot builder loads (see SNAPSHOT_PACKAGES in src/cli/build.mjs)\`);
    return fromBin(id);
  },
  get url() {
    return (binUrl ??= require('node:url').pathToFileURL(bin).href);
  },
  packageAddon: (name, file) => {
    const addon = { exports: {} };
    process.dlopen(addon, path.join(packageDirs[name], 'build', 'Release', file));
    return addon.exports;
  },
  createRequire: (from) => {
    const url = String(from);
    return (id) => {
      if (path.isAbsolute(id) && id.endsWith('.node')) {
        const addon = { exports: {} };
        process.dlopen(addon, id);
        return addon.exports;
      }
      return require('node:module').createRequire(url)(id);
    };
  },
};
(async function (__snapshot) {
${body}
})(__snapshot).catch((e) => {
  process._rawDebug(\`${name}'s startup snapshot: \${e?.stack ?? e}\`);
  process.exit(1);
});
`;

fs.rmSync(snapshotDir, { recursive: true, force: true });
fs.mkdirSync(snapshotDir, { recursive: true });
for (const { name } of PROGRAMS) {
  const r = await build({
    entryPoints: [src('cli', `snapshot-${name}.ts`)],
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.11',
    plugins: [snapshotModules],
    define: { 'import.meta.url': '__snapshot.url' },
    metafile: true,
    logLevel: 'warning',
  });
  const body = r.outputFiles[0].text;
  const left = Object.values(r.metafile.outputs).flatMap((o) => o.imports).filter((i) => i.external);
  if (left.length || /^\s*(import|export)\b/m.test(body)) throw new Error(`src/cli/build.mjs: the ${name} snapshot bundle still imports ${left.map((i) => i.path).join(', ') || 'or exports something'}`);
  const bundled = SNAPSHOT_PACKAGES.filter((p) => Object.keys(r.metafile.inputs).some((i) => i.includes(`node_modules/${p}/`)));
  fs.writeFileSync(path.join(snapshotDir, `${name}.cjs`), builderScript(name, body, bundled));
}
fs.copyFileSync(path.join(root, 'src', 'cli', 'snapshot-blobs.mjs'), path.join(snapshotDir, 'blobs.mjs'));
for (const note of buildSnapshots(root)) process.stderr.write(`src/cli/build.mjs: ${note}\n`);
