import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { ChainClient, txHashOf, type BroadcastResult } from '../../src/tx/index.js';
import { createSettleMetrics, SettleAudit, startSettleServer } from '../../src/settle/index.js';
import { startFileReceiver } from '../../src/audit/ship/receiver.js';
import { BIN, run, runAsync, tempDir } from '../helpers.js';
import { bird, dog, fox, settlerFor, world, type World } from './support.js';

/**
 * The settler's audit log, against the chain-rules and sentinel-rules test servers: it holds exactly the
 * transactions the chain included (hash for hash, with their claims and what the block paid for each) and every
 * claim refused before a fee, never a signature, and `audit verify` passes on it; a transaction's entry is durable
 * before the transaction is broadcast; after kill -9 mid-run the log verifies and no transaction the chain holds
 * lacks its entry; with [audit.ship] the log goes to a syslog receiver and agrees with the copy.
 */

type Entry = { seq: number; what: Record<string, string>; result: string; reason?: string };

/** The complete entries of a log (a torn last line, from a kill mid-write, is not an entry). */
function entriesOf(file: string): Entry[] {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  lines.pop(); // after the last newline: '' or a torn line
  return lines.map((l) => JSON.parse(l) as Entry);
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

async function importDog(home: string): Promise<void> {
  assert.equal((await runAsync(BIN.arkeoSigner, ['keys', 'import-hex', 'dog', Buffer.from(dog.priv).toString('hex'), '--home', home])).status, 0);
}

/** The settler's transactions on chain: hash → its claims (`contract/nonce`, sorted) and code. */
async function ourTransactions(w: World): Promise<Map<string, { claims: string[]; code: number }>> {
  const out = new Map<string, { claims: string[]; code: number }>();
  for (const m of await w.claimsOnChain()) {
    if (m.creator !== dog.address) continue;
    const tx = out.get(m.hash) ?? { claims: [], code: m.code };
    tx.claims.push(`${m.contractId}/${m.nonce}`);
    tx.claims.sort();
    out.set(m.hash, tx);
  }
  return out;
}

const ENV = { ARKEO_NODE: undefined, ARKEO_NONCE_STORE: undefined, ARKEO_SIGNER_DAEMON: undefined, ARKEO_SIGNER_LOG: undefined };

test('settle --once: the audit log holds exactly the transactions included (hash for hash, claims, paid) and each refusal before a fee, never a signature; audit verify passes (control: an edited copy fails)', { timeout: 120_000 }, async (t) => {
  const w = await world(t);
  const home = tempDir();
  await importDog(home);
  const good = await Promise.all([1, 2, 3, 4, 5].map(() => w.open()));
  good.forEach((id, i) => w.claim(id, BigInt(1000 * (i + 1)))); // each pays the provider more than the 1000uarkeo fee
  const otherProvider = await w.open({ provider: bird });
  w.claim(otherProvider, 50n);
  const forged = await w.open();
  w.claim(forged, 60n, dog); // signed by a key that is not the contract's spender
  w.claim(9999n, 5n); // no such contract
  const signatures = [...w.sentinel.claims.values()].map((c) => c.signature.toLowerCase());

  const r = await runAsync(BIN.arkeoSigner, ['settle', '--sentinel', w.sentinel.url, '--node', w.chain.url, '--key', 'dog', '--provider', fox.bech32, '--once', '--batch', '2', '--fees', '1000uarkeo', '--gas', '1000000', '--nonce-store', path.join(home, 's.db'), '--create-nonce-store', '--home', home], { env: ENV });
  assert.equal(r.status, 0, r.stderr);
  const file = path.join(home, 'signer', 'settle-audit.log');
  assert.match(r.stderr, new RegExp(`settle: audit log ${file.replace(/[.]/g, '\\.')}\\n`));
  const entries = entriesOf(file);
  const onChain = await ourTransactions(w);
  assert.equal(onChain.size, 3, 'five sound claims in batches of two');

  // Hash for hash: an entry when signed and one with the block's result, for each transaction the chain holds.
  const signed = entries.filter((e) => e.what.op === 'tx');
  const results = entries.filter((e) => e.what.op === 'tx-result');
  assert.deepEqual(sorted(signed.map((e) => e.what.tx_hash!)), sorted(onChain.keys()));
  assert.deepEqual(sorted(results.map((e) => e.what.tx_hash!)), sorted(onChain.keys()));
  for (const e of signed) {
    const tx = onChain.get(e.what.tx_hash!)!;
    assert.deepEqual(e.what.claims!.split(',').sort(), tx.claims, `${e.what.tx_hash}: the claims it carries`);
    assert.equal(e.what.fee, '1000uarkeo');
    assert.equal(e.what.key, dog.address);
    assert.equal(e.what.backend, 'local');
    assert.match(e.what.sequence!, /^[0-9]+$/);
    const result = results.find((x) => x.what.tx_hash === e.what.tx_hash)!;
    assert.ok(result.seq > e.seq, 'the result follows the entry written when it was signed');
    assert.equal(result.result, 'ok');
    assert.equal(result.what.code, '0');
    assert.equal(result.what.height, String(w.chain.included().find((i) => i.hash === e.what.tx_hash)!.height));
    // What the chain paid for each claim: the contract's paid (its first settlement), reserve included.
    const paid = result.what.paid!.split(',').sort();
    assert.deepEqual(paid, tx.claims.map((c) => `${c}=${w.chain.contract(BigInt(c.split('/')[0]!))!.paid}uarkeo`).sort());
    assert.equal(result.what.unpaid, undefined);
  }
  // Each refusal before a fee, with its reason; none of them in any transaction.
  const refused = entries.filter((e) => e.what.op === 'claim-refused').map((e) => `${e.what.contract}/${e.what.nonce}=${e.what.refusal}`);
  assert.deepEqual(sorted(refused), sorted([`${otherProvider}/50=other_provider`, `${forged}/60=bad_signature`, '9999/5=contract_missing']));
  assert.ok(entries.filter((e) => e.what.op === 'claim-refused').every((e) => e.result === 'denied' && (e.reason ?? '').length > 0));
  assert.equal(entries[0]!.what.op, 'start');
  assert.equal(entries.at(-1)!.what.op, 'stop');
  const text = fs.readFileSync(file, 'utf8').toLowerCase();
  for (const s of signatures) assert.ok(!text.includes(s), 'no claim signature is in the log');

  const ok = run(BIN.arkeoSigner, ['audit', 'verify', file]);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.equal(ok.stdout, `ok: ${entries.length} entries, chain and MACs intact\n`);
  // Control: the same check on a copy whose paid amount was edited names the line.
  const copy = path.join(tempDir(), 'settle-audit.log');
  for (const suffix of ['', '.key', '.head']) fs.copyFileSync(file + suffix, copy + suffix);
  const edited = results[0]!;
  const lines = fs.readFileSync(copy, 'utf8').split('\n');
  lines[edited.seq - 1] = lines[edited.seq - 1]!.replace(/"paid":"(\d+)\//, (_m, id: string) => `"paid":"${id}0/`);
  fs.writeFileSync(copy, lines.join('\n'));
  const broken = run(BIN.arkeoSigner, ['audit', 'verify', copy]);
  assert.equal(broken.status, 1, broken.stdout);
  assert.match(broken.stdout, new RegExp(`^BROKEN: line ${edited.seq}: MAC mismatch`));
});

/** A node client that checks, as each transaction is broadcast, whether the audit log already holds it, released. */
class ProbingChain extends ChainClient {
  readonly seen: { hash: string; entry: boolean }[] = [];
  constructor(url: string, private readonly audit?: SettleAudit) {
    super(url);
  }
  override async broadcast(txBytes: Uint8Array): Promise<BroadcastResult> {
    const hash = txHashOf(txBytes);
    const entry = this.audit && entriesOf(this.audit.file).find((e) => e.what.op === 'tx' && e.what.tx_hash === hash);
    this.seen.push({ hash, entry: entry !== undefined && entry.seq <= this.audit!.log.durable.seq });
    return super.broadcast(txBytes);
  }
}

test('a transaction\'s entry is in the log and released (fdatasync done) before the transaction is broadcast; control: a settler without the log broadcasts with no entry', { timeout: 60_000 }, async (t) => {
  const w = await world(t);
  for (const [audited, label] of [[true, 'with the audit log'], [false, 'without (control)']] as const) {
    const ids = await Promise.all([1, 2, 3].map(() => w.open()));
    ids.forEach((id) => w.claim(id, 300n));
    const audit = audited ? await SettleAudit.open(path.join(tempDir(), 'settle-audit.log')) : undefined;
    if (audit) t.after(() => audit.close());
    const chain = new ProbingChain(w.chain.url, audit);
    const s = await settlerFor(w, t, { chain, batch: 1, ...(audit ? { audit } : {}) });
    const report = await s.settler.cycle();
    assert.deepEqual(report.problems, [], s.lines.join('\n'));
    assert.equal(report.settled, 3, label);
    assert.equal(chain.seen.length, 3, `${label}: three transactions broadcast`);
    assert.deepEqual(chain.seen.map((x) => x.entry), [audited, audited, audited], label);
  }
});

test('kill -9 mid-run, three times: after each kill the log verifies (a torn last line at most, repaired and recorded at the restart) and holds every transaction the chain has; at the end, every included transaction has its result', { timeout: 300_000 }, async (t) => {
  const CONTRACTS = 10;
  const ROUNDS = 8;
  const STEP = 200n;
  const w = await world(t);
  const home = tempDir();
  await importDog(home);
  const file = path.join(home, 'signer', 'settle-audit.log');
  const ids = await Promise.all(Array.from({ length: CONTRACTS }, () => w.open()));
  const args = ['settle', '--sentinel', w.sentinel.url, '--node', w.chain.url, '--key', 'dog', '--provider', fox.bech32, '--interval', '0.2', '--batch', '3', '--fees', '1000uarkeo', '--gas', '1000000', '--wait-timeout', '30', '--nonce-store', path.join(home, 's.db'), '--create-nonce-store', '--home', home];
  let child: ChildProcess | undefined;
  let log = '';
  const start = () => {
    const c = spawn(process.execPath, [BIN.arkeoSigner, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ARKEO_SIGNER_LOG: 'info' } });
    c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    child = c;
  };
  t.after(() => void (child && child.exitCode === null && child.kill('SIGKILL')));
  start();

  const killRounds = new Set<number>();
  while (killRounds.size < 3) killRounds.add(1 + Math.floor(Math.random() * (ROUNDS - 1)));
  const notes: string[] = [];
  let torn = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const nonce = BigInt(round) * STEP;
    for (const id of ids) w.claim(id, nonce);
    if (killRounds.has(round)) {
      const delay = Math.floor(Math.random() * 700); // while the round's transactions are being signed, sent, read
      await new Promise((r) => setTimeout(r, delay));
      const victim = child!;
      victim.kill('SIGKILL');
      await new Promise((r) => (victim.exitCode !== null || victim.signalCode !== null ? r(null) : victim.once('exit', r)));
      const included = [...(await ourTransactions(w)).keys()];
      if (!fs.existsSync(file)) {
        // Killed while starting, before its log was opened: then it had sent nothing either.
        assert.deepEqual(included, [], `round ${round}: transactions on chain and no audit log`);
        notes.push(`round ${round} +${delay} ms (before the log was opened)`);
      } else {
        // The log as the kill left it: it verifies, or ends in a torn line (a write cut short), nothing else.
        const v = run(BIN.arkeoSigner, ['audit', 'verify', file]);
        if (v.status !== 0) {
          assert.match(v.stdout, /^BROKEN: line \d+: torn last line \(no newline\): truncated mid-entry\n$/, v.stdout + v.stderr);
          torn++;
        }
        // Every transaction the chain holds was broadcast before the kill, so its entry was already durable.
        const logged = new Set(entriesOf(file).filter((e) => e.what.op === 'tx').map((e) => e.what.tx_hash!));
        assert.deepEqual(included.filter((h) => !logged.has(h)), [], `round ${round}: transactions on chain without their entry`);
        notes.push(`round ${round} +${delay} ms (${included.length} transactions on chain, ${logged.size} entries for signed ones)`);
      }
      start();
    }
    for (let i = 0; i < 3000 && !ids.every((id) => w.chain.contract(id)!.nonce === nonce); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(ids.filter((id) => w.chain.contract(id)!.nonce !== nonce), [], `round ${round}: every contract settled; settler log:\n${log.slice(-3000)}`);
  }
  const last = child!;
  last.kill('SIGTERM');
  assert.equal(await new Promise<number | null>((r) => (last.exitCode !== null ? r(last.exitCode) : last.once('exit', (c) => r(c)))), 0, log.slice(-2000));
  t.diagnostic(`killed at: ${notes.join('; ')}; ${torn} kill(s) left a torn last line`);

  const v = run(BIN.arkeoSigner, ['audit', 'verify', file]);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const entries = entriesOf(file);
  const onChain = await ourTransactions(w);
  const signed = new Map(entries.filter((e) => e.what.op === 'tx').map((e) => [e.what.tx_hash!, e]));
  const results = new Set(entries.filter((e) => e.what.op === 'tx-result').map((e) => e.what.tx_hash!));
  assert.deepEqual([...onChain.keys()].filter((h) => !signed.has(h)), [], 'every transaction on chain has the entry written when it was signed');
  for (const [hash, tx] of onChain) assert.deepEqual(signed.get(hash)!.what.claims!.split(',').sort(), tx.claims, hash);
  assert.deepEqual(sorted(results), sorted(onChain.keys()), 'results: exactly the transactions included (a result read again after a kill is written again, never lost)');
  // A transaction signed and never broadcast (killed between its entry and the store's record) has no result.
  const unsent = [...signed.keys()].filter((h) => !onChain.has(h));
  const dead = new Set(entries.filter((e) => e.what.op === 'tx-dead').map((e) => e.what.tx_hash!));
  t.diagnostic(`${signed.size} transactions signed, ${onChain.size} on chain; ${unsent.length} signed and never in a block (${unsent.filter((h) => dead.has(h)).length} recorded as dead)`);
  assert.equal(entries.filter((e) => e.what.op === 'audit-repair').length, torn, 'each torn line was cut at the next start and recorded');
  // A run killed before its first cycle may not have written its start; only the last run stopped cleanly.
  assert.ok(entries.filter((e) => e.what.op === 'start').length >= 1, 'the last run wrote its start');
  assert.deepEqual(entries.filter((e) => e.what.op === 'stop').map((e) => e.seq), [entries.at(-1)!.seq], 'one stop, the last entry: the killed runs wrote none');
});

test('[audit.ship] in the settle config: the whole log goes to a syslog receiver (control: nothing before the table is added), app name arkeo-settle, and audit verify --against the copy agrees; a bad [audit.ship] is one line, exit 2', { timeout: 120_000 }, async (t) => {
  const w = await world(t);
  const home = tempDir();
  await importDog(home);
  const copy = path.join(tempDir(), 'received.log');
  const receiver = await startFileReceiver(copy);
  t.after(() => receiver.close());
  const config = path.join(home, 'settle.toml');
  const base = `sentinel = "${w.sentinel.url}"\nnode = "${w.chain.url}"\nkey = "dog"\nprovider = "${fox.bech32}"\nfees = "1000uarkeo"\ngas = 1000000\nnonce_store = "${path.join(home, 's.db')}"\naudit_log = "logs/settle-audit.log"\n`;
  const settle = () => runAsync(BIN.arkeoSigner, ['settle', '--config', config, '--once', '--create-nonce-store', '--home', home], { env: ENV });
  const file = path.join(home, 'logs', 'settle-audit.log'); // audit_log is read relative to the config's directory

  const id = await w.open();
  w.claim(id, 500n);
  fs.writeFileSync(config, base);
  const first = await settle();
  assert.equal(first.status, 0, first.stderr);
  assert.equal(receiver.received, 0, 'no [audit.ship]: nothing shipped');
  const before = entriesOf(file).length;
  assert.ok(before >= 4, 'start, tx, tx-result, stop');

  w.claim(id, 1000n);
  fs.writeFileSync(config, `${base}\n[audit.ship]\ntarget = "tcp"\naddress = "127.0.0.1:${receiver.port}"\ninterval_ms = 200\n`);
  const second = await settle();
  assert.equal(second.status, 0, second.stderr);
  const entries = entriesOf(file);
  assert.ok(entries.length > before + 3);
  const shipped = fs.readFileSync(copy, 'utf8').split('\n').filter(Boolean);
  assert.ok(shipped.some((l) => / arkeo-settle \d+ audit - \{"seq":1,/.test(l)), 'the first entry, from the run before shipping, with app name arkeo-settle');
  const against = run(BIN.arkeoSigner, ['audit', 'verify', file, '--against', copy]);
  assert.equal(against.status, 0, against.stdout + against.stderr);
  assert.match(against.stdout, new RegExp(`^ok: ${entries.length} entries, chain and MACs intact\\nok: agrees with the shipped copy \\(entries 1–${entries.length}`));

  fs.writeFileSync(config, `${base}\n[audit.ship]\ntarget = "udp"\naddress = "127.0.0.1:${receiver.port}"\n`);
  const bad = await settle();
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /^arkeo-signer: [^\n]*settle\.toml: audit\.ship\.target: expected "relp", "relp-tls", "tcp", "tls" or "journal", got "udp"\n$/);
});

test('settle /healthz reports the audit log, and 503 once the log was deleted under it (control: 200 before); /metrics has arkeo_signer_audit_sequence', { timeout: 30_000 }, async (t) => {
  const audit = await SettleAudit.open(path.join(tempDir(), 'settle-audit.log'));
  t.after(() => audit.close());
  await audit.started('test');
  const metrics = createSettleMetrics();
  audit.registerMetrics(metrics.registry);
  const server = await startSettleServer({ host: '127.0.0.1', port: 0 }, metrics, () => ({ state: 'ok', leading: true }), () => audit.health());
  t.after(() => server.close());
  const health = async () => {
    const r = await fetch(`http://${server.address}/healthz`);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  assert.deepEqual(await health(), { status: 200, body: { status: 'ok', leading: true, audit: 'ok', audit_entries: 1 } });
  assert.match(await (await fetch(`http://${server.address}/metrics`)).text(), /^arkeo_signer_audit_sequence 1$/m);
  fs.rmSync(audit.file);
  const after = await health();
  assert.equal(after.status, 503);
  assert.match(String(after.body.audit), /^error: the log file was deleted while open/);
});
