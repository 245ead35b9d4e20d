import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../helpers.js';

/**
 * One seam per backend (docs/architecture.md, "Adding a backend"): only src/keys/ (the registry and its entries)
 * and src/signers/ (the backends themselves) name a backend's kind or use a backend's class. Anywhere else a kind
 * string ('pkcs11', 'aws-kms', 'azure-kv', 'gcp-kms', or 'local' where a kind is meant), a backend class, or an
 * import of a backend's own module is a second place a new backend would have to be added.
 *
 * Grep-level, on the syntax tree so that comments do not count: string literals, identifiers, import paths.
 * 'local' counts only on a line that says `kind` (it is also a transport and arkeod's record type).
 */
const KINDS = ['pkcs11', 'aws-kms', 'azure-kv', 'gcp-kms'];
const BACKEND_CLASSES = ['LocalSigner', 'Pkcs11Signer', 'CloudSigner', 'CloudKeySigner', 'AwsKmsSigner', 'AzureKvSigner', 'GcpKmsSigner'];
const BACKEND_MODULES = /(^|\/)(signers\/(pkcs11|pkcs11-uri|signer|cloud)|keys\/(local|pkcs11|cloud))(\.js|\/|$)/;
const ALLOWED = /^src\/(keys|signers)\//;

export function backendMentions(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const at = (node: ts.Node) => `${file}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
  const lineOf = (node: ts.Node) => {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
    return text.split('\n')[line] ?? '';
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      const spec = node.moduleSpecifier;
      if (spec && ts.isStringLiteral(spec) && BACKEND_MODULES.test(spec.text)) found.push(`${at(node)}: imports the backend module ${spec.text}`);
    }
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal) && BACKEND_MODULES.test(node.argument.literal.text)) {
      found.push(`${at(node)}: imports the backend module ${node.argument.literal.text}`);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteral(arg) && BACKEND_MODULES.test(arg.text)) found.push(`${at(node)}: imports the backend module ${arg.text}`);
    } else if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      const inModuleSpecifier = ts.isImportDeclaration(node.parent) || ts.isExportDeclaration(node.parent);
      if (!inModuleSpecifier && KINDS.includes(node.text)) found.push(`${at(node)}: names the kind '${node.text}'`);
      if (node.text === 'local' && /\bkind\b/.test(lineOf(node))) found.push(`${at(node)}: names 'local' as a kind`);
    } else if (ts.isIdentifier(node) && BACKEND_CLASSES.includes(node.text)) {
      found.push(`${at(node)}: uses the backend class ${node.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sourceFiles(rel);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

const scanned = () =>
  sourceFiles('src')
    .filter((f) => !ALLOWED.test(f))
    .map((f) => ({ file: f, found: backendMentions(f, fs.readFileSync(path.join(REPO_ROOT, f), 'utf8')) }));

test('backend kinds: no module outside src/keys/ and src/signers/ names a backend kind or uses a backend class', () => {
  const files = scanned();
  assert.ok(files.length > 50, `scanned ${files.length} files under src/`);
  assert.ok(files.some((f) => f.file === 'src/daemon/server.ts'), 'the daemon is scanned');
  assert.ok(files.some((f) => f.file === 'src/cli/tables/keys.ts'), "keys add's table is scanned: its backends' flags come from the registry");
  const offending = files.flatMap((f) => f.found);
  assert.deepEqual(offending, [], `a backend's kind or class outside src/keys/ and src/signers/: add it to the registry (src/keys/registry.ts) instead\n${offending.join('\n')}`);
});

test('backend kinds: the check finds a planted kind, class and import, and ignores comments, transports and record types (control)', () => {
  const planted = [
    "import { Pkcs11Signer } from '../signers/index.js';",
    "import { openLocalSigner } from '../keys/local.js';",
    "const cloud = () => import('../signers/cloud/index.js');",
    "if (info.kind === 'aws-kms') console.log('x');",
    "const isLocal = info.kind === 'local';",
    'const t = `gcp-kms`;',
    'if (s instanceof Pkcs11Signer) {}',
  ].join('\n');
  const found = backendMentions('src/daemon/planted.ts', planted);
  for (const what of ['uses the backend class Pkcs11Signer', 'imports the backend module ../keys/local.js', 'imports the backend module ../signers/cloud/index.js', "names the kind 'aws-kms'", "names 'local' as a kind", "names the kind 'gcp-kms'"]) {
    assert.ok(found.some((f) => f.includes(what)), `planted: ${what}\nfound:\n${found.join('\n')}`);
  }
  assert.equal(found.filter((f) => f.includes('Pkcs11Signer')).length, 2, 'the import and the instanceof');
  const innocent = [
    "// a 'pkcs11' key signs through its pool; LocalSigner zeroes its key",
    "/** 'aws-kms', 'azure-kv' */",
    "const who = { transport: 'local' };",
    "if (record.type !== 'local') return;",
    "const flag = '--pkcs11';",
    "import { openSigner } from '../keys/index.js';",
  ].join('\n');
  assert.deepEqual(backendMentions('src/daemon/innocent.ts', innocent), []);
});
