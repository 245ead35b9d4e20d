import { type CommandTable } from '../table.js';
import { OUTPUT_FLAG } from './shared.js';

export const VERSION = {
  command: 'version',
  summary: 'version and which secp256k1 engine runs',
  about: 'The package version and which secp256k1 engine runs.',
  flags: { ...OUTPUT_FLAG },
} as const satisfies CommandTable;
