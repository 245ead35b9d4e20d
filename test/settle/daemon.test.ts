import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DaemonClient, daemonTxSigner } from '../../src/daemon/index.js';
import { MsgClaimContractIncomeCodec, parseFeeChoice } from '../../src/tx/index.js';
import { auditEntries, startTestDaemon } from '../support/daemon.js';
import { dog, settlerFor, world } from './support.js';

/**
 * The fee payer's key in the key daemon (`settle --daemon`): the settler's transactions are signed there under a
 * token whose tx policy allows MsgClaimContractIncome only, up to a fee, and each is audited by its hash. A token
 * whose policy leaves the contract out is refused by the daemon: one line, nothing sent, the claim kept.
 */
test('the fee payer in the daemon: claims settled through a claims-only tx policy and audited; a contract outside the policy refused, the claim kept', { timeout: 90_000 }, async (t) => {
  const w = await world(t);
  const [a, b] = [await w.open(), await w.open()];
  const tx = (contracts: string[]) => ({ keys: ['dog'], operations: ['tx'], tx: { messages: [MsgClaimContractIncomeCodec.typeUrl], max_fee: '5000', contracts } });
  const d = await startTestDaemon({ dog: Buffer.from(dog.priv).toString('hex') }, { any: tx(['*']), onlyA: tx([String(a)]) });
  t.after(() => d.daemon.stop());
  const clientOf = (token: string) => {
    const c = new DaemonClient(d.socket, { token });
    t.after(() => c.close());
    return daemonTxSigner(c, 'dog');
  };
  // Only a may be claimed with this token: the batch carrying b is refused before anything is signed.
  w.claim(b, 500n);
  const narrow = await settlerFor(w, t, { signer: clientOf(d.tokens.onlyA!), fee: parseFeeChoice({}) });
  const refused = await narrow.settler.cycle();
  assert.equal(refused.problems.length, 1, refused.problems.join(' | '));
  assert.match(refused.problems[0]!, new RegExp(`contract ${b} is not among the contracts token onlyA may sign claims and closes for \\(${a}\\)`));
  assert.doesNotMatch(refused.problems[0]!, /\n/);
  assert.equal(w.chain.contract(b)!.nonce, 0n);
  assert.deepEqual((await narrow.store.claimsIn(['new'])).map((c) => c.contractId), [b], 'kept for a settler that may');
  // Control: a token for any contract; the same store, the claim settled, the transaction in the audit log.
  w.claim(a, 500n);
  const wide = await settlerFor(w, t, { signer: clientOf(d.tokens.any!), store: narrow.store, fee: parseFeeChoice({}) });
  assert.deepEqual((await wide.settler.cycle()).problems, [], wide.lines.join('\n'));
  for (const id of [a, b]) assert.equal(w.chain.contract(id)!.nonce, 500n);
  const hash = /settle: tx ([0-9A-F]{64})/.exec(wide.lines.join('\n'))![1];
  assert.ok(auditEntries(d.config).some((e) => e.what?.tx_hash === hash), 'the daemon audited the transaction by its hash');
});
