import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { SignerDaemon } from '../../src/daemon/index.js';
import { KnownPeers } from '../../src/daemon/known-peers.js';
import { rawRequest, startTestDaemon } from '../support/daemon.js';
import { tempDir } from '../helpers.js';

/**
 * "A token used from a new peer" (an alert rule watches arkeo_signer_token_new_peer_total): counted once per
 * (token, peer), remembered across a restart, so a restart does not make every peer new again.
 */
const count = async (socket: string, token: string): Promise<number> => {
  const text = (await rawRequest(socket, 'GET', '/metrics')).body;
  const m = new RegExp(`^arkeo_signer_token_new_peer_total\\{token="${token}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};

test('a token\'s first use from a peer is counted once, and stays known after a restart; another token counts on its own', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({ k: '11'.repeat(32) }, { app: { keys: ['k'], contracts: ['*'] }, other: { keys: ['k'], contracts: ['*'] } });
  let daemon: SignerDaemon = d.daemon;
  t.after(() => daemon.stop());
  const claim = (token: string) => rawRequest(d.socket, 'POST', '/v1/claims', { token, body: JSON.stringify({ contract: '1', key: 'k' }) });
  assert.equal(await count(d.socket, 'app'), 0, 'control: nothing before any use');
  assert.equal((await claim(d.tokens.app!)).status, 200);
  assert.equal((await claim(d.tokens.app!)).status, 200);
  assert.equal(await count(d.socket, 'app'), 1, 'the first use from this peer, once');
  await new Promise((r) => setTimeout(r, 50)); // the known-peers file is written off the request's path
  await daemon.stop();
  daemon = await SignerDaemon.start(d.config);
  assert.equal((await claim(d.tokens.app!)).status, 200);
  assert.equal(await count(d.socket, 'app'), 0, 'after a restart the peer is still known: not counted again');
  assert.equal((await claim(d.tokens.other!)).status, 200);
  assert.equal(await count(d.socket, 'other'), 1, 'another token\'s first use from the same peer is its own');
});

test('known peers: a new peer of a known token is new; a damaged file starts empty rather than failing', () => {
  const file = `${tempDir()}/token-peers.json`;
  const known = KnownPeers.load(file);
  assert.equal(known.first('app', 'ip:10.0.0.1'), true);
  assert.equal(known.first('app', 'ip:10.0.0.1'), false);
  assert.equal(known.first('app', 'ip:10.0.0.2'), true, 'a new peer of a known token');
  fs.writeFileSync(file, '{not json', { mode: 0o600 });
  assert.equal(KnownPeers.load(file).first('app', 'ip:10.0.0.1'), true);
});
