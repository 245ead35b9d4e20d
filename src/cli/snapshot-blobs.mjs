// Builds the startup snapshots (dist/snapshot/<program>.blob) for the node running this, and writes the bins'
// launcher lines. Run by build.mjs after the bundles, and at install (native/build.mjs, the package's `install`
// script: a blob is built by and for the node that will run it, never shipped). Copied to dist/snapshot/blobs.mjs.
//
// A blob only starts on the exact node that built it (`node --snapshot-blob` refuses any other version, exit 14).
// So the launcher line uses it only when the `node` that PATH finds is that very file (same inode as the one
// recorded here) with the modification time it had when the blob was built (dist/snapshot/node.stamp, copied with
// touch -r); any other node, a node upgraded in place, a copied package, or ARKEO_SIGNER_SNAPSHOT=off runs the
// plain bundle, as `#!/usr/bin/env node` would. All of it in sh builtins: no process is started before node.
// Where no blob can be built (an old Node, no writable package folder), the bins keep their plain shebang.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The snapshotted programs: the bin whose launcher line starts it, and when (sh test on the arguments). */
export const PROGRAMS = [
  { name: 'signhere', bin: 'signhere.js', when: '', smoke: ['-h'] },
  { name: 'claim', bin: 'arkeo-signer.js', when: '[ "${1-}" = claim ] && ', smoke: ['claim', '--help'] },
];

const PLAIN_SHEBANG = '#!/usr/bin/env node';
const SH_SHEBANG = '#!/bin/sh';
/** The launcher line's start: sh runs it; to JavaScript it is the string ':' and a comment. */
const LAUNCHER_MARK = "':' //; ";

/** sh single quotes; undefined for a path they cannot hold. */
const shQuote = (s) => (s.includes("'") || s.includes('\n') ? undefined : `'${s}'`);

/**
 * The bin's first two lines: with a blob, the sh launcher; without, the plain shebang (and no second line).
 * Only this function writes them, so a rewrite recognises its own earlier line by LAUNCHER_MARK.
 */
function writeLauncher(binFile, program, blobDir, node) {
  const text = fs.readFileSync(binFile, 'utf8');
  const lines = text.split('\n');
  if (lines[0] !== PLAIN_SHEBANG && lines[0] !== SH_SHEBANG) throw new Error(`${binFile}: its first line is neither ${PLAIN_SHEBANG} nor ${SH_SHEBANG}`);
  const body = lines.slice(lines[1]?.startsWith(LAUNCHER_MARK) ? 2 : 1);
  let head = [PLAIN_SHEBANG];
  const [s, b, m] = [binFile, blobDir, node].map((p) => p && shQuote(p));
  if (program && s && b && m) {
    head = [
      SH_SHEBANG,
      LAUNCHER_MARK +
        `s=${s} b=${b} m=${m}; ` +
        `if ${program.when}[ "$0" -ef "$s" ] && [ -r "$b/${program.name}.blob" ] && [ "\${ARKEO_SIGNER_SNAPSHOT-}" != off ]; then ` +
        `set -f; o=$IFS; IFS=:; n=; for d in $PATH; do if [ -f "\${d:-.}/node" ] && [ -x "\${d:-.}/node" ]; then n=\${d:-.}/node; break; fi; done; IFS=$o; ` +
        `if [ "$n" -ef "$m" ] && [ -f "$b/node.stamp" ] && ! [ "$n" -nt "$b/node.stamp" ] && ! [ "$n" -ot "$b/node.stamp" ]; then exec "$n" --snapshot-blob "$b/${program.name}.blob" "$s" "$@"; fi; fi; ` +
        'exec node "$0" "$@"',
    ];
  }
  // Replaced, not rewritten in place: a command starting meanwhile reads the old file or the new one.
  const next = `${binFile}.new`;
  fs.writeFileSync(next, [...head, ...body].join('\n'), { mode: fs.statSync(binFile).mode & 0o7777 });
  fs.renameSync(next, binFile);
}

/** Why this node cannot build or run our snapshots, or '' when it can. */
function unsupported() {
  // A snapshot's program reaches ES-module-only packages (@noble/curves, BIP32/39) by require(): no import() there.
  if (!process.features?.require_module) return `Node ${process.version} cannot require() ES modules (Node 20.19 or 22.12 and later can)`;
  if (process.platform === 'win32') return 'the launcher line is sh';
  return '';
}

/**
 * Build every program's blob for this node, check that each starts and answers like its plain bundle, then write
 * the launcher lines. Returns notes (one line each) on what was not done; never throws for an unsupported node.
 */
export function buildSnapshots(root, { plain = false } = {}) {
  const dir = path.join(root, 'dist', 'snapshot');
  const binDir = path.join(root, 'dist', 'bin');
  const notes = [];
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) if (/\.blob(\.new)?$|^node\.stamp/.test(f)) fs.rmSync(path.join(dir, f));
  // --plain (npm pack): the package ships the builders, never a blob nor a line naming this machine's folders.
  const why = plain ? '' : unsupported();
  const node = fs.realpathSync(process.execPath);
  const built = new Set();
  for (const program of PROGRAMS) {
    if (why || plain) break;
    const builder = path.join(dir, `${program.name}.cjs`);
    if (!fs.existsSync(builder)) {
      notes.push(`${builder} is missing; run npm run build`);
      continue;
    }
    // Written beside, and renamed once checked: a command starting meanwhile never reads half a blob.
    const blob = path.join(dir, `${program.name}.blob.new`);
    const config = path.join(dir, `${program.name}.json`);
    // Without V8's code cache for Node's own modules: a blob with it is three times the size and starts slower.
    fs.writeFileSync(config, JSON.stringify({ builder, withoutCodeCache: true }));
    // Nothing of the environment but PATH: the builder runs no code of ours that reads a key, and gets nothing else.
    const r = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot-config', config], { cwd: dir, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
    fs.rmSync(config, { force: true });
    if (r.status !== 0 || !fs.existsSync(blob)) {
      notes.push(`${program.name}: node --build-snapshot failed (${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0]})`);
      fs.rmSync(blob, { force: true });
      continue;
    }
    // The blob must answer as the plain bundle does (usage text, exit code) before any bin is pointed at it.
    const bin = path.join(binDir, program.bin);
    const env = { ...process.env, ARKEO_SIGNER_LOG: 'warn' };
    const fromBundle = spawnSync(process.execPath, [bin, ...program.smoke], { env, encoding: 'utf8' });
    const fromBlob = spawnSync(process.execPath, ['--snapshot-blob', blob, bin, ...program.smoke], { env, encoding: 'utf8' });
    if (fromBlob.status !== fromBundle.status || fromBlob.stdout !== fromBundle.stdout || fromBlob.stderr !== fromBundle.stderr) {
      notes.push(`${program.name}: its snapshot does not answer ${program.smoke.join(' ')} like the bundle (exit ${fromBlob.status} vs ${fromBundle.status}); not used`);
      fs.rmSync(blob, { force: true });
      continue;
    }
    fs.renameSync(blob, path.join(dir, `${program.name}.blob`));
    built.add(program.name);
  }
  if (built.size) {
    // The node's modification time, to the nanosecond: sh's -nt/-ot compare the node on PATH against it.
    const stamp = path.join(dir, 'node.stamp');
    fs.writeFileSync(`${stamp}.new`, '');
    const t = spawnSync('touch', ['-r', node, `${stamp}.new`]);
    if (t.status === 0) fs.renameSync(`${stamp}.new`, stamp);
    else {
      notes.push(`touch -r ${node} failed; the snapshots are not used`);
      built.clear();
    }
  }
  if (why) notes.push(`no startup snapshots: ${why}`);
  const blobDir = fs.realpathSync(dir);
  for (const program of PROGRAMS) {
    const bin = path.join(binDir, program.bin);
    writeLauncher(fs.realpathSync(bin), built.has(program.name) ? program : undefined, blobDir, node);
  }
  return notes;
}

// Run alone (native/build.mjs at install): node dist/snapshot/blobs.mjs
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  for (const note of buildSnapshots(root, { plain: process.argv.includes('--plain') })) process.stderr.write(`arkeo-signer: ${note}\n`);
}
