import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * HAND-WRITTEN FAKE of a sentinel's GET /claim/{id} and a chain LCD's GET /arkeo/contract/{id} and
 * GET /arkeo/active-contract/{provider}/{service}/{spender}. No Arkeo chain or
 * sentinel can run on this machine (no network beyond package registries, no arkeod binary), so these serve the
 * JSON shapes documented in arkeo-claims.md §7 to test our clients, including hostile replies.
 */
export interface FakeArkeo {
  url: string;
  claims: Map<string, unknown>;
  contracts: Map<string, unknown>;
  /** Active contracts by "provider/service/spender" (bech32 pubkeys, the service by name); none: 404. */
  activeContracts: Map<string, unknown>;
  /** Paths asked, in order. */
  asked: string[];
  /** Raw bodies to send instead, keyed by path, for hostile-reply tests. */
  raw: Map<string, { status: number; body: string | Buffer }>;
  close(): Promise<void>;
}

export async function startFakeArkeo(): Promise<FakeArkeo> {
  const claims = new Map<string, unknown>();
  const contracts = new Map<string, unknown>();
  const activeContracts = new Map<string, unknown>();
  const asked: string[] = [];
  const raw = new Map<string, { status: number; body: string | Buffer }>();
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    asked.push(url);
    const r = raw.get(url);
    if (r) {
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(r.body);
      return;
    }
    let m = /^\/claim\/(\d+)$/.exec(url);
    if (m) {
      const empty = { provider: '', contract_id: 0, spender: '', nonce: 0, signature: '', claimed: false };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(claims.get(m[1]!) ?? empty));
      return;
    }
    m = /^\/arkeo\/contract\/(\d+)$/.exec(url);
    if (m && contracts.has(m[1]!)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ contract: contracts.get(m[1]!) }));
      return;
    }
    m = /^\/arkeo\/active-contract\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url);
    if (m && activeContracts.has(`${m[1]}/${m[2]}/${m[3]}`)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ contract: activeContracts.get(`${m[1]}/${m[2]}/${m[3]}`) }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 5, message: 'not found', details: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    claims,
    contracts,
    activeContracts,
    asked,
    raw,
    // Open keep-alive connections would hold close() (and the test file) open: end them too.
    close: () => new Promise((r) => (server.close(() => r()), server.closeAllConnections())),
  };
}

export function chainContractJson(id: number, client: string, fields: Record<string, unknown> = {}) {
  return {
    provider: client,
    service: 1,
    client,
    delegate: '',
    type: 'PAY_AS_YOU_GO',
    height: '100',
    duration: '1000',
    rate: { denom: 'uarkeo', amount: '10' },
    deposit: '1000',
    paid: '0',
    nonce: '0',
    settlement_height: '0',
    id: String(id),
    settlement_duration: '10',
    authorization: 'STRICT',
    queries_per_minute: '10',
    ...fields,
  };
}
