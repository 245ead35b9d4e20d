#!/usr/bin/env node
import { UsageError, printUsage, runCli } from './common.js';
import { bind, programHelp, runCommand, type Parsed } from './table.js';
import { VERSION } from './tables/version.js';

/**
 * Each command's module is imported when it runs and runs itself (its `run`, under its own runCli): a cold start
 * (one `claim sign` per process) loads one command, and the bins bundle each command apart (src/cli/build.mjs).
 * The top-level help is made from every table (tables/index.ts), loaded only when it is asked for.
 */
const COMMANDS: Record<string, () => Promise<(args: string[]) => Promise<void>>> = {
  keys: async () => (await import('./keys.js')).run,
  verify: async () => (await import('./verify.js')).run,
  claim: async () => (await import('./claim.js')).run,
  nonce: async () => (await import('./nonce.js')).run,
  daemon: async () => (await import('./daemon.js')).run,
  audit: async () => (await import('./daemon.js')).runAudit,
  proxy: async () => (await import('./proxy.js')).run,
  curl: async () => (await import('./curl.js')).run,
  doctor: async () => (await import('./doctor.js')).run,
  console: async () => (await import('./console.js')).run,
  contract: async () => (await import('./contract.js')).run,
  tx: async () => (await import('./tx.js')).run,
  settle: async () => (await import('./settle.js')).run,
};

async function version({ values }: Parsed<typeof VERSION>): Promise<void> {
  const [{ createRequire }, path, { packageRoot }] = await Promise.all([import('node:module'), import('node:path'), import('../paths.js')]);
  const pkg = createRequire(import.meta.url)(path.join(packageRoot(), 'package.json')) as { version: string };
  const { curveEngineNote } = await import('../crypto/secp256k1.js');
  const engine = curveEngineNote();
  process.stdout.write(values.output === 'json' ? JSON.stringify({ version: pkg.version, engine }) + '\n' : `arkeo-signer ${pkg.version}\n${engine}\n`);
}

/** What is not a command module: help, version, and an unknown word. */
async function main(argv: string[]): Promise<number | void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'version':
    case '--version':
      return runCommand(bind(VERSION, version), rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return printUsage(programHelp((await import('./tables/index.js')).ARKEO_SIGNER));
    default:
      throw new UsageError(`unknown command "${command.slice(0, 40)}"; expected ${[...Object.keys(COMMANDS), 'version'].join(', ')} (arkeo-signer --help)`);
  }
}

const [command, ...rest] = process.argv.slice(2);
const load = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
if (load) {
  // A command module that cannot be loaded at all (a broken install) is reported like any other failure.
  const run = await load().catch((e: unknown) => () => runCli('arkeo-signer', () => Promise.reject(e)));
  await run(rest);
} else await runCli('arkeo-signer', () => main(process.argv.slice(2)));
