/**
 * The pool rows' far side in a process of its own: the sentinel-rules test server (checking claims with the
 * fastest engine here) in front of a JSON-RPC upstream that takes `ms` to answer. Apart from the load generator, so
 * that 64 clients, the sentinel and the upstream do not share one event loop and the rows measure the proxy.
 *
 *   node dist/bench/sentinel-process.js SERVICE MS CONTRACTS.json
 *
 * CONTRACTS.json: [{ id, client, delegate } …] (hex keys), pay-as-you-go, rate 1. Prints one JSON line
 * { url, provider } (the provider's arkeopub) once listening; runs until killed.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import { parseHex, verifySignature } from '../src/crypto/index.js';
import { bech32Pub, startSentinelRules } from '../test/support/sentinel-rules.js';

const [service, ms, file] = process.argv.slice(2) as [string, string, string];
const upstream = http.createServer((req, res) => {
  req.resume();
  req.on('end', () =>
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":1,"result":"0x1"}');
    }, Number(ms)),
  );
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const sentinel = await startSentinelRules({ services: [service], verify: verifySignature });
sentinel.services.set(service, `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`);
for (const c of JSON.parse(fs.readFileSync(file, 'utf8')) as { id: string; client: string; delegate: string }[]) {
  sentinel.contracts.set(BigInt(c.id), { id: BigInt(c.id), service, client: parseHex(c.client, 'client'), delegate: parseHex(c.delegate, 'delegate'), type: 'PAY_AS_YOU_GO', rate: 1n, deposit: 10n ** 12n, queriesPerMinute: 1e9 });
}
process.stdout.write(JSON.stringify({ url: sentinel.url, provider: bech32Pub(sentinel.providerPubkey) }) + '\n');
