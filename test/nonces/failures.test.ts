import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { ClaimSigner } from '../../src/claims/index.js';
import { NonceStoreError, PostgresNonceStore, SqliteNonceStore } from '../../src/nonces/index.js';
import { BIN, requireComponent, run, tempDir } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';
import { countingSigner } from '../support/counting-signer.js';

function unavailable(re: RegExp) {
  return (e: unknown) => e instanceof NonceStoreError && e.code === 'NONCE_STORE_UNAVAILABLE' && re.test(e.message) && /no signature released/.test(e.message) && !e.message.includes('\n');
}

for (const writerThread of [false, true]) {
  test(`SQLite full (max_page_count emulating a full disk)${writerThread ? ', commits in the writer thread' : ''}: no signature, a clear error`, { timeout: 120_000 }, async (t) => {
    const file = path.join(tempDir(), 'nonces.db');
    const store = SqliteNonceStore.open(file, { maxPageCount: 8, writerThread });
    // A writer thread left running keeps the file's process alive: closed in t.after too (a second close is harmless).
    t.after(() => store.close().catch(() => {}));
    const signer = countingSigner();
    const claims = await ClaimSigner.create(signer, store);
    let contract = 1n;
    let error: unknown;
    for (; contract < 5000n && !error; contract++) {
      try {
        await claims.signClaim(contract);
      } catch (e) {
        error = e;
      }
    }
    assert.ok(error, 'the store filled up');
    assert.ok(unavailable(/full/)(error), String(error));
    const before = signer.signed;
    await assert.rejects(claims.signClaim(contract + 1n), unavailable(/full/));
    assert.equal(signer.signed, before, 'nothing signed once the store cannot persist');
    await store.close();
  });
}

test('SQLite writer thread gone: reservations and the health check fail closed, with the reason', { timeout: 120_000 }, async (t) => {
  const store = SqliteNonceStore.open(path.join(tempDir(), 'nonces.db'), { writerThread: true });
  // A writer thread left running keeps the file's process alive: closed in t.after too (a second close is harmless).
  t.after(() => store.close().catch(() => {}));
  const signer = countingSigner();
  const claims = await ClaimSigner.create(signer, store);
  await claims.signClaim(1n);
  await store.check();
  await (store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer.worker.terminate();
  await assert.rejects(claims.signClaim(1n), unavailable(/writer thread stopped/));
  await assert.rejects(store.check(), unavailable(/writer thread stopped/));
  assert.equal(signer.signed, 1, 'nothing signed without a durable reservation');
  await store.close();
});

test('SQLite read-only database file: claim sign releases nothing and says why', { timeout: 120_000 }, async (t) => {
  const home = tempDir();
  fs.chmodSync(home, 0o755);
  const add = run(BIN.arkeoSigner, ['keys', 'import-hex', 'k', '11'.repeat(32), '--home', home]);
  assert.equal(add.status, 0, add.stderr);
  const db = path.join(home, 'ro', 'nonces.db');
  const first = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '5', '--key', 'k', '--home', home, '--nonce-store', db, '--create-nonce-store']);
  assert.equal(first.status, 0, first.stderr);
  fs.chmodSync(db, 0o444);
  fs.chmodSync(path.dirname(db), 0o755);
  const asRoot = process.getuid?.() === 0;
  let r;
  if (asRoot) {
    // Root ignores file modes, so run the signer as an unprivileged user against the root-owned files.
    if (!requireComponent(t, spawnable('nobody'), 'runuser and the nobody user (to make a file read-only for the signer)')) return;
    execFileSync('chown', ['-R', 'nobody', path.join(home, 'keyring-test')]);
    r = runAs('nobody', [BIN.arkeoSigner, 'claim', 'sign', '--contract', '5', '--key', 'k', '--home', home, '--nonce-store', db]);
  } else {
    r = run(BIN.arkeoSigner, ['claim', 'sign', '--contract', '5', '--key', 'k', '--home', home, '--nonce-store', db]);
  }
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '', 'no arkauth printed');
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines.pop()!, /^arkeo-signer: nonce store sqlite:.*nonces\.db: cannot persist \(.*(readonly|read-only|permission denied).*\); no signature released$/i);
  assert.ok(lines.every((l) => l.startsWith('WARNING: ')), r.stderr);
});

function spawnable(user: string): boolean {
  try {
    execFileSync('runuser', ['-u', user, '--', 'true'], { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

function runAs(user: string, args: string[]) {
  // Synchronous, so a test timeout cannot interrupt it: bounded like run().
  return spawnSync('runuser', ['-u', user, '--', process.execPath, ...args], { encoding: 'utf8', input: '', env: { ...process.env, HOME: '/nonexistent' }, timeout: 60_000, killSignal: 'SIGKILL' });
}

let pg: PgServer | undefined;
after(() => pg?.destroy());

test('PostgreSQL stopped: no signature, a clear error; after restart the sequence continues upward', { timeout: 120_000 }, async (t) => {
  const server = await startPostgres();
  pg = server;
  if (!requireComponent(t, server !== undefined, 'PostgreSQL server binaries (apt-get install postgresql)') || !server) return;
  const store = await PostgresNonceStore.open(server.url);
  // Its pool is closed on a failure too (a second close only rejects, and that is ignored).
  t.after(() => store.close().catch(() => {}));
  const signer = countingSigner();
  const claims = await ClaimSigner.create(signer, store);
  const a = await claims.signClaim(3n);
  const b = await claims.signClaim(3n);
  assert.deepEqual([a.nonce, b.nonce], [1n, 2n]);
  server.stop('immediate');
  await assert.rejects(claims.signClaim(3n), unavailable(/postgres:\/\/arkeo@127\.0\.0\.1/));
  await assert.rejects(claims.signClaim(3n), unavailable(/./));
  assert.equal(signer.signed, 2);
  server.start();
  const c = await claims.signClaim(3n);
  assert.equal(c.nonce, 3n);
  assert.equal(signer.signed, 3);
  await store.close();
  await assert.rejects(PostgresNonceStore.open('postgres://arkeo:secret-pw@127.0.0.1:1/none'), (e: unknown) => unavailable(/\*\*\*/)(e) && !(e as Error).message.includes('secret-pw'));
});
