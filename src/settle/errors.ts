import { ArkeoSignerError } from '../errors.js';

/** The settler's failures: a sentinel, node or store it cannot use, a setting it cannot work with. One line each. */
export class SettleError extends ArkeoSignerError {}
