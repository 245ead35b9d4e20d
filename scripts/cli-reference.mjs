#!/usr/bin/env node
// Writes docs/reference/cli.md from the command tables (src/cli/tables), through the built src/cli/reference.js:
// npm run cli-reference compiles first. `--check` exits 1 when the committed file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const doc = join(root, 'docs', 'reference', 'cli.md');
const { cliReference } = await import(join(root, 'dist', 'src', 'cli', 'reference.js'));
const next = cliReference();
if (process.argv.includes('--check')) {
  let now = '';
  try {
    now = readFileSync(doc, 'utf8');
  } catch {
    /* missing: out of date */
  }
  if (now !== next) {
    console.error('docs/reference/cli.md is out of date with the command tables; run npm run cli-reference');
    process.exit(1);
  }
} else writeFileSync(doc, next);
