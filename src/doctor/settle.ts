import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DaemonConfig } from '../daemon/config.js';
import { ArkeoSignerError } from '../errors.js';
import { BoundedReadError, getBounded, isLoopbackHost } from '../http.js';
import { Keyring } from '../keyring/index.js';
import type { Backend } from '../keyring/keyring.js';
import { backendOf } from '../keys/index.js';
import { ANTE_GAS, CLAIM_GAS, CONFIG_KEYS, SETTING_RANGES, loadSettleConfig, openSettleStore, secondsSetting, wholeSetting, type RangedSetting, type SettleConfig, type SettleConfigKey, type SettleStore } from '../settle/index.js';
import { adjustedGas, ChainClient, feeFromGasPrice, parseFeeChoice } from '../tx/index.js';
import { checkAuditChain, checkUnitFiles, q, type Add } from './common.js';

/**
 * The settler's set-up, checked where there is one: a settings file given (--settle-config) or named by the
 * installed arkeo-signer-settle.service, that unit itself, the settler's audit log, or its tables in the store.
 * What costs money is what is looked for: a settings file the settler refuses, a store it cannot open or
 * transactions stuck in it, a fee payer that cannot sign or is nearly empty, a broken audit log, a unit less
 * hardened than the shipped one, a settler whose /healthz says it is failing. Read-only, like every check.
 */
export interface SettleDoctorOptions {
  /** The settler's settings (settle --config FILE); default: the file the installed settle unit's ExecStart names. */
  settleConfigFile?: string;
  /** arkeo-signer-settle.service files to check; default: where systemd looks for installed units. */
  settleUnitFiles?: string[];
  now?: Date;
}

/** Where systemd looks for installed units. */
const UNIT_DIRS = ['/etc/systemd/system', '/usr/local/lib/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];
export const SETTLE_UNIT_LOCATIONS = UNIT_DIRS.map((d) => `${d}/arkeo-signer-settle.service`);
/** A transaction sent this long ago and still not seen in a block is flagged. */
export const PENDING_TX_MINUTES = 10;
/** The fee payer should hold the fees of at least this many transactions. */
export const BALANCE_TRANSACTIONS = 20;
/** Each exchange with the node or the settler's /healthz. */
const NETWORK_TIMEOUT_MS = 5000;

/** What an installed unit says about how the settler runs: the flags of its ExecStart and its Environment=. */
interface SettleUnit {
  file: string;
  flags: Map<string, string | true>;
  env: Map<string, string>;
}

const unquote = (t: string) => t.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');

export function readSettleUnit(file: string): SettleUnit | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const flags = new Map<string, string | true>();
  const env = new Map<string, string>();
  const exec = text.split('\n').filter((l) => /^ExecStart=\S/.test(l)).at(-1);
  const words = (exec?.slice('ExecStart='.length) ?? '').trim().split(/\s+/).map(unquote);
  const from = words.indexOf('settle');
  for (let i = from + 1; from >= 0 && i < words.length; i++) {
    const m = /^(?:--([a-z][a-z0-9-]*)|-(c))(?:=(.*))?$/.exec(words[i]!);
    if (!m) continue;
    const name = m[1] ?? 'config';
    if (m[3] !== undefined) flags.set(name, m[3]);
    else if (i + 1 < words.length && !words[i + 1]!.startsWith('-')) flags.set(name, words[++i]!);
    else flags.set(name, true);
  }
  for (const line of text.split('\n').filter((l) => l.startsWith('Environment='))) {
    for (const w of line.slice('Environment='.length).trim().split(/\s+/).map(unquote)) {
      const eq = w.indexOf('=');
      if (eq > 0) env.set(w.slice(0, eq), w.slice(eq + 1));
    }
  }
  return { file, flags, env };
}

const flagText = (unit: SettleUnit | undefined, name: string): string | undefined => {
  const v = unit?.flags.get(name);
  return typeof v === 'string' ? v : undefined;
};

export async function checkSettler(config: DaemonConfig, options: SettleDoctorOptions, add: Add): Promise<void> {
  const units = options.settleUnitFiles ?? SETTLE_UNIT_LOCATIONS.filter((f) => fs.existsSync(f));
  const unit = units.map(readSettleUnit).find((u) => u !== undefined);
  const configFile = options.settleConfigFile ?? flagText(unit, 'config');
  const home = flagText(unit, 'home') ?? unit?.env.get('ARKEO_HOME') ?? config.keyring.home;
  const file = configFile ? checkSettleConfig(configFile, unit, add) : undefined;
  // The unit's flags win over the file, as on the command line.
  const settings: SettleConfig = { ...file };
  for (const k of CONFIG_KEYS) {
    const v = flagText(unit, k.replace(/_/g, '-'));
    if (v !== undefined) settings[k] = v;
  }
  const auditLog = settings.audit_log ?? path.join(home, 'signer', 'settle-audit.log');
  const storeSpec = settings.nonce_store ?? unit?.env.get('ARKEO_NONCE_STORE');
  let store: SettleStore | undefined;
  let storeError: ArkeoSignerError | Error | undefined;
  try {
    store = await openSettleStore(storeSpec, home, { readOnly: true });
  } catch (e) {
    storeError = e as Error;
  }
  // Without settings or a unit, only a store holding the settler's tables says a settler ran here: the default
  // store is also the daemon's, whose own checks report it when it cannot be read.
  if (!configFile && units.length === 0 && !fs.existsSync(auditLog) && !store) {
    return add('settle', 'skip', `no settler here: no settings file (--settle-config), no arkeo-signer-settle.service installed, no ${auditLog}, no settler tables in the store`);
  }
  if (!configFile) add('settle.config', 'skip', `no settings file: give --settle-config FILE (the file settle --config reads)${unit ? `; ${unit.file} names none` : ''}`);
  try {
    await checkStore(store, storeError, options.now ?? new Date(), add);
    const address = await checkFeePayer(settings, unit, home, store, add);
    await checkBalance(settings, address, add);
    checkAuditChain(auditLog, add, { check: 'settle.audit', absent: 'the settler has not run', owner: "the settler's user", accept: 'the settler refuses to start on such a log until it is accepted (settle --accept-audit-log)', keep: 'the settler writes both' });
    if (units.length) checkUnitFiles(units, add, { check: 'settle.unit', shipped: 'contrib/systemd/arkeo-signer-settle.service', what: 'the settler' });
    else add('settle.unit', 'skip', `no arkeo-signer-settle.service installed (looked in ${UNIT_DIRS.join(', ')})`);
    await checkHealth(settings.listen, add);
  } finally {
    await store?.close().catch(() => {});
  }
}

// ------------------------------------------------------------------------------------------------ settings

/** The settings file as `settle --config` reads it, and each value as settle checks it at start. */
function checkSettleConfig(file: string, unit: SettleUnit | undefined, add: Add): SettleConfig {
  let c: SettleConfig;
  try {
    c = loadSettleConfig(file);
  } catch (e) {
    add('settle.config', 'fail', `${(e as Error).message}${unit && flagText(unit, 'config') === file ? ` (named by ${unit.file})` : ''}`, `fix what it names in ${q(file)}: arkeo-signer settle will not start with it`);
    return {};
  }
  const problems = settingProblems(c);
  for (const p of problems) add('settle.config', 'fail', `${file}: ${p}`, `fix it in ${q(file)}: arkeo-signer settle will not start with it`);
  if (problems.length === 0) add('settle.config', 'ok', `${file}: ${Object.keys(c).length} setting(s), each valid`);
  return problems.length ? {} : c;
}

function settingProblems(c: SettleConfig): string[] {
  const out: string[] = [];
  for (const k of ['sentinel', 'node'] as const) {
    const v = c[k];
    if (v === undefined) continue;
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(v).protocol);
    } catch {
      ok = false;
    }
    if (!ok) out.push(`"${k}" = "${v.slice(0, 60)}": not an http(s) URL`);
  }
  // What settle refuses at start, setting by setting.
  for (const k of Object.keys(SETTING_RANGES) as RangedSetting[]) {
    const v = c[k];
    if (v === undefined) continue;
    try {
      (SETTING_RANGES[k].kind === 'whole' ? wholeSetting : secondsSetting)(k, v, `"${k}" = ${v.slice(0, 30)}`);
    } catch (e) {
      out.push((e as Error).message.replace(/, got "[^"]*"$/, ''));
    }
  }
  if (c.min_value !== undefined && !/^[0-9]{1,20}$/.test(c.min_value)) out.push(`"min_value" = ${c.min_value.slice(0, 30)}: expected a whole number of the rate's denom`);
  if (c.listen !== undefined) {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(c.listen);
    if (!m || Number(m[2]) > 65535) out.push(`"listen" = "${c.listen.slice(0, 60)}": expected HOST:PORT, e.g. 127.0.0.1:9464`);
    else if (!isLoopbackHost(m[1]!.replace(/^\[|\]$/g, ''))) out.push(`"listen" = "${c.listen.slice(0, 60)}": not a loopback address; the settler serves /metrics and /healthz on this machine only`);
  }
  if (c.fees !== undefined && c.gas_prices !== undefined) out.push('"fees" and "gas_prices": give one, not both');
  else {
    try {
      parseFeeChoice({ fees: c.fees, 'gas-prices': c.gas_prices, gas: c.gas, 'gas-adjustment': c.gas_adjustment });
    } catch (e) {
      out.push((e as Error).message.replace(/--(gas-adjustment|gas-prices|gas|fees)\b/, (_, f: string) => `"${f.replace(/-/g, '_')}"`));
    }
  }
  if (c.nonce_store !== undefined && !/^postgres(ql)?:\/\//.test(c.nonce_store) && !c.nonce_store.startsWith('sqlite:') && /^[A-Za-z][A-Za-z0-9+.-]*:/.test(c.nonce_store)) {
    out.push(`"nonce_store" = "${c.nonce_store.slice(0, 20)}…": unknown scheme (expected a file path, sqlite:PATH or postgres://…)`);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ store

async function checkStore(store: SettleStore | undefined, error: Error | undefined, now: Date, add: Add): Promise<void> {
  const code = error instanceof ArkeoSignerError ? error.code : undefined;
  if (!store) {
    const message = (error?.message ?? 'cannot open').split('\n')[0]!;
    if (code === 'SETTLE_STORE_MISSING') return add('settle.store', 'skip', message);
    if (code === 'SETTLE_STORE_SCHEMA') return add('settle.store', 'fail', message, 'open it with the arkeo-signer version that made it; a settler of this version would add the missing tables but not change a column');
    return add('settle.store', 'fail', `cannot open the settle store: ${message}`, 'check nonce_store in the settings (or --nonce-store in the unit); run doctor where the settler runs, as its user');
  }
  let counts, unconfirmed;
  try {
    counts = await store.counts();
    unconfirmed = await store.unfinishedTxs();
  } catch (e) {
    return add('settle.store', 'fail', (e as Error).message.split('\n')[0]!, 'run doctor where the settler runs, as its user');
  }
  const pending = counts.new + counts.waiting;
  const late = unconfirmed.filter((t) => now.getTime() - Date.parse(t.at) > PENDING_TX_MINUTES * 60_000);
  const summary = `${store.description}: ${pending} claim(s) pending, ${counts.sent} in ${unconfirmed.length} transaction(s) not yet seen in a block, ${counts.settled} settled, ${counts.refused} refused`;
  if (late.length) {
    const oldest = late[0]!;
    const minutes = Math.floor((now.getTime() - Date.parse(oldest.at)) / 60_000);
    return add(
      'settle.store',
      'warn',
      `${summary}; ${late.length} of them sent over ${PENDING_TX_MINUTES} minutes ago (the oldest, ${oldest.hash}, ${minutes} minutes ago): nothing new is sent until each is found in a block or dead`,
      'check the node the settler uses (its log says "not in a block after …"); every cycle looks each one up by its hash, and nothing is sent twice',
    );
  }
  add('settle.store', 'ok', summary);
}

// ------------------------------------------------------------------------------------------------ fee payer

const NO_PASSPHRASE = {
  interactive: false,
  get: () => Promise.reject(new Error('doctor holds no passphrase')),
};

/** The fee payer's key record, opened as cheaply as its backend allows; returns its address when known. */
async function checkFeePayer(settings: SettleConfig, unit: SettleUnit | undefined, home: string, store: SettleStore | undefined, add: Add): Promise<string | undefined> {
  // The account of the last transaction sent: the fee payer's address whatever holds its key.
  const sentBy = await store?.recentTxs(1).then((t) => t[0]?.address, () => undefined);
  const name = settings.key;
  if (!name) {
    add('settle.key', 'skip', 'no fee payer named ("key" in the settings, or --key in the unit)');
    return sentBy;
  }
  if (unit?.flags.has('daemon')) {
    add('settle.key', 'skip', `the fee payer "${name}" is the daemon's key (--daemon in ${unit.file}): the daemon's checks cover it`);
    return sentBy;
  }
  const named = flagText(unit, 'keyring-backend') ?? unit?.env.get('ARKEO_KEYRING_BACKEND');
  // Without a backend named, where keys usually are: the test backend (settle's default) and the file backend.
  const backends = (named ? [named] : ['test', 'file']) as Backend[];
  const dir = flagText(unit, 'keyring-dir') ?? home;
  const looked: string[] = [];
  for (const backend of backends) {
    let keyring: Keyring;
    try {
      // Doctor has no passphrase: it lists records, and opens only those the test backend's public password opens.
      keyring = Keyring.open({ backend, dir, passphrase: NO_PASSPHRASE });
      looked.push(keyring.location);
      if (!(await keyring.has(name))) continue;
    } catch (e) {
      add('settle.key', 'fail', `fee payer "${name}": the ${backend} keyring: ${(e as Error).message.split('\n')[0]}`, 'run doctor as the settler\'s user, with its home (--home)');
      return sentBy;
    }
    if (backend !== 'test') {
      add('settle.key', 'ok', `fee payer "${name}": key record in ${keyring.location} (opened with its passphrase when the settler starts)`);
      return sentBy;
    }
    try {
      const info = await keyring.get(name);
      if (!backendOf(info.kind)) {
        add('settle.key', 'fail', `fee payer "${name}" in ${keyring.location} is ${/^[aeiou]/.test(info.kind) ? 'an' : 'a'} ${info.kind} key, public key only here: it cannot sign`, 'name a key that signs ("key" in the settings): arkeo-signer keys add, or a PKCS#11 or KMS key');
        return sentBy;
      }
      add('settle.key', 'ok', `fee payer "${name}" (${info.kind}${info.address ? `, ${info.address}` : ''}) in ${keyring.location}`);
      return info.address || sentBy;
    } catch (e) {
      add('settle.key', 'fail', `fee payer "${name}" in ${keyring.location}: ${(e as Error).message.split('\n')[0]}`, 'run doctor as the settler\'s user; replace the record if it is damaged');
      return sentBy;
    }
  }
  add('settle.key', 'fail', `fee payer "${name}": no such key in ${looked.join(' or ')}`, `add it (arkeo-signer keys add ${name} --home ${q(home)}), or name its keyring with --keyring-backend in the unit`);
  return sentBy;
}

/** What one settlement transaction of `batch` claims costs, as the settler plans it before a simulation. */
function feePerTransaction(settings: SettleConfig): { denom: string; amount: bigint } {
  const fee = parseFeeChoice({ fees: settings.fees, 'gas-prices': settings.gas_prices, gas: settings.gas, 'gas-adjustment': settings.gas_adjustment });
  if (fee.fees) return { denom: fee.fees[0]?.denom ?? 'uarkeo', amount: BigInt(fee.fees[0]?.amount ?? 0) };
  const batch = BigInt(/^[0-9]{1,3}$/.test(settings.batch ?? '') ? settings.batch! : '10');
  const gas = fee.gas === 'auto' ? adjustedGas(ANTE_GAS + CLAIM_GAS * batch, fee.gasAdjustment) : fee.gas;
  const coin = feeFromGasPrice(fee.gasPrice!, gas);
  return { denom: coin.denom, amount: BigInt(coin.amount) };
}

async function checkBalance(settings: SettleConfig, address: string | undefined, add: Add): Promise<void> {
  if (!settings.node) return add('settle.balance', 'skip', 'no node in the settings: the fee payer\'s balance is not checked');
  if (!address) return add('settle.balance', 'skip', 'the fee payer\'s address is not known here (no readable key record, no transaction in the store)');
  let fee: { denom: string; amount: bigint };
  let chain: ChainClient;
  try {
    fee = feePerTransaction(settings);
    chain = new ChainClient(settings.node, { timeoutMs: NETWORK_TIMEOUT_MS });
  } catch {
    return add('settle.balance', 'skip', 'the fee settings or the node URL are not valid (see settle.config)');
  }
  let balance: bigint;
  try {
    balance = await chain.balance(address, fee.denom);
  } catch (e) {
    return add('settle.balance', 'warn', `cannot read the fee payer's balance: ${(e as Error).message.split('\n')[0]}`, 'check that the node is up and reachable from here; the settler sends nothing while it cannot reach it');
  }
  const need = fee.amount * BigInt(BALANCE_TRANSACTIONS);
  const enough = fee.amount > 0n ? balance / fee.amount : undefined;
  const what = `fee payer ${address} has ${balance}${fee.denom}`;
  if (balance < need) {
    return add('settle.balance', 'warn', `${what}: the fees of ${enough ?? '?'} settlement transaction(s) of ~${fee.amount}${fee.denom}, fewer than ${BALANCE_TRANSACTIONS}`, `send it ${fee.denom}; once it cannot pay a fee the settler sends nothing and claims wait for their deadlines`);
  }
  add('settle.balance', 'ok', `${what}: the fees of ${enough ?? 'any number of'} settlement transaction(s) of ~${fee.amount}${fee.denom}`);
}

// ------------------------------------------------------------------------------------------------ health

async function checkHealth(listen: string | undefined, add: Add): Promise<void> {
  if (!listen) return add('settle.health', 'skip', 'no listen address in the settings: the settler serves no /healthz');
  const url = `http://${listen}/healthz`;
  let reply;
  try {
    reply = await getBounded(url, { what: 'settler', timeoutMs: NETWORK_TIMEOUT_MS, maxBytes: 64 * 1024 });
  } catch (e) {
    if (e instanceof BoundedReadError && e.reason === 'unreachable') return add('settle.health', 'skip', `nothing answers on ${listen}: the settler is not running here`);
    return add('settle.health', 'warn', (e as Error).message, 'check the settler (systemctl status arkeo-signer-settle) and its log');
  }
  let body: { status?: string; problem?: string; leading?: boolean } = {};
  try {
    body = JSON.parse(reply.body.toString('utf8')) as typeof body;
  } catch {
    /* said below */
  }
  if (reply.status === 200) return add('settle.health', 'ok', `${url}: ${body.status ?? 'ok'}${body.status === 'standby' ? ' (another settler leads)' : ''}`);
  const state = body.status ?? `HTTP ${reply.status}`;
  add('settle.health', state === 'starting' ? 'warn' : 'fail', `${url}: HTTP ${reply.status}, ${state}${body.problem ? `: ${body.problem.slice(0, 300)}` : ''}`, 'see the settler\'s log (journalctl -u arkeo-signer-settle) and "When something fails" in docs/guides/settle.md');
}
