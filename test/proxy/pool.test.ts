import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, run, runAsync, tempDir } from '../helpers.js';
import { sha256, utf8, toHex, toAddress } from '../../src/crypto/index.js';
import { privateKeyToSigner, type Signer } from '../../src/signers/index.js';
import { openNonceStore, type NonceStore } from '../../src/nonces/index.js';
import { writePool, type Pool } from '../../src/claims/pools.js';
import { PoolPayer, SigningProxy, createProxyMetrics, loadProxyConfig, type ContractState, type ProxyMetrics } from '../../src/proxy/index.js';
import type { ClaimSource } from '../../src/claims/index.js';
import { DaemonClaimSource, DaemonClient } from '../../src/daemon/index.js';
import { bech32Pub, claimSignedBy, startSentinelRules, type SentinelRules } from '../support/sentinel-rules.js';
import { auditEntries, startTestDaemon } from '../support/daemon.js';
import { SERVICE, payg } from './support.js';

/**
 * Contract pools (`--contract pool:NAME`) against the sentinel-rules test server (our code, test/support): requests
 * spread over the pool's contracts, each contract one request at a time in nonce order and signed by its own member
 * key; a member that stops is passed over while the others serve; curl takes an idle member in turn; bad pool names
 * and files are one-line errors.
 */

const CALL = { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' };
const CLIENT_PRIV = sha256(utf8('pool test client'));
const memberPriv = (i: number) => sha256(utf8(`pool test member ${i}`));
const contractOf = (i: number) => BigInt(100 + i);

/**
 * The upstream behind the sentinel, slow enough (delayMs before the response headers) for requests to overlap: it
 * counts requests in flight overall and per contract (read from the arkauth header the sentinel forwards).
 */
async function startSlowUpstream(delayMs: number) {
  let inFlight = 0;
  let maxInFlight = 0;
  const perContract = new Map<string, number>();
  let maxPerContract = 0;
  const server = http.createServer((req, res) => {
    const cid = String(req.headers.arkauth ?? '').split(':')[0]!;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    perContract.set(cid, (perContract.get(cid) ?? 0) + 1);
    maxPerContract = Math.max(maxPerContract, perContract.get(cid)!);
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        inFlight--;
        perContract.set(cid, perContract.get(cid)! - 1);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: '0x1' }));
      }, delayMs),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    stats: () => ({ maxInFlight, maxPerContract }),
    close: () => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())),
  };
}

interface PoolSetup {
  sentinel: SentinelRules;
  store: NonceStore;
  metrics: ProxyMetrics;
  payer: PoolPayer;
  proxy: SigningProxy;
  url: string;
  members: { key: string; contractId: bigint; pub: Uint8Array }[];
  upstream: Awaited<ReturnType<typeof startSlowUpstream>>;
  close(): Promise<void>;
}

/**
 * A pool of `n` delegate contracts (100+i, client CLIENT, delegate member i), terms registered as `contract open
 * --pool` registers them, and a proxy in this process paying with it. `arrange` runs before the pool opens.
 */
async function inProcessPool(
  n: number,
  arrange: (s: SentinelRules, store: NonceStore) => Promise<void> | void = () => {},
  options: { claimsOf?: (key: string) => Promise<ClaimSource>; storePath?: string } = {},
): Promise<PoolSetup> {
  const sentinel = await startSentinelRules({ services: [SERVICE] });
  sentinel.faults.jitterMs = 5; // requests from different connections are checked in any order, as Go's goroutines
  const upstream = await startSlowUpstream(20);
  sentinel.services.set(SERVICE, upstream.url);
  const client = await privateKeyToSigner(CLIENT_PRIV).publicKey();
  const store = await openNonceStore(options.storePath ?? path.join(tempDir(), 'nonces.db'), tempDir(), { create: true });
  const signers = new Map<string, Signer>();
  const members: PoolSetup['members'] = [];
  for (let i = 1; i <= n; i++) {
    const signer = privateKeyToSigner(memberPriv(i));
    const pub = await signer.publicKey();
    const contractId = contractOf(i);
    signers.set(`p-${i}`, signer);
    members.push({ key: `p-${i}`, contractId, pub });
    sentinel.contracts.set(contractId, payg(contractId, client, { delegate: pub }));
    await store.putContract({ contractId, rate: 10n, deposit: 1_000_000n, client, delegate: pub, source: 'test' });
  }
  await arrange(sentinel, store);
  const pool: Pool = { name: 'p', provider: bech32Pub(sentinel.providerPubkey), service: SERVICE, members: members.map(({ key, contractId }) => ({ key, contractId })) };
  const metrics = createProxyMetrics();
  const shutdown = async () => {
    await store.close();
    await sentinel.close();
    await upstream.close();
  };
  let payer: PoolPayer | undefined;
  try {
    payer = await PoolPayer.open({ pool, claimsOf: options.claimsOf ?? (async (key) => signers.get(key)!), store, sentinel: sentinel.url, service: SERVICE, metrics, name: 'eth' });
    const proxy = await SigningProxy.start({ routes: [{ listen: { host: '127.0.0.1', port: 0 }, payer }], store, metrics });
    return {
      sentinel, store, metrics, payer, proxy, url: proxy.addresses()[0]!, members, upstream,
      close: async () => {
        await proxy.stop(1000);
        await shutdown();
      },
    };
  } catch (e) {
    await payer?.close();
    await shutdown();
    throw e;
  }
}

async function post(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(CALL), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, text: await res.text() };
}

/** The nonces the sentinel accepted (stored) for a contract, in the order it accepted them. */
const acceptedNonces = (s: SentinelRules, contractId: bigint) => s.accepted.filter((c) => c.contractId === contractId).map((c) => c.nonce);
const oneTo = (k: number) => Array.from({ length: k }, (_, i) => BigInt(i + 1));

test('pool of 4, 40 concurrent requests: all served, spread over every member, each contract\'s nonces 1..k in order, signed by its member; control: a pool of 1 serves them one by one', { timeout: 60_000 }, async () => {
  for (const n of [4, 1]) {
    const p = await inProcessPool(n);
    try {
      const replies = await Promise.all(Array.from({ length: 40 }, () => post(p.url)));
      assert.deepEqual(replies.map((r) => r.status), Array(40).fill(200), replies.find((r) => r.status !== 200)?.text);
      assert.ok(replies.every((r) => /"result":"0x1"/.test(r.text)));
      assert.deepEqual(p.sentinel.events.filter((e) => e.status !== 0), [], 'no refusal: no bad nonce, nothing out of order');
      let total = 0;
      const served: number[] = [];
      for (const m of p.members) {
        const nonces = acceptedNonces(p.sentinel, m.contractId);
        assert.deepEqual(nonces, oneTo(nonces.length), `contract ${m.contractId}: consecutive from 1, no gap, no reuse`);
        assert.ok(p.sentinel.accepted.filter((c) => c.contractId === m.contractId).every((c) => Buffer.from(c.spender).equals(Buffer.from(m.pub))), `contract ${m.contractId}: every claim names its member key (4-part form)`);
        assert.equal(await p.store.current(m.contractId, toAddress(m.pub)), BigInt(nonces.length), 'the member key\'s nonces in the store match');
        served.push(nonces.length);
        total += nonces.length;
      }
      assert.equal(total, 40);
      const { maxInFlight, maxPerContract } = p.upstream.stats();
      assert.equal(maxPerContract, 1, 'one request at a time per contract');
      if (n === 4) {
        assert.ok(served.every((k) => k > 0), `every member served some: ${served}`);
        assert.ok(maxInFlight > 1 && maxInFlight <= 4, `requests overlapped across contracts, never more than the pool's size: ${maxInFlight}`);
        const health = (await (await fetch(p.url + '/healthz')).json()) as { status: string; contracts: ContractState[] };
        assert.equal(health.status, 'ok');
        assert.deepEqual(health.contracts.map((c) => [c.contract, c.key, c.pool, c.stopped, c.last_nonce, c.pending]), p.members.map((m, i) => [String(m.contractId), m.key, 'p', null, String(served[i]), 0]));
        const metrics = await p.metrics.registry.metrics();
        for (const [i, m] of p.members.entries()) {
          assert.match(metrics, new RegExp(`arkeo_proxy_pool_member\\{upstream="eth",pool="p",contract="${m.contractId}",key="${m.key}"\\} 1`));
          assert.match(metrics, new RegExp(`arkeo_proxy_claims_signed_total\\{upstream="eth",contract="${m.contractId}"\\} ${served[i]}\\b`));
          assert.match(metrics, new RegExp(`arkeo_proxy_contract_pending\\{upstream="eth",contract="${m.contractId}"\\} 0`));
        }
      } else {
        assert.equal(maxInFlight, 1, 'a pool of one contract carries one request at a time');
        assert.deepEqual(served, [40]);
      }
    } finally {
      await p.close();
    }
  }
});

test('pool: members that stop (expired at the sentinel, our spend ceiling, a provider\'s unproven nonce) are passed over while the rest serve; all stopped: 402 and /healthz 503', { timeout: 60_000 }, async () => {
  const p = await inProcessPool(4, async (s, store) => {
    s.contracts.get(contractOf(1))!.expired = true; // the sentinel answers 402 open a contract
    const t = (await store.getContract(contractOf(2)))!;
    await store.putContract({ ...t, deposit: 30n }); // our ceiling: nonce 3 is the last one rate 10 affords
    // The provider names nonce 50 for contract 3 with no claim of ours behind it.
    s.claims.set(contractOf(3), { ...claimSignedBy(memberPriv(3), contractOf(3), 1n), nonce: 50n });
  });
  const [m1, m2, m3, m4] = p.members.map((m) => m.contractId) as [bigint, bigint, bigint, bigint];
  try {
    assert.equal(p.payer.payers[2]!.state.stopped, 'PROVIDER_UNPROVEN_NONCE', 'stopped at start');
    const replies = await Promise.all(Array.from({ length: 30 }, () => post(p.url)));
    assert.deepEqual(replies.map((r) => r.status), Array(30).fill(200), replies.find((r) => r.status !== 200)?.text);
    assert.deepEqual(acceptedNonces(p.sentinel, m1), [], 'the expired contract served nothing');
    assert.deepEqual(p.sentinel.events.filter((e) => e.contractId === m1).map((e) => [e.status, e.body]), [[402, 'open a contract']], 'tried once, then passed over');
    assert.deepEqual(acceptedNonces(p.sentinel, m2), oneTo(3), 'served up to its ceiling, no further');
    assert.deepEqual(acceptedNonces(p.sentinel, m3), [], 'nothing signed after the unproven nonce');
    assert.deepEqual(acceptedNonces(p.sentinel, m4), oneTo(27), 'the member left serves the rest, in order');
    const health = (await (await fetch(p.url + '/healthz')).json()) as { status: string; contracts: ContractState[] };
    assert.equal(health.status, 'ok', 'one member can still pay');
    assert.deepEqual(health.contracts.map((c) => c.stopped), ['CONTRACT_EXPIRED', 'CONTRACT_SPENT', 'PROVIDER_UNPROVEN_NONCE', null]);
    const metrics = await p.metrics.registry.metrics();
    for (const [id, stopped] of [[m1, 1], [m2, 1], [m3, 1], [m4, 0]] as const) assert.match(metrics, new RegExp(`arkeo_proxy_contract_stopped\\{upstream="eth",contract="${id}"\\} ${stopped}`));
    // The last member expires too: the application gets a stopped contract's 402, and health says none can pay.
    p.sentinel.contracts.get(m4)!.expired = true;
    const last = await post(p.url);
    assert.equal(last.status, 402);
    assert.equal(JSON.parse(last.text).code, 'CONTRACT_EXPIRED');
    assert.equal((await post(p.url)).status, 402);
    assert.equal((await fetch(p.url + '/healthz')).status, 503);
    assert.equal(acceptedNonces(p.sentinel, m4).length, 27, 'nothing more stored');
  } finally {
    await p.close();
  }
});

test('pool through the key daemon: each member\'s claims come from the daemon\'s key of that name, behind a claim-only token', { timeout: 60_000 }, async (t) => {
  const keys = { 'p-1': toHex(memberPriv(1)), 'p-2': toHex(memberPriv(2)), 'p-3': toHex(memberPriv(3)) };
  const daemon = await startTestDaemon(keys, { proxy: { keys: Object.keys(keys), operations: ['claim'], contracts: ['*'], rate: { per_second: 100_000, burst: 100_000 } } });
  t.after(() => daemon.daemon.stop());
  const client = new DaemonClient(daemon.socket, { token: daemon.tokens.proxy! });
  t.after(() => client.close());
  // The proxy shares the daemon's nonce store, for the contracts' terms; the nonces are the daemon's to reserve.
  const p = await inProcessPool(3, () => {}, { claimsOf: (key) => DaemonClaimSource.open(client, key), storePath: daemon.config.nonces.store });
  try {
    const replies = await Promise.all(Array.from({ length: 24 }, () => post(p.url)));
    assert.deepEqual(replies.map((r) => r.status), Array(24).fill(200), replies.find((r) => r.status !== 200)?.text);
    const served = p.members.map((m) => acceptedNonces(p.sentinel, m.contractId));
    for (const nonces of served) assert.deepEqual(nonces, oneTo(nonces.length));
    assert.ok(served.every((k) => k.length > 0), `every member served: ${served.map((k) => k.length)}`);
    for (const m of p.members) {
      assert.ok(p.sentinel.accepted.filter((c) => c.contractId === m.contractId).every((c) => Buffer.from(c.spender).equals(Buffer.from(m.pub))), `contract ${m.contractId}: signed by ${m.key}`);
    }
    const audited = auditEntries(daemon.config).filter((e) => e.what?.op === 'claim' && e.result === 'ok');
    assert.equal(audited.length, 24, 'the daemon audited each claim');
    for (const [i, m] of p.members.entries()) {
      assert.equal(audited.filter((e) => e.what.contract === String(m.contractId) && e.what.key === toAddress(m.pub)).length, served[i]!.length, `${m.key}'s claims, under its own address`);
    }
  } finally {
    await p.close();
  }
});

/** A home with the client key, `n` member keys p-1…p-n in the keyring, their terms in the home's store, and pool p. */
async function homeWithPool(s: SentinelRules, n: number, name = 'p'): Promise<{ home: string; pool: Pool; pubs: Uint8Array[] }> {
  const home = tempDir();
  const client = await privateKeyToSigner(CLIENT_PRIV).publicKey();
  const store = await openNonceStore(undefined, home, { create: true });
  const pubs: Uint8Array[] = [];
  try {
    for (let i = 1; i <= n; i++) {
      assert.equal(run(BIN.arkeoSigner, ['keys', 'import-hex', `${name}-${i}`, toHex(memberPriv(i)), '--home', home]).status, 0);
      const pub = await privateKeyToSigner(memberPriv(i)).publicKey();
      pubs.push(pub);
      s.contracts.set(contractOf(i), payg(contractOf(i), client, { delegate: pub }));
      await store.putContract({ contractId: contractOf(i), rate: 10n, deposit: 1_000_000n, client, delegate: pub, source: 'test' });
    }
  } finally {
    await store.close();
  }
  const pool: Pool = { name, provider: bech32Pub(s.providerPubkey), service: SERVICE, members: pubs.map((_, i) => ({ contractId: contractOf(i + 1), key: `${name}-${i + 1}` })) };
  writePool(home, pool);
  return { home, pool, pubs };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('arkeo-signer proxy --config with contract = "pool:p": 24 concurrent requests over 3 member keys from the keyring; /healthz lists each member', { timeout: 60_000 }, async (t) => {
  const s = await startSentinelRules({ services: [SERVICE] });
  t.after(() => s.close());
  const { home } = await homeWithPool(s, 3);
  const port = await freePort();
  const config = path.join(home, 'proxy.toml');
  fs.writeFileSync(config, `[[upstream]]\nname = "eth"\nlisten = "127.0.0.1:${port}"\nsentinel = "${s.url}"\nservice = "${SERVICE}"\ncontract = "pool:p"\n`);
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'proxy', '--config', config, '--home', home], { env: { ...process.env, ARKEO_SIGNER_LOG: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(() => child.kill('SIGKILL'));
  for (let i = 0; ; i++) {
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
    assert.ok(i < 200 && child.exitCode === null, `proxy did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const replies = await Promise.all(Array.from({ length: 24 }, () => post(`http://127.0.0.1:${port}/`)));
  assert.deepEqual(replies.map((r) => r.status), Array(24).fill(200), stderr);
  const counts = [1, 2, 3].map((i) => acceptedNonces(s, contractOf(i)));
  for (const nonces of counts) assert.deepEqual(nonces, oneTo(nonces.length));
  assert.equal(counts.flat().length, 24);
  assert.ok(counts.every((c) => c.length > 0), `every member served: ${counts.map((c) => c.length)}`);
  const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { contracts: (ContractState & { upstream: string })[] };
  assert.deepEqual(health.contracts.map((c) => [c.upstream, c.pool, c.key, c.contract, c.last_nonce]), [1, 2, 3].map((i) => ['eth', 'p', `p-${i}`, String(contractOf(i)), String(counts[i - 1]!.length)]));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
});

test('curl --contract pool:p: an idle member in turn; a member another live process holds is skipped, one a dead process left is taken; a stopped member is passed over', { timeout: 120_000 }, async (t) => {
  const s = await startSentinelRules({ services: [SERVICE] });
  t.after(() => s.close());
  const { home } = await homeWithPool(s, 3);
  const curl = () => runAsync(BIN.arkeoSigner, ['curl', '-v', '-f', '-d', JSON.stringify(CALL), '-H', 'content-type: application/json', `${s.url}/${SERVICE}/`, '--contract', 'pool:p', '--home', home]);
  const used: [bigint, bigint][] = [];
  const lastAccepted = () => {
    const c = s.accepted.at(-1)!;
    return [c.contractId, c.nonce] as [bigint, bigint];
  };
  for (let i = 0; i < 4; i++) {
    const r = await curl();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"result":"0x/);
    used.push(lastAccepted());
  }
  assert.deepEqual(used, [[101n, 1n], [102n, 1n], [103n, 1n], [101n, 2n]], 'the members take turns, each in its own nonce order');
  const busy = path.join(home, 'signer', 'pools', 'p.busy');
  assert.deepEqual(fs.readdirSync(busy), [], 'each curl let its member go');
  // Next in turn is 102; a live process (this test) holds it, so 103 serves.
  fs.writeFileSync(path.join(busy, '102'), String(process.pid));
  let r = await curl();
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(lastAccepted(), [103n, 2n]);
  assert.match(r.stderr, /\* pool p: member p-3, contract 103\n/);
  // Next in turn is 101; the process that held it died without letting go: taken over, and let go after.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  fs.writeFileSync(path.join(busy, '101'), String(dead));
  r = await curl();
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(lastAccepted(), [101n, 3n]);
  assert.deepEqual(fs.readdirSync(busy), ['102']);
  // Next in turn is 102 again, free now, but its contract has expired: passed over, 103 serves.
  fs.rmSync(path.join(busy, '102'));
  s.contracts.get(102n)!.expired = true;
  r = await curl();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\* contract 102 has stopped \(CONTRACT_EXPIRED\); trying the pool's next member\n/);
  assert.deepEqual(lastAccepted(), [103n, 3n]);
  // Every member stopped: the last one's 402, exit 22 with -f.
  for (const id of [101n, 103n]) s.contracts.get(id)!.expired = true;
  r = await curl();
  assert.equal(r.status, 22, r.stderr);
  assert.match(r.stdout, /"code":"CONTRACT_EXPIRED"/);
});

test('bad pool names and files: one-line errors, exit 2 for a bad flag value, 1 for a pool that cannot be used', { timeout: 120_000 }, async (t) => {
  const s = await startSentinelRules({ services: [SERVICE, 'other-service'] });
  t.after(() => s.close());
  const { home } = await homeWithPool(s, 2);
  const pools = path.join(home, 'signer', 'pools');
  const url = `${s.url}/${SERVICE}/`;
  const curl = (contract: string, extra: string[] = []) => runAsync(BIN.arkeoSigner, ['curl', url, '--contract', contract, '--home', home, ...extra]);
  const oneLine = (r: { stderr: string }, re: RegExp, what: string) => {
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, re, what);
  };
  // The control: the pool as written pays.
  const ok = await curl('pool:p');
  assert.equal(ok.status, 0, ok.stderr);
  let r = await curl('pool:bad/name');
  assert.equal(r.status, 2);
  oneLine(r, /^arkeo-signer: --contract: pool name "bad\/name": use letters, digits/, 'bad name');
  r = await curl('pool:');
  assert.equal(r.status, 2);
  oneLine(r, /pool name "": use letters/, 'empty name');
  r = await curl('pool:nope');
  assert.equal(r.status, 1);
  oneLine(r, /pool nope: no .*pools\/nope\.json; create it with `arkeo-signer contract open --delegates N --pool nope …`/, 'missing pool');
  r = await curl('pool:p', ['--key', 'p-1']);
  assert.equal(r.status, 2);
  oneLine(r, /--key does not go with --contract pool:p/, '--key with a pool');
  r = await runAsync(BIN.arkeoSigner, ['curl', url, '--home', home]);
  assert.equal(r.status, 2);
  oneLine(r, /curl: --key is required/, 'no key, no pool');
  r = await runAsync(BIN.arkeoSigner, ['curl', `${s.url}/other-service/`, '--contract', 'pool:p', '--home', home]);
  assert.equal(r.status, 2);
  oneLine(r, /the pool's contracts are for service "eth-mainnet-fullnode", not "other-service"/, 'other service');
  fs.writeFileSync(path.join(pools, 'junk.json'), '{"members": [');
  r = await curl('pool:junk');
  assert.equal(r.status, 1);
  oneLine(r, /junk\.json: not JSON; a pool file is written by/, 'not JSON');
  fs.writeFileSync(path.join(pools, 'empty.json'), 'null');
  r = await curl('pool:empty');
  assert.equal(r.status, 1);
  oneLine(r, /empty\.json: expected a JSON object/, 'null');
  const file = JSON.parse(fs.readFileSync(path.join(pools, 'p.json'), 'utf8'));
  fs.writeFileSync(path.join(pools, 'twice.json'), JSON.stringify({ ...file, members: [file.members[0], file.members[0]] }));
  r = await curl('pool:twice');
  assert.equal(r.status, 1);
  oneLine(r, /twice\.json: contract 101 is listed twice/, 'a contract twice');
  fs.writeFileSync(path.join(pools, 'ghost.json'), JSON.stringify({ ...file, members: [{ contract_id: '101', key: 'ghost-1' }] }));
  r = await curl('pool:ghost');
  assert.equal(r.status, 1);
  oneLine(r, /ghost-1/, 'a member key the keyring lacks');
  // The proxy: the same flag, the same errors; the config file's contract and key fields.
  const proxy = (args: string[]) => runAsync(BIN.arkeoSigner, ['proxy', '--home', home, ...args]);
  r = await proxy(['--listen', '127.0.0.1:1', '--sentinel', s.url, '--service', SERVICE, '--contract', 'pool:nope']);
  assert.equal(r.status, 1);
  oneLine(r, /pool nope: no .*pools\/nope\.json/, 'proxy: missing pool');
  const config = path.join(home, 'bad.toml');
  fs.writeFileSync(config, `[[upstream]]\nlisten = "127.0.0.1:1"\nsentinel = "${s.url}"\nservice = "${SERVICE}"\ncontract = "pool:a b"\n`);
  r = await proxy(['--config', config]);
  assert.equal(r.status, 2);
  oneLine(r, /bad\.toml: upstream 1: pool name "a b": use letters/, 'config: bad pool name');
  fs.writeFileSync(config, `[[upstream]]\nlisten = "127.0.0.1:1"\nsentinel = "${s.url}"\nservice = "${SERVICE}"\ncontract = "pool:p"\nkey = "p-1"\n`);
  r = await proxy(['--config', config]);
  assert.equal(r.status, 2);
  oneLine(r, /bad\.toml: upstream 1: "key" does not go with contract = "pool:p"/, 'config: key with a pool');
  // A pool for another provider's sentinel.
  fs.writeFileSync(path.join(pools, 'elsewhere.json'), JSON.stringify({ ...file, provider: bech32Pub(await privateKeyToSigner(CLIENT_PRIV).publicKey()) }));
  r = await proxy(['--listen', '127.0.0.1:1', '--sentinel', s.url, '--service', SERVICE, '--contract', 'pool:elsewhere']);
  assert.equal(r.status, 1);
  oneLine(r, /pool elsewhere: its contracts are with provider arkeopub1\S+, and the sentinel \S+ is provider arkeopub1/, 'another provider');
  r = await curl('pool:elsewhere');
  assert.equal(r.status, 1);
  oneLine(r, /pool elsewhere: its contracts are with provider arkeopub1\S+, and the sentinel \S+ is provider arkeopub1/, 'curl: another provider');
  assert.equal(s.accepted.length, 1, 'only the control request was paid');
});

test('config: contract = "pool:NAME" parses to the pool, without a key; "auto" and ids still need one', () => {
  const dir = tempDir();
  const file = path.join(dir, 'p.toml');
  fs.writeFileSync(file, `node = "http://127.0.0.1:1317"\n[[upstream]]\nlisten = "127.0.0.1:8545"\nsentinel = "http://s:3636"\nservice = "${SERVICE}"\ncontract = "pool:p"\n[[upstream]]\nname = "two"\nlisten = "127.0.0.1:8546"\nsentinel = "http://s:3636"\nservice = "${SERVICE}"\ncontract = 7\nkey = "k"\n`);
  const c = loadProxyConfig(file);
  assert.equal(c.node, 'http://127.0.0.1:1317');
  assert.deepEqual(c.upstreams.map((u) => [u.contract, u.key]), [[{ pool: 'p' }, undefined], [7n, 'k']]);
  fs.writeFileSync(file, `[[upstream]]\nlisten = "127.0.0.1:8545"\nsentinel = "http://s:3636"\nservice = "${SERVICE}"\ncontract = "auto"\n`);
  assert.throws(() => loadProxyConfig(file), /upstream 1: "key" must be a non-empty string/);
});
