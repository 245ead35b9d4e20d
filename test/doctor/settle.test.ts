import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runDoctor, type DoctorOptions, type Finding, type Level } from '../../src/doctor/index.js';
import { Keyring } from '../../src/keyring/index.js';
import { createSettleMetrics, openSettleStore, SettleAudit, startSettleServer, type SettleServer } from '../../src/settle/index.js';
import { BIN, REPO_ROOT, runAsync, tempDir } from '../helpers.js';
import { dog, fox, settlerFor, world, type World } from '../settle/support.js';

/**
 * `doctor`'s settler checks on a settler set up as the settle guide says: a settings file, the shipped unit
 * naming it, a store and an audit log filled by the real Settler against the chain-rules test server (our
 * stand-in for a node), its /healthz answering. That set-up gives no warn and no fail; each broken piece (a
 * malformed setting, a store that cannot open, an edited audit log, a node down, a fee payer nearly empty, a
 * transaction stuck, a failing settler, a missing key, a weaker unit) makes exactly its own check flag, with a fix.
 */

interface Setup {
  w: World;
  home: string;
  settings: string;
  unit: string;
  audit: string;
  store: string;
  /** The settings file's lines, to write variants from. */
  lines: Record<string, string>;
  server: SettleServer;
}

const SHIPPED_UNIT = path.join(REPO_ROOT, 'contrib', 'systemd', 'arkeo-signer-settle.service');
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

function writeSettings(file: string, lines: Record<string, string>): void {
  fs.writeFileSync(file, Object.entries(lines).map(([k, v]) => `${k} = ${v}\n`).join(''), { mode: 0o600 });
}

/** The settle guide's set-up in a fresh home: one contract's claim settled by the real Settler, its log and /healthz. */
async function settled(t: TestContext): Promise<Setup> {
  const w = await world(t);
  const home = tempDir();
  fs.mkdirSync(path.join(home, 'signer'), { mode: 0o700 });
  await Keyring.open({ backend: 'test', dir: home }).importPrivateKey('settler', dog.priv);
  const audit = path.join(home, 'signer', 'settle-audit.log');
  const log = await SettleAudit.open(audit);
  const store = await openSettleStore(undefined, home);
  const s = await settlerFor(w, t, { store, audit: log });
  await log.started('test');
  const id = await w.open();
  w.claim(id, 5000n);
  assert.equal(await s.settler.run(new AbortController().signal, { once: true }), true);
  assert.equal(s.settler.status.state, 'ok', s.lines.join('\n'));
  assert.equal((await store.counts()).settled, 1);
  await store.close();
  await log.stopped();
  await log.close();
  const server = await startSettleServer({ host: '127.0.0.1', port: 0 }, createSettleMetrics(), () => s.settler.status);
  t.after(() => server.close());
  const settings = path.join(home, 'signer', 'settle.toml');
  const lines = { sentinel: `"${w.sentinel.url}"`, node: `"${w.chain.url}"`, key: '"settler"', provider: `"${fox.bech32}"`, listen: `"${server.address}"`, batch: '10' };
  writeSettings(settings, lines);
  const unit = path.join(home, 'arkeo-signer-settle.service');
  fs.writeFileSync(unit, fs.readFileSync(SHIPPED_UNIT, 'utf8').replace(/^Environment=ARKEO_HOME=.*$/m, `Environment=ARKEO_HOME=${home}`).replace(/^ExecStart=.*$/m, `ExecStart=/usr/bin/arkeo-signer settle --config ${settings}`));
  return { w, home, settings, unit, audit, store: path.join(home, 'signer', 'nonces.db'), lines, server };
}

const SETTLE_CHECKS = ['settle.config', 'settle.store', 'settle.key', 'settle.balance', 'settle.audit', 'settle.unit', 'settle.health'];

/** Doctor as an operator runs it with the unit installed (found through its ExecStart: no --settle-config). */
const doctor = (s: Setup, extra: Partial<DoctorOptions> = {}) => runDoctor({ home: s.home, passwdFile: '/dev/null', unitFiles: [], settleUnitFiles: [s.unit], ...extra });
const settleFindings = (f: Finding[]) => f.filter((x) => x.check.startsWith('settle'));
const of = (f: Finding[], check: string) => f.filter((x) => x.check === check);

function assertFlags(findings: Finding[], check: string, level: Level, pattern: RegExp): void {
  const hit = of(findings, check).find((f) => f.level === level && pattern.test(f.message));
  assert.ok(hit, `expected ${level} ${check} matching ${pattern}; got ${JSON.stringify(settleFindings(findings), null, 1)}`);
  assert.ok(hit.fix, `a ${level} finding says what to do`);
}

/** Only `check` is flagged (warn or fail) among the settle checks. */
function onlyFlagged(findings: Finding[], check: string): void {
  const flagged = settleFindings(findings).filter((f) => f.level === 'warn' || f.level === 'fail');
  assert.deepEqual([...new Set(flagged.map((f) => f.check))], [check], JSON.stringify(flagged, null, 1));
}

test('a settler set up as the guide says: every settle check ok, found through the installed unit', { timeout: 120_000 }, async (t) => {
  const s = await settled(t);
  const findings = await doctor(s);
  const settle = settleFindings(findings);
  for (const c of SETTLE_CHECKS) {
    if (c === 'settle.unit' && !hasAnalyze) continue;
    assert.deepEqual(of(settle, c).map((f) => f.level), ['ok'], `${c}: ${JSON.stringify(of(settle, c))}`);
  }
  assert.match(of(settle, 'settle.store')[0]!.message, /0 claim\(s\) pending, 0 in 0 transaction\(s\) not yet seen in a block, 1 settled, 0 refused/);
  assert.match(of(settle, 'settle.key')[0]!.message, new RegExp(`fee payer "settler" \\(local, ${dog.address}\\)`));
  assert.match(of(settle, 'settle.balance')[0]!.message, new RegExp(`fee payer ${dog.address} has \\d+uarkeo`));
  assert.match(of(settle, 'settle.audit')[0]!.message, /entries, chain, MACs and head intact/);
  assert.match(of(settle, 'settle.health')[0]!.message, /\/healthz: ok/);
  // The same through --settle-config, with no unit installed: the unit is then a skip, nothing else changes.
  const direct = settleFindings(await doctor(s, { settleUnitFiles: [], settleConfigFile: s.settings }));
  assert.deepEqual(of(direct, 'settle.unit').map((f) => f.level), ['skip']);
  assert.deepEqual(direct.filter((f) => f.level === 'warn' || f.level === 'fail'), []);
});

test('no settler on the host: one skip, no settle check run', { timeout: 60_000 }, async () => {
  const home = tempDir();
  const findings = await runDoctor({ home, passwdFile: '/dev/null', unitFiles: [], settleUnitFiles: [] });
  assert.deepEqual(settleFindings(findings).map((f) => [f.check, f.level]), [['settle', 'skip']]);
});

test('settle.config: a malformed settings file is one fail naming the field (control: the good file is ok)', { timeout: 120_000 }, async (t) => {
  const s = await settled(t);
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...s.lines, batch: '0' }, /"batch" = 0: expected a whole number from 1 to 100/],
    [{ ...s.lines, min_valu: '5' }, /unknown setting "min_valu"/],
    [{ ...s.lines, listen: '"0.0.0.0:9464"' }, /"listen" = "0\.0\.0\.0:9464": not a loopback address/],
    [{ ...s.lines, gas_prices: '"cheap"' }, /"gas_prices"/],
    [{ ...s.lines, node: '"ftp://node"' }, /"node" = "ftp:\/\/node": not an http\(s\) URL/],
    [{ ...s.lines, interval: '"soon"' }, /"interval" = soon: expected seconds/],
  ];
  for (const [lines, pattern] of cases) {
    writeSettings(s.settings, lines);
    const f = await doctor(s);
    assertFlags(f, 'settle.config', 'fail', pattern);
    assert.equal(of(f, 'settle.config').length, 1, 'one finding');
  }
  fs.writeFileSync(s.settings, 'sentinel = [\n');
  assertFlags(await doctor(s), 'settle.config', 'fail', /not TOML/);
  writeSettings(s.settings, s.lines);
  assert.deepEqual(of(await doctor(s), 'settle.config').map((f) => f.level), ['ok']);
});

test('settle.store: a store that cannot open, is not a database, or has another schema fails; a transaction stuck over 10 minutes warns', { timeout: 120_000 }, async (t) => {
  const s = await settled(t);
  writeSettings(s.settings, { ...s.lines, nonce_store: '"postgres://settle@127.0.0.1:1/arkeo"' });
  assertFlags(await doctor(s), 'settle.store', 'fail', /cannot open the settle store: settle store postgres:\/\/settle@127\.0\.0\.1:1\/arkeo: connect ECONNREFUSED/);
  const garbage = path.join(s.home, 'garbage.db');
  fs.writeFileSync(garbage, 'this is not a database, only text that is long enough to be read as one '.repeat(100));
  writeSettings(s.settings, { ...s.lines, nonce_store: `"${garbage}"` });
  assertFlags(await doctor(s), 'settle.store', 'fail', /garbage\.db: .*not a database/);
  const other = path.join(s.home, 'other.db');
  fs.copyFileSync(s.store, other);
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(other);
  db.exec('ALTER TABLE arkeo_settle_txs DROP COLUMN written');
  db.close();
  writeSettings(s.settings, { ...s.lines, nonce_store: `"${other}"` });
  assertFlags(await doctor(s), 'settle.store', 'fail', /not this version's schema \(no arkeo_settle_txs\.written\)/);
  // A store the settler never used: a skip, not a failure.
  const empty = path.join(s.home, 'empty.db');
  new Database(empty).close();
  writeSettings(s.settings, { ...s.lines, nonce_store: `"${empty}"` });
  assert.deepEqual(of(await doctor(s), 'settle.store').map((f) => f.level), ['skip']);
  writeSettings(s.settings, s.lines);
  // A transaction written and not yet seen in a block: fine now, a warning once it is over 10 minutes old.
  const store = await openSettleStore(s.store, s.home);
  const sent = (await store.recentTxs(1))[0]!;
  await store.record(sent.address, { hash: 'AB'.repeat(32), chainId: sent.chainId, accountNumber: sent.accountNumber, sequence: String(BigInt(sent.sequence) + 1n), intent: sent.intent, tx: sent.tx, state: 'sent' });
  await store.close();
  const now = await doctor(s);
  assert.deepEqual(of(now, 'settle.store').map((f) => f.level), ['ok']);
  assert.match(of(now, 'settle.store')[0]!.message, /in 1 transaction\(s\) not yet seen in a block/);
  const later = await doctor(s, { now: new Date(Date.now() + 11 * 60_000) });
  assertFlags(later, 'settle.store', 'warn', /1 of them sent over 10 minutes ago \(the oldest, (AB){32}, 1[01] minutes ago\)/);
  onlyFlagged(later, 'settle.store');
});

test('settle.audit: an edited entry fails, as audit verify says (control: the log as written is intact)', { timeout: 120_000 }, async (t) => {
  const s = await settled(t);
  const text = fs.readFileSync(s.audit, 'utf8');
  assert.match(text, /"op":"tx"/);
  fs.writeFileSync(s.audit, text.replace(/"op":"tx"/, '"op":"tX"'));
  const f = await doctor(s);
  assertFlags(f, 'settle.audit', 'fail', /settle-audit\.log: line \d+: .*(MAC|hash|chain)/i);
  onlyFlagged(f, 'settle.audit');
});

test('settle.balance: a node down is a warning, never a failure; a fee payer short of 20 fees warns', { timeout: 120_000 }, async (t) => {
  const s = await settled(t);
  await s.w.chain.close();
  const down = await doctor(s);
  assertFlags(down, 'settle.balance', 'warn', /cannot read the fee payer's balance: node http:\/\/127\.0\.0\.1:\d+\/\S+: fetch failed/);
  onlyFlagged(down, 'settle.balance');
  const s2 = await settled(t);
  const balance = s2.w.chain.balance(dog.address);
  // A fixed fee of a tenth of the balance: 10 transactions' worth, fewer than 20.
  writeSettings(s2.settings, { ...s2.lines, fees: `"${balance / 10n}uarkeo"` });
  const low = await doctor(s2);
  assertFlags(low, 'settle.balance', 'warn', new RegExp(`fee payer ${dog.address} has ${balance}uarkeo: the fees of 10 settlement transaction\\(s\\) of ~${balance / 10n}uarkeo, fewer than 20`));
  onlyFlagged(low, 'settle.balance');
  writeSettings(s2.settings, { ...s2.lines, fees: `"${balance / 20n}uarkeo"` });
  assert.deepEqual(of(await doctor(s2), 'settle.balance').map((f) => f.level), ['ok']);
});

test('settle.health: a settler answering 503 failing fails, with its problem (control: ok); settle.key: a missing key fails', { timeout: 120_000 }, async (t) => {
  const s = await settled(t);
  const failing = await startSettleServer({ host: '127.0.0.1', port: 0 }, createSettleMetrics(), () => ({ state: 'failing', leading: true, problem: 'fee payer arkeo1x has 0uarkeo, less than one transaction\'s fee' }));
  t.after(() => failing.close());
  writeSettings(s.settings, { ...s.lines, listen: `"${failing.address}"` });
  const f = await doctor(s);
  assertFlags(f, 'settle.health', 'fail', /HTTP 503, failing: fee payer arkeo1x has 0uarkeo/);
  onlyFlagged(f, 'settle.health');
  await failing.close();
  assert.deepEqual(of(await doctor(s), 'settle.health').map((f) => f.level), ['skip'], 'nothing listening: the settler is not running');
  writeSettings(s.settings, { ...s.lines, key: '"nobody"' });
  const nokey = await doctor(s);
  assertFlags(nokey, 'settle.key', 'fail', /fee payer "nobody": no such key in .*keyring-test or .*keyring-file/);
  // The address is still known from the store's last transaction: the balance is checked all the same.
  assert.deepEqual(of(nokey, 'settle.balance').map((f) => f.level), ['ok']);
});

test('settle.unit: a unit without the shipped hardening is flagged (control: the shipped unit is ok)', { timeout: 120_000 }, async (t) => {
  const s = await settled(t);
  fs.writeFileSync(s.unit, `[Service]\nUser=arkeo-signer\nEnvironment=ARKEO_HOME=${s.home}\nExecStart=/usr/bin/arkeo-signer settle --config ${s.settings}\n`);
  const f = await doctor(s);
  const hit = of(f, 'settle.unit').find((x) => x.level === 'warn' || x.level === 'fail');
  assert.ok(hit, JSON.stringify(of(f, 'settle.unit')));
  assert.match(hit.message, hasAnalyze ? /systemd-analyze security scores it [\d.]+ (EXPOSED|UNSAFE); missing LimitCORE=0/ : /missing LimitCORE=0/);
  assert.match(hit.fix ?? '', /contrib\/systemd\/arkeo-signer-settle\.service/);
  onlyFlagged(f, 'settle.unit');
});

test('the CLI: doctor --settle-config reports the settle checks and exits 1 on a fail', { timeout: 120_000 }, async (t) => {
  const s = await settled(t);
  // Asynchronously: the chain-rules server and the settler's /healthz in this process must answer the child.
  const args = ['doctor', '--home', s.home, '--settle-config', s.settings, '--settle-unit', s.unit, '-o', 'json'];
  const good = await runAsync(BIN.arkeoSigner, args);
  const parsed = JSON.parse(good.stdout) as { findings: Finding[] };
  assert.deepEqual(settleFindings(parsed.findings).filter((f) => f.level === 'fail' || f.level === 'warn'), [], good.stdout);
  writeSettings(s.settings, { ...s.lines, batch: '1000' });
  const bad = await runAsync(BIN.arkeoSigner, args.slice(0, -2));
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /^fail {2}settle\.config: .*settle\.toml: "batch" = 1000: expected a whole number from 1 to 100\n {6}fix: /m);
});
