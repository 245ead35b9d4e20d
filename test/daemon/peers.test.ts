import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureBudget, peerOf } from '../../src/daemon/peers.js';

/**
 * The per-peer budget of failed requests (issue 13 item 16), with injected time: what a peer is, when it is
 * refused, for how long, and that over budget only one refusal per window is marked for the audit log.
 */

function clocked(options = { burst: 3, perSecond: 1 / 6, windowMs: 60_000, maxPeers: 100 }) {
  let now = 0;
  return { budget: new FailureBudget(options, () => now), at: (ms: number) => (now = ms) };
}

test('peerOf: a unix peer is its uid (or the whole socket), a TLS peer its IPv4 address or IPv6 /64', { timeout: 60_000 }, () => {
  // Guards a peer key that a client can change at will (the source port, a fresh connection, the low IPv6 bits).
  assert.equal(peerOf('unix', 1000, undefined), 'uid:1000');
  assert.equal(peerOf('unix', 0, undefined), 'uid:0');
  assert.equal(peerOf('unix', undefined, undefined), 'unix');
  assert.equal(peerOf('tls', undefined, '192.0.2.7'), 'ip:192.0.2.7');
  assert.equal(peerOf('tls', undefined, '::ffff:192.0.2.7'), 'ip:192.0.2.7', 'IPv4-mapped is the IPv4 peer');
  assert.equal(peerOf('tls', undefined, '2001:db8:1:2:aaaa:bbbb:cccc:dddd'), 'ip:2001:db8:1:2::/64');
  assert.equal(peerOf('tls', undefined, '2001:db8:1:2::1'), 'ip:2001:db8:1:2::/64', 'same /64, same peer');
  assert.equal(peerOf('tls', undefined, '2001:0db8:0001:0002::ffff'), 'ip:2001:db8:1:2::/64', 'leading zeros do not make a new peer');
  assert.equal(peerOf('tls', undefined, '2001:db8::1'), 'ip:2001:db8:0:0::/64');
  assert.equal(peerOf('tls', undefined, '::1'), 'ip:0:0:0:0::/64');
  assert.equal(peerOf('tls', undefined, 'fe80::1%eth0'), 'ip:fe80:0:0:0::/64');
  assert.notEqual(peerOf('tls', undefined, '2001:db8:1:3::1'), peerOf('tls', undefined, '2001:db8:1:2::1'));
  assert.equal(peerOf('tls', undefined, undefined), 'tls:?');
});

test('FailureBudget: burst, then refused with Retry-After; refills with time; one audited refusal per window', { timeout: 60_000 }, () => {
  // Guards: no limit (the 4th failure allowed), no refill (refused forever), and an audit line per refusal.
  const { budget, at } = clocked();
  at(0);
  assert.deepEqual([1, 2, 3].map(() => budget.fail('p').allowed), [true, true, true]);
  assert.deepEqual(budget.fail('p'), { allowed: false, retryAfterSeconds: 6, audit: true, unaudited: 0 });
  assert.deepEqual(budget.fail('p'), { allowed: false, retryAfterSeconds: 6, audit: false, unaudited: 1 });
  assert.equal(budget.fail('q').allowed, true, 'another peer has its own budget');
  at(3000);
  assert.deepEqual(budget.fail('p'), { allowed: false, retryAfterSeconds: 3, audit: false, unaudited: 2 });
  at(6000);
  assert.equal(budget.fail('p').allowed, true, 'one failure earned back after 6 s');
  assert.deepEqual(budget.fail('p'), { allowed: false, retryAfterSeconds: 6, audit: false, unaudited: 3 });
  at(60_000);
  // A window after the last audited refusal: the next refusal is audited again and says how many were not.
  const v = budget.fail('p');
  assert.equal(v.allowed, true, '54 s refilled the budget');
  budget.fail('p');
  budget.fail('p');
  assert.deepEqual(budget.fail('p'), { allowed: false, retryAfterSeconds: 6, audit: true, unaudited: 3 });
});

test('FailureBudget: memory stays bounded; idle peers are forgotten, a flood of new peers shares one budget', { timeout: 60_000 }, () => {
  // Guards an unbounded map (one entry per address an attacker can send from).
  const { budget, at } = clocked({ burst: 2, perSecond: 1, windowMs: 1000, maxPeers: 3 });
  at(0);
  for (const p of ['a', 'b', 'c']) budget.fail(p);
  assert.equal(budget.size, 3);
  // Full, and nobody refilled yet: new peers share the overflow budget of 2.
  assert.deepEqual(['d', 'e', 'f'].map((p) => budget.fail(p).allowed), [true, true, false]);
  assert.ok(budget.size <= 4);
  at(10_000); // a, b and c refilled long ago: forgotten, so a new peer gets its own budget
  assert.deepEqual(['g', 'g', 'g'].map((p) => budget.fail(p).allowed), [true, true, false]);
  assert.ok(budget.size <= 4, `size ${budget.size}`);
});
