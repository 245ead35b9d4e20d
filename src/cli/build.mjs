// Bundles the two bins, and the worker threads they start, into dist/bin: run by npm run build after tsc.
// A cold start (one signhere or `claim sign` per process) then reads a few files instead of resolving and loading
// some sixty modules; code that only another command uses is split into chunks loaded by its `await import()`.
// The workers keep their file names, so `new URL('./signing-thread.js', import.meta.url)` finds them beside the
// chunk that starts them; dist/bin is two folders below the package root, like dist/src, which src/paths.ts
// relies on.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = path.join(root, 'dist', 'bin');
fs.rmSync(outdir, { recursive: true, force: true });
// Inlined: the small pure-JS ES-module packages on the signing path, so a bin start opens no files of theirs and
// unused parts of them are left out. Every other dependency stays in node_modules: native addons, the cloud SDKs
// and CommonJS packages (bundled into an ES module, their require() of Node's modules would fail).
const INLINE = ['@noble/ciphers', '@noble/curves', '@noble/hashes', '@scure/base', '@scure/bip32', '@scure/bip39', 'bcryptjs', 'smol-toml'];
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const external = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }).filter((d) => !INLINE.includes(d));
for (const d of INLINE) if (!pkg.dependencies[d]) throw new Error(`src/cli/build.mjs: ${d} is inlined but not a dependency`);

const common = {
  outdir,
  entryNames: '[name]',
  bundle: true,
  splitting: true,
  external,
  format: 'esm',
  platform: 'node',
  target: 'node20.11',
  logLevel: 'warning',
};
// signhere on its own, so that what it loads at start is one file, not chunks shared with arkeo-signer.
await build({ ...common, entryPoints: { signhere: path.join(root, 'src', 'cli', 'signhere.ts') } });
await build({
  ...common,
  entryPoints: {
    'arkeo-signer': path.join(root, 'src', 'cli', 'arkeo-signer.ts'),
    'signing-thread': path.join(root, 'src', 'signers', 'signing-thread.ts'),
    'sqlite-writer': path.join(root, 'src', 'nonces', 'sqlite-writer.ts'),
  },
});
