import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { REPO_ROOT, tempDir } from '../helpers.js';

/**
 * What `npm pack` ships, from a checkout with no dist/ (as a fresh clone is): prepack must build it, the LICENSE
 * must be there, and the source maps must not (they point at src/*.ts, which the package does not carry).
 */
test('npm pack from a checkout without dist/ ships the built CLI, the LICENSE and no source maps', () => {
  // The repository's files as they are now (committed or not), without dist/ or any build output.
  const checkout = tempDir();
  const tracked = execFileSync('git', ['-C', REPO_ROOT, 'ls-files', '-z'], { encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of tracked) {
    if (!fs.existsSync(path.join(REPO_ROOT, f))) continue;
    fs.mkdirSync(path.dirname(path.join(checkout, f)), { recursive: true });
    fs.copyFileSync(path.join(REPO_ROOT, f), path.join(checkout, f));
  }
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
  assert.equal(fs.existsSync(path.join(checkout, 'dist')), false);

  const r = spawnSync('npm', ['pack', '--dry-run', '--json'], { cwd: checkout, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  assert.equal(r.status, 0, r.stderr);
  const json = r.stdout.slice(r.stdout.search(/^\[/m));
  const files = (JSON.parse(json) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);

  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; main: string; types: string; license: string };
  for (const f of [...Object.values(pkg.bin), pkg.main, pkg.types].map((p) => path.normalize(p))) assert.ok(files.includes(f), `${f} is shipped`);
  for (const f of ['LICENSE', 'README.md', 'native/build.mjs', 'native/node-headers.mjs', 'native/libsecp256k1/binding.c', 'native/peercred/peercred.c', 'native/hardening/hardening.c', 'contrib/systemd/arkeo-signer.service', 'contrib/systemd/arkeo-signer-settle.service', 'contrib/prometheus/arkeo-signer.rules.yml', 'contrib/prometheus/arkeo-signer.rules.test.yml']) {
    assert.ok(files.includes(f), `${f} is shipped`);
  }
  assert.deepEqual(files.filter((f) => f.endsWith('.map')), [], 'no source maps');
  assert.deepEqual(files.filter((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('src/')), [], 'only the library and CLIs');

  assert.equal(pkg.license, 'MIT');
  const license = fs.readFileSync(path.join(REPO_ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} arkeo-signer contributors\n/);
});
