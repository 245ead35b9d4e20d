import { run } from './claim.js';
import { startFromSnapshot } from './snapshot-main.js';

// `arkeo-signer claim …` from a startup snapshot (dist/snapshot/claim.blob), built by build.mjs; the bin's launcher
// line starts it for `claim` only. The same run as the dispatcher's (arkeo-signer.ts): `claim`'s own arguments.
startFromSnapshot('claim', (args) => run(args.slice(1)));
