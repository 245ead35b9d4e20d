import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError, fsErrorAdvice } from '../errors.js';
import { exampleConfig, SignerDaemon, TokenStore, loadConfig, parsePolicy, type Policy } from '../daemon/index.js';
import { hardenProcess, notifySystemd } from '../hardening.js';
import { verifyAuditLog, verifyAgainst, auditDrill, keyPathOf, type DrillReport } from '../audit/index.js';
import { Keyring, defaultHome } from '../keyring/keyring.js';
import { writeFileAtomic, ensurePrivateDir } from '../fsutil.js';
import { log, setLogLevel } from '../log.js';
import { UsageError, checking, flagValue, commandRunner } from './common.js';
import { keyringPassphraseSource } from './passphrase.js';
import { bind, runGroup, type Parsed } from './table.js';
import { AUDIT, AUDIT_DRILL, AUDIT_TAIL, AUDIT_VERIFY, DAEMON, DAEMON_INIT, DAEMON_START, TOKEN_CREATE, TOKEN_LIST, TOKEN_REVOKE } from './tables/daemon.js';
import { EXIT } from './exit-codes.js';
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

async function start({ values }: Parsed<typeof DAEMON_START>): Promise<number> {
  setLogLevel(values['log-level']);
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
  return EXIT.ok;
}

function init({ values }: Parsed<typeof DAEMON_INIT>): void {
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

async function tokenCreate({ values }: Parsed<typeof TOKEN_CREATE>): Promise<void> {
  const config = loadConfig(configPath(values.config));
  const store = TokenStore.load(config.tokens.path);
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
    max_spend_per_hour: values['max-spend-per-hour'],
    max_spend_per_day: values['max-spend-per-day'],
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
}

function tokenList({ values }: Parsed<typeof TOKEN_LIST>): void {
  const store = TokenStore.load(loadConfig(configPath(values.config)).tokens.path);
  const list = store.list().map((t) => ({ name: t.name, created_at: t.created_at, revoked_at: t.revoked_at ?? null, policy: t.policy }));
  out(values.output === 'json' ? JSON.stringify(list) + '\n' : list.map((t) => `${t.name}\t${t.revoked_at ? 'revoked ' + t.revoked_at : 'live'}\tkeys=${t.policy.keys.join(',')} ops=${t.policy.operations.join(',')} contracts=${t.policy.contracts.join(',')} rate=${t.policy.rate.per_second}/s\n`).join(''));
}

function tokenRevoke({ values, positionals: [name] }: Parsed<typeof TOKEN_REVOKE>): void {
  const store = TokenStore.load(loadConfig(configPath(values.config)).tokens.path);
  store.revoke(name!);
  process.stderr.write(`token ${name} revoked; a running daemon applies it on SIGHUP (systemctl reload arkeo-signer)\n`);
}

/** The audit log to read: a regular file, or the command cannot start. */
function auditFile(file: string): string {
  if (!fs.existsSync(file)) throw new InputError('NO_SUCH_FILE', `${file}: no such audit log`);
  if (!fs.statSync(file).isFile()) throw new InputError('NO_SUCH_FILE', `${file}: not a regular file; give the audit log's path (the [audit] path of the daemon config)`);
  return file;
}

/**
 * A file that is not empty and of whose lines none is an audit entry (a JSON object with seq, prev and mac) is not
 * a log at all: bad input, not a broken chain. A log with one edited line still has its other entries.
 */
function notAnAuditLog(file: string): boolean {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  return lines.length > 0 && !lines.some((l) => {
    try {
      const e = JSON.parse(l) as Record<string, unknown>;
      return typeof e === 'object' && e !== null && 'seq' in e && 'prev' in e && 'mac' in e;
    } catch {
      return false;
    }
  });
}

/** A shipped copy to compare with: a readable regular file. */
function copyFile(file: string): string {
  if (!fs.existsSync(file)) throw new InputError('NO_SUCH_FILE', `--against ${file}: no such file; give the shipped copy (the file the syslog server writes the entries to)`);
  if (!fs.statSync(file).isFile()) throw new InputError('NO_SUCH_FILE', `--against ${file}: not a regular file; give the shipped copy (the file the syslog server writes the entries to)`);
  fs.accessSync(file, fs.constants.R_OK);
  return file;
}

/** Exit 1 means a broken chain: whatever stops the check (no such file, not a log, a bad key file) exits 2. */
async function auditVerify({ values, positionals: [logPath] }: Parsed<typeof AUDIT_VERIFY>): Promise<number> {
  const { file, key, copy } = await checking(async () => {
    const file = auditFile(logPath!);
    const keyFile = values['key-file'] ?? (fs.existsSync(keyPathOf(file)) ? keyPathOf(file) : undefined);
    const key = keyFile ? new Uint8Array(Buffer.from(readKeyFile(keyFile).trim(), 'hex')) : undefined;
    if (key && key.length !== 32) throw new InputError('BAD_KEY_FILE', `${keyFile}: not a 32-byte hex audit key`);
    if (notAnAuditLog(file)) throw new InputError('NOT_AN_AUDIT_LOG', `${file}: not an audit log (no line is an audit entry); give the [audit] path of the daemon config`);
    const copy = values.against === undefined ? undefined : copyFile(values.against);
    return { file, key, copy };
  });
  if (copy !== undefined) {
    const r = await checking(async () => verifyAgainst(file, copy, key));
    if (values.output === 'json') out(JSON.stringify(r) + '\n');
    else {
      out(r.local.ok ? `ok: ${r.local.entries} entries, chain${key ? ' and MACs' : ''} intact\n` : `BROKEN: ${r.local.problem}\n`);
      const s = r.shipped;
      const range = s.first === undefined ? 'no entries' : `entries ${s.first}–${s.last}`;
      out(r.partsAt === undefined ? `ok: agrees with the shipped copy (${range}${s.lastHead ? `, head records up to entry ${s.lastHead.seq}` : ''})\n` : `PARTS at entry ${r.partsAt}: ${r.problem}\n`);
      for (const n of [...r.local.notes, ...r.notes]) process.stderr.write(`note: ${n}\n`);
    }
    return r.ok ? EXIT.ok : EXIT.refused;
  }
  const r = await checking(async () => verifyAuditLog(file, key));
  if (values.output === 'json') out(JSON.stringify(r) + '\n');
  else {
    out(r.ok ? `ok: ${r.entries} entries, chain${key ? ' and MACs' : ''} intact\n` : `BROKEN: ${r.problem}\n`);
    for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
  }
  return r.ok ? EXIT.ok : EXIT.refused;
}

/** `audit drill`: in a scratch directory (kept with --keep), removed afterwards otherwise. */
async function auditDrillCommand({ values }: Parsed<typeof AUDIT_DRILL>): Promise<number> {
  const from = await checking(async () => {
    if (values.log === undefined) return undefined;
    const file = auditFile(values.log);
    if (!fs.existsSync(keyPathOf(file))) throw new InputError('NO_SUCH_FILE', `--log ${file}: ${keyPathOf(file)} is missing; the drill needs the log's key beside it`);
    return file;
  });
  let dir: string;
  if (values.keep !== undefined) {
    if (fs.existsSync(values.keep)) throw new UsageError(`--keep ${values.keep}: exists; name a directory to create`);
    dir = path.resolve(values.keep);
    ensurePrivateDir(dir);
  } else dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-signer-drill-'));
  let report: DrillReport;
  try {
    report = await auditDrill(dir, from);
  } finally {
    if (values.keep === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
  const caught = report.attacks.every((a) => a.local.caught || a.start.caught || a.remote.caught);
  if (values.output === 'json') out(JSON.stringify({ ...report, dir: values.keep === undefined ? undefined : dir, all_caught: caught }) + '\n');
  else out(drillText(report, values.keep === undefined ? undefined : dir, caught));
  return caught ? EXIT.ok : EXIT.refused;
}

function drillText(report: DrillReport, kept: string | undefined, caught: boolean): string {
  const cell = (label: string, c: { caught: boolean; detail: string }) => `  ${label.padEnd(24)}${c.caught ? 'caught' : 'missed'}  ${c.detail}\n`;
  let text = `audit drill: ${report.entries} entries, shipped to a syslog receiver on loopback (${report.shipped} lines in its copy)${kept ? `; copies kept in ${kept}` : ''}\n`;
  for (const a of report.attacks) {
    text += `\n${a.name}: ${a.done}\n`;
    text += cell('audit verify', a.local) + cell('daemon start', a.start) + cell('audit verify --against', a.remote);
  }
  const onlyRemote = report.attacks.filter((a) => a.remote.caught && !a.local.caught && !a.start.caught).map((a) => a.name);
  text += `\n${caught ? 'every attack was caught by at least one check' : 'NOT every attack was caught'}${onlyRemote.length ? `; only the shipped copy catches: ${onlyRemote.join(', ')}` : ''}\n`;
  return text;
}

async function auditTail({ values, positionals: [logPath] }: Parsed<typeof AUDIT_TAIL>): Promise<void> {
  const file = auditFile(logPath!);
  if (!/^[0-9]{1,9}$/.test(values.lines)) throw new UsageError(`--lines: expected a number of entries, got "${values.lines.slice(0, 20)}"`);
  const n = Number(values.lines);
  let text = fs.readFileSync(file, 'utf8');
  out(text.split('\n').filter(Boolean).slice(-n).map((l) => l + '\n').join(''));
  if (!values.follow) return;
  let offset = Buffer.byteLength(text);
  await new Promise<never>(() => {
    fs.watchFile(file, { interval: 250 }, () => {
      const fd = fs.openSync(file, 'r');
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

function readKeyFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError('BAD_KEY_FILE', `--key-file ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).name}); give the audit log's .key file`);
  }
}

/** `arkeo-signer daemon …`, run by the dispatcher (arkeo-signer.ts). Help and unknown subcommands read no config. */
export const run = commandRunner((args) =>
  runGroup(DAEMON, args, [bind(DAEMON_INIT, init), bind(DAEMON_START, start), bind(TOKEN_CREATE, tokenCreate), bind(TOKEN_LIST, tokenList), bind(TOKEN_REVOKE, tokenRevoke)]),
);

/** `arkeo-signer audit …`. */
export const runAudit = commandRunner((args) => runGroup(AUDIT, args, [bind(AUDIT_VERIFY, auditVerify), bind(AUDIT_TAIL, auditTail), bind(AUDIT_DRILL, auditDrillCommand)]));
