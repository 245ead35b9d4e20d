import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/errors.js';
import { parseHex, signMessage, utf8, toHex } from '../../src/crypto/index.js';
import { arkcontractPreimage, claimPreimage, formatArkAuth, formatArkContract, parseArkAuth, parseArkContract, parseDecimal } from '../../src/claims/index.js';
import { readVector, requireVectors, type ClaimVectors } from '../helpers.js';

const hex = (s: string) => parseHex(s, 'vector');

function rejects(fn: () => unknown, code: string, includes?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.code, code, e.message);
    if (includes) assert.match(e.message, includes);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

test('known answers: arkauth 3-part, 4-part (delegate) and arkcontract headers from arkeo-claims.json', { timeout: 60_000 }, (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  for (const h of v.headers) {
    const key = v.keys[h.key]!;
    const cid = BigInt(h.contractId);
    if (h.kind === 'arkauth-3' || h.kind === 'arkauth-4') {
      const pre = claimPreimage(cid, BigInt(h.nonce!));
      const signature = signMessage(hex(key.priv), utf8(pre));
      const built = formatArkAuth({ contractId: cid, nonce: BigInt(h.nonce!), signature, spender: h.kind === 'arkauth-4' ? hex(key.pub) : undefined });
      assert.equal(built, h.value, h.kind);
      const parsed = parseArkAuth(h.value);
      assert.equal(parsed.contractId, cid);
      assert.equal(parsed.nonce, BigInt(h.nonce!));
      assert.equal(toHex(parsed.signature), toHex(signature));
      if (h.kind === 'arkauth-4') assert.equal(toHex(parsed.spender!), key.pub);
    } else if (h.kind === 'arkcontract') {
      const pre = arkcontractPreimage(cid, BigInt(h.timestamp!));
      assert.equal(pre, `${cid}:${h.timestamp}:`);
      assert.equal(formatArkContract({ contractId: cid, timestamp: BigInt(h.timestamp!), signature: signMessage(hex(key.priv), utf8(pre)) }), h.value);
      assert.equal(parseArkContract(h.value).timestamp, BigInt(h.timestamp!));
    } else if (h.kind === 'rejected-double-colon') {
      rejects(() => parseArkAuth(h.value), 'BAD_HEADER', /double colon/);
    } else assert.fail(`unknown header kind ${h.kind}`);
  }
  assert.deepEqual(new Set(v.headers.map((h) => h.kind)), new Set(['arkauth-3', 'arkauth-4', 'arkcontract', 'rejected-double-colon']));
});

test('preimages: compat is "<cid>:<nonce>:", chain-id appends the chain id; bounds are checked', { timeout: 60_000 }, () => {
  assert.equal(claimPreimage(42n, 17n), '42:17:');
  assert.equal(claimPreimage(42n, 17n, 'chain-id', 'arkeo-main-v1'), '42:17:arkeo-main-v1');
  rejects(() => claimPreimage(42n, 17n, 'chain-id'), 'BAD_CHAIN_ID');
  rejects(() => claimPreimage(42n, 17n, 'chain-id', 'bad chain/id'), 'BAD_CHAIN_ID');
  rejects(() => claimPreimage(0n, 1n), 'BAD_NUMBER', /contract id/);
  rejects(() => claimPreimage(1n, 0n), 'BAD_NUMBER', /nonce/);
  rejects(() => claimPreimage(1n, 1n << 63n), 'BAD_NUMBER');
  assert.equal(claimPreimage((1n << 64n) - 1n, (1n << 63n) - 1n), '18446744073709551615:9223372036854775807:');
});

test('strict parsers: decimals without sign or leading zeros, exact 64-byte lowercase hex, the right prefix', { timeout: 60_000 }, (t) => {
  if (!requireVectors(t)) return;
  const v = readVector<ClaimVectors>('arkeo-claims.json');
  const good = v.headers.find((h) => h.kind === 'arkauth-3')!.value;
  const four = v.headers.find((h) => h.kind === 'arkauth-4')!.value;
  const sig = good.split(':')[2]!;
  for (const bad of ['01', '+1', '-1', '1.0', '', ' 1', '1e3', '0x1', '99999999999999999999999']) rejects(() => parseDecimal(bad, 'n', 0n, (1n << 64n) - 1n), 'BAD_NUMBER');
  const cases: [string, string, RegExp][] = [
    [`01:1:${sig}`, 'BAD_NUMBER', /contract id/],
    [`1:+1:${sig}`, 'BAD_NUMBER', /nonce/],
    [`1:0:${sig}`, 'BAD_NUMBER', /out of range/],
    [`1:1:${sig.toUpperCase()}`, 'BAD_SIGNATURE', /lowercase hex/],
    [`1:1:${sig.slice(2)}`, 'BAD_SIGNATURE', /128/],
    [`1:1:${sig}00`, 'BAD_SIGNATURE', /128/],
    [`1:1`, 'BAD_HEADER', /2 part/],
    [`${good}:extra`, 'BAD_BECH32', /./],
    [`${four}:extra`, 'BAD_HEADER', /5 part/],
    [four.replace('arkeopub', 'tarkeopub'), 'BAD_BECH32', /./],
    [four.replace(/1:arkeopub1/, '1:cosmospub1'), 'BAD_BECH32', /./],
    [`1:1:${sig} `, 'BAD_HEADER', /white space/],
    [`1:1:${sig}\u00e9`, 'BAD_HEADER', /non-ASCII/],
    [`1:1:${'a'.repeat(2000)}`, 'BAD_HEADER', /longer than/],
    ['', 'BAD_HEADER', /1 part/],
  ];
  for (const [value, code, re] of cases) {
    assert.throws(() => parseArkAuth(value), (e: unknown) => e instanceof InputError && (e.code === code || (code === 'BAD_BECH32' && e.code.startsWith('BAD_BECH32'))) && re.test(e.message) && !e.message.includes('\n'), `${value.slice(0, 12)}…${value.slice(-12)} → ${code}`);
  }
  assert.equal(parseArkAuth(four.replace('arkeopub', 'tarkeopub').replace(/:tarkeopub1[^:]+:/, `:${v.keys.dog!.testnetBech32PubKey}:`), 'tarkeopub').nonce, 1n);
  rejects(() => parseArkContract('1:1700000000'), 'BAD_HEADER');
  rejects(() => parseArkContract(`1:01:${sig}`), 'BAD_NUMBER');
});
