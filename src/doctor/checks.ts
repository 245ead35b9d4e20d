import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultConfig, loadConfig, type DaemonConfig } from '../daemon/config.js';
import { TokenStore, type TokenRecord } from '../daemon/tokens.js';
import { keyPathOf, headPathOf } from '../audit/index.js';
import { openNonceStore } from '../nonces/open.js';
import { maxNonceFor } from '../nonces/store.js';
import { hardeningAvailable } from '../hardening.js';
import { isLoginShell, readPasswd, socketProcess, type PasswdUser } from './host.js';
import { Keyring, defaultKeyringService, storageBackend } from '../keyring/index.js';
import { checkAuditChain, checkUnitFiles, q, statOrUndefined, type Add, type Finding, type Level } from './common.js';
import { checkSettler, type SettleDoctorOptions } from './settle.js';

export { unitScore, type Finding, type Level } from './common.js';

/**
 * `arkeo-signer doctor`: a host and its daemon set-up measured against Arkeo's key-security guide (the `test`
 * keyring only with access limited to trusted users, dedicated hosts, audited key access), and a settler's set-up
 * where there is one (settle.ts). Read-only: it changes nothing, and says for each problem what to run.
 */
export interface DoctorOptions extends SettleDoctorOptions {
  /** The daemon config file, when there is one; else the defaults under `home`. */
  configFile?: string;
  home?: string;
  /** Users and shells (default /etc/passwd). */
  passwdFile?: string;
  /** systemd unit files to check; default: arkeo-signer.service where systemd looks for installed units. */
  unitFiles?: string[];
  now?: Date;
}

export const UNIT_LOCATIONS = ['/etc/systemd/system/arkeo-signer.service', '/usr/local/lib/systemd/system/arkeo-signer.service', '/lib/systemd/system/arkeo-signer.service', '/usr/lib/systemd/system/arkeo-signer.service'];
/** Tokens idle this long are flagged. */
export const IDLE_DAYS = 30;
/** Token last use is read from the end of the audit log, at most this many bytes back (bounded, off the hot path). */
export const AUDIT_TAIL_BYTES = 16 * 1024 * 1024;
/** Contracts with a reserved nonce past this share of their ceiling are flagged. */
export const CEILING_SHARE = 0.8;

const mode = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');

export async function runDoctor(options: DoctorOptions = {}): Promise<Finding[]> {
  const config: DaemonConfig = options.configFile ? loadConfig(options.configFile) : defaultConfig(options.home);
  const passwd = readPasswd(options.passwdFile ?? '/etc/passwd');
  const home = config.keyring.home;
  const homeStat = statOrUndefined(home);
  // The key owner: whoever owns the home. Everything under it must be theirs (or root's).
  const owner = homeStat?.uid ?? process.getuid!();
  const findings: Finding[] = [];
  const add = (check: string, level: Level, message: string, fix?: string) => findings.push({ check, level, message, ...(fix ? { fix } : {}) });

  checkPaths(config, options.configFile, owner, add);
  checkTestKeyring(config, owner, passwd, add);
  await checkServiceKeyring(config, add);
  checkDaemon(config, passwd, add);
  checkAudit(config, add);
  checkTokens(config, options.now ?? new Date(), add);
  await checkContracts(config, add);
  checkUnits(options.unitFiles ?? UNIT_LOCATIONS.filter((f) => fs.existsSync(f)), add);
  await checkSettler(config, options, add);
  return findings;
}

interface Item {
  path: string;
  what: string;
  /** Readable by group/others is a fail (keys, the audit key), not a warning. */
  secret: boolean;
}

/** Files and folders the daemon and the keyring use, with their parents up to /. */
function checkPaths(config: DaemonConfig, configFile: string | undefined, owner: number, add: Add): void {
  const items: Item[] = [{ path: config.keyring.home, what: 'home', secret: false }];
  for (const backend of ['test', 'file']) {
    const dir = path.join(config.keyring.home, `keyring-${backend}`);
    if (!fs.existsSync(dir)) continue;
    items.push({ path: dir, what: 'keyring directory', secret: true });
    for (const f of fs.readdirSync(dir)) items.push({ path: path.join(dir, f), what: 'key file', secret: true });
  }
  const nonce = config.nonces.store.replace(/^sqlite:/, '');
  if (!/^postgres(ql)?:\/\//.test(nonce)) for (const s of ['', '-wal', '-shm']) items.push({ path: nonce + s, what: 'nonce store', secret: false });
  if (configFile) items.push({ path: configFile, what: 'daemon config', secret: false });
  items.push(
    { path: path.dirname(config.listen.socket), what: 'socket directory', secret: false },
    { path: config.listen.socket, what: 'socket', secret: true },
    { path: config.tokens.path, what: 'tokens file', secret: false },
    { path: config.audit.path, what: 'audit log', secret: false },
    { path: keyPathOf(config.audit.path), what: 'audit key', secret: true },
    { path: headPathOf(config.audit.path), what: 'audit head', secret: false },
  );
  if (config.keyring.passphrase_file) items.push({ path: config.keyring.passphrase_file, what: 'passphrase file', secret: true });
  const parents = new Set<string>();
  let problems = 0;
  const problem: Add = (c, l, m, f) => {
    problems++;
    add(c, l, m, f);
  };
  for (const item of items) {
    const st = statOrUndefined(item.path);
    if (!st) continue;
    const p = item.path;
    if (st.isSymbolicLink()) {
      problem('paths', 'fail', `${p} (${item.what}): is a symbolic link; whoever controls its target controls the ${item.what}`, `replace it with the real file: mv "$(readlink -f ${q(p)})" ${q(p)}`);
      continue;
    }
    if (st.uid !== owner && !(st.uid === 0 && item.what === 'daemon config')) {
      problem('paths', 'fail', `${p} (${item.what}): owned by uid ${st.uid}, not by the keys' owner (uid ${owner})`, `chown ${owner} ${q(p)}`);
    }
    const dir = st.isDirectory();
    const want = dir ? '700' : '600';
    if (st.mode & 0o022) problem('paths', 'fail', `${p} (${item.what}): mode ${mode(st.mode)}, writable by group or others`, `chmod ${want} ${q(p)}`);
    else if (st.mode & 0o044 || (dir && st.mode & 0o011 && item.what !== 'home')) {
      const level = item.secret || item.what === 'keyring directory' ? 'fail' : 'warn';
      problem('paths', level, `${p} (${item.what}): mode ${mode(st.mode)}, readable by group or others`, `chmod ${want} ${q(p)}`);
    }
    for (let d = path.dirname(fs.realpathSync(p)); ; d = path.dirname(d)) {
      parents.add(d);
      if (d === path.dirname(d)) break;
    }
  }
  // A parent another user can write (or owns) lets them rename a file or folder away and put their own in its place.
  for (const d of [...parents].sort()) {
    if (items.some((i) => i.path === d)) continue;
    const st = fs.statSync(d);
    if (st.uid !== 0 && st.uid !== owner) problem('paths', 'fail', `${d} (parent folder): owned by uid ${st.uid}, who can swap anything below it`, `chown root ${q(d)} (or move the files under a folder owned by root or uid ${owner})`);
    else if (st.mode & 0o022 && !(st.mode & 0o1000)) problem('paths', 'fail', `${d} (parent folder): mode ${mode(st.mode)}, writable by group or others without the sticky bit, who can swap anything below it`, `chmod go-w ${q(d)}`);
  }
  if (problems === 0) add('paths', 'ok', `${items.length} files and folders and ${parents.size} parent folders: owners and modes as they should be`);
}

function keyFiles(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.info'));
  } catch {
    return [];
  }
}

/** The guide's condition for the `test` backend: nobody else on the host, and nobody else able to read the keys. */
function checkTestKeyring(config: DaemonConfig, owner: number, passwd: PasswdUser[], add: Add): void {
  const dir = path.join(config.keyring.home, 'keyring-test');
  const keys = keyFiles(dir);
  if (keys.length === 0) return add('keyring.test', 'ok', `no keys in the test backend (${dir})`);
  const exposed = [config.keyring.home, dir].filter((p) => (fs.statSync(p).mode & 0o077) !== 0);
  if (exposed.length) {
    return add('keyring.test', 'fail', `${keys.length} key(s) in the test backend (encrypted with the public password "test") and ${exposed.join(' and ')} open to group or others`, `chmod 700 ${exposed.map(q).join(' ')}; better, move them to the file backend: arkeo-signer keys migrate --from test --to file`);
  }
  const others = passwd.filter((u) => u.uid !== 0 && u.uid !== owner && isLoginShell(u.shell));
  if (others.length) {
    const names = others.slice(0, 5).map((u) => u.name).join(', ') + (others.length > 5 ? `, and ${others.length - 5} more` : '');
    return add('keyring.test', 'warn', `${keys.length} key(s) in the test backend on a host where other users have login shells (${names}); the test backend is only acceptable on a dedicated host`, 'use a dedicated host for the keys, or the file backend: arkeo-signer keys migrate --from test --to file');
  }
  add('keyring.test', 'ok', `${keys.length} key(s) in the test backend, readable by their owner only, and no other user has a login shell`);
}

/**
 * A keyring behind a service (os: the session bus, a Secret Service, an unlocked collection; pass: the pass program,
 * a GPG key to encrypt to and its secret half, a gpg-agent that decrypts without a terminal), then its items: each
 * one arkeod would list must be a key record. Findings under keyring.os or keyring.pass; skipped for other backends.
 */
async function checkServiceKeyring(config: DaemonConfig, add: Add): Promise<void> {
  const name = config.keyring.backend;
  const backend = storageBackend(name);
  if (!backend?.check) return;
  const check = `keyring.${name}`;
  const options = { home: config.keyring.home, service: defaultKeyringService() };
  const found = await backend.check(options);
  for (const f of found) add(check, f.level, f.message, f.fix);
  if (found.some((f) => f.level === 'fail' || f.level === 'warn')) return;
  try {
    const { keys, problems } = await Keyring.open({ backend: name, dir: config.keyring.home }).survey();
    for (const p of problems) add(check, 'fail', `${p}: not a key record; the daemon skips it`, 'remove the item, or give it another name (arkeod lists every item whose name ends in "info")');
    if (problems.length === 0) add(check, 'ok', `${keys.length} key(s), every item a key record`);
  } catch (e) {
    add(check, 'fail', (e as Error).message, 'fix what it names, then run doctor again');
  }
}

/** The running daemon, found through its socket. */
function checkDaemon(config: DaemonConfig, passwd: PasswdUser[], add: Add): void {
  if (hardeningAvailable()) add('daemon.addon', 'ok', 'native/hardening is built: the daemon turns off core dumps and same-user memory access, and locks key pages');
  else add('daemon.addon', 'warn', 'native/hardening is not built: the daemon starts without PR_SET_DUMPABLE 0, RLIMIT_CORE 0, locked key pages and sd_notify', 'install a C toolchain (Debian: apt-get install build-essential python3) and run npm install, or node native/build.mjs');
  const sock = config.listen.socket;
  const st = statOrUndefined(sock);
  const proc = st?.isSocket() ? socketProcess(sock) : undefined;
  if (!st?.isSocket() || (!proc && !listening(sock))) {
    for (const c of ['daemon.user', 'daemon.memory']) add(c, 'skip', `no daemon listening on ${sock}`);
    return;
  }
  // The socket is created by the daemon, so its owner is the daemon's user even when its process is not visible.
  const uid = proc?.uid ?? st.uid;
  const user = passwd.find((u) => u.uid === uid);
  const name = user ? `${user.name} (uid ${uid})` : `uid ${uid}`;
  if (uid === 0) add('daemon.user', 'fail', `the daemon on ${sock} runs as root: a flaw in it is a flaw in the whole host`, 'run it as a dedicated user without a login shell: contrib/systemd/arkeo-signer.service (User=arkeo-signer)');
  else if (user && isLoginShell(user.shell)) add('daemon.user', 'warn', `the daemon on ${sock} runs as ${name}, who has a login shell (${user.shell}): whatever that user runs can read the keys`, `run it as a dedicated user: useradd --system --shell /usr/sbin/nologin arkeo-signer, and contrib/systemd/arkeo-signer.service`);
  else add('daemon.user', 'ok', `the daemon on ${sock} runs as ${name}, without a login shell`);
  if (!proc) return add('daemon.memory', 'skip', `the daemon's process (uid ${uid}) is not visible to this user: run doctor as root or as uid ${uid} to check core dumps and memory`);
  const core = proc.coreLimit === Infinity ? 'unlimited' : `${proc.coreLimit} bytes`;
  const fix = 'build native/hardening (node native/build.mjs) and restart the daemon; under systemd also LimitCORE=0';
  if (proc.dumpable === true) {
    const level = proc.coreLimit > 0 ? 'fail' : 'warn';
    add('daemon.memory', level, `daemon pid ${proc.pid} is dumpable (core limit ${core}): processes of uid ${uid} can read its memory through /proc/${proc.pid}/mem${proc.coreLimit > 0 ? ', and a crash writes the keys to a core file' : ''}`, fix);
  } else if (proc.coreLimit > 0) {
    add('daemon.memory', proc.dumpable === false ? 'warn' : 'fail', `daemon pid ${proc.pid}: core limit ${core}${proc.dumpable === false ? ' (not dumpable, so no core is written now)' : ''}`, fix);
  } else if (proc.lockedKiB === 0) {
    add('daemon.memory', 'warn', `daemon pid ${proc.pid}: no core dumps, but no page is locked: key pages may reach swap`, 'raise its RLIMIT_MEMLOCK (LimitMEMLOCK=64K in the unit), or run without swap or with encrypted swap');
  } else {
    add('daemon.memory', 'ok', `daemon pid ${proc.pid}: core limit 0, ${proc.dumpable === false ? 'not dumpable, ' : ''}${proc.lockedKiB} KiB locked`);
  }
}

/** A socket someone listens on (connect would block; /proc/net/unix lists it). */
function listening(sock: string): boolean {
  try {
    return fs.readFileSync('/proc/net/unix', 'utf8').includes(` ${path.resolve(sock)}\n`);
  } catch {
    return false;
  }
}

function checkAudit(config: DaemonConfig, add: Add): void {
  checkAuditChain(config.audit.path, add, { check: 'audit.chain', absent: 'the daemon has not run', owner: "the daemon's user", accept: 'the daemon refuses such a log until it is accepted (daemon start --accept-audit-log)', keep: 'the daemon writes both' });
}

/**
 * Last use per token name, from the audit log read backward from its end (bounded by AUDIT_TAIL_BYTES): the token
 * store records no use, and adding a write per request to the hot path for this is not worth it.
 */
export function lastUses(file: string, maxBytes = AUDIT_TAIL_BYTES): { uses: Map<string, Date>; complete: boolean; since?: Date } {
  const uses = new Map<string, Date>();
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { uses, complete: true };
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString('utf8').split('\n');
    if (start > 0) lines.shift(); // a partial first line
    let since: Date | undefined;
    for (let i = lines.length - 1; i >= 0; i--) {
      if (!lines[i]) continue;
      let e: { ts?: string; who?: { token?: string } };
      try {
        e = JSON.parse(lines[i]!);
      } catch {
        continue;
      }
      const ts = e.ts ? new Date(e.ts) : undefined;
      if (ts && !Number.isNaN(ts.getTime())) since = ts;
      const name = e.who?.token;
      if (name && ts && !uses.has(name)) uses.set(name, ts);
    }
    return { uses, complete: start === 0, since };
  } finally {
    fs.closeSync(fd);
  }
}

function checkTokens(config: DaemonConfig, now: Date, add: Add): void {
  let live: TokenRecord[];
  try {
    live = TokenStore.load(config.tokens.path).list().filter((t) => !t.revoked_at);
  } catch (e) {
    return add('tokens.use', 'fail', (e as Error).message, `fix or remove ${q(config.tokens.path)}; the daemon will not start with it`);
  }
  if (live.length === 0) {
    add('tokens.use', 'skip', `no live tokens in ${config.tokens.path}`);
    return add('tokens.grants', 'skip', `no live tokens in ${config.tokens.path}`);
  }
  const { uses, complete, since } = lastUses(config.audit.path);
  const idle = IDLE_DAYS * 86_400_000;
  let problems = 0;
  for (const t of live) {
    const last = uses.get(t.name);
    const revoke = `arkeo-signer daemon token revoke ${t.name} (if nobody needs it), then systemctl reload arkeo-signer`;
    if (!last) {
      problems++;
      add('tokens.use', 'warn', complete ? `token ${t.name}: never used (created ${t.created_at})` : `token ${t.name}: not used in the audit log's last ${AUDIT_TAIL_BYTES >> 20} MiB (since ${since?.toISOString() ?? '?'})`, revoke);
    } else if (now.getTime() - last.getTime() > idle) {
      problems++;
      add('tokens.use', 'warn', `token ${t.name}: last used ${last.toISOString()}, more than ${IDLE_DAYS} days ago`, revoke);
    }
  }
  if (problems === 0) add('tokens.use', 'ok', `${live.length} live token(s), each used within ${IDLE_DAYS} days`);
  problems = 0;
  for (const t of live) {
    const sends = t.policy.operations.includes('tx') && t.policy.tx?.messages.includes('/cosmos.bank.v1beta1.MsgSend');
    const wide = [t.policy.operations.includes('raw') ? 'the raw operation (signs any message, transactions included)' : '', sends ? `bank sends to any address (up to ${t.policy.tx!.max_amount} uarkeo a transaction)` : '', t.policy.keys.includes('*') ? 'every key (*)' : '', t.policy.contracts.includes('*') ? 'every contract (*)' : ''].filter(Boolean);
    if (wide.length === 0) continue;
    problems++;
    add('tokens.grants', 'warn', `token ${t.name}: grants ${wide.join(', ')}`, `replace it with a narrower one: daemon token create --name ${t.name}-2 --keys NAME --contracts ID,… (claim only), then daemon token revoke ${t.name}`);
  }
  if (problems === 0) add('tokens.grants', 'ok', `${live.length} live token(s), none granting raw, every key or every contract`);
}

async function checkContracts(config: DaemonConfig, add: Add): Promise<void> {
  const file = config.nonces.store.replace(/^sqlite:/, '');
  if (!/^postgres(ql)?:\/\//.test(file) && !fs.existsSync(file)) return add('contracts.ceiling', 'skip', `no nonce store at ${file} yet`);
  let store;
  try {
    store = await openNonceStore(config.nonces.store, config.keyring.home, { readOnly: true });
  } catch (e) {
    return add('contracts.ceiling', 'warn', `cannot read the nonce store: ${(e as Error).message}`, 'run doctor where the daemon runs, as its user');
  }
  try {
    const terms = await store.listContracts();
    const rows = await store.list();
    let flagged = 0;
    for (const c of terms) {
      const max = maxNonceFor(c);
      for (const r of rows.filter((x) => x.contractId === c.contractId)) {
        if (max > 0n && Number(r.reserved) / Number(max) < CEILING_SHARE) continue;
        flagged++;
        const pct = max > 0n ? Math.round((Number(r.reserved) / Number(max)) * 100) : 100;
        add('contracts.ceiling', 'warn', `contract ${c.contractId} (${r.signer}): nonce ${r.reserved} of ${max} allowed, ${pct} % of its ceiling`, `top up or open a new contract before it runs out; then arkeo-signer claim contract add with the new terms`);
      }
    }
    if (flagged === 0) add('contracts.ceiling', 'ok', `${terms.length} contract(s) with terms, none past ${CEILING_SHARE * 100} % of its ceiling`);
  } finally {
    await store.close();
  }
}

function checkUnits(units: string[], add: Add): void {
  if (units.length === 0) return add('unit', 'skip', `no arkeo-signer.service installed (looked in ${UNIT_LOCATIONS.map((f) => path.dirname(f)).join(', ')})`);
  checkUnitFiles(units, add, { check: 'unit', shipped: 'contrib/systemd/arkeo-signer.service', what: 'the daemon' });
}
