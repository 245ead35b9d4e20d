import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT, tempDir } from '../helpers.js';
import { docFiles } from './doc-files.js';

/**
 * Every code block marked `ts` in the user docs compiles, strict, against the built package as a user imports it
 * (`from 'arkeo-signer'`, resolved to dist/src/index.d.ts): the examples cannot drift from the exports.
 */
function tsBlocks(file: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `${file}:${i + 1}: unclosed ts block`);
    blocks.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

test('docs: every ts block compiles against the built package', () => {
  const dir = tempDir();
  const files: string[] = [];
  const where = new Map<string, string>();
  for (const doc of docFiles(REPO_ROOT)) {
    for (const b of tsBlocks(doc)) {
      const f = path.join(dir, `block${files.length}.mts`);
      fs.writeFileSync(f, `${b.code}\nexport {};\n`);
      files.push(f);
      where.set(f, `${path.relative(REPO_ROOT, doc)}:${b.line}`);
    }
  }
  assert.ok(files.length >= 2, `found ${files.length} ts blocks`);
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
    baseUrl: REPO_ROOT,
    paths: { 'arkeo-signer': [path.join(REPO_ROOT, 'dist', 'src', 'index.d.ts')] },
    skipLibCheck: true,
  });
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && files.includes(d.file.fileName))
    .map((d) => `${where.get(d.file!.fileName)} (+${d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}): ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  assert.deepEqual(problems, []);
});
