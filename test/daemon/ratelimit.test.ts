import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../../src/daemon/index.js';

/**
 * Issue 17 item 5: the attack suite's limiter test uses 0.001/s, so a limiter that never refills passes it. Here
 * time is injected, so refill is checked to the millisecond without sleeping.
 */

function clocked() {
  let now = 0;
  return { limiter: new RateLimiter(() => now), at: (ms: number) => (now = ms) };
}

test('RateLimiter {per_second: 1, burst: 1}: allows at 0 ms, refuses at 500 ms, allows at 1,000 ms', { timeout: 60_000 }, () => {
  // Guards a limiter that never refills (the third take fails) and one that does not limit (the second passes).
  const { limiter, at } = clocked();
  const rate = { per_second: 1, burst: 1 };
  at(0);
  assert.equal(limiter.take('t', rate), true, '0 ms');
  at(500);
  assert.equal(limiter.take('t', rate), false, '500 ms');
  assert.equal(limiter.retryAfter('t', rate), 0.5, 'Retry-After at 500 ms: half a second to the next token');
  at(1000);
  assert.equal(limiter.take('t', rate), true, '1,000 ms');
  assert.equal(limiter.take('t', rate), false, '1,000 ms again: the bucket is empty');
});

test('RateLimiter: burst, refill capped at the burst, tokens kept apart', { timeout: 60_000 }, () => {
  // Guards refill without a cap (a long idle period must not bank more than `burst`) and buckets shared by name.
  const { limiter, at } = clocked();
  const rate = { per_second: 2, burst: 3 };
  at(0);
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a', rate)), [true, true, true, false]);
  assert.equal(limiter.take('b', rate), true, 'another token has its own bucket');
  at(60_000); // a minute idle refills to the burst (3), not to 120
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a', rate)), [true, true, true, false]);
  assert.equal(limiter.retryAfter('a', rate), 0.5);
  at(60_499);
  assert.ok(limiter.retryAfter('a', rate) > 0, '499 ms at 2/s is not yet a whole token');
  at(60_500);
  assert.equal(limiter.take('a', rate), true);
  assert.equal(limiter.retryAfter('never-seen', rate), 0);
});
