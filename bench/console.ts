/**
 * The operator console on a large audit log: 1,000,000 entries written by the real AuditLog, then the console
 * started as `arkeo-signer console` (its own process), and the audit view's first page and a filtered page timed
 * in headless Chromium (Debian's chromium via puppeteer-core) from the request to the rows on screen. Also the
 * time to read and verify the log at start, the overview's latency while one user's heavy requests (deep filtered
 * pages, full CSV exports) run, and the console's memory (VmHWM, peak resident set).
 * Runs alone with `node dist/bench/console.js` (BENCH_CONSOLE_ENTRIES to change the size).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AuditLog, type AuditInput } from '../src/audit/index.js';
import { median } from './stats.js';
import type { Row } from './claims.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(HERE, '..', 'bin', 'arkeo-signer.js');
const CHROMIUM = process.env.ARKEO_CHROMIUM ?? '/usr/bin/chromium';
const ENTRIES = Number(process.env.BENCH_CONSOLE_ENTRIES ?? 1_000_000);
const REPS = 5;

function entry(i: number): AuditInput {
  const refused = i % 50 === 0;
  return {
    who: { transport: 'unix', token: `svc-${i % 20}`, uid: 1000, pid: 4000 + (i % 7) },
    what: { op: 'claim', key: `arkeo1${'q'.repeat(32)}${i % 3}`, contract: String(1000 + (i % 200)), nonce: String(Math.floor(i / 200) + 1), msg_sha256: 'ab'.repeat(32) },
    result: refused ? 'denied' : 'ok',
    status: refused ? 403 : 200,
    reason: refused ? `contract ${1000 + (i % 200)} is not allowed for this token` : undefined,
    latency_us: 800 + (i % 400),
  };
}

async function generate(file: string): Promise<number> {
  const t = performance.now();
  const log = await AuditLog.open(file);
  for (let i = 0; i < ENTRIES; i += 10_000) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(ENTRIES, i + 10_000); j++) batch.push(log.append(entry(j)));
    await Promise.all(batch);
  }
  await log.close();
  return (performance.now() - t) / 1000;
}

/**
 * /api/overview timed 40 times while 20 clients ask for deep filtered pages and 8 for full CSV exports, each again
 * as soon as it has its answer, each on its own kept-alive connection (as a browser's are).
 */
async function overviewUnderLoad(base: string, cookie: string): Promise<Row> {
  const get = (p: string, agent: http.Agent, onData?: (bytes: number) => void) =>
    new Promise<number>((resolve) => {
      http
        .get(base + p, { headers: { cookie }, agent }, (res) => {
          res.on('data', (chunk: Buffer) => onData?.(chunk.length));
          res.on('close', () => resolve(res.complete ? (res.statusCode ?? 0) : 0));
        })
        .on('error', () => resolve(0));
    });
  let running = true;
  const agents = Array.from({ length: 29 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const served = { pages: 0, bytes: 0 };
  const clients = agents.slice(0, 28).map(async (agent, i) => {
    const p = i < 20 ? `/api/audit?token=svc-${i % 20}&result=ok&page=${20 + i}&limit=500` : '/api/audit/export?format=csv';
    while (running) if ((await get(p, agent, (n) => (served.bytes += n))) === 200 && i < 20) served.pages++;
  });
  await new Promise((r) => setTimeout(r, 2000));
  const before = { ...served };
  const times: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t = performance.now();
    await get('/api/overview', agents[28]!);
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 25));
  }
  running = false;
  for (const a of agents) a.destroy();
  await Promise.all(clients);
  return {
    name: 'console: /api/overview while 20 deep filtered pages and 8 CSV exports run',
    value: +median(times).toFixed(1),
    unit: 'ms',
    note: `median of 40, max ${Math.max(...times).toFixed(0)} ms; meanwhile ${served.pages - before.pages} pages and ${((served.bytes - before.bytes) / 1e6).toFixed(0)} MB served`,
  };
}

const vm = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

export async function benchConsole(): Promise<Row[]> {
  const rows: Row[] = [];
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'arkeo-bench-console-'));
  const child = { proc: undefined as ReturnType<typeof spawn> | undefined };
  let browser: import('puppeteer-core').Browser | undefined;
  try {
    const file = path.join(home, 'signer', 'audit.log');
    const genSeconds = await generate(file);
    const size = fs.statSync(file).size;
    const config = path.join(home, 'console.toml');
    fs.writeFileSync(config, `[keyring]\nhome = "${home}"\n[audit]\npath = "${file}"\n`);
    const started = performance.now();
    const proc = spawn(process.execPath, [CLI, 'console', '--listen', '127.0.0.1:0', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.proc = proc;
    const loginUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /(https?:\/\/\S+\/login\?secret=\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`console exited (${code})`)));
      setTimeout(() => reject(new Error('console did not print its URL')), 30_000);
    });
    const base = new URL(loginUrl).origin;
    const login = await fetch(loginUrl, { redirect: 'manual' });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const api = async (p: string) => (await fetch(base + p, { headers: { cookie } })).json() as Promise<Record<string, any>>;
    for (;;) {
      const r = await api('/api/audit?limit=1');
      if (!r.integrity.indexing && r.integrity.verifiedThrough >= ENTRIES) break;
      if (!r.integrity.ok) throw new Error(`generated log does not verify: ${r.integrity.problem}`);
      await new Promise((res) => setTimeout(res, 250));
    }
    const readSeconds = (performance.now() - started) / 1000;
    rows.push({ name: `console: audit log of ${ENTRIES.toLocaleString('en-US')} entries read and verified at start`, value: +readSeconds.toFixed(1), unit: 's', note: `${(size / 1e6).toFixed(0)} MB; chain and every MAC; the page answers meanwhile (writing it took ${genSeconds.toFixed(0)} s)` });
    // Server side: one page of the JSON API, first and filtered.
    const timeApi = async (p: string) => {
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await api(p);
        times.push(performance.now() - t);
      }
      return median(times);
    };
    const filter = 'token=svc-10&result=denied';
    rows.push({ name: 'console: /api/audit first page (50 newest)', value: +(await timeApi('/api/audit?limit=50')).toFixed(1), unit: 'ms', note: 'median of 20' });
    rows.push({ name: 'console: /api/audit filtered page (token + result)', value: +(await timeApi(`/api/audit?limit=50&${filter}`)).toFixed(1), unit: 'ms', note: 'median of 20; scans all entries' });
    rows.push(await overviewUnderLoad(base, cookie));

    if (fs.existsSync(CHROMIUM)) {
      const puppeteer = (await import('puppeteer-core')).default;
      browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
      const page = await browser.newPage();
      await page.setViewport({ width: 1440, height: 900 });
      const [name, value] = cookie.split('=');
      await page.setCookie({ name: name!, value: value!, url: base, httpOnly: true, sameSite: 'Strict' });
      const first: number[] = [];
      const filtered: number[] = [];
      for (let i = 0; i < REPS; i++) {
        await page.goto('about:blank');
        let t = performance.now();
        await page.goto(`${base}/#/audit`);
        // networkidle would add its own 500 ms; wait for the rows instead.
        await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('ol[data-testid="entries"] li').length === 50, { timeout: 30_000, polling: 'mutation' });
        first.push(performance.now() - t);
        await page.select('form.filters select[name="token"]', 'svc-10');
        await page.select('form.filters select[name="result"]', 'denied');
        t = performance.now();
        await page.click('form.filters button[type="submit"]');
        await page.waitForFunction(
          () => {
            const d = (globalThis as any).document;
            const lis = [...d.querySelectorAll('ol[data-testid="entries"] li')] as any[];
            return lis.length === 50 && lis.every((li) => li.textContent.includes('svc-10') && li.textContent.includes('denied'));
          },
          { timeout: 30_000, polling: 'mutation' },
        );
        filtered.push(performance.now() - t);
      }
      rows.push({ name: 'console: audit view first page in Chromium', value: Math.round(median(first)), unit: 'ms', note: `median of ${REPS}: a fresh page load (from about:blank) to 50 rows on screen (runs ${first.map((x) => x.toFixed(0)).join(' / ')})` });
      rows.push({ name: 'console: audit view filtered page in Chromium', value: Math.round(median(filtered)), unit: 'ms', note: `median of ${REPS}: Apply to 50 matching rows (runs ${filtered.map((x) => x.toFixed(0)).join(' / ')})` });
    } else {
      rows.push({ name: 'console: audit view pages in Chromium', value: NaN, unit: 'ms', note: `skipped: no Chromium at ${CHROMIUM}` });
    }
    const afterPages = vm(proc.pid!, 'VmHWM');
    // A change that is not an append (here only the mtime) makes the console check the whole log again, building a
    // second index beside the one it serves: the highest its memory goes.
    const before = (await api('/api/audit?limit=1')).integrity.checkedAt as number;
    const t = performance.now();
    fs.utimesSync(file, new Date(), new Date());
    for (;;) {
      await new Promise((res) => setTimeout(res, 250));
      const r = await api('/api/audit?limit=1');
      if (r.integrity.checkedAt !== before && r.integrity.verifiedThrough >= ENTRIES) break;
    }
    rows.push({ name: 'console: full re-check of the log (edit detected)', value: +((performance.now() - t) / 1000).toFixed(1), unit: 's', note: 'in the background; pages keep answering from the previous index' });
    rows.push({ name: 'console: memory, peak resident (VmHWM)', value: +vm(proc.pid!, 'VmHWM').toFixed(0), unit: 'MB', note: `whole process; ${afterPages.toFixed(0)} MB after reading the log and serving the pages, then one full re-check; now ${vm(proc.pid!, 'VmRSS').toFixed(0)} MB resident` });
  } finally {
    await browser?.close().catch(() => {});
    if (child.proc && child.proc.exitCode === null) {
      child.proc.kill('SIGTERM');
      await new Promise((r) => child.proc!.once('exit', r));
    }
    fs.rmSync(home, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const rows = await benchConsole();
  const width = Math.max(...rows.map((r) => r.name.length));
  process.stderr.write(rows.map((r) => `${r.name.padEnd(width)}  ${String(Number.isFinite(r.value) ? r.value : '-').padStart(8)} ${r.unit.padEnd(3)} ${r.note ?? ''}`).join('\n') + '\n');
  process.stdout.write(JSON.stringify({ results: rows }, null, 2) + '\n');
}
