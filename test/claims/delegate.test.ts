import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ClaimSigner, ClaimPolicyError, explainArkAuth, explainArkContract, formatArkAuth, predictClaim, type ContractParties, type HeaderForm } from '../../src/claims/index.js';
import { SqliteNonceStore } from '../../src/nonces/index.js';
import { privateKeyToSigner } from '../../src/signers/index.js';
import { publicKeyFromPrivate, sha256, signMessage, toBech32PubKey, utf8 } from '../../src/crypto/index.js';
import { tempDir } from '../helpers.js';

/**
 * Issue 16 and issue 14 items 8-9: with a contract's client and delegate registered, ClaimSigner chooses the
 * header form and refuses, before any nonce is consumed, what one v1.0.17 verifier would reject; `explain`
 * gives each verifier's verdict for the parties and names the sentinel's 4-part flaw as a finding.
 */
const priv = (label: string) => sha256(utf8(`arkeo-signer delegate test ${label}`));
const KEYS = { account: priv('account'), delegate: priv('delegate'), stranger: priv('stranger') };
const PUB = { account: publicKeyFromPrivate(KEYS.account), delegate: publicKeyFromPrivate(KEYS.delegate), stranger: publicKeyFromPrivate(KEYS.stranger) };
const CHAIN = 'arkeo-main-v1';

async function setup(parties: { client?: Uint8Array; delegate?: Uint8Array } = { client: PUB.account, delegate: PUB.delegate }) {
  const store = SqliteNonceStore.open(':memory:');
  await store.putContract({ contractId: 7n, rate: 10n, deposit: 1_000n, source: 'manual', ...parties });
  const signerFor = (who: keyof typeof KEYS) => ClaimSigner.create(privateKeyToSigner(KEYS[who]), store);
  return { store, signerFor };
}

async function refusedBeforeNonce(store: SqliteNonceStore, who: string, p: Promise<unknown>, code: string, message: RegExp) {
  await assert.rejects(p, (e: unknown) => e instanceof ClaimPolicyError && e.code === code && message.test(e.message), `${who}: refused with ${code}`);
}

test('registered delegate: its claims come out 4-part, and explain with the parties says both verifiers accept', { timeout: 30_000 }, async () => {
  const { store, signerFor } = await setup();
  const claims = await signerFor('delegate');
  const c = await claims.signClaim(7n);
  assert.equal(c.form, '4-part');
  assert.equal(c.arkauth, `7:${toBech32PubKey(PUB.delegate)}:1:${Buffer.from(c.signature).toString('hex')}`);
  const ex = explainArkAuth(c.arkauth, { client: PUB.account, delegate: PUB.delegate }, CHAIN);
  assert.equal(ex.verdicts['sentinel-v1.0.17']!.accepted, true);
  assert.equal(ex.verdicts['chain-v1.0.17']!.accepted, true);
  assert.deepEqual(ex.findings, []);
  await store.close();
});

test('registered parties: a 3-part request from the delegate, a client claim on a delegated contract, a stranger, an arkcontract by the delegate: each refused, no nonce consumed', { timeout: 30_000 }, async () => {
  const { store, signerFor } = await setup();
  const delegate = await signerFor('delegate');
  await refusedBeforeNonce(store, 'delegate 3-part', delegate.signClaim(7n, { delegate: false }), 'WRONG_FORM', /3-part header from the delegate would be accepted by the chain and rejected by the sentinel/);
  const account = await signerFor('account');
  await refusedBeforeNonce(store, 'client', account.signClaim(7n), 'WRONG_KEY', /names the delegate .*settles only its claims/);
  const stranger = await signerFor('stranger');
  await refusedBeforeNonce(store, 'stranger 4-part', stranger.signClaim(7n, { delegate: true }), 'WRONG_KEY', /is not a party of the contract/);
  await refusedBeforeNonce(store, 'delegate arkcontract', delegate.signArkContract(7n, 5n), 'WRONG_KEY', /arkcontract must be signed by the contract's client .*its delegate/);
  await refusedBeforeNonce(store, 'stranger arkcontract', stranger.signArkContract(7n, 5n), 'WRONG_KEY', /not a party/);
  for (const k of ['account', 'delegate', 'stranger'] as const) assert.equal(await store.current(7n, (await signerFor(k)).address), 0n, `${k}: no nonce reserved`);
  // The client still manages its contract: arkcontract by the client is signed.
  assert.match((await account.signArkContract(7n, 5n)).arkcontract, /^7:5:[0-9a-f]{128}$/);
  // And the delegate's next claim is nonce 1: the refusals left no gap.
  assert.equal((await delegate.signClaim(7n)).nonce, 1n);
  await store.close();
});

test('no delegate: the client signs 3-part by itself (4-part on request); a stranger is refused', { timeout: 30_000 }, async () => {
  const { store, signerFor } = await setup({ client: PUB.account });
  const account = await signerFor('account');
  const plain = await account.signClaim(7n);
  assert.equal(plain.form, '3-part');
  assert.match(plain.arkauth, /^7:1:[0-9a-f]{128}$/);
  assert.equal((await account.signClaim(7n, { delegate: true })).form, '4-part');
  await refusedBeforeNonce(store, 'stranger', (await signerFor('stranger')).signClaim(7n), 'WRONG_KEY', /not a party/);
  await store.close();
});

test('no registered parties: today\'s behaviour (3-part, or 4-part with delegate: true), any key', { timeout: 30_000 }, async () => {
  const { store, signerFor } = await setup({});
  const stranger = await signerFor('stranger');
  assert.equal((await stranger.signClaim(7n)).form, '3-part');
  assert.equal((await stranger.signClaim(7n, { delegate: true })).form, '4-part');
  await refusedBeforeNonce(store, 'delegateOnly without parties', stranger.signClaim(7n, { delegateOnly: true }), 'DELEGATE_ONLY', /parties are not registered/);
  await store.close();
});

test('profile chain-id with registered parties: a warning before signing (the sentinel will reject it), not a refusal', { timeout: 30_000 }, async () => {
  const { store } = await setup();
  const claims = await ClaimSigner.create(privateKeyToSigner(KEYS.delegate), store, { profile: 'chain-id', chainId: CHAIN });
  const r = await claims.reserveClaim(7n);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /chain will accept this claim and the sentinel will reject it/);
  const { store: s2, signerFor } = await setup();
  assert.deepEqual((await (await signerFor('delegate')).reserveClaim(7n)).warnings, [], 'compat: no warning');
  await store.close();
  await s2.close();
});

test('predictClaim agrees with the verifier emulations for every (parties, signer, form)', { timeout: 30_000 }, () => {
  // The refusals rest on predictClaim; this holds it to the emulations of the real verifiers on real signatures.
  const partiesList: ContractParties[] = [{ client: PUB.account }, { client: PUB.account, delegate: PUB.delegate }];
  for (const parties of partiesList) {
    for (const who of ['account', 'delegate', 'stranger'] as const) {
      for (const form of ['3-part', '4-part'] as HeaderForm[]) {
        const signature = signMessage(KEYS[who], utf8('7:3:'));
        const header = formatArkAuth({ contractId: 7n, nonce: 3n, signature, spender: form === '4-part' ? PUB[who] : undefined });
        const ex = explainArkAuth(header, parties, CHAIN);
        const p = predictClaim(parties, PUB[who], form);
        const label = `${parties.delegate ? 'delegated' : 'client-only'} contract, ${who}, ${form}`;
        assert.equal(p.sentinel.accepted, ex.verdicts['sentinel-v1.0.17']!.accepted, `sentinel: ${label}`);
        assert.equal(p.chain.accepted, ex.verdicts['chain-v1.0.17']!.accepted, `chain: ${label}`);
      }
    }
  }
});

test('explain with the parties: the delegate\'s 3-part header, an unrelated 4-part key, an arkcontract by the delegate', { timeout: 30_000 }, () => {
  const parties = { client: PUB.account, delegate: PUB.delegate };
  const sig = (who: keyof typeof KEYS) => signMessage(KEYS[who], utf8('7:3:'));
  const plainByDelegate = explainArkAuth(formatArkAuth({ contractId: 7n, nonce: 3n, signature: sig('delegate') }), parties, CHAIN);
  assert.equal(plainByDelegate.verdicts['sentinel-v1.0.17']!.accepted, false);
  assert.equal(plainByDelegate.verdicts['chain-v1.0.17']!.accepted, true);
  assert.match(plainByDelegate.findings.join('\n'), /the chain would settle this, but the sentinel rejects it.*4-part form/);
  const unrelated = explainArkAuth(formatArkAuth({ contractId: 7n, nonce: 3n, signature: sig('stranger'), spender: PUB.stranger }), parties, CHAIN);
  assert.equal(unrelated.verdicts['sentinel-v1.0.17']!.accepted, true);
  assert.equal(unrelated.verdicts['chain-v1.0.17']!.accepted, false);
  assert.match(unrelated.findings.join('\n'), /the sentinel accepts this, the chain will not settle it: .*neither the contract's client nor its delegate/);
  const clientOnDelegated = explainArkAuth(formatArkAuth({ contractId: 7n, nonce: 3n, signature: sig('account') }), parties, CHAIN);
  assert.equal(clientOnDelegated.verdicts['sentinel-v1.0.17']!.accepted, true);
  assert.equal(clientOnDelegated.verdicts['chain-v1.0.17']!.accepted, false);
  const ac = `7:1700000000:${Buffer.from(signMessage(KEYS.delegate, utf8('7:1700000000:'))).toString('hex')}`;
  const acEx = explainArkContract(ac, parties, 0n);
  assert.equal(acEx.verdicts['sentinel-v1.0.17']!.accepted, false);
  assert.match(acEx.findings.join('\n'), /signed by the contract's delegate: only the client manages the contract/);
});

test('a store made before contract parties were kept opens, keeps its terms, and then stores parties', { timeout: 30_000 }, async () => {
  const file = path.join(tempDir(), 'old.db');
  const old = new Database(file);
  // The contracts table as it was before the client/delegate columns.
  old.exec(`CREATE TABLE contracts (contract_id TEXT PRIMARY KEY, rate TEXT NOT NULL, deposit TEXT NOT NULL, max_spend TEXT, source TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
            INSERT INTO contracts VALUES ('7', '10', '1000', NULL, 'manual', 0);`);
  old.close();
  const store = SqliteNonceStore.open(file);
  const before = await store.getContract(7n);
  assert.equal(before?.deposit, 1000n);
  assert.equal(before?.client, undefined);
  await store.putContract({ ...before!, client: PUB.account, delegate: PUB.delegate });
  await store.close();
  const reopened = SqliteNonceStore.open(file);
  const after = await reopened.getContract(7n);
  assert.deepEqual([after?.client, after?.delegate], [PUB.account, PUB.delegate]);
  await reopened.close();
});
