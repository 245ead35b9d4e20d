import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A FAULT-INJECTING PROXY of ours (test equipment, not a product part): forwards HTTP(S) requests to a real
 * emulator or to one of our test servers, and lets a test answer some of them itself (throttling, an error) or
 * rewrite a response (a corrupted signature). It counts what it forwarded and what it injected.
 */
export interface ProxiedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
export interface InjectedResponse {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}
export interface FaultProxy {
  url: string;
  port: number;
  forwarded: number;
  injected: number;
  /** Return a response to answer the request here instead of forwarding it. */
  inject?: (req: ProxiedRequest) => InjectedResponse | undefined;
  /** Rewrite a forwarded response's body. */
  rewrite?: (req: ProxiedRequest, status: number, body: Buffer) => Buffer;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, options: { tls?: { key: string | Buffer; cert: string | Buffer }; targetCa?: string | Buffer } = {}): Promise<FaultProxy> {
  const t = new URL(target);
  const client = t.protocol === 'https:' ? https : http;
  const agent = t.protocol === 'https:' ? new https.Agent({ keepAlive: true, ...(options.targetCa ? { ca: options.targetCa } : {}) }) : new http.Agent({ keepAlive: true });
  const proxy: FaultProxy = {
    url: '',
    port: 0,
    forwarded: 0,
    injected: 0,
    close: async () => {},
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const pr: ProxiedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) };
      const fault = proxy.inject?.(pr);
      if (fault) {
        proxy.injected++;
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        res.end(fault.body);
        return;
      }
      proxy.forwarded++;
      const headers = { ...req.headers, host: t.host };
      const up = client.request({ protocol: t.protocol, hostname: t.hostname, port: t.port, method: pr.method, path: pr.url, headers, agent }, (upRes) => {
        const out: Buffer[] = [];
        upRes.on('data', (c: Buffer) => out.push(c));
        upRes.on('end', () => {
          let body: Buffer = Buffer.concat(out);
          if (proxy.rewrite) body = proxy.rewrite(pr, upRes.statusCode ?? 502, body);
          const h = { ...upRes.headers };
          delete h['content-length'];
          delete h['transfer-encoding'];
          res.writeHead(upRes.statusCode ?? 502, { ...h, 'content-length': String(body.length) });
          res.end(body);
        });
      });
      up.on('error', () => {
        // The upstream is down: drop the client's connection, as a dead server would.
        res.socket?.destroy();
      });
      up.end(pr.body);
    });
  };
  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.port = (server.address() as AddressInfo).port;
  proxy.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${proxy.port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      agent.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
