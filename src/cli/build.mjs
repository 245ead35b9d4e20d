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
import * as fs from 'node:fs';
import * as path from 'node:path';

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
  build(options({ signhere: src('cli', 'signhere.ts') })),
  build(options({ 'arkeo-signer': src('cli', 'arkeo-signer.ts') }, [commandsApart])),
  ...COMMANDS.map((c) => build(options({ [c]: src('cli', `${c}.ts`) }))),
  build(options({ 'signing-thread': src('signers', 'signing-thread.ts') })),
  build(options({ 'sqlite-writer': src('nonces', 'sqlite-writer.ts') })),
]);
