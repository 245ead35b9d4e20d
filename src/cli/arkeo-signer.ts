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

async function main(argv: string[]): Promise<number | void> {
  const [command, ...rest] = argv;
  // Each command's module is imported when it runs: a cold start (one `claim sign` per process) loads one command.
  switch (command) {
    case 'keys':
      return (await import('./keys.js')).keysCommand(rest);
    case 'verify':
      return (await import('./verify.js')).verifyCommand(rest);
    case 'claim':
      return (await import('./claim.js')).claimCommand(rest);
    case 'nonce':
      return (await import('./nonce.js')).nonceCommand(rest);
    case 'daemon':
      return (await import('./daemon.js')).daemonCommand(rest);
    case 'proxy':
      return (await import('./proxy.js')).proxyCommand(rest);
    case 'curl':
      return (await import('./curl.js')).curlCommand(rest);
    case 'audit':
      return (await import('./daemon.js')).auditCommand(rest);
    case 'doctor':
      return (await import('./doctor.js')).doctorCommand(rest);
    case 'console':
      return (await import('./console.js')).consoleCommand(rest);
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

await runCli('arkeo-signer', () => main(process.argv.slice(2)));
