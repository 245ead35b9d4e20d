import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { ChainClient, MsgClaimContractIncomeCodec, MsgSendCodec, TxJournal, TxSender, parseFeeChoice, signTx, type Journal, type SendRequest } from '../../src/tx/index.js';
import { openSettleStore, type SettleStore } from '../../src/settle/index.js';
import { SqliteSettleStore } from '../../src/settle/sqlite.js';
import { PostgresSettleStore } from '../../src/settle/postgres.js';
import { REPO_ROOT, requireComponent, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';
import { startChainRules } from '../support/chain-rules.js';
import { cat, dog, fox, RICH } from './support.js';

/**
 * The settler's record in the nonce store's database (SQLite and PostgreSQL): it is TxSender's journal (the same
 * interface as the file journal, which is the control), it marks a transaction's claims sent in the same commit
 * that records the transaction, and it elects one leader.
 */
let pg: PgServer | undefined;
let pgTried = false;
async function postgres(t: TestContext): Promise<PgServer | undefined> {
  if (!pgTried) {
    pgTried = true;
    pg = await startPostgres();
    process.on('exit', () => pg?.destroy());
  }
  return requireComponent(t, pg !== undefined, "PostgreSQL server binaries (Debian's postgresql package)") ? pg : undefined;
}

type Kind = 'file' | 'sqlite' | 'postgres';

/** A journal of this kind, and a way to open the same storage again as a new run. */
async function journalOf(t: TestContext, kind: Kind): Promise<(() => Promise<Journal & { close?: () => Promise<void> }>) | undefined> {
  if (kind === 'file') {
    const dir = tempDir();
    return async () => new TxJournal(dir);
  }
  if (kind === 'sqlite') {
    const file = path.join(tempDir(), 'nonces.db');
    return async () => SqliteSettleStore.open(file);
  }
  const server = await postgres(t);
  if (!server) return undefined;
  const db = `j${Date.now()}`;
  const admin = await import('pg');
  const c = new admin.default.Client({ connectionString: server.url });
  await c.connect();
  await c.query(`CREATE DATABASE ${db}`);
  await c.end();
  const url = server.url.replace(/\/postgres$/, `/${db}`);
  return async () => PostgresSettleStore.open(url, url);
}

for (const kind of ['file', 'sqlite', 'postgres'] as const) {
  test(`journal (${kind}): a transaction sent by a run that died is found by its hash and never signed again`, { timeout: 120_000 }, async (t) => {
    const open = await journalOf(t, kind);
    if (!open) return;
    const chain = await startChainRules({ blockIntervalMs: 0, accounts: [{ address: cat.address, balance: RICH }] });
    t.after(() => chain.close());
    const request: SendRequest = {
      messages: [{ typeUrl: MsgSendCodec.typeUrl, value: MsgSendCodec.encode({ fromAddress: cat.address, toAddress: fox.address, amount: [{ denom: 'uarkeo', amount: '777' }] }) }],
      fee: parseFeeChoice({ gas: '200000' }),
    };
    const first = await open();
    t.after(() => first.close?.());
    const sent = await new TxSender(new ChainClient(chain.url), cat.signer, { journal: first, wait: false }).send(request);
    assert.equal((await first.unfinished(cat.address)).map((e) => e.hash).join(), sent.txHash, 'written down before it left');
    await chain.mine();
    // The next run (a new journal object is a new run) is asked for the very same transfer.
    const again = await open();
    t.after(() => again.close?.());
    const outcome = await new TxSender(new ChainClient(chain.url), cat.signer, { journal: again, pollMs: 20, waitMs: 10_000 }).send(request);
    assert.equal(outcome.earlier, true);
    assert.equal(outcome.txHash, sent.txHash);
    assert.equal(outcome.included?.code, 0);
    assert.deepEqual(await again.unfinished(cat.address), [], 'marked included');
    assert.equal(chain.included().length, 1, 'one transaction, included once');
    // Control: another transfer in the same run is signed and sent.
    const other = await new TxSender(new ChainClient(chain.url), cat.signer, { journal: again, wait: false }).send({ ...request, memo: 'another' });
    assert.notEqual(other.txHash, sent.txHash);
  });
}

async function storeOf(t: TestContext, kind: 'sqlite' | 'postgres'): Promise<SettleStore | undefined> {
  const open = await journalOf(t, kind);
  if (!open) return undefined;
  const store = (await open()) as SettleStore;
  t.after(() => store.close());
  return store;
}

for (const kind of ['sqlite', 'postgres'] as const) {
  test(`store (${kind}): recording a transaction marks its claims sent in the same commit; a dead transaction gives them back, an included one keeps them`, { timeout: 60_000 }, async (t) => {
    const store = await storeOf(t, kind);
    if (!store) return;
    const sig = (n: number) => n.toString(16).padStart(2, '0').repeat(64);
    const added = await store.addClaims([
      { contractId: 7n, nonce: 5n, signature: sig(1), spender: '' },
      { contractId: 8n, nonce: 5n, signature: sig(2), spender: '' },
    ]);
    assert.equal(added.length, 2);
    assert.equal((await store.addClaims([{ contractId: 7n, nonce: 5n, signature: sig(1), spender: '' }])).length, 0, 'a claim is kept once');
    const message = MsgClaimContractIncomeCodec.encode({ creator: dog.address, contractId: 7n, signature: new Uint8Array(Buffer.from(sig(1), 'hex')), nonce: 5n });
    const signed = await signTx(dog.signer, { messages: [{ typeUrl: MsgClaimContractIncomeCodec.typeUrl, value: message }], fee: { amount: [], gasLimit: 1n } }, { publicKey: dog.pub, accountNumber: 0n, sequence: 0n, chainId: 'x' });
    const entry = { hash: signed.txHash, chainId: 'x', accountNumber: '0', sequence: '0', intent: 'i', tx: Buffer.from(signed.txBytes).toString('base64'), state: 'sent' as const, run: '', at: '' };
    await store.record(dog.address, entry);
    const state = async () => Object.fromEntries((await store.claimsIn(['new', 'sent'])).map((c) => [String(c.contractId), [c.state, c.txHash ?? null]]));
    assert.deepEqual(await state(), { 7: ['sent', signed.txHash], 8: ['new', null] }, 'the claim the transaction carries, and only it');
    await store.update(dog.address, entry, 'included', { height: 3n, code: 0 });
    assert.deepEqual(await state(), { 7: ['sent', signed.txHash], 8: ['new', null] }, 'included: the settler reads the block before it changes the claim');
    assert.equal((await store.tx(signed.txHash))?.height, '3');
    await store.update(dog.address, entry, 'dead');
    assert.deepEqual(await state(), { 7: ['new', null], 8: ['new', null] }, 'dead: the claim goes back');
  });
}

test('leadership (SQLite): one holder; a holder killed with SIGKILL frees it at once; a live one keeps it', { timeout: 60_000 }, async (t) => {
  const file = path.join(tempDir(), 'nonces.db');
  const script = path.join(tempDir(), 'hold.mjs');
  fs.writeFileSync(script, `import { SqliteSettleStore } from ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'settle', 'sqlite.js'))};\nconst s = SqliteSettleStore.open(process.argv[2]);\nconsole.log(await s.acquireLeadership('p', 600000) ? 'leading' : 'standby');\nsetInterval(() => {}, 1000);\n`);
  const holder = spawn(process.execPath, [script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => void (holder.exitCode === null && holder.kill('SIGKILL')));
  let out = '';
  holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 500 && !out.includes('leading'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(out, /leading/);
  const me = SqliteSettleStore.open(file);
  t.after(() => me.close());
  assert.equal(await me.acquireLeadership('p', 600_000), false, 'the live holder keeps it');
  assert.equal(await me.acquireLeadership('q', 600_000), true, 'another provider is another lease');
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  assert.equal(await me.acquireLeadership('p', 600_000), true, 'its process is gone: free at once, not after the lease');
  assert.equal(await me.holdsLeadership(), true);
});

test('leadership (PostgreSQL): one holder; when its connection ends, another takes it', { timeout: 120_000 }, async (t) => {
  const server = await postgres(t);
  if (!server) return;
  const home = tempDir();
  const [a, b] = [await openSettleStore(server.url, home, { create: true }), await openSettleStore(server.url, home)];
  t.after(() => Promise.all([a.close(), b.close()]).then(() => undefined));
  assert.equal(await a.acquireLeadership(fox.bech32, 1000), true);
  assert.equal(await b.acquireLeadership(fox.bech32, 1000), false);
  assert.equal(await b.acquireLeadership(cat.bech32, 1000), true, 'another provider, another lock');
  assert.equal(await a.holdsLeadership(), true);
  await a.close();
  assert.equal(await b.acquireLeadership(fox.bech32, 1000), true, 'the lock went with the connection');
  assert.match(a.description, /^postgres:\/\//);
});
