import { commandTable } from '../table.js';
import { OUTPUT_FLAG } from './shared.js';

export const VERSION = commandTable({
  command: 'version',
  summary: 'version and which secp256k1 engine runs',
  about: 'The package version and which secp256k1 engine runs.',
  flags: { ...OUTPUT_FLAG },
});
