import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { BIN, requireComponent, runAsync, tempDir } from '../helpers.js';
import { startPostgres } from '../support/postgres.js';
import { dog, fox, world } from './support.js';

/**
 * Two settlers (the built CLI, two processes) on one PostgreSQL store: one leads and sends, the other stands by;
 * when the leader is killed with SIGKILL (here in the middle of a round of claims), the other takes over within its
 * interval, finishes what the dead one left (its transactions are in the shared store) and settles every claim
 * once. /healthz and /metrics tell which one leads.
 */
const INTERVAL_S = 2;
const FEE = 1000n;

interface Settler {
  child: ChildProcess;
  log: string;
  address?: string;
}

async function health(s: Settler): Promise<{ status: string; leading: boolean } | undefined> {
  if (!s.address) return undefined;
  try {
    return (await (await fetch(`http://${s.address}/healthz`)).json()) as { status: string; leading: boolean };
  } catch {
    return undefined;
  }
}

test('two settlers on one PostgreSQL store: one leader; after kill -9 the other leads within the interval and every claim is settled once', { timeout: 300_000 }, async (t) => {
  const server = await startPostgres();
  if (!requireComponent(t, server !== undefined, "PostgreSQL server binaries (Debian's postgresql package)")) return;
  t.after(() => server!.destroy());
  const admin = new pg.Client({ connectionString: server!.url });
  await admin.connect();
  await admin.query('CREATE DATABASE settle');
  await admin.end();
  const url = server!.url.replace(/\/postgres$/, '/settle');

  const w = await world(t);
  const home = tempDir();
  assert.equal((await runAsync(BIN.arkeoSigner, ['keys', 'import-hex', 'dog', Buffer.from(dog.priv).toString('hex'), '--home', home])).status, 0);
  const ids = await Promise.all(Array.from({ length: 10 }, () => w.open()));
  const feePayerBefore = w.chain.balance(dog.address);

  const start = (): Settler => {
    const args = ['settle', '--sentinel', w.sentinel.url, '--node', w.chain.url, '--key', 'dog', '--provider', fox.bech32, '--interval', String(INTERVAL_S), '--batch', '3', '--fees', `${FEE}uarkeo`, '--gas', '1000000', '--nonce-store', url, '--create-nonce-store', '--home', home, '--listen', '127.0.0.1:0'];
    const s: Settler = { child: spawn(process.execPath, [BIN.arkeoSigner, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }), log: '' };
    s.child.stderr!.on('data', (d: Buffer) => {
      s.log += d.toString();
      s.address ??= /GET \/metrics and \/healthz on (\S+)/.exec(s.log)?.[1];
    });
    t.after(() => void (s.child.exitCode === null && s.child.signalCode === null && s.child.kill('SIGKILL')));
    return s;
  };
  const settlers = [start(), start()];
  const states = async () => Promise.all(settlers.map(health));
  let seen: Awaited<ReturnType<typeof states>> = [];
  for (let i = 0; i < 600; i++) {
    seen = await states();
    if (seen.every((h) => h && (h.status === 'ok' || h.status === 'standby'))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(seen.map((h) => h?.leading).sort(), [false, true], `one leads, one stands by: ${JSON.stringify(seen)}\n${settlers.map((s) => s.log).join('\n---\n')}`);
  const leader = settlers[seen.findIndex((h) => h!.leading)]!;
  const standby = settlers.find((s) => s !== leader)!;
  assert.match(standby.log, /standing by: another settler leads/);

  const settledAt = async (nonce: bigint) => {
    for (let i = 0; i < 3000 && !ids.every((id) => w.chain.contract(id)!.nonce === nonce); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(ids.filter((id) => w.chain.contract(id)!.nonce !== nonce), [], `all at nonce ${nonce}:\n${settlers.map((s) => s.log.slice(-2000)).join('\n---\n')}`);
  };
  for (const id of ids) w.claim(id, 200n);
  await settledAt(200n);

  // The next round appears; the leader is killed somewhere in it.
  for (const id of ids) w.claim(id, 400n);
  await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
  leader.child.kill('SIGKILL');
  const killedAt = Date.now();
  let took: number | undefined;
  for (let i = 0; i < 400 && took === undefined; i++) {
    if ((await health(standby))?.leading) took = Date.now() - killedAt;
    else await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(took !== undefined, `the standby took over:\n${standby.log}`);
  t.diagnostic(`the standby led ${took} ms after the leader was killed (interval ${INTERVAL_S} s)`);
  assert.ok(took! <= INTERVAL_S * 1000 + 1500, `within the interval (+ the time to notice): ${took} ms`);
  await settledAt(400n);

  const metrics = await (await fetch(`http://${standby.address}/metrics`)).text();
  assert.match(metrics, /^arkeo_settle_leader 1$/m);
  assert.match(metrics, /^arkeo_settle_claims_settled_total \d+$/m);
  assert.match(metrics, /^arkeo_settle_last_success_timestamp_seconds \d/m);

  const onChain = (await w.claimsOnChain()).filter((m) => m.creator === dog.address);
  assert.ok(onChain.every((m) => m.code === 0), 'no failed transaction');
  const keys = onChain.map((m) => `${m.contractId}/${m.nonce}`);
  assert.equal(keys.length, 20, 'ten contracts, two rounds');
  assert.equal(new Set(keys).size, 20, 'each claim once, across the failover');
  const hashes = w.chain.included().filter((i) => i.messages.includes('/arkeo.arkeo.MsgClaimContractIncome')).map((i) => i.hash);
  assert.equal(new Set(hashes).size, hashes.length);
  assert.equal(feePayerBefore - w.chain.balance(dog.address), BigInt(hashes.length) * FEE, 'fees = transactions × fee');

  standby.child.kill('SIGTERM');
  const code = await new Promise((r) => (standby.child.exitCode !== null ? r(standby.child.exitCode) : standby.child.once('exit', r)));
  assert.equal(code, 0);
});
