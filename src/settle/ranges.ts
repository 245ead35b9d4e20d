// Apart from config.ts, with nothing heavy imported: the CLI's tables read the defaults here, and every command's
// help and start loads the tables.
import { InputError } from '../errors.js';

/**
 * The settler's numeric settings: each one's range and default. The flags, the settings file, doctor and the console
 * all check and default them here.
 */
export const SETTING_RANGES = {
  interval: { kind: 'seconds', min: 0.1, max: 86_400, default: '30' },
  wait_timeout: { kind: 'seconds', min: 1, max: 3600, default: '60' },
  batch: { kind: 'whole', min: 1, max: 100, default: '10' },
  margin: { kind: 'whole', min: 0, max: 100_000, default: '3' },
  deadline_blocks: { kind: 'whole', min: 0, max: 10_000_000, default: '50' },
} as const satisfies Record<string, { kind: 'seconds' | 'whole'; min: number; max: number; default: string }>;

export type RangedSetting = keyof typeof SETTING_RANGES;

/** A whole-number setting, in its range; `label` names it in the one-line error (a flag, or a file's key). */
export function wholeSetting(key: RangedSetting, text: string, label: string): bigint {
  const { min, max } = SETTING_RANGES[key];
  if (!/^[0-9]{1,20}$/.test(text) || BigInt(text) < BigInt(min) || BigInt(text) > BigInt(max)) throw new InputError('BAD_SETTING', `${label}: expected a whole number from ${min} to ${max}, got "${text.slice(0, 30)}"`);
  return BigInt(text);
}

/** A setting in seconds (to the millisecond), in its range: milliseconds. */
export function secondsSetting(key: RangedSetting, text: string, label: string): number {
  const { min, max } = SETTING_RANGES[key];
  const v = /^[0-9]{1,6}(\.[0-9]{1,3})?$/.test(text) ? Number(text) : NaN;
  if (!(v >= min && v <= max)) throw new InputError('BAD_SETTING', `${label}: expected seconds from ${min} to ${max}, got "${text.slice(0, 20)}"`);
  return Math.round(v * 1000);
}
