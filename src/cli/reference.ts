import { EXIT_MEANING } from './exit-codes.js';
import { groupHelp, helpText, isGroup, programHelp, type CommandGroup, type CommandTable } from './table.js';
import { ARKEO_SIGNER } from './tables/index.js';
import { SIGNHERE_ABOUT, SIGNHERE_FLAGS, signhereUsage } from './tables/signhere.js';

/**
 * docs/reference/cli.md, made from the command tables: each command's --help as it prints it, under a heading that
 * is the command. `npm run cli-reference` writes it; test/cli/tables.test.ts checks the committed file is this.
 */

export interface ReferenceSection {
  /** The command as typed: "arkeo-signer keys add", "signhere". */
  readonly command: string;
  readonly depth: number;
  /** What `--help` prints (on stdout; signhere's -h on stderr). */
  readonly help: string;
}

function sectionsOf(entry: CommandTable | CommandGroup, depth: number): ReferenceSection[] {
  const command = `arkeo-signer ${entry.command}`;
  if (!isGroup(entry)) return [{ command, depth, help: helpText(entry) }];
  return [{ command, depth, help: groupHelp(entry) }, ...entry.commands.flatMap((c) => sectionsOf(c, depth + 1))];
}

/** Every command's help, in the order of `arkeo-signer --help`, then signhere. */
export function referenceSections(): ReferenceSection[] {
  return [
    { command: 'arkeo-signer', depth: 2, help: programHelp(ARKEO_SIGNER) },
    ...ARKEO_SIGNER.commands.flatMap((c) => sectionsOf(c, 2)),
    { command: 'signhere', depth: 2, help: signhereUsage() },
  ];
}

/** Text in a Markdown table cell: a pipe would end the cell, and <word> would be read as HTML. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function cliReference(): string {
  const out = [
    '# CLI reference',
    '',
    '<!-- generated from the command tables (src/cli/tables) by `npm run cli-reference`: do not edit by hand -->',
    '',
    'Each command\'s `--help`, exactly as it prints it. The flags, how they combine, and these texts all come from one',
    'table per command; a flag that is not in a command\'s table is a usage error (exit 2).',
    '',
    '## Exit codes',
    '',
    '| Code | Meaning |',
    '| --- | --- |',
    ...Object.entries(EXIT_MEANING).map(([code, meaning]) => `| ${code} | ${cell(meaning)} |`),
    '',
  ];
  for (const s of referenceSections()) {
    out.push(`${'#'.repeat(s.depth)} ${s.command}`, '');
    if (s.command === 'signhere') {
      out.push(SIGNHERE_ABOUT, '', '| Flag | Default | Meaning |', '| --- | --- | --- |');
      out.push(...SIGNHERE_FLAGS.map((f) => `| \`-${f.name} string\` | ${f.default !== undefined ? `\`${f.default}\`` : ''} | ${cell(f.help)} |`), '');
    }
    out.push('```text', s.help.trimEnd(), '```', '');
  }
  return out.join('\n');
}
