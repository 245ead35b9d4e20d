import { run } from './signhere.js';
import { startFromSnapshot } from './snapshot-main.js';

// signhere's startup snapshot (dist/snapshot/signhere.blob), built by build.mjs: the same run as signhere-bin.ts.
startFromSnapshot('signhere', (args) => run(args));
