import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, fsErrorAdvice } from '../errors.js';
import { exampleConfig, SignerDaemon, TokenStore, loadConfig, parsePolicy, type Policy } from '../daemon/index.js';
import { hardenProcess, notifySystemd } from '../hardening.js';
import { verifyAuditLog, keyPathOf } from '../audit/index.js';
import { Keyring, defaultHome } from '../keyring/keyring.js';
import { writeFileAtomic, ensurePrivateDir } from '../fsutil.js';
import { log, setLogLevel } from '../log.js';
import { UsageError, exactPositionals, flagValue, helpRequested, parseFlags, printUsage, commandRunner } from './common.js';
import { parseOutputFormat } from './output.js';
import { keyringPassphraseSource } from './passphrase.js';
import { pkcs11PinSource } from './pkcs11.js';
import type { PassphraseSource } from '../keyring/keyring.js';

const out = (s: string) => process.stdout.write(s);
export const defaultConfigPath = () => path.join(defaultHome(), 'signer', 'daemon.toml');

function configPath(p?: string): string | undefined {
  if (p) return p;
  return fs.existsSync(defaultConfigPath()) ? defaultConfigPath() : undefined;
}

/** file keyring passphrase: --passphrase-file, keyring.passphrase_file, systemd credential, env, TTY/stdin. */
function daemonPassphrase(flagFile: string | undefined, configFile: string | undefined): PassphraseSource {
  const credDir = process.env.CREDENTIALS_DIRECTORY;
  const cred = credDir ? path.join(credDir, 'keyring-passphrase') : undefined;
  return keyringPassphraseSource(flagFile ?? configFile ?? (cred && fs.existsSync(cred) ? cred : undefined));
}

async function start(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    config: { type: 'string', short: 'c' },
    'passphrase-file': { type: 'string' },
    'log-level': { type: 'string' },
    'verify-audit': { type: 'boolean' },
    'accept-audit-log': { type: 'boolean' },
    'pin-file': { type: 'string' },
  });
  exactPositionals(positionals, [], 'daemon start');
  setLogLevel((values['log-level'] as 'info') ?? 'info');
  // Before any key or passphrase is read: no core dump, no same-user /proc/<pid>/mem (key pages: signing thread).
  for (const w of hardenProcess()) log('warn', w);
  const file = configPath(values.config);
  const config = loadConfig(file);
  // Signal handlers go in before anything is bound: a SIGTERM during start-up must still end in a clean stop
  // (the "stopped" entry, nonces given back), not in Node's default exit 143.
  let daemon: SignerDaemon | undefined;
  let signal: string | undefined;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const stop = (sig: string) => {
    if (signal) return;
    signal = sig;
    if (daemon) {
      log('info', `${sig}: finishing requests in flight, flushing the audit log and stores`);
      const problem = notifySystemd('STOPPING=1');
      if (problem) log('warn', problem);
      void daemon.stop().then(stopped);
    }
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  const onHup = () => void daemon?.reload();
  process.on('SIGTERM', onTerm).on('SIGINT', onInt).on('SIGHUP', onHup);
  try {
    daemon = await SignerDaemon.start(config, {
      configFile: file,
      verifyAudit: values['verify-audit'],
      acceptAuditLog: values['accept-audit-log'],
      passphrase: config.keyring.backend === 'file' ? daemonPassphrase(values['passphrase-file'], config.keyring.passphrase_file) : undefined,
      pkcs11Pin: pkcs11PinSource(values['pin-file'] ?? config.pkcs11.pin_file),
    });
    if (signal) {
      log('info', `${signal} during start-up: stopping`);
      void daemon.stop().then(stopped);
    } else {
      // Type=notify: ready only now, with the socket bound and the start audited.
      const problem = notifySystemd('READY=1');
      if (problem) log('warn', problem);
    }
    await done;
  } finally {
    process.off('SIGTERM', onTerm).off('SIGINT', onInt).off('SIGHUP', onHup);
  }
  log('info', 'stopped');
  return 0;
}

function init(args: string[]): void {
  const { values, positionals } = parseFlags(args, { config: { type: 'string', short: 'c' }, force: { type: 'boolean' } });
  exactPositionals(positionals, [], 'daemon init');
  const file = values.config ?? defaultConfigPath();
  if (fs.existsSync(file) && !values.force) throw new InputError('EXISTS', `${file}: exists (use --force to overwrite)`);
  try {
    ensurePrivateDir(path.dirname(file));
    writeFileAtomic(file, exampleConfig());
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code) throw e;
    // Name the config file, not the temp file the failing call saw, and say what to do.
    throw new InputError('CANNOT_WRITE', `${file}: cannot write the config in ${path.dirname(file)} (${code}): ${fsErrorAdvice(code)}; or choose a writable place with --config PATH`);
  }
  process.stderr.write(`wrote ${file}; next: arkeo-signer daemon token create --name NAME --keys KEY\n`);
}

function readPolicyFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError('BAD_POLICY', `--policy ${file}: cannot read (${code ?? (e as Error).name}); give a JSON object, or the path of a file holding one`);
  }
}

/**
 * A token for a key the daemon will never serve is a typo waiting to fail at 3 a.m.: check the names against the
 * keyring the daemon config names (and its keyring.keys, when it lists them). "*" stays allowed. Only file names
 * are read, so a file keyring needs no passphrase here.
 */
async function checkTokenKeys(keys: string[], config: ReturnType<typeof loadConfig>): Promise<void> {
  const named = keys.filter((k) => k !== '*');
  if (named.length === 0) return;
  const keyring = Keyring.open({
    backend: config.keyring.backend,
    dir: config.keyring.home,
    passphrase: { interactive: false, get: async () => { throw new InputError('NO_PASSPHRASE', 'not needed to list key names'); } },
  });
  keyring.assertExists();
  for (const name of named) {
    if (!(await keyring.has(name))) throw new UsageError(`--keys: ${name} is not a key in ${keyring.location} (the keyring the daemon config names); check the name with arkeo-signer keys list, or use "*"`);
    if (config.keyring.keys && !config.keyring.keys.includes(name)) throw new UsageError(`--keys: ${name} is not among the keys the daemon serves (keyring.keys = ${config.keyring.keys.join(', ')})`);
  }
}

const csv = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter(Boolean));

async function token(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  // Help and unknown subcommands are answered before the config and the tokens file are read.
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') return printUsage(TOKEN_USAGE);
  if (!Object.hasOwn(TOKEN_HELP, sub)) throw new UsageError(`daemon token: expected create, list or revoke, got "${sub}"\n${TOKEN_USAGE}`);
  if (helpRequested(rest)) return printUsage(TOKEN_HELP[sub]!);
  const { values, positionals } = parseFlags(rest, {
    config: { type: 'string', short: 'c' },
    name: { type: 'string' },
    policy: { type: 'string' },
    keys: { type: 'string' },
    ops: { type: 'string' },
    contracts: { type: 'string' },
    rate: { type: 'string' },
    burst: { type: 'string' },
    'max-spend': { type: 'string' },
    'allow-management-spend': { type: 'boolean' },
    'delegate-contracts-only': { type: 'boolean' },
    output: { type: 'string', short: 'o' },
  });
  const config = loadConfig(configPath(values.config));
  const store = TokenStore.load(config.tokens.path);
  if (sub === 'create') {
    exactPositionals(positionals, [], 'daemon token create');
    if (!values.name) throw new UsageError('daemon token create: --name is required');
    let raw: Record<string, unknown> = {};
    if (values.policy) {
      const text = values.policy.trim().startsWith('{') ? values.policy : readPolicyFile(values.policy);
      try {
        raw = JSON.parse(text);
      } catch {
        throw new InputError('BAD_POLICY', '--policy: not JSON (give a JSON object or a file holding one)');
      }
    }
    const flags: Record<string, unknown> = {
      keys: csv(values.keys),
      operations: csv(values.ops),
      contracts: csv(values.contracts),
      max_spend: values['max-spend'],
      allow_management_spend: values['allow-management-spend'],
      delegate_contracts_only: values['delegate-contracts-only'],
      rate: values.rate ? { per_second: Number(values.rate), burst: values.burst ? Number(values.burst) : Number(values.rate) } : undefined,
    };
    for (const [k, v] of Object.entries(flags)) if (v !== undefined) raw[k] = v;
    if (raw.keys === undefined) throw new UsageError('daemon token create: name the keys it may use (--keys alice,bob or --keys "*")');
    const policy: Policy = flagValue(() => parsePolicy(raw));
    await checkTokenKeys(policy.keys, config);
    const secret = store.create(values.name, policy);
    process.stderr.write(`token ${values.name} created; it is shown once, store it now (only its SHA-256 is kept in ${config.tokens.path})\n`);
    out(secret + '\n');
  } else if (sub === 'list') {
    const format = parseOutputFormat(values.output);
    const list = store.list().map((t) => ({ name: t.name, created_at: t.created_at, revoked_at: t.revoked_at ?? null, policy: t.policy }));
    out(format === 'json' ? JSON.stringify(list) + '\n' : list.map((t) => `${t.name}\t${t.revoked_at ? 'revoked ' + t.revoked_at : 'live'}\tkeys=${t.policy.keys.join(',')} ops=${t.policy.operations.join(',')} contracts=${t.policy.contracts.join(',')} rate=${t.policy.rate.per_second}/s\n`).join(''));
  } else if (sub === 'revoke') {
    const [name] = exactPositionals(positionals, ['name'], 'daemon token revoke');
    store.revoke(name!);
    process.stderr.write(`token ${name} revoked; a running daemon applies it on SIGHUP (systemctl reload arkeo-signer)\n`);
  } else throw new UsageError(`daemon token: expected create, list or revoke, got "${sub ?? ''}"`);
}

/** Each command's usage, printed by `daemon SUB --help` / `daemon token SUB --help`; the one place these texts live. */
export const DAEMON_HELP: Record<string, string> = {
  init: `Usage: arkeo-signer daemon init [--config PATH] [--force]

Write a commented example configuration (0600) to PATH (default ~/.arkeo/signer/daemon.toml).
`,
  start: `Usage: arkeo-signer daemon start [--config PATH] [--passphrase-file F] [--log-level debug|info|warn|error]

Load the keys of the configured keyring into memory (a file keyring is unlocked now, from --passphrase-file,
keyring.passphrase_file, $CREDENTIALS_DIRECTORY/keyring-passphrase, ARKEO_KEYRING_PASSPHRASE or a terminal) and
serve signing requests on the unix socket (and TLS, if configured) until SIGTERM or SIGINT; SIGHUP reloads tokens
and limits.
`,
};

export const TOKEN_HELP: Record<string, string> = {
  create: `Usage: arkeo-signer daemon token create --name NAME --keys K1,K2|* [--ops claim,arkcontract,raw] [--contracts 1,2|*]
                                        [--rate N --burst N] [--max-spend M] [--allow-management-spend]
                                        [--delegate-contracts-only]
                                        [--policy JSON|FILE] [--config PATH]

Create a bearer token and print it once on stdout; only its SHA-256 is stored. --keys must name keys of the
keyring the daemon config names (or "*").
`,
  list: `Usage: arkeo-signer daemon token list [--config PATH] [-o json]

Every token: name, live or revoked, and its policy (never the token itself).
`,
  revoke: `Usage: arkeo-signer daemon token revoke NAME [--config PATH]

Revoke a token; a running daemon applies it on SIGHUP (systemctl reload).
`,
};

const TOKEN_USAGE = `Usage: arkeo-signer daemon token create --name NAME --keys K1,K2|* [--ops claim,arkcontract,raw] [--contracts 1,2|*]
                                        [--rate N --burst N] [--max-spend M] [--policy JSON|FILE]
       arkeo-signer daemon token list | revoke NAME
(arkeo-signer daemon token <command> --help for each)
`;

export const DAEMON_USAGE = `Usage: arkeo-signer daemon init [--config PATH]
       arkeo-signer daemon start [--config PATH] [--passphrase-file F]
       arkeo-signer daemon token create --name NAME --keys K1,K2 [--ops claim,arkcontract,raw] [--contracts 1,2]
                                        [--rate N --burst N] [--max-spend M] [--policy JSON|FILE]
       arkeo-signer daemon token list | revoke NAME
(arkeo-signer daemon <command> --help for each)
`;

export async function daemonCommand(args: string[]): Promise<number | void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') return printUsage(DAEMON_USAGE);
  // token has its own subcommands and answers --help itself.
  if (sub !== 'token' && Object.hasOwn(DAEMON_HELP, sub) && helpRequested(rest)) return printUsage(DAEMON_HELP[sub]!);
  switch (sub) {
    case 'start':
      return start(rest);
    case 'init':
      return init(rest);
    case 'token':
      return token(rest);
    default:
      throw new UsageError(`daemon: expected init, start or token, got "${sub}"\n${DAEMON_USAGE}`);
  }
}

export const AUDIT_HELP: Record<string, string> = {
  verify: `Usage: arkeo-signer audit verify FILE [--key-file K] [-o json]

Check the audit log's hash chain and, with the key (default FILE.key when present), every entry's MAC.
Exit 0 intact, 1 with the first broken link named.
`,
  tail: `Usage: arkeo-signer audit tail FILE [-n|--lines N] [-f|--follow]

Print the last N entries (default 10); with -f keep printing new ones as they are appended.
`,
};

const AUDIT_USAGE = `Usage: arkeo-signer audit verify FILE [--key-file K]
       arkeo-signer audit tail FILE [-n N] [-f]
(arkeo-signer audit <command> --help for each)
`;

export async function auditCommand(args: string[]): Promise<number | void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') return printUsage(AUDIT_USAGE);
  if (!Object.hasOwn(AUDIT_HELP, sub)) throw new UsageError(`audit: expected verify or tail, got "${sub}"\n${AUDIT_USAGE}`);
  if (helpRequested(rest)) return printUsage(AUDIT_HELP[sub]!);
  const { values, positionals } = parseFlags(rest, { 'key-file': { type: 'string' }, lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' }, output: { type: 'string', short: 'o' } });
  const [file] = exactPositionals(positionals, ['FILE'], `audit ${sub ?? ''}`);
  if (!fs.existsSync(file!)) throw new InputError('NO_SUCH_FILE', `${file}: no such audit log`);
  if (!fs.statSync(file!).isFile()) throw new InputError('NO_SUCH_FILE', `${file}: not a regular file; give the audit log's path (the [audit] path of the daemon config)`);
  if (sub === 'verify') {
    const keyFile = values['key-file'] ?? (fs.existsSync(keyPathOf(file!)) ? keyPathOf(file!) : undefined);
    const key = keyFile ? new Uint8Array(Buffer.from(readKeyFile(keyFile).trim(), 'hex')) : undefined;
    if (key && key.length !== 32) throw new InputError('BAD_KEY_FILE', `${keyFile}: not a 32-byte hex audit key`);
    const r = verifyAuditLog(file!, key);
    if (parseOutputFormat(values.output) === 'json') out(JSON.stringify(r) + '\n');
    else {
      out(r.ok ? `ok: ${r.entries} entries, chain${key ? ' and MACs' : ''} intact\n` : `BROKEN: ${r.problem}\n`);
      for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
    }
    return r.ok ? 0 : 1;
  }
  if (sub === 'tail') {
    if (values.lines !== undefined && !/^[0-9]{1,9}$/.test(values.lines)) throw new UsageError(`--lines: expected a number of entries, got "${values.lines}"`);
    const n = values.lines ? Number(values.lines) : 10;
    let text = fs.readFileSync(file!, 'utf8');
    out(text.split('\n').filter(Boolean).slice(-n).map((l) => l + '\n').join(''));
    if (!values.follow) return 0;
    let offset = Buffer.byteLength(text);
    await new Promise<never>(() => {
      fs.watchFile(file!, { interval: 250 }, () => {
        const fd = fs.openSync(file!, 'r');
        const size = fs.fstatSync(fd).size;
        if (size < offset) offset = 0;
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        fs.closeSync(fd);
        offset = size;
        text = buf.toString('utf8');
        out(text);
      });
    });
  }
  throw new UsageError(`audit: expected verify or tail, got "${sub}"`);
}

function readKeyFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError('BAD_KEY_FILE', `--key-file ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).name}); give the audit log's .key file`);
  }
}

/** `arkeo-signer daemon …`, run by the dispatcher (arkeo-signer.ts). */
export const run = commandRunner(daemonCommand);

/** `arkeo-signer audit …`. */
export const runAudit = commandRunner(auditCommand);
