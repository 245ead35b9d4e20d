import { curveEngineNote, sha256 } from '../crypto/secp256k1.js';
import { toHex, utf8 } from '../crypto/bytes.js';
import { log } from '../log.js';
import { UsageError, runCli } from './common.js';
import { argBytes, readMessageFile } from './io.js';
import { openKey } from './open-key.js';
import { SIGNHERE_FLAGS, signhereUsage } from './tables/signhere.js';
import { EXIT } from './exit-codes.js';

/**
 * Drop-in for Arkeo's Go `tools/signhere`: `-u NAME` (default alice), `-m MESSAGE` (default "message"),
 * keys from ~/.arkeo/keyring-test; prints lowercase hex r||s and a newline. Errors: a Go-log-style line on
 * stderr and exit 1; flag errors exit 2, as Go's flag package does. Its flags are in tables/signhere.ts.
 */

/** Go `flag` parsing: -f v, -f=v, --f v, --f=v; stops at the first non-flag or `--`; -h/-help print usage. */
export function parseGoFlags(argv: string[]): Map<string, string> | 'help' {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    if (body === '' || body.startsWith('-') || body.startsWith('=')) throw new UsageError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'h' || name === 'help') return 'help';
    if (!SIGNHERE_FLAGS.some((f) => f.name === name)) throw new UsageError(`flag provided but not defined: -${name}`);
    if (eq >= 0) values.set(name, body.slice(eq + 1));
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      values.set(name, argv[++i]!);
    }
  }
  return values;
}

function goLogLine(message: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${message}`;
}

async function main(argv: string[]): Promise<number | void> {
  let flags: Map<string, string> | 'help';
  try {
    flags = parseGoFlags(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(e.message + '\n' + signhereUsage());
    return EXIT.usage;
  }
  if (flags === 'help') {
    process.stderr.write(signhereUsage());
    return;
  }
  const output = flags.get('output') ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`-output: expected text or json, got "${output}"`);
  if (flags.has('m') && flags.has('message-file')) throw new UsageError('-m and -message-file cannot be used together');
  const message = flags.has('message-file') ? readMessageFile(flags.get('message-file')!, '-message-file') : argBytes(flags.get('m') ?? 'message', '-m');
  const key = await openKey(
    {
      daemon: flags.get('daemon'),
      'token-file': flags.get('token-file'),
      home: flags.get('home'),
      'keyring-backend': flags.get('keyring-backend'),
      'keyring-dir': flags.get('keyring-dir'),
      'passphrase-file': flags.get('passphrase-file'),
      'pin-file': flags.get('pin-file'),
    },
    flags.get('u') ?? 'alice',
  );
  if (!key.daemon) log('debug', curveEngineNote());
  const signer = key.signer;
  try {
    // Both signers verify before releasing, as the Go tool's "bad signature" check does.
    const signature = await signer.sign(message);
    if (output === 'json') {
      const pub = await signer.publicKey();
      const { PREFIXES, toAddress, toBech32PubKey } = await import('../crypto/address.js');
      process.stdout.write(
        JSON.stringify({
          signature: toHex(signature),
          pubkey: toBech32PubKey(pub),
          pubkey_hex: toHex(pub),
          address: toAddress(pub, PREFIXES.account),
          sha256: toHex(sha256(message)),
        }) + '\n',
      );
    } else process.stdout.write(toHex(signature) + '\n');
  } finally {
    key.close();
  }
}

/** One run of signhere: its bin (signhere-bin.ts) and its startup snapshot (snapshot-signhere.ts) call this. */
export function run(argv: string[]): Promise<void> {
  return runCli('signhere', () => main(argv), (m) => goLogLine(m));
}
