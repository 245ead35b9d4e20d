import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { BoundedReadError, getBounded } from '../../src/http.js';

/**
 * getBounded (src/http.ts) reads a remote party's reply. A peer that declares a Content-Length and closes the
 * connection part-way through the body sent a reply that is not one: it is reported as one error naming the URL
 * (never a partial body returned as if it were whole).
 */

/** A server that answers every request with `body` under a Content-Length of `declared`, then closes. */
async function server(t: { after(fn: () => unknown): void }, declared: number, body: string): Promise<string> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', () => {
      socket.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\nconnection: close\r\n\r\n${body}`);
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        s.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(s.address() as net.AddressInfo).port}/claim/7`;
}

const BODY = JSON.stringify({ contract_id: '7', nonce: '12', signature: 'ab'.repeat(64) });
const OPTIONS = { what: 'sentinel', timeoutMs: 30_000, maxBytes: 64 * 1024 };

test('getBounded: a reply cut off mid-body (fewer bytes than its Content-Length, then closed) is one error naming the URL', async (t) => {
  const sent = BODY.slice(0, 20);
  const url = await server(t, BODY.length, sent);
  await assert.rejects(getBounded(url, OPTIONS), (e: unknown) => {
    assert.ok(e instanceof BoundedReadError, String(e));
    assert.equal(e.reason, 'unreachable');
    assert.doesNotMatch(e.message, /\n/, 'one line');
    assert.ok(e.message.startsWith(`sentinel ${url}: the reply broke off after ${sent.length} of ${BODY.length} bytes (`), e.message);
    assert.match(e.message, /; try again, and check the sentinel if it keeps happening$/);
    assert.doesNotMatch(e.message, /no complete answer within/, 'a broken reply, not a timeout');
    return true;
  });
});

test('getBounded: the same reply sent whole is returned whole (control)', async (t) => {
  const url = await server(t, BODY.length, BODY);
  const reply = await getBounded(url, OPTIONS);
  assert.equal(reply.status, 200);
  assert.equal(reply.body.toString('utf8'), BODY);
});
