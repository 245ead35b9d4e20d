import { commandGroup } from '../table.js';
import { AUDIT, DAEMON } from './daemon.js';
import { CLAIM } from './claim.js';
import { CONTRACT, TX } from './chain.js';
import { CONSOLE } from './console.js';
import { DOCTOR } from './doctor.js';
import { KEYS } from './keys.js';
import { NONCE } from './nonce.js';
import { SETTLE } from './settle.js';
import { CURL, PROXY } from './pay.js';
import { VERIFY } from './verify.js';
import { VERSION } from './version.js';

/** arkeo-signer's commands, in the order its help lists them. */
export const ARKEO_SIGNER = commandGroup({
  command: '',
  summary: 'keys and signed claims for Arkeo',
  commands: [KEYS, VERIFY, CLAIM, NONCE, CURL, PROXY, CONTRACT, TX, SETTLE, DAEMON, AUDIT, DOCTOR, CONSOLE, VERSION],
});
