import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuthInfo, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { MsgClaimContractIncomeCodec } from '../../src/tx/index.js';
import { openSettleStore, SettleError, type SettleStore } from '../../src/settle/index.js';
import { requireComponent, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';

/**
 * The settle store's reading side, for doctor and the console (SQLite and PostgreSQL): a read-only open that
 * writes nothing and refuses a store the settler never used or one of another schema, and the two bounded
 * accessors, recentTxs and pendingContracts, against what was written through the writing side.
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

async function freshDatabase(server: PgServer): Promise<string> {
  const db = `r${Date.now()}${Math.floor(Math.random() * 1000)}`;
  const { default: pgLib } = await import('pg');
  const c = new pgLib.Client({ connectionString: server.url });
  await c.connect();
  await c.query(`CREATE DATABASE ${db}`);
  await c.end();
  return server.url.replace(/\/postgres$/, `/${db}`);
}

async function sql(spec: string, statement: string): Promise<void> {
  if (spec.startsWith('postgres')) {
    const { default: pgLib } = await import('pg');
    const c = new pgLib.Client({ connectionString: spec });
    await c.connect();
    await c.query(statement);
    await c.end();
    return;
  }
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(spec);
  db.exec(statement);
  db.close();
}

/** A TxRaw (base64) carrying these claims and paying `fee` uarkeo: what the journal keeps. */
function txOf(claims: [bigint, bigint][], fee: bigint): string {
  const messages = claims.map(([contractId, nonce]) => ({ typeUrl: MsgClaimContractIncomeCodec.typeUrl, value: MsgClaimContractIncomeCodec.encode({ creator: 'arkeo1x', contractId, nonce, signature: new Uint8Array(Buffer.from(sig(Number(nonce)), 'hex')) }) }));
  const bodyBytes = TxBody.encode(TxBody.fromPartial({ messages })).finish();
  const authInfoBytes = AuthInfo.encode(AuthInfo.fromPartial({ fee: { amount: [{ denom: 'uarkeo', amount: String(fee) }], gasLimit: 200_000n } })).finish();
  return Buffer.from(TxRaw.encode({ bodyBytes, authInfoBytes, signatures: [new Uint8Array(64)] }).finish()).toString('base64');
}

const sig = (n: number) => n.toString(16).padStart(2, '0').repeat(64);
const pause = () => new Promise((r) => setTimeout(r, 5));

/** Contract 7: nonces 2, 10, 9 pending (10 the highest: as numbers, not as text); contract 3: nonce 4 waiting; contract 12 settled. */
async function fill(spec: string, home: string): Promise<void> {
  const s = await openSettleStore(spec, home, { create: true });
  try {
    await s.addClaims([2n, 10n, 9n].map((n) => ({ contractId: 7n, nonce: n, signature: sig(Number(n)), spender: 'arkeo1cat' })));
    await pause();
    await s.addClaims([{ contractId: 3n, nonce: 4n, signature: sig(4), spender: 'arkeo1cat' }]);
    await s.updateClaims([{ key: { contractId: 3n, nonce: 4n, signature: sig(4) }, change: { state: 'waiting', reason: 'below_min' } }]);
    await pause();
    await s.addClaims([{ contractId: 12n, nonce: 30n, signature: sig(30), spender: 'arkeo1cat' }]);
    const entry = (hash: string, sequence: string, claims: [bigint, bigint][]) => ({ hash, chainId: 'arkeo-local-1', accountNumber: '5', sequence, intent: 'i', tx: txOf(claims, 1000n), state: 'sent' as const });
    await s.record('arkeo1dog', entry('A'.repeat(64), '1', [[12n, 30n]]));
    await s.update('arkeo1dog', { ...entry('A'.repeat(64), '1', [[12n, 30n]]), run: s.run, at: new Date().toISOString() }, 'included', { height: 40n, code: 0 });
    await s.updateClaims([{ key: { contractId: 12n, nonce: 30n, signature: sig(30) }, change: { state: 'settled', paid: 300n, reserve: 30n, height: 40n } }]);
    await pause();
    await s.record('arkeo1dog', entry('B'.repeat(64), '2', [[7n, 10n]]));
  } finally {
    await s.close();
  }
}

async function assertRefused(spec: string, home: string, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(openSettleStore(spec, home, { readOnly: true }), (e: SettleError) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    assert.equal(e.message.split('\n').length, 1);
    return true;
  });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  test(`read-only settle store (${kind}): pendingContracts and recentTxs, bounded; nothing written; a store never used or of another schema refused`, { timeout: 120_000 }, async (t) => {
    const home = tempDir();
    let spec: string;
    if (kind === 'sqlite') spec = path.join(home, 'nonces.db');
    else {
      const server = await postgres(t);
      if (!server) return;
      spec = await freshDatabase(server);
    }
    // Before the settler ran: no tables of ours (nor a file, for SQLite).
    if (kind === 'sqlite') await assertRefused(spec, home, 'SETTLE_STORE_MISSING', /nonces\.db: no such file; the settler has not run with this store/);
    else await assertRefused(spec, home, 'SETTLE_STORE_MISSING', /no settler tables; the settler has not run on this store/);
    await fill(spec, home);
    const before = kind === 'sqlite' ? fs.statSync(spec) : undefined;
    let store: SettleStore | undefined = await openSettleStore(spec, home, { readOnly: true });
    t.after(() => store?.close());
    const { contracts, total } = await store.pendingContracts(10);
    assert.equal(total, 2);
    assert.deepEqual(
      contracts.map((c) => [c.contractId, c.highest.nonce, c.highest.state, c.claims]),
      [
        [7n, 10n, 'sent', 3],
        [3n, 4n, 'waiting', 1],
      ],
      'longest waiting first; the highest nonce as a number; the sent one counts as pending',
    );
    assert.ok(contracts[0]!.since.getTime() <= contracts[1]!.since.getTime());
    const one = await store.pendingContracts(1);
    assert.deepEqual([one.contracts.length, one.total], [1, 2], 'bounded by the limit, the total still told');
    const txs = await store.recentTxs(5);
    assert.deepEqual(txs.map((x) => [x.hash[0], x.state, x.height, x.code, x.address]), [
      ['B', 'sent', undefined, undefined, 'arkeo1dog'],
      ['A', 'included', '40', 0, 'arkeo1dog'],
    ]);
    assert.deepEqual((await store.recentTxs(1)).map((x) => x.hash[0]), ['B']);
    assert.equal((await store.claimsOfTx('A'.repeat(64)))[0]!.paid, 300n);
    // Writing through a reading open fails, and changes nothing.
    await assert.rejects(store.addClaims([{ contractId: 99n, nonce: 1n, signature: sig(1), spender: '' }]), /read-only|read only|readonly/i);
    assert.equal((await store.counts()).new, 2);
    await store.close();
    store = undefined;
    if (before) assert.equal(fs.statSync(spec).mtimeMs, before.mtimeMs, 'the file was not written');
    // Another version's schema: a column the settler uses is missing.
    await sql(spec, 'ALTER TABLE arkeo_settle_claims DROP COLUMN chain_paid');
    await assertRefused(spec, home, 'SETTLE_STORE_SCHEMA', /not this version's schema \(no arkeo_settle_claims\.chain_paid\)/);
  });
}
