import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';

/**
 * Checks that keep the repository's copy of ../shared/vectors (test/vectors/shared) from drifting silently: against
 * the SHA-256 list recorded in test/vectors/README.md always, and byte for byte against ../shared/vectors whenever
 * it is there. Each returns the list of problems (empty = pass), so the harness test can show each one firing.
 */

function walk(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p, base) : [path.relative(base, p).split(path.sep).join('/')];
  });
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The `| \`file\` | sha256 |` rows of the README's shared/ table. */
export function recordedHashes(readme: string): Map<string, string> {
  const rows = [...fs.readFileSync(readme, 'utf8').matchAll(/^\| `([^`]+)` \| ([0-9a-f]{64}) \|$/gm)];
  return new Map(rows.map((m) => [m[1]!, m[2]!]));
}

/** Every file of the copy has its recorded SHA-256; nothing recorded is missing and nothing unrecorded is there. */
export function checkRecorded(copyDir: string, recorded: Map<string, string>): string[] {
  const problems: string[] = [];
  const files = walk(copyDir).sort();
  if (recorded.size === 0) problems.push('no SHA-256 rows found in test/vectors/README.md');
  for (const f of files) {
    const want = recorded.get(f);
    if (want === undefined) problems.push(`${f}: in test/vectors/shared but not in the README's table; add its SHA-256 there`);
    else if (sha256(path.join(copyDir, f)) !== want) problems.push(`${f}: SHA-256 differs from test/vectors/README.md; restore it or copy it again from ../shared/vectors and update the table`);
  }
  for (const f of recorded.keys()) if (!files.includes(f)) problems.push(`${f}: listed in test/vectors/README.md but missing from test/vectors/shared`);
  return problems;
}

/** The copy is byte-identical to the source folder, and the source has nothing the copy lacks. */
export function checkAgainstSource(copyDir: string, sourceDir: string): string[] {
  const problems: string[] = [];
  const copy = walk(copyDir).sort();
  const source = walk(sourceDir).sort();
  for (const f of source) {
    if (!copy.includes(f)) problems.push(`${f}: in ${sourceDir} but not copied to test/vectors/shared; copy it and add it to the README's table`);
    else if (!fs.readFileSync(path.join(copyDir, f)).equals(fs.readFileSync(path.join(sourceDir, f)))) {
      problems.push(`${f}: differs from ${sourceDir}; copy it again and update its SHA-256 in test/vectors/README.md`);
    }
  }
  for (const f of copy) if (!source.includes(f)) problems.push(`${f}: in test/vectors/shared but no longer in ${sourceDir}`);
  return problems;
}
