import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SigningThread, privateKeyToSigner } from '../../src/signers/index.js';
import { sha256, verifyDigest } from '../../src/crypto/index.js';

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('SigningThread: byte-identical to LocalSigner, keys moved out of the caller, batches of any size', { timeout: 60_000 }, async () => {
  const thread = new SigningThread();
  try {
    const key = randomBytes(32);
    const reference = privateKeyToSigner(key);
    const local = privateKeyToSigner(key);
    const signer = await thread.adopt(local);
    assert.deepEqual(await signer.publicKey(), await reference.publicKey());
    assert.throws(() => local.exportKeyForTransfer(), code('SIGNER_DESTROYED'), 'the adopted LocalSigner is zeroed');
    // One at a time, then 500 at once (one message to the thread), all in order and all equal to the reference.
    const messages = Array.from({ length: 520 }, (_, i) => randomBytes(1 + (i % 90)));
    const one = [];
    for (const m of messages.slice(0, 20)) one.push(await signer.sign(m));
    const many = await Promise.all(messages.slice(20).map((m) => signer.sign(m)));
    const pub = await signer.publicKey();
    const expected = await Promise.all(messages.map((m) => reference.sign(m)));
    [...one, ...many].forEach((sig, i) => {
      assert.deepEqual(sig, expected[i], `message ${i}`);
      assert.ok(verifyDigest(pub, sha256(messages[i]!), sig));
    });
    // Two keys in one thread stay apart.
    const other = await thread.adopt(privateKeyToSigner(randomBytes(32)));
    const [a, b] = await Promise.all([signer.sign(messages[0]!), other.sign(messages[0]!)]);
    assert.notDeepEqual(a, b);
    // destroy() zeroes the key in the thread; the other key keeps working.
    signer.destroy();
    await assert.rejects(signer.sign(messages[0]!), code('SIGNER_DESTROYED'));
    assert.equal((await other.sign(messages[1]!)).length, 64);
  } finally {
    await thread.close();
  }
});

test('SigningThread: close answers what was asked before it, then refuses; a dead thread fails closed', { timeout: 60_000 }, async (t) => {
  const thread = new SigningThread();
  // A thread left running keeps the file's process alive: closed in t.after too, however the test ends (close()
  // is idempotent).
  t.after(() => thread.close());
  const signer = await thread.adopt(privateKeyToSigner(randomBytes(32)));
  const before = Array.from({ length: 50 }, (_, i) => signer.sign(Buffer.from(`7:${i + 1}:`)));
  await thread.close();
  assert.equal((await Promise.all(before)).length, 50);
  await assert.rejects(signer.sign(Buffer.from('7:51:')), code('SIGNER_UNAVAILABLE'));
  assert.match(thread.problem ?? '', /closed/);

  const crashing = new SigningThread();
  t.after(() => crashing.close());
  const s2 = await crashing.adopt(privateKeyToSigner(randomBytes(32)));
  const pending = s2.sign(Buffer.from('1:1:'));
  // The thread dies with a job in flight (as on an out-of-memory abort): the job is refused, never left hanging.
  await (crashing as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  await assert.rejects(pending, code('SIGNER_UNAVAILABLE'));
  await assert.rejects(s2.sign(Buffer.from('1:2:')), code('SIGNER_UNAVAILABLE'));
  assert.match(crashing.problem ?? '', /exited/);
  await crashing.close();
});

test('SigningThread inlineWhenIdle: one job per event-loop turn is signed on the caller thread while the thread is idle, the rest go to the thread; same bytes; destroy zeroes both copies', { timeout: 60_000 }, async (t) => {
  const thread = new SigningThread();
  t.after(() => thread.close());
  const key = randomBytes(32);
  const reference = privateKeyToSigner(key);
  const local = privateKeyToSigner(key);
  const signer = await thread.adopt(local, { inlineWhenIdle: true });
  const messages = Array.from({ length: 3 }, (_, i) => Buffer.from(`9:${i + 1}:`));
  // Three in one turn: the first inline, the other two queued for the thread (no second inline in this turn).
  const first = await Promise.all(messages.map((m) => signer.sign(m)));
  assert.equal(thread.signedInline, 1);
  // A later turn with the thread idle again: inline once more.
  await new Promise((r) => setImmediate(r));
  const again = await signer.sign(messages[0]!);
  assert.equal(thread.signedInline, 2);
  const expected = await Promise.all(messages.map((m) => reference.sign(m)));
  assert.deepEqual(first, expected);
  assert.deepEqual(again, expected[0]);
  // While the thread has jobs in hand, a new turn's job goes to the thread too (it does not jump the queue).
  await new Promise((r) => setImmediate(r));
  const batch = Array.from({ length: 200 }, (_, i) => signer.sign(Buffer.from(`9:${i + 10}:`)));
  assert.equal(thread.signedInline, 3, 'one of the batch inline');
  await new Promise((r) => setImmediate(r));
  const late = signer.sign(messages[2]!);
  assert.equal(thread.signedInline, 3, 'queued behind the batch, not inline');
  assert.deepEqual(await late, expected[2]);
  await Promise.all(batch);
  signer.destroy();
  await new Promise((r) => setImmediate(r));
  await assert.rejects(signer.sign(messages[0]!), code('SIGNER_DESTROYED'), 'the inline copy is zeroed');
  await thread.close();
  const closed = await thread.adopt(privateKeyToSigner(randomBytes(32)), { inlineWhenIdle: true }).catch((e: unknown) => e);
  assert.ok(code('SIGNER_UNAVAILABLE')(closed), 'a closed thread takes no key, inline or not');
});
