import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, REPO_ROOT, runAsync } from '../helpers.js';
import { UsageError } from '../../src/cli/common.js';
import { cliReference, referenceSections } from '../../src/cli/reference.js';
import { commandsOf, helpText, parseCommand, type CommandTable, type FlagSpec, type Rule } from '../../src/cli/table.js';
import { ARKEO_SIGNER } from '../../src/cli/tables/index.js';
import { CLAIM_SIGN } from '../../src/cli/tables/claim.js';
import { KEYS_ADD, keysAddTable } from '../../src/cli/tables/keys.js';
import { CREATE_OPTION, addForms, type AddForm } from '../../src/keys/index.js';
import { CONSOLE } from '../../src/cli/tables/console.js';
import { CURL, PROXY } from '../../src/cli/tables/pay.js';
import { OUTPUT_FLAG } from '../../src/cli/tables/shared.js';
import { DEFAULT_LISTEN } from '../../src/console/index.js';
import { HEADERS_TIMEOUT_MS } from '../../src/proxy/index.js';
import { COSMOS_COIN_TYPE } from '../../src/crypto/hd.js';
import { committedReference, REFERENCE_DOC } from './reference-doc.js';

/**
 * The command tables (src/cli/tables) are the CLI: the parser, --help and docs/reference/cli.md come from them.
 * These tests hold the tables to that: the committed reference is what they generate, a flag outside a command's
 * table is refused, no flag is declared anywhere else, and each flag name and letter means one thing.
 */

const TABLES: CommandTable[] = commandsOf(ARKEO_SIGNER);
const ONE_LINE = /^[^\n]+\n$/;

test('docs/reference/cli.md is what the tables generate (npm run cli-reference writes it)', () => {
  assert.equal(fs.readFileSync(REFERENCE_DOC, 'utf8'), cliReference(), 'out of date: run npm run cli-reference');
  const committed = committedReference();
  const sections = referenceSections();
  assert.deepEqual([...committed.keys()], sections.map((s) => s.command), 'one section per command, in order');
  for (const s of sections) assert.equal(committed.get(s.command), s.help, s.command);
  for (const t of TABLES) assert.equal(committed.get(`arkeo-signer ${t.command}`), helpText(t), t.command);
});

/** Every flag name in any table, with one spec for it (the types agree: see the test below). */
function allFlags(): Map<string, FlagSpec> {
  const all = new Map<string, FlagSpec>();
  for (const t of TABLES) for (const [name, spec] of Object.entries(t.flags)) if (!all.has(name)) all.set(name, spec);
  return all;
}

test('a flag of another command, on any command, is a usage error of one line naming the flag and the command', () => {
  const all = allFlags();
  const letters = new Set([...all.values()].flatMap((s) => (s.short ? [s.short] : [])));
  let checked = 0;
  for (const t of TABLES) {
    const own = new Set(Object.values(t.flags).flatMap((s) => (s.short ? [s.short] : [])));
    const foreign = [...[...all].filter(([name]) => !Object.hasOwn(t.flags, name)).map(([name, spec]) => [`--${name}`, spec] as const), ...[...letters].filter((l) => !own.has(l)).map((l) => [`-${l}`, undefined] as const)];
    for (const [raw, spec] of foreign) {
      const argv = [raw, ...(spec && spec.type !== 'boolean' ? ['x'] : [])];
      assert.throws(
        () => parseCommand(t, argv),
        (e: unknown) => e instanceof UsageError && e.message.startsWith(`${t.command}: unknown flag ${raw}`) && !e.message.includes('\n'),
        `${t.command} ${argv.join(' ')}`,
      );
      checked++;
    }
  }
  assert.ok(checked > 1000, `${checked} combinations`);
});

test('every command, given a flag no command has, exits 2 with exactly one line naming the flag and the command', { timeout: 300_000 }, async () => {
  const jobs: { argv: string[]; expect: RegExp }[] = TABLES.map((t) => ({
    argv: [...t.command.split(' '), '--no-such-flag'],
    expect: new RegExp(`^arkeo-signer: ${t.command}: unknown flag --no-such-flag \\(arkeo-signer ${t.command} --help lists its flags\\)\\n$`),
  }));
  // And the ones that were silently taken before the tables (docs/decisions/cli-tables.md).
  jobs.push(
    { argv: ['nonce', 'show', '--force'], expect: /^arkeo-signer: nonce show: unknown flag --force / },
    { argv: ['audit', 'verify', 'some.log', '-f'], expect: /^arkeo-signer: audit verify: unknown flag -f / },
    { argv: ['keys', 'delete', 'alice', '-o', 'json'], expect: /^arkeo-signer: keys delete: unknown flag -o / },
    { argv: ['curl', 'http://127.0.0.1:9/svc/', '--key', 'k', '-o', 'out'], expect: /^arkeo-signer: curl: unknown flag -o; the body goes to stdout/ },
    { argv: ['claim', 'sign', '--contract', '1', '--key', 'k', '--delegate'], expect: /^arkeo-signer: claim sign: unknown flag --delegate; use --form 4-part/ },
    { argv: ['claim', 'sign', '--contract', '1', '--key', 'k', '--daemon', '/nonexistent.sock', '--nonce-store', 'n.db'], expect: /^arkeo-signer: claim sign: --nonce-store does not go with --daemon: / },
    { argv: ['claim', 'sign', '--contract', '1', '--key', 'k', '--token-file', 't'], expect: /^arkeo-signer: claim sign: --token-file goes with --daemon\n$/ },
  );
  for (let i = 0; i < jobs.length; i += 4) {
    await Promise.all(
      jobs.slice(i, i + 4).map(async ({ argv, expect }) => {
        const r = await runAsync(BIN.arkeoSigner, argv, { env: { ARKEO_SIGNER_DAEMON: undefined } });
        const what = argv.join(' ');
        assert.equal(r.status, 2, `${what}: ${r.stderr}`);
        assert.equal(r.stdout, '', what);
        assert.match(r.stderr, ONE_LINE, what);
        assert.match(r.stderr, expect, what);
      }),
    );
  }
});

test('a mode set in the environment counts: claim sign with ARKEO_SIGNER_DAEMON set refuses the flags for signing here', () => {
  const before = process.env.ARKEO_SIGNER_DAEMON;
  process.env.ARKEO_SIGNER_DAEMON = '/run/arkeo-signer/keyd.sock';
  try {
    assert.throws(() => parseCommand(CLAIM_SIGN, ['--contract', '1', '--key', 'k', '--home', '/h']), /^UsageError: claim sign: --home does not go with --daemon \(ARKEO_SIGNER_DAEMON is set\): /);
    assert.equal(parseCommand(CLAIM_SIGN, ['--contract', '1', '--key', 'k', '--token-file', 't']).values['token-file'], 't', '--token-file goes with the daemon the environment names');
  } finally {
    if (before === undefined) delete process.env.ARKEO_SIGNER_DAEMON;
    else process.env.ARKEO_SIGNER_DAEMON = before;
  }
  // `--awskms` with no value: the empty reference, not the next flag.
  assert.equal(parseCommand(KEYS_ADD, ['x', '--awskms', '--create', '--region', 'r']).values.awskms, '');
  assert.deepEqual(parseCommand(CURL, ['http://h/s/', '--key', 'k', '-H', 'a: 1', '-H', 'b: 2']).values.header, ['a: 1', 'b: 2']);
});

/** Source files under src/cli, by path relative to it. */
function cliSources(dir = path.join(REPO_ROOT, 'src', 'cli'), rel = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? cliSources(path.join(dir, e.name), `${rel}${e.name}/`) : /\.(ts|mjs)$/.test(e.name) ? [`${rel}${e.name}`] : []));
}

test('no file in src/cli declares a flag outside the command tables (tables/) or parses argv outside table.ts', () => {
  const files = cliSources();
  assert.ok(files.includes('keys.ts') && files.includes('tables/keys.ts'), files.join(' '));
  const declarations: [RegExp, string][] = [
    [/\bparseArgs\b/, 'node:util\'s parser, which only table.ts calls'],
    [/\bparseFlags\b/, 'the old per-command parser'],
    [/\btype:\s*['"](string|boolean|repeatable)['"]/, 'a flag spec, or parseArgs options'],
    [/\bshort:\s*['"]/, 'a short flag'],
    [/\bmultiple:\s*true/, 'a repeatable parseArgs option'],
    [/\{\s*name:\s*['"][\w-]+['"],\s*help:/, 'a Go-style flag (signhere)'],
  ];
  // table.ts turns a table into parseArgs options: it names the option types, made from the table, and calls parseArgs.
  const parserOnly = new Set(['node:util\'s parser, which only table.ts calls', 'a flag spec, or parseArgs options', 'a repeatable parseArgs option']);
  for (const file of files) {
    if (file.startsWith('tables/')) continue;
    const text = fs.readFileSync(path.join(REPO_ROOT, 'src', 'cli', file), 'utf8');
    for (const [re, what] of declarations) {
      if (file === 'table.ts' && parserOnly.has(what)) continue;
      assert.doesNotMatch(text, re, `src/cli/${file}: ${what}`);
    }
  }
});

/**
 * `--pubkey` is arkeod's switch in keys show (-p: print the public key) and a public key P in verify and claim
 * explain, as arkeod's own `keys add --pubkey P`: docs/decisions/cli-tables.md. `--to` is the backend `keys migrate`
 * moves keys to and the recipient of `tx send`: both read as "to", and neither command takes the other's.
 */
const TWO_TYPED = new Set(['pubkey', 'to']);

test('a letter names one flag, and a flag has one type, one letter and one set of values, in every command', () => {
  const byLetter = new Map<string, Set<string>>();
  const byName = new Map<string, Set<string>>();
  for (const t of TABLES) {
    for (const [name, spec] of Object.entries(t.flags)) {
      if (spec.short) byLetter.set(spec.short, (byLetter.get(spec.short) ?? new Set()).add(name));
      const kind = `${spec.type} -${spec.short ?? ''} ${spec.choices?.join('|') ?? ''}`;
      byName.set(name, (byName.get(name) ?? new Set()).add(kind));
    }
  }
  for (const [letter, names] of byLetter) assert.equal(names.size, 1, `-${letter}: ${[...names].join(', ')}`);
  for (const [name, kinds] of byName) if (!TWO_TYPED.has(name)) assert.equal(kinds.size, 1, `--${name}: ${[...kinds].join(' / ')}`);
  assert.deepEqual([...byName.get('delegate')!], ['string - '], '--delegate is a public key wherever it is');
  assert.equal(byLetter.get('h'), undefined, '-h is help');
  for (const t of TABLES) if ('output' in t.flags) assert.deepEqual(t.flags.output, OUTPUT_FLAG.output, t.command);
});

test('-o json|text is taken by the commands that print a result, and by no other', () => {
  assert.deepEqual(
    TABLES.filter((t) => 'output' in t.flags).map((t) => t.command).sort(),
    ['audit drill', 'audit verify', 'claim arkcontract', 'claim contract add', 'claim contract list', 'claim explain', 'claim sign', 'contract close', 'contract list', 'contract open', 'contract show', 'daemon token list', 'doctor', 'keys add', 'keys list', 'keys show', 'nonce show', 'nonce sync', 'tx send', 'tx show', 'verify', 'version'],
  );
});

function ruleFlags(rule: Rule): string[] {
  if ('oneOf' in rule) return [...rule.oneOf];
  if ('together' in rule) return [...rule.together];
  if ('goWith' in rule) return [...rule.flags, ...rule.goWith];
  return [...rule.flags, rule.notWith];
}

test('each table holds together: rules and usage name its own flags, defaults are among the choices, shared defaults agree with the code', () => {
  const commands = TABLES.map((t) => t.command);
  assert.equal(new Set(commands).size, commands.length, 'one table per command');
  for (const t of TABLES) {
    for (const rule of t.rules ?? []) for (const f of ruleFlags(rule)) assert.ok(Object.hasOwn(t.flags, f), `${t.command}: a rule names --${f}`);
    for (const form of t.usage ?? []) for (const [, f] of form.matchAll(/--([\w-]+)/g)) assert.ok(Object.hasOwn(t.flags, f!), `${t.command}: its usage names --${f}`);
    for (const raw of Object.keys(t.retired ?? {})) assert.ok(!Object.hasOwn(t.flags, raw.replace(/^--?/, '')) && !Object.values(t.flags).some((s) => `-${s.short}` === raw), `${t.command}: ${raw} is retired and taken`);
    for (const [name, spec] of Object.entries(t.flags)) {
      if (spec.default !== undefined && spec.choices) assert.ok(spec.choices.includes(spec.default), `${t.command} --${name}`);
      assert.ok(!(spec.required && spec.default !== undefined), `${t.command} --${name}: required and defaulted`);
      assert.ok(spec.type !== 'boolean' || (spec.value === undefined && spec.default === undefined), `${t.command} --${name}: a switch has no value`);
      assert.match(spec.help, /^[^\n]+$/, `${t.command} --${name}: one line of help`);
    }
    (t.positionals ?? []).forEach((p, i, all) => assert.ok(!p.repeat || i === all.length - 1, `${t.command}: only the last positional repeats`));
  }
  assert.equal(CONSOLE.flags.listen.default, DEFAULT_LISTEN);
  assert.equal(Number(PROXY.flags['headers-timeout'].default) * 1000, HEADERS_TIMEOUT_MS);
  assert.equal(Number(CURL.flags['headers-timeout'].default) * 1000, HEADERS_TIMEOUT_MS);
  assert.equal(KEYS_ADD.flags['coin-type']?.default, String(COSMOS_COIN_TYPE));
});

test('keys add is made from the backends\' forms: an option two forms declare differently is refused; declared alike it is one flag, with every selector that takes it (control)', () => {
  const form = (create: AddForm['options'][string]): AddForm => ({
    selectors: ['x-made-up'],
    options: { 'x-made-up': { type: 'string', value: 'X', help: 'a made-up backend' }, create },
    usage: ['NAME --x-made-up X [--create]'],
    about: '--x-made-up X: made up.',
    add: () => Promise.reject(new Error('not run')),
  });
  assert.throws(() => keysAddTable([...addForms(), form({ type: 'boolean', help: 'something else' })]), /^Error: keys add --create: declared twice, differently$/);
  const table = keysAddTable([...addForms(), form(CREATE_OPTION)]);
  const create = table.rules.filter((r) => 'goWith' in r && r.flags.includes('create'));
  assert.deepEqual(create, [{ flags: ['create'], goWith: [...KEYS_ADD.rules.flatMap((r) => ('oneOf' in r ? r.oneOf : [])), 'x-made-up'] }]);
  assert.equal(table.flags['x-made-up']?.help, 'a made-up backend');
  assert.ok(table.usage.includes('NAME --x-made-up X [--create]') && table.about.endsWith('--x-made-up X: made up.'));
  assert.throws(() => parseCommand(table, ['k', '--x-made-up', 'v', '--recover']), /^UsageError: keys add: --recover does not go with --x-made-up$/);
});
