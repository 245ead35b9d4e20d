import * as fs from 'node:fs';
import * as path from 'node:path';

/** The user docs under `root`: the top-level ones and every .md under docs/. */
export function docFiles(root: string): string[] {
  const out = ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', 'CHANGELOG.md', path.join('bench', 'README.md')]
    .map((f) => path.join(root, f))
    .filter((f) => fs.existsSync(f));
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.name.endsWith('.md')) out.push(path.join(dir, e.name));
    }
  };
  walk(path.join(root, 'docs'));
  return out.sort();
}
