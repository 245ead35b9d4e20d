import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startTestDaemon, rawRequest, auditEntries, type TestDaemon } from '../support/daemon.js';
import { DaemonClient, DaemonError } from '../../src/daemon/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { ConsoleServer } from '../../src/console/index.js';
import { REPO_ROOT, requireComponent } from '../helpers.js';
import { startFakeArkeo } from '../support/fake-arkeo.js';

/**
 * The console in a real headless Chromium (Debian's `chromium`, driven by puppeteer-core): a daemon signs 50 claims
 * (30 for contract 42 through two tokens, 20 for contract 43) and refuses a few requests, and the console, started on the same config, must show it. Screenshots
 * of every view go to .tmp/console-screenshots/ (kept as CI artifacts).
 */
// These run in the page (puppeteer serializes the functions); the project compiles without the DOM library.
declare const document: any, localStorage: any, window: any;
type HTMLElement = any;
type HTMLInputElement = any;

const CHROMIUM = process.env.ARKEO_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(REPO_ROOT, '.tmp', 'console-screenshots');
const require = createRequire(import.meta.url);
const KEYS = { alice: 'a1'.repeat(32), bob: 'b2'.repeat(32) };
const VIEWS = ['overview', 'keys', 'contracts', 'settlement', 'audit', 'tokens'];

test('operator console in headless Chromium', { timeout: 240_000 }, async (t) => {
  if (!requireComponent(t, fs.existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install chromium)`)) return;
  let td: TestDaemon | undefined;
  let consoleServer: ConsoleServer | undefined;
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close().catch(() => {});
    await consoleServer?.close().catch(() => {});
    await td?.daemon.stop().catch(() => {});
  });

  td = await startTestDaemon(KEYS, {
    agent: { keys: ['alice', 'bob'], operations: ['claim'], contracts: ['42', '43'] },
    narrow: { keys: ['alice'], operations: ['claim'], contracts: ['42'], rate: { per_second: 50, burst: 50 } },
  });
  const store = SqliteNonceStore.open(td.config.nonces.store);
  await store.putContract({ contractId: 42n, rate: 10n, deposit: 1000n, source: 'manual' });
  await store.putContract({ contractId: 43n, rate: 5n, deposit: 120n, source: 'manual' });
  await store.close();

  // A provider's sentinel that has settled contract 42 up to nonce 28 (hand-written fake: no sentinel runs here).
  const sentinel = await startFakeArkeo();
  t.after(() => sentinel.close());
  sentinel.claims.set('42', { provider: '', contract_id: 42, spender: '', nonce: 28, signature: '', claimed: false });
  // The console starts first, so that its sampler sees the claims (paced over a few samples) for the chart.
  consoleServer = await ConsoleServer.start({ config: td.config, listen: '127.0.0.1:0', sampleIntervalMs: 300, followIntervalMs: 200, sentinel: sentinel.url, providerRefreshMs: 200 });
  const agent = new DaemonClient(td.socket, { token: td.tokens.agent! });
  const narrow = new DaemonClient(td.socket, { token: td.tokens.narrow! });
  t.after(() => (agent.close(), narrow.close()));
  const pause = () => new Promise((r) => setTimeout(r, 40));
  for (let i = 0; i < 27; i++) await agent.claim(42n, 'alice').then(pause);
  for (let i = 0; i < 20; i++) await agent.claim(43n, 'bob').then(pause);
  for (let i = 0; i < 3; i++) await narrow.claim(42n, 'alice');
  const refusal = await narrow.claim(43n, 'alice').then(
    () => assert.fail('contract 43 is outside the narrow token'),
    (e: DaemonError) => e,
  );
  assert.equal(refusal.status, 403);
  assert.equal((await rawRequest(td.socket, 'POST', '/v1/claims', { body: '{}' })).status, 401);

  await new Promise((r) => setTimeout(r, 700)); // one more sample after the last claim
  await consoleServer.ready();
  const base = consoleServer.url.replace(/\/$/, '');
  const secret = new URL(consoleServer.loginUrl).searchParams.get('secret')!;
  const macKey = fs.readFileSync(`${td.config.audit.path}.key`, 'utf8').trim();
  const tokenHashes = (JSON.parse(fs.readFileSync(td.config.tokens.path, 'utf8')) as { sha256: string }[]).map((r) => r.sha256);
  const secrets = [secret, macKey, ...tokenHashes, ...Object.values(td.tokens), ...Object.values(KEYS)];
  const noSecret = (text: string, where: string) => {
    for (const s of secrets) assert.ok(!text.includes(s), `${where} must not contain a secret`);
  };

  await t.test('without the login secret every page and API answers 401', async () => {
    const paths = ['/', '/assets/app.js', '/assets/app.css', '/api/overview', '/api/keys', '/api/contracts', '/api/settlement', '/api/tokens', '/api/audit', '/api/audit?token=agent', '/api/audit/export?format=csv', '/no-such-page', '/login', '/login?secret=wrong'];
    for (const p of paths) {
      const res = await fetch(base + p, { redirect: 'manual' });
      const body = await res.text();
      assert.equal(res.status, 401, p);
      assert.match(body, /^not logged in: open the URL that arkeo-signer console printed/, p);
      assert.equal(body.trim().split('\n').length, 1);
    }
    for (const method of ['POST', 'PUT', 'DELETE']) assert.equal((await fetch(base + '/api/tokens', { method })).status, 401, method);
    const forged = await fetch(base + '/api/overview', { headers: { cookie: `arkeo_console=${'A'.repeat(43)}` } });
    assert.equal(forged.status, 401);
  });

  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
  const page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 900 });
  await page.emulateTimezone('UTC');
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const show = async (view: string) => {
    await page.goto(`${base}/#/${view}`, { waitUntil: 'networkidle0' });
    await page.waitForFunction((v) => document.querySelector('nav a[aria-current="page"]')?.getAttribute('href') === `#/${v}` && !document.body.innerText.includes('Loading…'), { timeout: 15_000 }, view);
  };

  await t.test('the browser logs in through the printed URL and gets an HttpOnly, SameSite=Strict session', async () => {
    const unauth = await page.goto(base + '/');
    assert.equal(unauth?.status(), 401);
    await page.goto(consoleServer!.loginUrl, { waitUntil: 'networkidle0' });
    assert.equal(page.url(), base + '/', 'redirected to the console, the secret gone from the address bar');
    await page.waitForSelector('h1');
    assert.equal(await page.$eval('h1', (e) => e.textContent), 'Overview');
    const cookie = (await page.cookies()).find((c) => c.name === 'arkeo_console');
    assert.ok(cookie, 'session cookie set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal((await fetch(consoleServer!.loginUrl, { redirect: 'manual' })).status, 401, 'the login secret works once');
    const csp = (await fetch(base + '/', { headers: { cookie: `arkeo_console=${cookie.value}` } })).headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  });

  const cookie = (await page.cookies()).find((c) => c.name === 'arkeo_console')!;
  const api = async (p: string) => {
    const res = await fetch(base + p, { headers: { cookie: `arkeo_console=${cookie.value}` } });
    const text = await res.text();
    noSecret(text, p);
    return { status: res.status, text };
  };

  await t.test('the Contracts view shows the nonces and spend of the 50 claims', async () => {
    await show('contracts');
    const rows = await page.$$eval('table[data-testid="contracts"] tbody tr', (trs) =>
      trs.map((tr) => ({ contract: tr.getAttribute('data-contract'), nonce: tr.querySelector('[data-field="nonce"]')?.textContent, spend: tr.querySelector('[data-field="spend"]')?.textContent, text: (tr as HTMLElement).innerText })),
    );
    const c42 = rows.filter((r) => r.contract === '42');
    const c43 = rows.filter((r) => r.contract === '43');
    assert.equal(c42.length, 1, 'one key signed for contract 42');
    assert.equal(c43.length, 1, 'one key signed for contract 43');
    assert.equal(c42[0]!.nonce, '30', '27 claims by agent and 3 by narrow');
    assert.equal(c42[0]!.spend, '300 / 1,000 (30.0 %)');
    assert.match(c42[0]!.text, /alice/);
    assert.equal(c43[0]!.nonce, '20');
    assert.equal(c43[0]!.spend, '100 / 120 (83.3 %)');
    assert.match(c43[0]!.text, /bob/);
    // The provider's view beside ours, fetched in the background.
    await page.waitForFunction(() => document.querySelector('tr[data-contract="42"] [data-field="provider"]')?.textContent?.includes('sentinel 28'), { timeout: 15_000 });
    assert.match(await page.$eval('tr[data-contract="42"] [data-field="provider"]', (e) => e.textContent ?? ''), /sentinel 28 \(2 behind ours\)/);
    await page.waitForFunction(() => document.querySelector('tr[data-contract="43"] [data-field="provider"]')?.textContent?.includes('sentinel 0'), { timeout: 15_000 });
    await shot('contracts-dark');
  });

  await t.test('Overview: health, chart, refusals, and the 80 % alert', async () => {
    await show('overview');
    await page.waitForFunction(() => document.querySelectorAll('.uplot').length === 2, { timeout: 10_000 });
    const text = await page.$eval('main', (m) => (m as HTMLElement).innerText);
    assert.match(text, /contract 43 \(bob\): 83 % of its spend ceiling used/);
    assert.match(text, /Chain and MACs verified through seq \d+/);
    assert.match(text, /key count\s+2/i);
    const refusals = await page.$$eval('section[aria-labelledby="ref-h"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    assert.deepEqual(refusals.find((r) => r[0] === '403')?.slice(2), ['1', '1']);
    assert.deepEqual(refusals.find((r) => r[0] === '401')?.slice(2), ['1', '1']);
    // The chart has points once two samples were taken.
    await page.waitForFunction(() => document.querySelector('.chart [role="img"]')?.getAttribute('aria-label')?.includes('latest'), { timeout: 10_000 });
    await shot('overview-dark');
  });

  await t.test('Keys and Tokens views', async () => {
    await show('keys');
    const keys = await page.$$eval('table[data-testid="keys"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('th,td')].map((c) => c.textContent ?? '')));
    const alice = keys.find((r) => r[0] === 'alice');
    const bob = keys.find((r) => r[0] === 'bob');
    assert.ok(alice && bob, 'both keys listed by name');
    assert.equal(alice[1], 'local');
    assert.match(alice[2]!, /^arkeo1/);
    assert.equal(alice[5], '30', 'alice signed 30 claims');
    assert.equal(bob[5], '20');
    assert.equal(alice[4], '30', 'all of them today');
    assert.equal(alice[7], 'agent, narrow');
    assert.equal(bob[7], 'agent');
    await shot('keys-dark');
    await show('tokens');
    const tokens = await page.$$eval('table[data-testid="tokens"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('th,td')].map((c) => c.textContent ?? '')));
    const n = tokens.find((r) => r[0] === 'narrow')!;
    assert.deepEqual([n[1], n[2], n[3], n[4]], ['alice', 'claim', '42', '50/s, burst 50']);
    assert.deepEqual([n[6], n[7]], ['4', '1'], 'narrow: 4 requests, 1 refused');
    assert.deepEqual(tokens.find((r) => r[0] === 'agent')!.slice(6, 8), ['47', '0']);
    const html = await page.content();
    noSecret(html, 'tokens page');
    await shot('tokens-dark');
  });

  const entries = auditEntries(td.config);
  await t.test('a refused request appears in the audit view with its reason', async () => {
    await show('audit');
    await page.waitForSelector('ol[data-testid="entries"] li');
    const denied = entries.find((e) => e.result === 'denied')!;
    const item = await page.$(`ol[data-testid="entries"] li[data-seq="${denied.seq}"]`);
    assert.ok(item, 'the refusal is on the first page (newest first)');
    const summary = await item.$eval('summary', (s) => (s as HTMLElement).innerText);
    assert.match(summary, /denied 403/);
    assert.match(summary, /narrow/);
    assert.match(summary, /contract 43 is not allowed for this token/);
    await item.$eval('summary', (s) => (s as HTMLElement).click());
    const pre = await item.$eval('pre', (p) => p.textContent ?? '');
    assert.equal(JSON.parse(pre).reason, denied.reason);
    const first = await page.$eval('ol[data-testid="entries"] li', (li) => Number(li.getAttribute('data-seq')));
    assert.equal(first, entries.at(-1)!.seq, 'newest first');
    await shot('audit-dark');
  });

  await t.test('filters narrow the list to exactly the matching entries', async () => {
    const apply = async (values: Record<string, string>) => {
      await page.$eval('form.filters button[type="button"]', (b) => (b as HTMLElement).click());
      for (const [name, value] of Object.entries(values)) {
        await page.$eval(
          `form.filters [name="${name}"]`,
          (el, v) => {
            (el as HTMLInputElement).value = v;
            el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', { bubbles: true }));
          },
          value,
        );
      }
      await page.$eval('form.filters button[type="submit"]', (b) => (b as HTMLElement).click());
    };
    const check = async (values: Record<string, string>, expected: Record<string, any>[]) => {
      await apply(values);
      const want = `${expected.length.toLocaleString('en-US')} entr${expected.length === 1 ? 'y' : 'ies'} match`;
      const wantSeqs = expected.map((e) => e.seq).reverse().slice(0, 50);
      // Wait for this filter's answer (the previous one may have had as many entries), then compare exactly.
      const seqsNow = () => page.$$eval('ol[data-testid="entries"] li', (lis) => lis.map((li) => Number(li.getAttribute('data-seq'))));
      await page
        .waitForFunction(
          (w, seqs) => document.querySelector('[data-testid="total"]')?.textContent?.startsWith(w) && JSON.stringify([...document.querySelectorAll('ol[data-testid="entries"] li')].map((li: any) => Number(li.getAttribute('data-seq')))) === seqs,
          { timeout: 10_000 },
          want,
          JSON.stringify(wantSeqs),
        )
        .catch(() => {});
      assert.match(await page.$eval('[data-testid="total"]', (e) => e.textContent ?? ''), new RegExp(`^${want}`), JSON.stringify(values));
      assert.deepEqual(await seqsNow(), wantSeqs, JSON.stringify(values));
    };
    await check({ token: 'narrow' }, entries.filter((e) => e.who.token === 'narrow'));
    await check({ contract: '43' }, entries.filter((e) => e.what.contract === '43'));
    await check({ result: 'denied' }, entries.filter((e) => e.result === 'denied'));
    await check({ token: 'agent', contract: '42', op: 'claim', result: 'ok' }, entries.filter((e) => e.who.token === 'agent' && e.what.contract === '42' && e.result === 'ok'));
    // A key filter matches the name (refusals) and the address (signed entries) of a key.
    const aliceAddress = entries.find((e) => e.who.token === 'narrow' && e.result === 'ok')!.what.key as string;
    await check({ key: aliceAddress }, entries.filter((e) => e.what.key === aliceAddress || e.what.address === aliceAddress));
    // Time range (the page runs in UTC; datetime-local has whole seconds).
    const mid = entries[Math.floor(entries.length / 2)]!;
    const from = new Date(Math.floor(Date.parse(mid.ts) / 1000) * 1000);
    const to = new Date(from.getTime() + 1000);
    const local = (d: Date) => d.toISOString().slice(0, 19);
    await check({ from: local(from), to: local(to) }, entries.filter((e) => Date.parse(e.ts) >= from.getTime() && Date.parse(e.ts) <= to.getTime()));
    // Export of the filtered view: JSON lines verbatim (MACs intact), CSV one row per entry.
    const jsonl = await api('/api/audit/export?token=narrow&format=jsonl');
    const raw = fs.readFileSync(td!.config.audit.path, 'utf8').trim().split('\n');
    assert.deepEqual(jsonl.text.trim().split('\n'), raw.filter((l) => JSON.parse(l).who.token === 'narrow').reverse());
    const csv = (await api('/api/audit/export?token=narrow&format=csv')).text.trim().split('\n');
    assert.equal(csv.length, 1 + 4);
    assert.match(csv[0]!, /^seq,ts,token,/);
    assert.ok(csv.some((l) => l.includes('"contract 43 is not allowed for this token"') || l.includes('contract 43 is not allowed for this token')));
    // Bad input: one line, 400.
    for (const p of ['/api/audit?from=yesterday', '/api/audit?page=-1', '/api/audit?limit=100000', '/api/audit?bogus=1', '/api/audit/export?format=xml']) {
      const r = await api(p);
      assert.equal(r.status, 400, p);
      assert.equal(Object.keys(JSON.parse(r.text)).join(), 'error');
    }
    assert.equal((await api('/nothing-here')).status, 404);
    for (const p of ['/api/overview', '/api/keys', '/api/contracts', '/api/tokens', '/api/audit', '/']) await api(p);
  });

  await t.test('axe-core finds no serious or critical accessibility violation, in both themes', async () => {
    const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    for (const theme of ['dark', 'light']) {
      for (const view of VIEWS) {
        await show(view);
        // The theme button switches it (and the choice is kept across views).
        if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== theme) await page.click('button.theme');
        await page.waitForFunction((th) => document.documentElement.dataset.theme === th, { timeout: 5000 }, theme);
        if (view === 'overview') await page.waitForFunction(() => document.querySelectorAll('.uplot').length === 2, { timeout: 10_000 });
        if (view === 'audit') await page.waitForSelector('ol[data-testid="entries"] li summary', { timeout: 10_000 });
        if (view === 'audit') await page.$eval('ol[data-testid="entries"] li summary', (s) => (s as HTMLElement).click());
        await page.evaluate(axeSource);
        const violations = (await page.evaluate(async () => {
          const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
          return r.violations.map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
        })) as { id: string; impact: string; nodes: number; help: string }[];
        const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        assert.deepEqual(serious, [], `${view} (${theme})`);
        if (theme === 'light') await shot(`${view}-light`);
      }
    }
    await page.click('button.theme');
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark', { timeout: 5000 });
  });

  await t.test('keyboard: the views are reachable with Tab and Enter', async () => {
    await show('overview');
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      const href = await page.evaluate(() => document.activeElement?.getAttribute('href') ?? '');
      seen.push(href);
      if (href === '#/audit') {
        await page.keyboard.press('Enter');
        break;
      }
    }
    assert.ok(seen.includes('#/keys') && seen.includes('#/contracts'), seen.join(' '));
    await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Audit trail', { timeout: 5000 });
  });

  await t.test('after one byte of the audit log is edited, the banner reports the broken sequence number', async () => {
    await show('audit');
    await page.waitForFunction(() => document.querySelector('[data-testid="integrity"]')?.textContent?.includes('Chain and MACs verified through seq'), { timeout: 10_000 });
    const text = fs.readFileSync(td!.config.audit.path);
    // Line 10 (seq 10): change one digit of its latency, keeping the line valid JSON; only its MAC can tell.
    let offset = 0;
    for (let i = 1; i < 10; i++) offset = text.indexOf(0x0a, offset) + 1;
    const lineEnd = text.indexOf(0x0a, offset);
    const line = text.subarray(offset, lineEnd).toString('utf8');
    assert.match(line, /^\{"seq":10,/);
    const at = line.indexOf('"ts":"') + 6 + 3; // a digit of the year: 2026 → 2036
    const fd = fs.openSync(td!.config.audit.path, 'r+');
    try {
      const digit = text[offset + at]!;
      fs.writeSync(fd, Buffer.from([digit === 0x39 ? 0x38 : digit + 1]), 0, 1, offset + at);
    } finally {
      fs.closeSync(fd);
    }
    await page.waitForFunction(() => document.querySelector('[data-testid="integrity"]')?.textContent?.includes('broken at seq 10'), { timeout: 20_000 });
    const banner = await page.$eval('[data-testid="integrity"]', (b) => b.textContent ?? '');
    assert.match(banner, /Audit trail broken at seq 10: line 10: MAC mismatch/);
    assert.match(banner, /Verified through seq 9/);
    await shot('audit-broken-dark');
    await show('overview');
    assert.match(await page.$eval('main', (m) => (m as HTMLElement).innerText), /audit trail broken at seq 10/);
  });

  assert.deepEqual(consoleErrors.filter((e) => !/status of 401/.test(e)), [], 'no errors in the page (CSP violations show up here)');
});
