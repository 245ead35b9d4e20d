import { parseArgs } from 'node:util';
import { UsageError, helpRequested, printUsage } from './common.js';
import { EXIT } from './exit-codes.js';

/**
 * The command tables' shape, and what is made from a table: the parser, --help and the reference
 * (docs/reference/cli.md). The tables themselves are in tables/; no other file declares a flag.
 */

export type FlagType = 'boolean' | 'string' | 'repeatable';

export interface FlagSpec {
  readonly type: FlagType;
  /** One letter. A letter names one long flag in the whole CLI (checked by test/cli/tables.test.ts). */
  readonly short?: string;
  /** The value's name in help (DIR, URL, N); string and repeatable flags only. */
  readonly value?: string;
  /** The only values taken; any other is a usage error. Shown as the value's name when `value` is not given. */
  readonly choices?: readonly string[];
  /** The value when the flag is absent. */
  readonly default?: string;
  /** The default where the command works it out (from the environment, the home): for help; the flag stays absent. */
  readonly computedDefault?: string;
  /** The environment variable that stands in for the flag when it is absent (the command reads it). */
  readonly env?: string;
  readonly required?: boolean;
  /** The value may be left out (`--awskms --create`): then it is "". */
  readonly optionalValue?: boolean;
  readonly help: string;
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

/**
 * How flags combine. A flag counts as given when it is on the command line; the mode flags of `goWith` and
 * `notWith` (the ones that choose how the command works, such as --daemon) count as given when their environment
 * variable is set, too.
 */
export type Rule =
  /** At most one of these (exactly one when required). */
  | { readonly oneOf: readonly string[]; readonly required?: boolean }
  /** All or none. */
  | { readonly together: readonly string[] }
  /** Each of `flags` needs one of `goWith`. */
  | { readonly flags: readonly string[]; readonly goWith: readonly string[] }
  /** None of `flags` goes with `notWith`. */
  | { readonly flags: readonly string[]; readonly notWith: string; readonly why?: string };

export const oneOf = (...flags: string[]): Rule => ({ oneOf: flags });
export const exactlyOneOf = (...flags: string[]): Rule => ({ oneOf: flags, required: true });
export const together = (...flags: string[]): Rule => ({ together: flags });
export const goWith = (flags: string[], anyOf: string[]): Rule => ({ flags, goWith: anyOf });
export const notWith = (mode: string, flags: string[], why?: string): Rule => ({ flags, notWith: mode, ...(why ? { why } : {}) });

export interface Positional {
  readonly name: string;
  /** The last positional may repeat (NAME...): at least one. */
  readonly repeat?: boolean;
}

export interface CommandTable {
  /** The words after `arkeo-signer`: "keys add". */
  readonly command: string;
  /** One line, for the group's list. */
  readonly summary: string;
  /** Synopsis forms after the command words; default: the positionals and [flags]. */
  readonly usage?: readonly string[];
  readonly positionals?: readonly Positional[];
  readonly flags: FlagTable;
  readonly rules?: readonly Rule[];
  /** The prose of --help, between the usage and the flags. */
  readonly about: string;
  /** Flags this command once took, with what to do instead: the usage error says so. */
  readonly retired?: Readonly<Record<string, string>>;
}

export interface CommandGroup {
  readonly command: string;
  readonly summary: string;
  readonly about?: string;
  readonly commands: readonly (CommandTable | CommandGroup)[];
}

export const isGroup = (c: CommandTable | CommandGroup): c is CommandGroup => 'commands' in c;

/** A command's table, checked as a CommandTable with its literal types kept: Parsed<typeof T> types its values. */
export function commandTable<const T extends CommandTable>(table: T): T {
  return table;
}

/** A group of commands, checked as a CommandGroup with its literal types kept. */
export function commandGroup<const T extends CommandGroup>(group: T): T {
  return group;
}

type ValueOf<F extends FlagSpec> = F extends { type: 'boolean' } ? boolean : F extends { type: 'repeatable' } ? string[] : F extends { choices: readonly (infer C)[] } ? C : string;

/** A flag that is always in the parsed values: required, or with a default. */
type Always = { default: string } | { required: true };

/** The parsed values: a required flag, or one with a default, is always there; the others may be absent. */
export type Values<F extends FlagTable> = { -readonly [K in keyof F as F[K] extends Always ? K : never]: ValueOf<F[K]> } & {
  -readonly [K in keyof F as F[K] extends Always ? never : K]?: ValueOf<F[K]>;
};

export interface Parsed<T extends CommandTable> {
  values: Values<T['flags']>;
  positionals: string[];
  /** The flags on the command line (not those filled in from a default). */
  given: ReadonlySet<string>;
}

const flag = (name: string) => `--${name}`;

/** "a", "a or b", "a, b or c" */
function orList(items: readonly string[], word = 'or'): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} ${word} ${items.at(-1)}`;
}

/** `--awskms` followed by a flag or by nothing is `--awskms=`: parseArgs would take the next flag as its value. */
function fillOptionalValues(flags: FlagTable, args: readonly string[]): string[] {
  return args.map((a, i) => {
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    const spec = name !== undefined && Object.hasOwn(flags, name) ? flags[name] : undefined;
    return spec?.optionalValue && (i + 1 >= args.length || args[i + 1]!.startsWith('-')) ? `${a}=` : a;
  });
}

function parseArgsOptions(flags: FlagTable) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', ...(spec.short ? { short: spec.short } : {}), ...(spec.type === 'repeatable' ? { multiple: true } : {}) };
  }
  return options;
}

function unknownFlag(table: CommandTable, raw: string): UsageError {
  const hint = table.retired?.[raw];
  return new UsageError(`${table.command}: unknown flag ${raw}${hint ? `; ${hint}` : ` (arkeo-signer ${table.command} --help lists its flags)`}`);
}

/** The first rule the given flags break, as the one line the user sees (without the command). */
function brokenRule(rule: Rule, flags: FlagTable, given: (name: string) => boolean, present: (name: string) => 'flag' | 'env' | undefined): string | undefined {
  if ('oneOf' in rule) {
    const set = rule.oneOf.filter(given);
    const names = rule.oneOf.map(flag);
    if (set.length > 1) return rule.oneOf.length === 2 ? `${names[0]} and ${names[1]} cannot be used together` : `give one of ${names.join(', ')}`;
    if (set.length === 0 && rule.required) return `give one of ${names.join(', ')}`;
    return undefined;
  }
  if ('together' in rule) {
    const set = rule.together.filter(given);
    return set.length > 0 && set.length < rule.together.length ? `${orList(rule.together.map(flag), 'and')} go together` : undefined;
  }
  if ('goWith' in rule) {
    const lone = rule.flags.find((f) => given(f));
    return lone !== undefined && !rule.goWith.some((m) => present(m) !== undefined) ? `${flag(lone)} goes with ${orList(rule.goWith.map(flag))}` : undefined;
  }
  const how = present(rule.notWith);
  const clash = how !== undefined ? rule.flags.find((f) => given(f)) : undefined;
  if (clash === undefined) return undefined;
  // Set through its environment variable, the mode flag is not on the command line: name the variable.
  const env = how === 'env' ? ` (${flags[rule.notWith]!.env} is set)` : '';
  return `${flag(clash)} does not go with ${flag(rule.notWith)}${env}${rule.why ? `: ${rule.why}` : ''}`;
}

/**
 * Parse a command's arguments by its table: unknown flags, values that are not among the choices, broken rules,
 * missing required flags and a wrong number of arguments are usage errors, each one line naming the command.
 */
export function parseCommand<T extends CommandTable>(table: T, argv: readonly string[]): Parsed<T> {
  const args = fillOptionalValues(table.flags, argv);
  const options = parseArgsOptions(table.flags);
  // First, any flag the table does not hold, named as typed: parseArgs' own message does not say which command.
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) if (t.kind === 'option' && !Object.hasOwn(table.flags, t.name)) throw unknownFlag(table, t.rawName);
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (e) {
    // One line: parseArgs' hint lines go, except the one about values that start with a dash.
    const lines = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '').split('\n');
    throw new UsageError(`${table.command}: ${lines.filter((l) => !/^Did you forget/.test(l)).join(' ')}`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const given = new Set(Object.keys(values).filter((k) => values[k] !== undefined));
  for (const name of given) {
    const choices = table.flags[name]!.choices;
    const value = values[name];
    for (const v of Array.isArray(value) ? value : [value]) {
      if (choices && !choices.includes(v as string)) throw new UsageError(`${table.command}: ${flag(name)}: expected ${orList(choices)}, got "${String(v).slice(0, 40)}"`);
    }
  }
  const present = (name: string): 'flag' | 'env' | undefined => {
    if (given.has(name)) return 'flag';
    const env = table.flags[name]?.env;
    return env && process.env[env] ? 'env' : undefined;
  };
  for (const rule of table.rules ?? []) {
    const broken = brokenRule(rule, table.flags, (n) => given.has(n), present);
    if (broken) throw new UsageError(`${table.command}: ${broken}`);
  }
  for (const [name, spec] of Object.entries(table.flags)) if (spec.required && !given.has(name)) throw new UsageError(`${table.command}: ${flag(name)} is required`);
  checkPositionals(table, parsed.positionals);
  for (const [name, spec] of Object.entries(table.flags)) if (spec.default !== undefined && !given.has(name)) values[name] = spec.default;
  return { values: values as Values<T['flags']>, positionals: parsed.positionals, given };
}

function checkPositionals(table: CommandTable, positionals: readonly string[]): void {
  const specs = table.positionals ?? [];
  const names = specs.map((p) => `<${p.name}>`).join(' ');
  if (specs.length === 0 && positionals.length > 0) throw new UsageError(`${table.command}: unexpected argument "${positionals[0]!.slice(0, 40)}"`);
  if (specs.at(-1)?.repeat) {
    if (positionals.length < specs.length) throw new UsageError(`${table.command}: expected at least ${names}`);
  } else if (positionals.length !== specs.length) {
    throw new UsageError(`${table.command}: expected ${specs.length} argument(s) ${names}, got ${positionals.length}`);
  }
}

// ------------------------------------------------------------------------------------------------ help

/** A synopsis' words, a bracketed group counting as one: a line is never broken inside [ ] or ( ). */
function synopsisWords(text: string): string[] {
  const words: string[] = [];
  let depth = 0;
  let word = '';
  for (const ch of text) {
    if (ch === ' ' && depth === 0) {
      if (word) words.push(word);
      word = '';
      continue;
    }
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth = Math.max(0, depth - 1);
    word += ch;
  }
  if (word) words.push(word);
  // A flag and its value stay on one line: "--key NAME".
  return words.reduce<string[]>((out, w) => {
    const last = out.at(-1);
    if (last !== undefined && /^--?[\w-]+$/.test(last) && !/^[-[(]/.test(w)) out[out.length - 1] = `${last} ${w}`;
    else out.push(w);
    return out;
  }, []);
}

/** Lines of at most `width` characters (a longer word stays whole), the first after `first`, the others after `indent` spaces. */
function wrap(text: string | string[], width: number, first: string, indent: number): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of Array.isArray(text) ? text : text.split(/ +/)) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = ' '.repeat(indent) + word;
    } else line += (empty ? '' : ' ') + word;
    empty = false;
  }
  lines.push(line);
  return lines;
}

const WIDTH = 116;
const MAX_COLUMN = 34;

function valueName(spec: FlagSpec): string {
  if (spec.type === 'boolean') return '';
  const name = spec.value ?? spec.choices?.join('|') ?? 'VALUE';
  return spec.optionalValue ? ` [${name}]` : ` ${name}`;
}

function flagHelp(spec: FlagSpec): string {
  const shownDefault = spec.default ?? spec.computedDefault;
  const notes = [
    spec.required ? 'required' : undefined,
    spec.env ? `or $${spec.env}` : undefined,
    shownDefault !== undefined ? `default ${shownDefault}` : undefined,
    spec.type === 'repeatable' ? 'repeatable' : undefined,
  ].filter(Boolean);
  return notes.length ? `${spec.help} (${notes.join('; ')})` : spec.help;
}

function twoColumns(rows: [string, string][]): string[] {
  const column = Math.min(MAX_COLUMN, Math.max(...rows.map(([l]) => l.length)) + 2);
  return rows.flatMap(([left, text]) => (left.length + 2 > column ? [left, ...wrap(text, WIDTH, ' '.repeat(column), column)] : wrap(text, WIDTH, left.padEnd(column), column)));
}

/** A rule as a sentence for --help. */
export function ruleText(rule: Rule): string {
  if ('oneOf' in rule) return `${rule.required ? 'exactly' : 'at most'} one of ${orList(rule.oneOf.map(flag))}`;
  if ('together' in rule) return `${orList(rule.together.map(flag), 'and')} go together`;
  if ('goWith' in rule) return `${orList(rule.flags.map(flag), 'and')} ${rule.flags.length > 1 ? 'go' : 'goes'} with ${orList(rule.goWith.map(flag))}`;
  return `${orList(rule.flags.map(flag), 'and')} ${rule.flags.length > 1 ? 'do' : 'does'} not go with ${flag(rule.notWith)}${rule.why ? `: ${rule.why}` : ''}`;
}

function defaultSynopsis(table: CommandTable): string {
  return [...(table.positionals ?? []).map((p) => (p.repeat ? `${p.name}...` : p.name)), '[flags]'].join(' ');
}

/** `--help` for a command: usage, what it does, every flag it takes, how they combine. */
export function helpText(table: CommandTable): string {
  const prefix = `arkeo-signer ${table.command} `;
  const forms = table.usage ?? [defaultSynopsis(table)];
  const lines = forms.flatMap((f, i) => wrap(synopsisWords(f), WIDTH, `${i === 0 ? 'Usage: ' : '       '}${prefix}`, 7 + prefix.length));
  lines.push('', table.about.trimEnd(), '', 'Flags:');
  const rows: [string, string][] = Object.entries(table.flags).map(([name, spec]) => [`  ${spec.short ? `-${spec.short}, ` : '    '}--${name}${valueName(spec)}`, flagHelp(spec)]);
  rows.push(['  -h, --help', 'print this help']);
  lines.push(...twoColumns(rows));
  if (table.rules?.length) lines.push('', 'Rules:', ...table.rules.flatMap((r) => wrap(ruleText(r), WIDTH, '  ', 4)));
  return lines.join('\n') + '\n';
}

const lastWord = (command: string) => command.slice(command.lastIndexOf(' ') + 1);

function entryName(c: CommandTable | CommandGroup): string {
  return isGroup(c) ? `${lastWord(c.command)} <command>` : [lastWord(c.command), ...(c.positionals ?? []).map((p) => (p.repeat ? `${p.name}...` : p.name))].join(' ');
}

/** `--help` for a group: its commands, one line each. */
export function groupHelp(group: CommandGroup): string {
  const lines = [`Usage: arkeo-signer ${group.command} <command> ...   (arkeo-signer ${group.command} <command> --help for each)`, ''];
  if (group.about) lines.push(group.about.trimEnd(), '');
  lines.push('Commands:', ...twoColumns(group.commands.map((c) => [`  ${entryName(c)}`, c.summary])));
  return lines.join('\n') + '\n';
}

/** `arkeo-signer --help`: every command, one line each (a line starts with `  arkeo-signer <command>`). */
export function programHelp(program: CommandGroup): string {
  const lines = [`arkeo-signer: ${program.summary}`, '', 'Usage: arkeo-signer <command> ...   (arkeo-signer <command> [<subcommand>] --help for each)', '', 'Commands:'];
  lines.push(...twoColumns(program.commands.map((c) => [`  arkeo-signer ${entryName(c)}`, c.summary])));
  lines.push('', `Exit codes: ${EXIT.ok} ok, ${EXIT.refused} refused or invalid, ${EXIT.usage} usage or bad input; curl also ${EXIT.unreachable}, ${EXIT.httpError} and ${EXIT.timeout} as curl's (docs/reference/cli.md).`);
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------------------ dispatch

export type Run = (args: readonly string[]) => Promise<number | void>;

/** A table with the function that does the command's work, given the parsed arguments. */
export interface Bound {
  readonly table: CommandTable;
  readonly run: Run;
}

export function bind<T extends CommandTable>(table: T, work: (p: Parsed<T>) => Promise<number | void> | number | void): Bound {
  return { table, run: async (args) => work(parseCommand(table, args)) };
}

/** A command without subcommands: its help, or its work. */
export function runCommand(bound: Bound, args: readonly string[]): Promise<number | void> {
  if (helpRequested([...args])) return Promise.resolve(printUsage(helpText(bound.table)));
  return bound.run(args);
}

/**
 * A group: the subcommand named by the first word, its help, or the group's help. Help and unknown subcommands are
 * answered before anything is parsed or opened.
 */
export async function runGroup(group: CommandGroup, args: readonly string[], bound: readonly Bound[]): Promise<number | void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') return printUsage(groupHelp(group));
  const entry = group.commands.find((c) => lastWord(c.command) === sub);
  if (!entry) throw new UsageError(`${group.command}: unknown command "${sub.slice(0, 40)}"; expected ${orList(group.commands.map((c) => lastWord(c.command)))}`);
  if (isGroup(entry)) return runGroup(entry, rest, bound);
  const b = bound.find((x) => x.table === entry);
  if (!b) throw new Error(`arkeo-signer ${entry.command}: no work bound to this table`);
  return runCommand(b, rest);
}

/** Every command table under a group, depth first. */
export function commandsOf(group: CommandGroup): CommandTable[] {
  return group.commands.flatMap((c) => (isGroup(c) ? commandsOf(c) : [c]));
}
