import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, tempDir } from '../helpers.js';

/**
 * The house rules (docs/architecture.md, .dependency-cruiser.cjs) hold for src/, and they bite: the same rules on
 * a copy of two folders with one import pointing upward, or a circle, report it.
 */
const CRUISER = path.join(REPO_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = path.join(REPO_ROOT, '.dependency-cruiser.cjs');

function cruise(cwd: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CRUISER, 'src', '--config', CONFIG, '--output-type', 'err'], { cwd, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

function tree(files: Record<string, string>): string {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

test('architecture: src/ keeps the floors, the forbidden arrows and no circles', () => {
  const r = cruise(REPO_ROOT);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /no dependency violations found/);
});

test('architecture: the rules catch an import upward, a forbidden arrow and a circle (control: a downward import passes)', () => {
  const ok = tree({ 'src/crypto/a.ts': 'export const a = 1;\n', 'src/keys/b.ts': "import { a } from '../crypto/a.js';\nexport const b = a;\n" });
  assert.equal(cruise(ok).status, 0, 'a downward import is allowed');
  const up = tree({ 'src/crypto/a.ts': "import { b } from '../keys/b.js';\nexport const a = b;\n", 'src/keys/b.ts': 'export const b = 1;\n' });
  const upward = cruise(up);
  assert.notEqual(upward.status, 0);
  assert.match(upward.out, /no-upward-from-crypto: src\/crypto\/a\.ts → src\/keys\/b\.ts/);
  const consoleKey = cruise(tree({ 'src/console/a.ts': "import { b } from '../signers/b.js';\nexport const a = b;\n", 'src/signers/b.ts': 'export const b = 1;\n' }));
  assert.match(consoleKey.out, /console-holds-no-key/);
  const circle = cruise(tree({ 'src/claims/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n", 'src/claims/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n" }));
  assert.match(circle.out, /no-circular/);
});

test('architecture: the diagram in docs/architecture.md is the one the code gives', () => {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'architecture.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
