import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PostgresNonceStore, SqliteNonceStore, type ContractTerms, type NonceStore } from '../../src/nonces/index.js';
import { SignerDaemon } from '../../src/daemon/index.js';
import { auditEntries, rawRequest, startTestDaemon, type RawReply } from '../support/daemon.js';
import { BIN, requireComponent, run, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';

/**
 * A token's max_spend_per_hour against a real daemon: under 64 concurrent clients it signs exactly its budget,
 * the budget is not reset by a restart (it is counted in the nonce store), two daemons sharing one PostgreSQL
 * store draw on one budget, and the claim over it is refused with 429 and Retry-After, audited and counted.
 */
const KEY = randomBytes(32).toString('hex');
const RATE = 10n;
const CLIENTS = 64;
const SIG = /[0-9a-f]{128}/;

const policy = (contract: string, perHour: string) => ({ keys: ['k'], operations: ['claim'], contracts: [contract], max_spend_per_hour: perHour, rate: { per_second: 100_000, burst: 100_000 } });
const terms = (contractId: bigint, extra: Partial<ContractTerms> = {}): ContractTerms => ({ contractId, rate: RATE, deposit: 1_000_000_000n, source: 'manual', ...extra });

function claim(socket: string, token: string, contract: string): Promise<RawReply> {
  return rawRequest(socket, 'POST', '/v1/claims', { token, body: JSON.stringify({ contract, key: 'k' }) });
}

/** `CLIENTS` claims at once, spread over the given daemons; the nonces signed and the refusals. */
async function burst(targets: { socket: string; token: string }[], contract: string): Promise<{ nonces: bigint[]; refused: RawReply[] }> {
  const replies = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => claim(targets[i % targets.length]!.socket, targets[i % targets.length]!.token, contract)));
  const other = replies.filter((r) => r.status !== 200 && r.status !== 429);
  assert.deepEqual(other.map((r) => r.body), [], 'every reply is a signature or a velocity refusal');
  const signed = replies.filter((r) => r.status === 200);
  for (const r of signed) assert.match(String(r.json!.signature), SIG);
  return { nonces: signed.map((r) => BigInt(r.json!.nonce as string)), refused: replies.filter((r) => r.status === 429) };
}

const sorted = (xs: bigint[]) => [...xs].sort((a, b) => (a < b ? -1 : 1));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));

/** A refusal: 429 with Retry-After up to an hour and a minute, the reason with the time, and no signature. */
function assertRefusal(r: RawReply, what: string): void {
  assert.equal(r.status, 429, `${what}: ${r.body}`);
  assert.equal(r.json!.code, 'SPEND_VELOCITY');
  assert.match(String(r.json!.error), /^contract \d+: token alice's limit on it \(max_spend_per_hour\) is \d+ uarkeo per hour, \d+ is spent in the last hour and a claim costs 10; the next claim is possible at \S+Z \(in \d+ s\); nothing was signed$/);
  const wait = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(wait) && wait > 3_500 && wait <= 3_661, `${what}: Retry-After ${r.headers['retry-after']}`);
  assert.doesNotMatch(r.body, SIG, `${what}: no signature`);
}

async function withStore<T>(open: () => Promise<NonceStore>, fn: (s: NonceStore) => Promise<T>): Promise<T> {
  const s = await open();
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

test('SQLite daemon: a token with max_spend_per_hour signs exactly its budget under 64 concurrent clients, across a restart; then 429 with Retry-After', { timeout: 120_000 }, async (t) => {
  // Budget: 1,000 uarkeo an hour at rate 10 = 100 claims. Control: the same demand under a larger budget.
  const d = await startTestDaemon({ k: KEY }, { alice: policy('7', '1000'), roomy: policy('8', '100000') });
  let daemon: SignerDaemon = d.daemon;
  t.after(() => daemon.stop());
  await withStore(async () => SqliteNonceStore.open(d.config.nonces.store), async (s) => {
    await s.putContract(terms(7n));
    await s.putContract(terms(8n));
  });
  const alice = { socket: d.socket, token: d.tokens.alice! };

  const first = await burst([alice], '7');
  assert.deepEqual(sorted(first.nonces), range(1, 64), 'the first 64 fit');
  assert.equal(first.refused.length, 0);

  // A restart: the spend is in the nonce store, not in the process.
  await daemon.stop();
  daemon = await SignerDaemon.start(d.config);
  const second = await burst([alice], '7');
  assert.deepEqual(sorted(second.nonces), range(65, 100), 'exactly the 36 left of the budget, after the restart');
  assert.equal(second.refused.length, CLIENTS - 36);
  for (const r of second.refused) assertRefusal(r, 'over the budget');
  const next = await claim(d.socket, d.tokens.alice!, '7');
  assertRefusal(next, 'the next claim');

  // Control: a token whose budget exceeds the demand signs every claim.
  const roomy = await burst([{ socket: d.socket, token: d.tokens.roomy! }], '8');
  assert.deepEqual(sorted(roomy.nonces), range(1, 64));

  // Audited with the key, the contract and the limit; counted by scope; spend counted in uarkeo.
  const entries = auditEntries(d.config).filter((e) => e.what?.op === 'claim' && e.status === 429);
  assert.equal(entries.length, CLIENTS - 36 + 1);
  for (const e of entries) {
    assert.equal(e.result, 'denied');
    assert.deepEqual([e.who.token, e.what.key, e.what.contract, e.what.velocity_scope, e.what.velocity_window], ['alice', 'k', '7', 'token', 'hour']);
    assert.match(e.what.retry_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
    assert.equal(e.what.nonce, undefined, 'no nonce was taken');
  }
  const metrics = (await rawRequest(d.socket, 'GET', '/metrics')).body;
  assert.match(metrics, /^arkeo_signer_velocity_refusals_total\{scope="token",token="alice",contract="7"\} 29$/m);
  assert.doesNotMatch(metrics, /^arkeo_signer_velocity_refusals_total\{scope="contract"/m);
  // Since the restart: 36 claims on contract 7 and 64 on contract 8, at rate 10.
  assert.match(metrics, /^arkeo_signer_spend_total\{contract="7"\} 360$/m);
  assert.match(metrics, /^arkeo_signer_spend_total\{contract="8"\} 640$/m);
});

test('SQLite daemon: a contract\'s own max_spend_per_hour binds every token, counted as scope "contract"', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ k: KEY }, { any: { keys: ['k'], operations: ['claim'], contracts: ['*'], rate: { per_second: 100_000, burst: 100_000 } } });
  t.after(() => d.daemon.stop());
  await withStore(async () => SqliteNonceStore.open(d.config.nonces.store), (s) => s.putContract(terms(9n, { maxSpendPerHour: 30n })));
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(await claim(d.socket, d.tokens.any!, '9'));
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 429]);
  assert.match(String(replies[3]!.json!.error), /^contract 9: the contract's limit \(max_spend_per_hour\) is 30 uarkeo per hour/);
  assert.ok(Number(replies[3]!.headers['retry-after']) > 3_500);
  const metrics = (await rawRequest(d.socket, 'GET', '/metrics')).body;
  assert.match(metrics, /^arkeo_signer_velocity_refusals_total\{scope="contract",token="any",contract="9"\} 1$/m);
  assert.doesNotMatch(metrics, /^arkeo_signer_velocity_refusals_total\{scope="token"/m);
});

test('a token with a velocity limit signs no claim raw (it would escape the window); one without signs it', { timeout: 60_000 }, async (t) => {
  const raw = { keys: ['k'], operations: ['claim', 'raw'], contracts: ['*'], rate: { per_second: 1000, burst: 1000 } };
  const d = await startTestDaemon({ k: KEY }, { limited: { ...raw, max_spend_per_day: '1000' }, open: raw });
  t.after(() => d.daemon.stop());
  const sign = (token: string) => rawRequest(d.socket, 'POST', '/v1/sign', { token, body: JSON.stringify({ key: 'k', message: '7:5:' }) });
  const refused = await sign(d.tokens.limited!);
  assert.equal(refused.status, 403, refused.body);
  assert.match(String(refused.json!.error), /claim or arkcontract preimage for contract 7.*limited \(by its spend ceiling/);
  assert.doesNotMatch(refused.body, SIG);
  const control = await sign(d.tokens.open!);
  assert.equal(control.status, 200, control.body);
});

test('daemon token create --max-spend-per-hour / --max-spend-per-day, and the same keys in --policy JSON', { timeout: 60_000 }, () => {
  const env = { ARKEO_HOME: tempDir() };
  assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', KEY], { env }).status, 0);
  assert.equal(run(BIN.arkeoSigner, ['daemon', 'init'], { env }).status, 0);
  const create = (...args: string[]) => run(BIN.arkeoSigner, ['daemon', 'token', 'create', '--keys', 'k', ...args], { env });
  assert.equal(create('--name', 'flags', '--max-spend-per-hour', '1000', '--max-spend-per-day', '5000').status, 0);
  assert.equal(create('--name', 'json', '--policy', '{"max_spend_per_hour": "7"}').status, 0);
  assert.equal(create('--name', 'none').status, 0);
  const list = JSON.parse(run(BIN.arkeoSigner, ['daemon', 'token', 'list', '-o', 'json'], { env }).stdout) as { name: string; policy: Record<string, unknown> }[];
  const of = (name: string) => list.find((x) => x.name === name)!.policy;
  assert.deepEqual([of('flags').max_spend_per_hour, of('flags').max_spend_per_day], ['1000', '5000']);
  assert.deepEqual([of('json').max_spend_per_hour, of('json').max_spend_per_day], ['7', undefined]);
  assert.ok(!('max_spend_per_hour' in of('none')), 'no limit unless one is given');
  // Bad values: one line naming the field, no token made.
  for (const [args, pattern] of [
    [['--max-spend-per-hour', '0'], /max_spend_per_hour: 0 is out of range/],
    [['--max-spend-per-day', '1e6'], /max_spend_per_day: expected a decimal number/],
    [['--policy', '{"max_spend_per_hour": 1000}'], /policy\.max_spend_per_hour: expected a decimal string of uarkeo/],
  ] as const) {
    const bad = create('--name', 'bad', ...args);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, pattern);
    assert.equal(bad.stderr.split('\n').filter(Boolean).length, 1, bad.stderr);
    assert.equal(bad.stdout, '');
  }
});

let pg: PgServer | undefined;
after(() => pg?.destroy());

test('PostgreSQL: two daemons sharing one store sign exactly one budget between them under 64 concurrent clients, and keep it across a restart', { timeout: 180_000 }, async (t) => {
  pg = await startPostgres();
  if (!requireComponent(t, pg !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)')) return;
  const url = pg!.url;
  const shared = (c: { nonces: { store: string; create?: boolean } }) => {
    c.nonces.store = url;
    c.nonces.create = true;
  };
  // Two hosts: each its own home, keyring (the same key), tokens file (a token named alice with the same policy).
  const a = await startTestDaemon({ k: KEY }, { alice: policy('7', '400'), roomy: policy('8', '100000') }, shared);
  let daemonA: SignerDaemon = a.daemon;
  t.after(() => daemonA.stop());
  const b = await startTestDaemon({ k: KEY }, { alice: policy('7', '400'), roomy: policy('8', '100000') }, shared);
  t.after(() => b.daemon.stop());
  await withStore(() => PostgresNonceStore.open(url), async (s) => {
    await s.putContract(terms(7n));
    await s.putContract(terms(8n));
  });
  const both = [
    { socket: a.socket, token: a.tokens.alice! },
    { socket: b.socket, token: b.tokens.alice! },
  ];
  // Budget: 400 an hour at rate 10 = 40 claims between the two daemons.
  const r = await burst(both, '7');
  assert.deepEqual(sorted(r.nonces), range(1, 40), 'exactly the budget, each nonce once');
  assert.equal(r.refused.length, CLIENTS - 40);
  for (const x of r.refused) assertRefusal(x, 'over the shared budget');

  // A restart of one of them: still refused, by both.
  await daemonA.stop();
  daemonA = await SignerDaemon.start(a.config);
  assertRefusal(await claim(a.socket, a.tokens.alice!, '7'), 'daemon A after its restart');
  assertRefusal(await claim(b.socket, b.tokens.alice!, '7'), 'daemon B');

  // Control: a budget larger than the demand, over the same two daemons: every claim signed.
  const roomy = await burst(
    [
      { socket: a.socket, token: a.tokens.roomy! },
      { socket: b.socket, token: b.tokens.roomy! },
    ],
    '8',
  );
  assert.deepEqual(sorted(roomy.nonces), range(1, 64));
});
