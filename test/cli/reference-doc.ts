import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../helpers.js';

export const REFERENCE_DOC = path.join(REPO_ROOT, 'docs', 'reference', 'cli.md');

/** docs/reference/cli.md as committed: each section's command (its heading) → the text of its ```text block. */
export function committedReference(): Map<string, string> {
  const sections = new Map<string, string>();
  const text = fs.readFileSync(REFERENCE_DOC, 'utf8');
  for (const m of text.matchAll(/^#{2,4} ((?:arkeo-signer|signhere)[^\n]*)\n(?:(?!#{2,4} )[^\n]*\n)*?```text\n([\s\S]*?)\n```\n/gm)) {
    sections.set(m[1]!, m[2]! + '\n');
  }
  return sections;
}
