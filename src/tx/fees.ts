import type { Coin } from 'cosmjs-types/cosmos/base/v1beta1/coin';
import { InputError } from '../errors.js';

/**
 * Coins, gas prices and the fee, as `arkeod` reads them (`200uarkeo`, `0.001uarkeo`, `1,2foo`): amounts are exact
 * integers and a fee from a gas price is ceil(price × gas), computed in integers so no float rounds a fee down.
 */
export const DEFAULT_DENOM = 'uarkeo';
/** The minimum gas price of Arkeo's validator templates and docs; a node with a higher one refuses with advice. */
export const DEFAULT_GAS_PRICE = '0.001uarkeo';
/**
 * Gas is simulated and multiplied by this. Measured on a local chain: an open-contract at 1.0 (arkeod's default)
 * ran out of gas in the block and still paid its fee; 1.6 was enough for every message.
 */
export const DEFAULT_GAS_ADJUSTMENT = 1.6;

const DENOM = /^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/;
const MAX_UINT256 = (1n << 256n) - 1n;

/** `N` or `Ndenom` (the denom defaults to uarkeo); `flag` names the input in errors. */
export function parseCoin(text: string, flag: string): Coin {
  const m = /^([0-9]+)([a-zA-Z][a-zA-Z0-9/:._-]*)?$/.exec(text.trim());
  if (!m) throw new InputError('BAD_COIN', `${flag}: "${text.slice(0, 60)}" is not an amount; expected a whole number with an optional denom, e.g. 200uarkeo`);
  const amount = BigInt(m[1]!);
  const denom = m[2] ?? DEFAULT_DENOM;
  if (!DENOM.test(denom)) throw new InputError('BAD_COIN', `${flag}: "${denom.slice(0, 60)}" is not a denom`);
  if (amount > MAX_UINT256) throw new InputError('BAD_COIN', `${flag}: amount too large`);
  return { denom, amount: amount.toString() };
}

/** A comma-separated list of coins, sorted by denom as the chain requires; each denom once. */
export function parseCoins(text: string, flag: string, options: { positive?: boolean } = {}): Coin[] {
  const coins = text.split(',').map((part) => parseCoin(part, flag));
  const denoms = new Set(coins.map((c) => c.denom));
  if (denoms.size !== coins.length) throw new InputError('BAD_COIN', `${flag}: a denom appears twice`);
  if (options.positive && coins.some((c) => c.amount === '0')) throw new InputError('BAD_COIN', `${flag}: amounts must be above 0`);
  return coins.sort((a, b) => (a.denom < b.denom ? -1 : a.denom > b.denom ? 1 : 0));
}

export interface GasPrice {
  /** The price as a fraction: numerator / 10^scale per unit of gas. */
  numerator: bigint;
  scale: number;
  denom: string;
}

export function parseGasPrice(text: string, flag = '--gas-prices'): GasPrice {
  const m = /^([0-9]{1,30})(?:\.([0-9]{1,18}))?([a-zA-Z][a-zA-Z0-9/:._-]*)$/.exec(text.trim());
  if (!m || !DENOM.test(m[3]!)) throw new InputError('BAD_GAS_PRICE', `${flag}: "${text.slice(0, 60)}" is not a gas price; expected a decimal and a denom, e.g. 0.001uarkeo`);
  const fraction = m[2] ?? '';
  return { numerator: BigInt(m[1]! + fraction), scale: fraction.length, denom: m[3]! };
}

/** ceil(price × gas), as the node's minimum-fee check computes it. */
export function feeFromGasPrice(price: GasPrice, gas: bigint): Coin {
  const unit = 10n ** BigInt(price.scale);
  const amount = (price.numerator * gas + unit - 1n) / unit;
  return { denom: price.denom, amount: amount.toString() };
}

export function formatCoins(coins: readonly Coin[]): string {
  return coins.map((c) => `${c.amount}${c.denom}`).join(',') || '0';
}

/** How gas and the fee are chosen: `--gas N|auto`, `--gas-adjustment`, and one of `--fees` / `--gas-prices`. */
export interface FeeChoice {
  gas: bigint | 'auto';
  gasAdjustment: number;
  fees?: Coin[];
  gasPrice?: GasPrice;
}

export function parseFeeChoice(values: { gas?: string; 'gas-adjustment'?: string; fees?: string; 'gas-prices'?: string }): FeeChoice {
  const gasText = values.gas ?? 'auto';
  let gas: bigint | 'auto';
  if (gasText === 'auto') gas = 'auto';
  else if (/^[1-9][0-9]{0,15}$/.test(gasText)) gas = BigInt(gasText);
  else throw new InputError('BAD_GAS', `--gas: "${gasText.slice(0, 40)}" is not a gas limit; give a whole number above 0 or auto`);
  const adjustment = values['gas-adjustment'] === undefined ? DEFAULT_GAS_ADJUSTMENT : Number(values['gas-adjustment']);
  if (!Number.isFinite(adjustment) || adjustment < 1 || adjustment > 10) throw new InputError('BAD_GAS', `--gas-adjustment: expected a number from 1 to 10`);
  if (values.fees !== undefined) return { gas, gasAdjustment: adjustment, fees: parseCoins(values.fees, '--fees') };
  return { gas, gasAdjustment: adjustment, gasPrice: parseGasPrice(values['gas-prices'] ?? DEFAULT_GAS_PRICE) };
}

/** The gas limit for a simulated use: ceil(used × adjustment). */
export function adjustedGas(used: bigint, adjustment: number): bigint {
  const permille = BigInt(Math.round(adjustment * 1000));
  return (used * permille + 999n) / 1000n;
}

export function feeFor(choice: FeeChoice, gas: bigint): Coin[] {
  return choice.fees ?? [feeFromGasPrice(choice.gasPrice!, gas)];
}
