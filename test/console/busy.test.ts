import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { BIN, tempDir } from '../helpers.js';
import { writeLog } from './audit-logs.js';

/**
 * One logged-in user must not be able to stall the console: with a large audit log, deep filtered pages and full
 * CSV exports running all the time, a page of the overview still answers within 200 ms. The console runs as its
 * own process (`arkeo-signer console`), so that what is timed is the server, not this process reading exports.
 */

/** 200,000 entries take about a second to write and two to index. */
const ENTRIES = 200_000;
const DEEP_PAGES = 20;
const EXPORTS = 8;
const SAMPLES = 40;
const BOUND_MS = 200;

/**
 * GET with the session cookie over the client's own kept-alive connection, as a browser does (a connection per
 * request would time the accept queue: libuv accepts one new connection per turn of the event loop). Resolves with
 * the status once the body has been read (and dropped), or 0 when the connection was cut.
 */
function get(base: string, p: string, cookie: string, agent: http.Agent, onData?: (bytes: number) => void): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(base + p, { headers: { cookie }, agent }, (res) => {
      res.on('data', (chunk: Buffer) => onData?.(chunk.length));
      res.on('close', () => resolve(res.complete ? (res.statusCode ?? 0) : 0));
    });
    req.on('error', () => resolve(0));
  });
}

test(`the overview answers within ${BOUND_MS} ms while ${DEEP_PAGES} deep filtered pages and ${EXPORTS} full CSV exports of ${ENTRIES.toLocaleString('en-US')} entries run`, { timeout: 300_000 }, async (t) => {
  const home = tempDir();
  const file = path.join(home, 'signer', 'audit.log');
  await writeLog(file, ENTRIES, { batch: 10_000, pauseMs: 0 });
  const config = path.join(home, 'daemon.toml');
  fs.writeFileSync(config, `[keyring]\nhome = "${home}"\n`);
  const child = spawn(process.execPath, [BIN.arkeoSigner, 'console', '--listen', '127.0.0.1:0', '--config', config, '--sample-interval', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const loginUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/\S+\/login\?secret=\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`console exited ${code}`)));
  });
  const base = new URL(loginUrl).origin;
  const login = await fetch(loginUrl, { redirect: 'manual' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  for (;;) {
    const r = (await (await fetch(base + '/api/audit?limit=1', { headers: { cookie } })).json()) as { total: number; integrity: { indexing: boolean } };
    if (!r.integrity.indexing && r.total === ENTRIES) break;
    await new Promise((res) => setTimeout(res, 100));
  }

  // The load: every client asks again as soon as it has its answer, until the samples are taken.
  let running = true;
  const agents: http.Agent[] = [];
  const connection = () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    return agent;
  };
  const load = { pages: 0, exportBytes: 0, exportsStreaming: new Set<number>() };
  const pageClient = async (page: number, agent = connection()) => {
    while (running) if ((await get(base, `/api/audit?token=narrow&result=ok&page=${page}&limit=500`, cookie, agent)) === 200) load.pages++;
  };
  const exportClient = async (n: number, agent = connection()) => {
    const onData = (bytes: number) => ((load.exportBytes += bytes), load.exportsStreaming.add(n));
    while (running) await get(base, '/api/audit/export?format=csv', cookie, agent, onData);
  };
  const clients = [...Array.from({ length: DEEP_PAGES }, (_, i) => pageClient(60 + i)), ...Array.from({ length: EXPORTS }, (_, i) => exportClient(i))];
  // Until every export streams and each page client has had an answer: at most 5 s (before the fix, the console
  // served one export at a time and this took half a minute; sampling then starts anyway, and fails).
  for (const until = performance.now() + 5000; (load.exportsStreaming.size < EXPORTS || load.pages < DEEP_PAGES) && performance.now() < until; ) {
    assert.equal(child.exitCode, null, 'the console exited');
    await new Promise((r) => setTimeout(r, 20));
  }

  const sampler = connection();
  const before = { ...load };
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const started = performance.now();
    assert.equal(await get(base, '/api/overview', cookie, sampler), 200);
    times.push(performance.now() - started);
    if (times.at(-1)! >= BOUND_MS) break; // the bound is missed: no need to wait for more
    await new Promise((r) => setTimeout(r, 25));
  }
  const during = { pages: load.pages - before.pages, exportMB: (load.exportBytes - before.exportBytes) / 1e6 };
  running = false;
  for (const agent of agents) agent.destroy();
  await Promise.all(clients);
  times.sort((a, b) => a - b);
  const summary = `overview under load: median ${times[times.length >> 1]!.toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms over ${times.length} requests; meanwhile ${during.pages} deep pages answered and ${during.exportMB.toFixed(1)} MB of CSV exported`;
  t.diagnostic(summary);
  assert.ok(times.at(-1)! < BOUND_MS, summary);
  assert.equal(times.length, SAMPLES);
  // The load ran all along: the pages were answered and the exports streamed while the overview was timed.
  assert.ok(during.pages >= DEEP_PAGES && during.exportMB > 1, summary);
});
