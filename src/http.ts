import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { ArkeoSignerError, InputError } from './errors.js';

/**
 * Reading what a remote party sends (a sentinel, a chain's LCD), bounded: a peer may lie, stall or flood, so
 * every read has a byte limit enforced while the bytes arrive (never after buffering them all), a time limit
 * for the whole exchange, and follows no redirect: a lookup goes to the URL we were given or nowhere.
 */
export type BoundedReadFailure = 'unreachable' | 'timeout' | 'too-large' | 'redirect';

export class BoundedReadError extends Error {
  constructor(
    readonly reason: BoundedReadFailure,
    message: string,
  ) {
    super(message);
    this.name = 'BoundedReadError';
  }
}

export interface BoundedGet {
  /** Names the peer in messages: "sentinel", "lcd". */
  what: string;
  timeoutMs: number;
  maxBytes: number;
  headers?: Record<string, string>;
  /** POST this as a JSON body instead of a GET (a node's broadcast and simulate endpoints). */
  postJson?: unknown;
}

export interface BoundedReply {
  status: number;
  headers: Headers;
  body: Buffer;
}

/**
 * The base of a remote party's URL, to append its routes to: http(s) only, no credentials (fetch refuses them, and
 * they would end up in messages). `root`: the origin alone, for a peer whose routes hang off its root (a sentinel,
 * reached from any URL of its); otherwise the URL as given without trailing slashes (an LCD may sit under a path).
 * `what` names the peer in the InputError.
 */
export function remoteBase(url: string, what: string, options: { root?: boolean } = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InputError('BAD_URL', `${what}: not a URL: ${url.slice(0, 200)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InputError('BAD_URL', `${what}: expected http(s)://, got ${u.protocol}`);
  if (u.username || u.password) throw new InputError('BAD_URL', `${what}: credentials in the URL are not supported`);
  return options.root ? `${u.protocol}//${u.host}` : url.replace(/\/+$/, '');
}

/** fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a TLS error) is in its cause. */
function causeOf(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  const text = !c ? '' : c.code && c.message && !c.message.includes(c.code) ? `${c.code}: ${c.message}` : (c.message ?? c.code ?? '');
  return `${(e as Error).message}${text ? ` (${text.split('\n')[0]})` : ''}`;
}

/**
 * GET (or POST `postJson` to) `url` and read its body up to `maxBytes`. Throws BoundedReadError (message: "<what> <url>: …") when the
 * peer cannot be reached, does not finish within `timeoutMs`, sends more than `maxBytes` (with or without a
 * Content-Length) or answers a redirect. Any other status is returned for the caller to judge.
 */
export async function getBounded(url: string, options: BoundedGet): Promise<BoundedReply> {
  const where = `${options.what} ${url}`;
  const signal = AbortSignal.timeout(options.timeoutMs);
  const timedOut = () => new BoundedReadError('timeout', `${where}: no complete answer within ${options.timeoutMs} ms; check the URL and that the ${options.what} is up`);
  let res: Response;
  try {
    const post = options.postJson === undefined ? {} : { method: 'POST', body: JSON.stringify(options.postJson) };
    const headers = { accept: 'application/json', ...(options.postJson === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers };
    res = await fetch(url, { signal, redirect: 'manual', headers, ...post });
  } catch (e) {
    if (signal.aborted) throw timedOut();
    throw new BoundedReadError('unreachable', `${where}: ${causeOf(e)}; check the URL and that the ${options.what} is up`);
  }
  const tooLarge = () => new BoundedReadError('too-large', `${where}: sent more than ${options.maxBytes} bytes; not reading the rest (a ${options.what} reply is far smaller)`);
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => {});
    const to = res.headers.get('location');
    throw new BoundedReadError('redirect', `${where}: answered a redirect (HTTP ${res.status}${to ? ` to ${to.slice(0, 200)}` : ''}); lookups follow no redirects, so give the final URL`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > options.maxBytes) {
          await reader.cancel().catch(() => {});
          throw tooLarge();
        }
        chunks.push(value);
      }
    } catch (e) {
      if (e instanceof BoundedReadError) throw e;
      if (signal.aborted) throw timedOut();
      const of = Number.isFinite(declared) ? ` of ${declared}` : '';
      throw new BoundedReadError('unreachable', `${where}: the reply broke off after ${size}${of} bytes (${causeOf(e)}); try again, and check the ${options.what} if it keeps happening`);
    }
  }
  return { status: res.status, headers: res.headers, body: Buffer.concat(chunks) };
}

/**
 * The first bytes of a Node stream, up to `maxBytes`: `complete` when the stream ended within them. When it did
 * not, `rest` replays what was read followed by the remainder, so the caller can still pass the whole stream on.
 */
export async function peekStream(stream: Readable, maxBytes: number): Promise<{ complete: true; body: Buffer } | { complete: false; rest: Readable }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return { complete: true, body: Buffer.concat(chunks) };
    chunks.push(next.value);
    size += next.value.length;
    if (size > maxBytes) break;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* chunks;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { complete: false, rest: Readable.from(replay(), { objectMode: false }) };
}

/**
 * The server side, shared by the daemon, the proxy and the console: an error that is an HTTP status, JSON replies,
 * bounded JSON bodies, and which hosts count as this machine.
 */
export class HttpError extends ArkeoSignerError {
  /** false: counted in metrics but not written to the audit log (a peer over its failed-request budget). */
  audit = true;

  constructor(
    readonly status: number,
    code: string,
    message: string,
    /** Reply headers this status calls for: WWW-Authenticate, Retry-After, Allow. */
    readonly headers?: Record<string, string>,
  ) {
    super(code, message);
  }
}

/** A JSON reply with its length; `close` ends the connection after it (after a body we did not read whole). */
export function sendJson(res: ServerResponse, status: number, body: unknown, options: { close?: boolean; headers?: Record<string, string> } = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(options.close ? { connection: 'close' } : {}), ...options.headers });
  res.end(text);
}

/** Read a JSON object body, bounded in size; 413 over the limit, 400 for anything but a JSON object. */
export async function readJsonBody(req: IncomingMessage, max: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) throw new HttpError(413, 'BODY_TOO_LARGE', `body over ${max} bytes`);
  // Plain events rather than `for await`: this runs for every claim, and the async iterator costs allocations.
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        req.resume();
        reject(new HttpError(413, 'BODY_TOO_LARGE', `body over ${max} bytes`));
      } else chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    // A client that stops mid-body shows up as 'error' (aborted) and then 'close': a 400 either way, not a 500.
    const incomplete = () => reject(new HttpError(400, 'ABORTED', 'request body not complete'));
    req.once('error', (e) => (req.complete ? reject(e) : incomplete()));
    req.once('close', () => req.complete || incomplete());
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BAD_JSON', 'body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'BAD_JSON', 'body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** `localhost`, `::1` or 127.x.y.z: a listener there is reached from this machine only. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
