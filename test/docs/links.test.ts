import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, tempDir } from '../helpers.js';
import { docFiles } from './doc-files.js';

/**
 * The user docs stand alone: every relative link in README.md, docs/**, CONTRIBUTING.md, SECURITY.md, CHANGELOG.md
 * and bench/README.md resolves to a file or folder inside the repository, and every #anchor to a heading of the
 * target (GitHub's slugs). Nothing may point outside the repository (a user of a clone or of the package cannot
 * follow it).
 *
 * docs/reference/cli.md is generated from the CLI's tables (npm run cli-reference); it is checked like any other
 * target.
 */

const MAX_README_LINES = 250;

/** The text's lines with fenced code blocks blanked (line numbers kept). */
function outsideFences(text: string): string[] {
  const lines = text.split('\n');
  let fence: string | undefined;
  const out: string[] = [];
  for (const line of lines) {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (m && m[1]![0] === fence[0] && m[1]!.length >= fence.length && line.trim() === m[1]) fence = undefined;
      out.push('');
    } else if (m) {
      fence = m[1];
      out.push('');
    } else out.push(line);
  }
  return out;
}

/** As outsideFences, with inline code spans blanked too: they may hold brackets that are not links (`[--x P]`). */
function prose(text: string): string[] {
  return blankCodeSpans(outsideFences(text).join('\n')).split('\n');
}

/** CommonMark code spans: a run of n backticks up to the next run of exactly n; an unmatched run is literal. */
function blankCodeSpans(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '`') {
      out += text[i++];
      continue;
    }
    let n = 0;
    while (text[i + n] === '`') n++;
    let close = -1;
    for (let j = i + n; j < text.length; ) {
      if (text[j] !== '`') {
        j++;
        continue;
      }
      let m = 0;
      while (text[j + m] === '`') m++;
      if (m === n) {
        close = j;
        break;
      }
      j += m;
    }
    if (close < 0) {
      out += text.slice(i, i + n);
      i += n;
    } else {
      out += text.slice(i, close + n).replace(/[^\n]/g, ' ');
      i = close + n;
    }
  }
  return out;
}

interface Link {
  line: number;
  target: string;
}

function linksOf(text: string): Link[] {
  const found: Link[] = [];
  prose(text).forEach((line, i) => {
    // [text](target "title") and ![alt](src); link text may hold one level of brackets.
    for (const m of line.matchAll(/!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) {
      found.push({ line: i + 1, target: m[1]!.replace(/^<|>$/g, '') });
    }
    // Reference definitions: [label]: target
    const ref = /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(line);
    if (ref) found.push({ line: i + 1, target: ref[1]! });
    for (const m of line.matchAll(/\bhref="([^"]*)"/g)) found.push({ line: i + 1, target: m[1]! });
  });
  return found;
}

/** GitHub's heading anchor: lower case, punctuation and symbols dropped (not - or _), spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text
    .replace(/<[^>]+>/g, ''); // inline HTML
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  // Headings keep their code spans: `signhere` in a heading is part of its anchor.
  for (const line of outsideFences(fs.readFileSync(file, 'utf8'))) {
    const h = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (h) {
      const base = slug(h[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/\b(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** Every broken link of the docs under root, as "file:line: target: why". */
function brokenLinks(root: string): { problems: string[]; checked: number } {
  const problems: string[] = [];
  let checked = 0;
  const anchorCache = new Map<string, Set<string>>();
  for (const file of docFiles(root)) {
    const rel = path.relative(root, file);
    for (const { line, target } of linksOf(fs.readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // https:, mailto:, …
      checked++;
      const where = `${rel}:${line}: ${target}`;
      const hash = target.indexOf('#');
      const pathPart = hash < 0 ? target : target.slice(0, hash);
      const fragment = hash < 0 ? undefined : target.slice(hash + 1);
      let decoded: string;
      try {
        decoded = decodeURIComponent(pathPart);
      } catch {
        problems.push(`${where}: not a valid URL path`);
        continue;
      }
      if (decoded.startsWith('/')) {
        problems.push(`${where}: an absolute path; link relative to ${rel}`);
        continue;
      }
      const resolved = decoded === '' ? file : path.resolve(path.dirname(file), decoded);
      const inside = path.relative(root, resolved);
      if (inside.startsWith('..') || path.isAbsolute(inside)) {
        problems.push(`${where}: points outside the repository, which a reader of the repository or the package cannot follow`);
        continue;
      }
      if (!fs.existsSync(resolved)) {
        problems.push(`${where}: no such file${inside === path.join('docs', 'reference', 'cli.md') ? ' (docs/reference/cli.md is generated from the code; it lands with the CLI reference change)' : ''}`);
        continue;
      }
      if (fragment === undefined || fragment === '') continue;
      if (!resolved.endsWith('.md') || !fs.statSync(resolved).isFile()) {
        problems.push(`${where}: an anchor into something that is not a Markdown file`);
        continue;
      }
      let anchors = anchorCache.get(resolved);
      if (!anchors) anchorCache.set(resolved, (anchors = anchorsOf(resolved)));
      let want: string;
      try {
        want = decodeURIComponent(fragment);
      } catch {
        want = fragment;
      }
      if (!anchors.has(want)) problems.push(`${where}: no heading "#${want}" in ${inside} (it has: ${[...anchors].slice(0, 40).join(', ')})`);
    }
  }
  return { problems, checked };
}

test('docs: GitHub heading slugs', () => {
  assert.equal(slug('On a fresh machine'), 'on-a-fresh-machine');
  assert.equal(slug('Hot paths: where a daemon claim\'s CPU goes'), 'hot-paths-where-a-daemon-claims-cpu-goes');
  assert.equal(slug('`signhere`'), 'signhere');
  assert.equal(slug('Host hardening and `arkeo-signer doctor`'), 'host-hardening-and-arkeo-signer-doctor');
  assert.equal(slug('Proxy and curl (HTTP)'), 'proxy-and-curl-http');
  assert.equal(slug('max_spend and [a link](x.md)'), 'max_spend-and-a-link');
  assert.equal(slug('PKCS#11 (HSM) keys: keys that never leave the token'), 'pkcs11-hsm-keys-keys-that-never-leave-the-token');
});

test('docs: the link checker finds a missing file, a missing anchor and a link out of the repository (control)', () => {
  const root = tempDir();
  fs.mkdirSync(path.join(root, 'docs'));
  fs.writeFileSync(path.join(root, 'docs', 'a.md'), '# A\n\n## Two words\n\n## Two words\n');
  fs.writeFileSync(
    path.join(root, 'README.md'),
    [
      '# R',
      '[ok](docs/a.md#two-words-1) [ok too](#r) [web](https://example.com/x.md) `[not a link](nowhere.md)`',
      '```sh',
      '[in a code block](nowhere.md)',
      '```',
      '[gone](docs/b.md)',
      '[bad anchor](docs/a.md#three-words)',
      '[outside](../shared/spec/arkeo-claims.md)',
      '',
    ].join('\n'),
  );
  const { problems, checked } = brokenLinks(root);
  assert.equal(checked, 5);
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0]!, /README\.md:6: docs\/b\.md: no such file/);
  assert.match(problems[1]!, /README\.md:7: docs\/a\.md#three-words: no heading "#three-words"/);
  assert.match(problems[2]!, /README\.md:8: \.\.\/shared\/spec\/arkeo-claims\.md: points outside the repository/);
});

test('docs: every relative link and anchor in the user docs resolves', () => {
  const { problems, checked } = brokenLinks(REPO_ROOT);
  assert.ok(checked >= 100, `only ${checked} relative links found: is the checker reading the docs?`);
  assert.deepEqual(problems, []);
});

test(`docs: README.md is at most ${MAX_README_LINES} lines`, () => {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n').length : text.split('\n').length;
  assert.ok(lines <= MAX_README_LINES, `README.md has ${lines} lines; move detail into docs/ (the README keeps what it is, install, the quick starts, security notes and links)`);
});
