import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChainClient, ChainError } from '../../src/tx/index.js';

/**
 * The node client's reading of what a node sends, hostile replies included. The answers come from a small HTTP
 * server of this test (each route returns what the case needs); the real shapes and rules are exercised against
 * the chain-rules test server in sender.test.ts and against a real arkeod in test/e2e.
 */
async function nodeAnswering(routes: Record<string, (res: http.ServerResponse) => void>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const handler = routes[`${req.method} ${req.url}`];
    if (handler) handler(res);
    else {
      res.writeHead(501);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}

const json = (status: number, body: unknown) => (res: http.ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const ADDR = 'arkeo1uhapc6jjq6ns0ydnk7zld5x7f5kl2uke5hhwct';
const HASH = 'AB'.repeat(32);

test('account, chain id and a missing account read as the LCD gives them; a lying or broken reply is one line naming the URL', async (t) => {
  const node = await nodeAnswering({
    [`GET /cosmos/auth/v1beta1/accounts/${ADDR}`]: json(200, { account: { '@type': '/cosmos.auth.v1beta1.BaseAccount', address: ADDR, pub_key: null, account_number: '7', sequence: '3' } }),
    'GET /cosmos/auth/v1beta1/accounts/arkeo1other': json(404, { code: 5, message: 'account arkeo1other not found', details: [] }),
    'GET /cosmos/auth/v1beta1/accounts/arkeo1liar': json(200, { account: { address: ADDR, account_number: '1', sequence: '1' } }),
    'GET /cosmos/auth/v1beta1/accounts/arkeo1bad': json(200, { account: { address: 'arkeo1bad', account_number: '-1', sequence: '1' } }),
    'GET /cosmos/base/tendermint/v1beta1/node_info': json(200, { default_node_info: { network: 'arkeo-local-1' } }),
    'GET /cosmos/base/tendermint/v1beta1/blocks/latest': (res) => {
      res.writeHead(200);
      res.end('<html>not json</html>');
    },
    [`GET /cosmos/tx/v1beta1/txs/${HASH}`]: json(200, { tx_response: { txhash: 'CD'.repeat(32), height: '5', code: 0 } }),
    'GET /arkeo/contract/9': (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"contract":' + ' '.repeat(2 * 1024 * 1024) + '}');
    },
    'GET /arkeo/contract/10': (res) => {
      res.writeHead(302, { location: 'http://example.invalid/' });
      res.end();
    },
  });
  t.after(node.close);
  const chain = new ChainClient(node.url + '/');
  assert.deepEqual(await chain.account(ADDR), { address: ADDR, accountNumber: 7n, sequence: 3n });
  assert.equal(await chain.account('arkeo1other'), undefined, 'never funded: no account');
  assert.equal(await chain.chainId(), 'arkeo-local-1');
  const fails = async (p: Promise<unknown>, re: RegExp) => {
    await assert.rejects(p, (e: Error) => {
      assert.ok(e instanceof ChainError, String(e));
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  };
  await fails(chain.account('arkeo1liar'), /answered for another address/);
  await fails(chain.account('arkeo1bad'), /"account_number" is not a non-negative integer/);
  await fails(chain.latestHeight(), /blocks\/latest: HTTP 200, reply is not JSON/);
  await fails(chain.tx(HASH), /answered for another transaction/);
  await fails(chain.contract(9n), /arkeo\/contract\/9: sent more than 1048576 bytes/);
  await fails(chain.contract(10n), /arkeo\/contract\/10: answered a redirect .*follow no redirects/);
});

test('a refusal in the gateway\'s words carries its SDK code and, for a sequence mismatch, the sequence the node expects', async (t) => {
  const node = await nodeAnswering({
    'POST /cosmos/tx/v1beta1/simulate': json(500, { code: 2, message: "account sequence mismatch, expected 12, got 4: incorrect account sequence [cosmos/cosmos-sdk@v0.50.11/x/auth/ante/sigverify.go:290] with gas used: '31526'", details: [] }),
    'POST /cosmos/tx/v1beta1/txs': json(200, { tx_response: { height: '0', txhash: 'nothex', code: 0 } }),
  });
  t.after(node.close);
  const chain = new ChainClient(node.url);
  await assert.rejects(chain.simulate(new Uint8Array([1])), (e: ChainError) => e.abci?.code === 32 && e.abci.expectedSequence === 12n && /sent meanwhile/.test(e.message));
  await assert.rejects(chain.broadcast(new Uint8Array([1])), /no txhash in the reply/);
  // Control: an unreachable node is its own error, not a refusal.
  await node.close();
  await assert.rejects(chain.simulate(new Uint8Array([1])), (e: ChainError) => e.code === 'CHAIN_UNREACHABLE' && e.abci === undefined);
});

test('--node must be an http(s) URL', () => {
  assert.throws(() => new ChainClient('localhost:1317'), /--node: (not a URL|expected http)/);
  assert.throws(() => new ChainClient('ftp://x'), /--node: expected http\(s\):\/\//);
});
