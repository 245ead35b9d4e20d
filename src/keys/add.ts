/**
 * What the backends' `keys add` forms (backend.ts, AddForm) share: reading their option values, and the one option
 * several of them take.
 */
import type { AddOption, AddValues } from './backend.js';

/** A string option's value; undefined when it was not given ("" when its optional value was left out). */
export function textOption(values: AddValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A switch: given or not. */
export function switchOption(values: AddValues, name: string): boolean {
  return values[name] === true;
}

/** `--create`: one option, one meaning, in every form that can make a key where it keeps its keys. */
export const CREATE_OPTION: AddOption = { type: 'boolean', help: 'make the key on the token or in the cloud, instead of naming an existing one' };
