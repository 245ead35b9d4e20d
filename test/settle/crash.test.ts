import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { SqliteSettleStore } from '../../src/settle/sqlite.js';
import { BIN, runAsync, tempDir } from '../helpers.js';
import { dog, fox, world } from './support.js';

/**
 * 1,000 claims over 50 contracts, settled by the built CLI (`arkeo-signer settle`, a process of its own) while it is
 * killed with SIGKILL five times at random points and started again on the same SQLite store. The sentinel-rules
 * server shows one claim per contract, as a sentinel does; the test moves every contract to its next nonce once the
 * chain has settled the last (20 rounds × 50 contracts). After the run: every claim was settled by exactly one
 * message of a successful transaction, no transaction was included twice, none failed, and the fee payer paid
 * exactly transactions × fee.
 */
const CONTRACTS = 50;
const ROUNDS = 20;
const STEP = 200n; // nonce step per round: 2000uarkeo, 1800 to the provider, above the 1000uarkeo fee
const FEE = 1000n;

test('1,000 claims over 50 contracts, the settler killed -9 five times: each claim settled exactly once, no transaction twice, fees = transactions × fee', { timeout: 600_000 }, async (t) => {
  const w = await world(t);
  const home = tempDir();
  const store = path.join(home, 'settle.db');
  assert.equal((await runAsync(BIN.arkeoSigner, ['keys', 'import-hex', 'dog', Buffer.from(dog.priv).toString('hex'), '--home', home])).status, 0);
  const ids = await Promise.all(Array.from({ length: CONTRACTS }, () => w.open()));
  assert.equal(new Set(ids).size, CONTRACTS);
  const feePayerBefore = w.chain.balance(dog.address);

  const args = ['settle', '--sentinel', w.sentinel.url, '--node', w.chain.url, '--key', 'dog', '--provider', fox.bech32, '--interval', '0.2', '--batch', '10', '--fees', `${FEE}uarkeo`, '--gas', '1000000', '--wait-timeout', '30', '--nonce-store', store, '--create-nonce-store', '--home', home];
  let child: ChildProcess | undefined;
  let log = '';
  const startSettler = () => {
    const c = spawn(process.execPath, [BIN.arkeoSigner, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    child = c;
  };
  t.after(() => void (child && child.exitCode === null && child.kill('SIGKILL')));
  startSettler();

  // Five rounds (of 1..ROUNDS-1) in which the settler is killed, each at a random moment after the round's claims appear.
  const killRounds = new Set<number>();
  while (killRounds.size < 5) killRounds.add(1 + Math.floor(Math.random() * (ROUNDS - 1)));
  const kills: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const nonce = BigInt(round) * STEP;
    for (const id of ids) w.claim(id, nonce);
    if (killRounds.has(round)) {
      const delay = Math.floor(Math.random() * 1500);
      await new Promise((r) => setTimeout(r, delay));
      const victim = child!;
      victim.kill('SIGKILL');
      await new Promise((r) => (victim.exitCode !== null || victim.signalCode !== null ? r(null) : victim.once('exit', r)));
      kills.push(`round ${round} +${delay} ms`);
      startSettler();
    }
    for (let i = 0; i < 3000 && !ids.every((id) => w.chain.contract(id)!.nonce === nonce); i++) await new Promise((r) => setTimeout(r, 20));
    const behind = ids.filter((id) => w.chain.contract(id)!.nonce !== nonce);
    assert.deepEqual(behind, [], `round ${round}: every contract settled at nonce ${nonce}; settler log:\n${log.slice(-3000)}`);
  }
  t.diagnostic(`killed with SIGKILL at: ${kills.join(', ')}`);
  const found = log.match(/\(sent by an earlier run, found by its hash\)/g)?.length ?? 0;
  const buried = log.match(/never reached a block/g)?.length ?? 0;
  t.diagnostic(`after the restarts: ${found} transaction(s) of a killed run found by hash and read from their block, ${buried} found dead (claims sent again)`);
  const last = child!;
  last.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => (last.exitCode !== null ? r(last.exitCode) : last.once('exit', (c) => r(c))));
  assert.equal(code, 0, 'SIGTERM: the cycle finishes and the settler exits 0');

  const onChain = (await w.claimsOnChain()).filter((m) => m.creator === dog.address);
  assert.ok(onChain.every((m) => m.code === 0), 'no transaction of the settler failed (nothing stale was ever sent)');
  const perClaim = new Map<string, number>();
  for (const m of onChain) perClaim.set(`${m.contractId}/${m.nonce}`, (perClaim.get(`${m.contractId}/${m.nonce}`) ?? 0) + 1);
  assert.equal(perClaim.size, CONTRACTS * ROUNDS, 'all 1,000 claims were sent');
  assert.deepEqual([...perClaim.values()].filter((n) => n !== 1), [], 'each exactly once');
  for (const id of ids) for (let r = 1; r <= ROUNDS; r++) assert.equal(perClaim.get(`${id}/${BigInt(r) * STEP}`), 1, `contract ${id} nonce ${BigInt(r) * STEP}`);
  const hashes = w.chain.included().filter((i) => i.messages.includes('/arkeo.arkeo.MsgClaimContractIncome')).map((i) => i.hash);
  assert.equal(new Set(hashes).size, hashes.length, 'no transaction included twice');
  assert.equal(feePayerBefore - w.chain.balance(dog.address), BigInt(hashes.length) * FEE, `fees paid = ${hashes.length} transactions × ${FEE}uarkeo`);
  for (const id of ids) assert.equal(w.chain.contract(id)!.paid, BigInt(ROUNDS) * STEP * 10n, `contract ${id}: paid for every nonce, once`);

  // The store agrees: every claim settled, every transaction included.
  const s = SqliteSettleStore.open(store);
  t.after(() => s.close());
  const counts = await s.counts();
  assert.equal(counts.settled, CONTRACTS * ROUNDS, JSON.stringify(counts));
  assert.deepEqual(await s.unfinishedTxs(), []);
  assert.match(log, /settle: tx [0-9A-F]{64} height \d+: 10 claim\(s\) settled/, 'one line per transaction');
});
