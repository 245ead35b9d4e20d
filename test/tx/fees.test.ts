import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adjustedGas, feeFromGasPrice, parseCoins, parseFeeChoice, parseGasPrice } from '../../src/tx/index.js';

test('a fee from a gas price is ceil(price × gas), in integers (as the node checks its minimum)', () => {
  assert.deepEqual(feeFromGasPrice(parseGasPrice('0.001uarkeo'), 200000n), { denom: 'uarkeo', amount: '200' });
  // 0.001 × 123457 = 123.457 → 124: a fee rounded down would be refused with "insufficient fees".
  assert.deepEqual(feeFromGasPrice(parseGasPrice('0.001uarkeo'), 123457n), { denom: 'uarkeo', amount: '124' });
  assert.deepEqual(feeFromGasPrice(parseGasPrice('2uarkeo'), 3n), { denom: 'uarkeo', amount: '6' });
  // Control: an exact product is not rounded up.
  assert.deepEqual(feeFromGasPrice(parseGasPrice('0.25uarkeo'), 8n), { denom: 'uarkeo', amount: '2' });
  // A price finer than a float can hold stays exact.
  assert.deepEqual(feeFromGasPrice(parseGasPrice('0.000000000000000001uarkeo'), 10n ** 18n + 1n), { denom: 'uarkeo', amount: '2' });
});

test('gas adjustment rounds up, and --gas, --fees and --gas-prices parse with one-line errors', () => {
  assert.equal(adjustedGas(100000n, 1.6), 160000n);
  assert.equal(adjustedGas(100001n, 1.6), 160002n); // 160001.6 → 160002
  assert.equal(adjustedGas(99n, 1), 99n);
  assert.deepEqual(parseFeeChoice({}).gas, 'auto');
  assert.equal(parseFeeChoice({}).gasAdjustment, 1.6);
  assert.deepEqual(parseFeeChoice({ gas: '250000', fees: '300uarkeo' }), { gas: 250000n, gasAdjustment: 1.6, fees: [{ denom: 'uarkeo', amount: '300' }] });
  for (const [values, message] of [
    [{ gas: '0' }, /--gas: "0" is not a gas limit/],
    [{ gas: '1e6' }, /--gas: "1e6"/],
    [{ 'gas-adjustment': '0.5' }, /--gas-adjustment: expected a number from 1 to 10/],
    [{ fees: '12.5uarkeo' }, /--fees: "12.5uarkeo" is not an amount/],
    [{ fees: '1uarkeo,2uarkeo' }, /--fees: a denom appears twice/],
    [{ 'gas-prices': 'uarkeo' }, /--gas-prices: "uarkeo" is not a gas price/],
    [{ 'gas-prices': '0.001' }, /--gas-prices: "0.001" is not a gas price/],
  ] as const) {
    assert.throws(() => parseFeeChoice(values), (e: Error) => message.test(e.message) && !e.message.includes('\n'));
  }
});

test('coins: a bare number is uarkeo, several are sorted by denom as the chain requires, zero is refused where it must be positive', () => {
  assert.deepEqual(parseCoins('1234', '--amount'), [{ denom: 'uarkeo', amount: '1234' }]);
  assert.deepEqual(parseCoins('5zeta,1uarkeo,2beta', '--amount'), [
    { denom: 'beta', amount: '2' },
    { denom: 'uarkeo', amount: '1' },
    { denom: 'zeta', amount: '5' },
  ]);
  assert.throws(() => parseCoins('0uarkeo', '--amount', { positive: true }), /--amount: amounts must be above 0/);
  assert.deepEqual(parseCoins('0uarkeo', '--fees'), [{ denom: 'uarkeo', amount: '0' }]);
  assert.throws(() => parseCoins('-1uarkeo', '--amount'), /--amount: "-1uarkeo" is not an amount/);
  assert.throws(() => parseCoins('1' + '0'.repeat(80), '--amount'), /--amount: amount too large/);
});
