#!/usr/bin/env node
import { UsageError, helpRequested, printUsage, runCli } from './common.js';

const USAGE = `arkeo-signer: keys and signed claims for Arkeo

Usage (arkeo-signer <command> [<subcommand>] --help for each):
  arkeo-signer keys <command> ...       manage an arkeod-compatible keyring
  arkeo-signer verify --pubkey P | --key NAME --message M --signature HEX
                                        check a Cosmos secp256k1 signature; exit 0 valid, 1 invalid, 2 bad input
  arkeo-signer claim <command> ...      sign claims with durable nonces, explain headers
  arkeo-signer nonce show|set|sync      inspect and repair the nonce store
  arkeo-signer curl URL --key NAME      one paid request to a sentinel (claim, arkauth, resync)
  arkeo-signer proxy --listen … --sentinel URL --service NAME --key NAME
                                        local signing proxy: every request paid for
  arkeo-signer daemon init|start|token  the local key daemon: keys in memory, tokens, policy, audit
  arkeo-signer audit verify|tail FILE   check the audit log's hash chain and MACs; follow it
  arkeo-signer doctor [--home DIR]      check the host and the daemon's set-up against key-security practices
  arkeo-signer console [--listen H:P]   read-only operator console in the browser (no key held)
  arkeo-signer version                  version and which secp256k1 engine runs
`;

const VERSION_USAGE = `Usage: arkeo-signer version

The package version and which secp256k1 engine runs.
`;

/**
 * Each command's module is imported when it runs and runs itself (its `run`, under its own runCli): a cold start
 * (one `claim sign` per process) loads one command, and the bins bundle each command apart (src/cli/build.mjs).
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
};

/** What is not a command: help, version, and an unknown word. */
async function main(argv: string[]): Promise<number | void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'version':
    case '--version': {
      if (helpRequested(rest)) return printUsage(VERSION_USAGE);
      const [{ createRequire }, path, { packageRoot }] = await Promise.all([import('node:module'), import('node:path'), import('../paths.js')]);
      const pkg = createRequire(import.meta.url)(path.join(packageRoot(), 'package.json')) as { version: string };
      const { curveEngineNote } = await import('../crypto/secp256k1.js');
      process.stdout.write(`arkeo-signer ${pkg.version}\n${curveEngineNote()}\n`);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  }
}

const [command, ...rest] = process.argv.slice(2);
const load = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
if (load) {
  // A command module that cannot be loaded at all (a broken install) is reported like any other failure.
  const run = await load().catch((e: unknown) => () => runCli('arkeo-signer', () => Promise.reject(e)));
  await run(rest);
} else await runCli('arkeo-signer', () => main(process.argv.slice(2)));
