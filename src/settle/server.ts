import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError } from '../errors.js';
import { isLoopbackHost, sendJson } from '../http.js';
import { SettleError } from './errors.js';
import type { SettleMetrics } from './metrics.js';
import type { SettlerHealth } from './settler.js';

/**
 * The settler's own small HTTP face, on a loopback address only: GET /metrics (Prometheus) and GET /healthz (200
 * while leading and the last cycle went through, or standing by; 503 while starting or failing, with the first
 * problem in one line, or while its audit log cannot be written). It holds no key and takes no input.
 */
export interface SettleServer {
  address: string;
  close(): Promise<void>;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new InputError('BAD_LISTEN', `--listen: expected HOST:PORT, e.g. 127.0.0.1:9464; got "${text.slice(0, 60)}"`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  if (!isLoopbackHost(host)) throw new InputError('BAD_LISTEN', `--listen ${text}: not a loopback address; the settler's metrics and health are served on this machine only (127.0.0.1, ::1 or localhost)`);
  return { host, port: Number(m[2]) };
}

export async function startSettleServer(
  listen: { host: string; port: number },
  metrics: SettleMetrics,
  health: () => SettlerHealth,
  /** The audit log's health (SettleAudit.health): its fields join the reply; a log that cannot be written makes it 503. */
  audit?: () => { ok: boolean; fields: Record<string, string | number> },
): Promise<SettleServer> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://settle').pathname;
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'only GET' }, { headers: { allow: 'GET' } });
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        () => sendJson(res, 500, { error: 'metrics unavailable' }),
      );
      return;
    }
    if (path === '/healthz') {
      const h = health();
      const a = audit?.();
      const body = {
        status: h.state,
        leading: h.leading,
        ...(h.lastCycle ? { last_cycle: h.lastCycle.toISOString() } : {}),
        ...(h.lastSuccess ? { last_success: h.lastSuccess.toISOString() } : {}),
        ...(h.problem ? { problem: h.problem } : {}),
        ...(a ? a.fields : {}),
      };
      return sendJson(res, (h.state === 'ok' || h.state === 'standby') && a?.ok !== false ? 200 : 503, body);
    }
    sendJson(res, 404, { error: 'not found: GET /metrics or /healthz' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new SettleError('LISTEN_FAILED', `--listen ${listen.host}:${listen.port}: ${e.code ?? e.message}${e.code === 'EADDRINUSE' ? '; another process uses the port' : ''}`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
