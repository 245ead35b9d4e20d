import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';
import { defaultConfig } from '../../src/daemon/index.js';
import { ConsoleServer, type ConsoleOptions } from '../../src/console/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { feeOfTx, openSettleStore } from '../../src/settle/index.js';
import { formatCoins } from '../../src/tx/index.js';
import { REPO_ROOT, requireComponent, tempDir } from '../helpers.js';
import { settlerFor, world } from '../settle/support.js';
import { writeLog } from './audit-logs.js';

/**
 * The Settlement view (GET /api/settlement and its page) on a store filled by the real Settler against the
 * chain-rules test server: what is pending per contract is valued and dated as the settler judges it, earliest
 * deadline first, and the transaction it sent is listed as the chain holds it. An empty store shows empty lists,
 * a store the settler never used or one that cannot be opened is said in the view while the rest of the console
 * goes on, and a console without a settler says how to add one.
 */
declare const document: any, window: any;
const CHROMIUM = process.env.ARKEO_CHROMIUM ?? '/usr/bin/chromium';
const require = createRequire(import.meta.url);
const SCREENSHOTS = path.join(REPO_ROOT, '.tmp', 'console-screenshots');

interface Settlement {
  configured: boolean;
  error?: string;
  store?: string;
  counts?: Record<string, number>;
  unconfirmed?: number;
  pendingValue?: Record<string, string>;
  contracts?: { contract: string; nonce: string; state: string; reason?: string; claims: number; value?: string; gross?: string; denom?: string; rate?: string; deadline?: string; blocksLeft?: string; urgent?: boolean; refusal?: string }[];
  contractsTotal?: number;
  transactions?: { hash: string; height?: string; claims: number; settled: number; received: string; fee: string; result: string }[];
  chain?: { at: number; height?: string; error?: string };
}

async function startConsole(t: TestContext, options: Partial<ConsoleOptions>): Promise<{ server: ConsoleServer; cookie: string; get: (p: string) => Promise<{ status: number; body: any }> }> {
  const config = defaultConfig(tempDir());
  await writeLog(config.audit.path, 6);
  const server = await ConsoleServer.start({ config, listen: '127.0.0.1:0', sampleIntervalMs: 60_000, ...options });
  t.after(() => server.close());
  const login = await fetch(server.loginUrl, { redirect: 'manual' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const base = server.url.replace(/\/$/, '');
  return { server, cookie, get: async (p) => { const r = await fetch(base + p, { headers: { cookie } }); return { status: r.status, body: await r.json() }; } };
}

test('the Settlement view of a store the real Settler filled: pending value and deadlines per contract, earliest first, and its transaction as the chain holds it', { timeout: 240_000 }, async (t) => {
  const w = await world(t);
  const home = tempDir();
  const store = await openSettleStore(undefined, home);
  // Below --min-value, only an urgent claim is sent: contract a (expiring within 50 blocks) goes, b and c wait.
  const s = await settlerFor(w, t, { store, minValue: 10n ** 9n });
  const a = await w.open({ duration: 30n });
  const b = await w.open();
  const c = await w.open({ duration: 5000n });
  w.claim(a, 1000n);
  w.claim(b, 200n);
  w.claim(c, 50n);
  const report = await s.settler.cycle();
  assert.deepEqual([report.problems, report.settled], [[], 1], s.lines.join('\n'));
  const sentTx = (await store.recentTxs(1))[0]!;
  await store.close();

  const { server, cookie, get } = await startConsole(t, { settle: { home, lcd: w.chain.url, margin: 3n, deadlineBlocks: 50n }, settleRefreshMs: 100 });
  let view: Settlement = { configured: false };
  for (let i = 0; i < 200; i++) {
    const r = await get('/api/settlement');
    assert.equal(r.status, 200);
    view = r.body as Settlement;
    if (view.chain?.at && view.contracts?.every((x) => x.value !== undefined)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(view.configured, true);
  assert.equal(view.error, undefined);
  assert.equal(view.store, `sqlite:${path.join(home, 'signer', 'nonces.db')}`);
  assert.deepEqual([view.counts!.settled, view.counts!.waiting, view.unconfirmed], [1, 2, 0]);
  // Rate 10 per nonce, the 10 % reserve taken: c 50 × 10 = 500 − 50, b 200 × 10 = 2000 − 200.
  const height = BigInt(view.chain!.height!);
  const deadline = (id: bigint) => w.chain.contract(id)!.height + w.chain.contract(id)!.duration;
  assert.deepEqual(
    view.contracts!.map((x) => [x.contract, x.nonce, x.state, x.reason, x.value, x.gross, x.denom, x.rate, x.deadline, x.blocksLeft, x.urgent]),
    [
      [String(c), '50', 'waiting', 'below_min', '450', '500', 'uarkeo', '10', String(deadline(c)), String(deadline(c) - height), false],
      [String(b), '200', 'waiting', 'below_min', '1800', '2000', 'uarkeo', '10', String(deadline(b)), String(deadline(b) - height), false],
    ],
    'earliest deadline first',
  );
  assert.deepEqual(view.pendingValue, { uarkeo: '2250' });
  assert.equal(view.contractsTotal, 2);
  // The transaction, as the chain holds it: its hash and height, one claim, 1000 × 10 less the reserve.
  const onChain = w.chain.included().filter((x) => x.hash === sentTx.hash);
  assert.equal(onChain.length, 1);
  assert.deepEqual(view.transactions, [{ hash: sentTx.hash, height: String(onChain[0]!.height), at: sentTx.at, claims: 1, settled: 1, received: '9000', fee: formatCoins(feeOfTx(sentTx.tx)), result: 'ok' }]);
  assert.equal(w.chain.contract(a)!.paid, 10_000n);

  // The page, in Chromium (when there is one): the same figures, no serious accessibility violation.
  if (!requireComponent(t, fs.existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install chromium)`)) return;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 900 });
  await page.emulateTimezone('UTC');
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  // The login secret was spent by the API calls above: the browser gets the same session.
  await page.setCookie({ name: 'arkeo_console', value: cookie.split('=')[1]!, url: server.url });
  await page.goto(`${server.url}#/settlement`, { waitUntil: 'networkidle0' });
  await page.waitForFunction(() => document.querySelectorAll('table[data-testid="settlement-contracts"] tbody tr').length === 2, { timeout: 15_000 });
  assert.equal(await page.$eval('h1', (e: any) => e.textContent), 'Settlement');
  const rows = await page.$$eval('table[data-testid="settlement-contracts"] tbody tr', (trs: any[]) => trs.map((tr) => [tr.getAttribute('data-contract'), tr.querySelector('[data-field="value"]').textContent, tr.querySelector('[data-field="blocks-left"]').textContent]));
  assert.deepEqual(rows.map((r) => r.slice(0, 2)), [
    [String(c), '450 uarkeo'],
    [String(b), '1,800 uarkeo'],
  ]);
  assert.match(await page.$eval('[data-field="pending-value"]', (e: any) => e.textContent), /^2,250 uarkeo$/);
  const tx = await page.$eval(`tr[data-hash="${sentTx.hash}"]`, (tr: any) => ({ received: tr.querySelector('[data-field="received"]').textContent, result: tr.querySelector('[data-field="result"]').textContent, claims: tr.querySelector('[data-field="claims"]').textContent }));
  assert.deepEqual(tx, { received: '9,000', result: 'ok', claims: '1' });
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  for (const theme of ['dark', 'light']) {
    if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== theme) await page.click('button.theme');
    await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
    const violations = (await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((v: any) => ({ id: v.id, impact: v.impact, help: v.help })))) as { impact: string }[];
    assert.deepEqual(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), [], theme);
    await page.screenshot({ path: path.join(SCREENSHOTS, `settlement-filled-${theme}.png`), fullPage: true });
  }
  assert.deepEqual(errors, []);
});

test('an empty settle store shows empty lists; a store the settler never used, or one that cannot be opened, is said in the view while the rest of the console works', { timeout: 60_000 }, async (t) => {
  const home = tempDir();
  const empty = path.join(home, 'empty.db');
  await (await openSettleStore(empty, home, { create: true })).close();
  const e = (await (await startConsole(t, { settle: { store: empty, home, margin: 3n, deadlineBlocks: 50n } })).get('/api/settlement')).body as Settlement;
  assert.equal(e.error, undefined);
  assert.deepEqual([e.contracts, e.transactions, e.pendingValue, e.contractsTotal, e.unconfirmed], [[], [], {}, 0, 0]);

  const noncesOnly = path.join(home, 'nonces-only.db');
  await SqliteNonceStore.open(noncesOnly).close();
  const unused = await startConsole(t, { settle: { store: noncesOnly, home, margin: 3n, deadlineBlocks: 50n } });
  assert.match((await unused.get('/api/settlement')).body.error, /^the settler's store cannot be read: settle store sqlite:.*nonces-only\.db: no settler tables; the settler has not run on this store/);

  const down = await startConsole(t, { settle: { store: 'postgres://settle:hunter2@127.0.0.1:1/arkeo', home, margin: 3n, deadlineBlocks: 50n } });
  const d = await down.get('/api/settlement');
  assert.equal(d.status, 200);
  assert.match(d.body.error, /^the settler's store cannot be read: settle store postgres:\/\/settle@127\.0\.0\.1:1\/arkeo: connect ECONNREFUSED/);
  assert.doesNotMatch(JSON.stringify(d.body), /hunter2/, 'never the password');
  for (const p of ['/api/overview', '/api/contracts', '/api/keys', '/api/tokens', '/api/audit']) assert.equal((await down.get(p)).status, 200, p);

  const none = await startConsole(t, {});
  assert.deepEqual((await none.get('/api/settlement')).body, { configured: false });
});
