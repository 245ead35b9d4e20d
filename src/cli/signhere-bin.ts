#!/usr/bin/env node
import { run } from './signhere.js';

// signhere's bin (package.json `bin`, bundled to dist/bin/signhere.js by build.mjs). Apart from signhere.ts so
// that the startup snapshot's builder can load signhere without running it (snapshot-signhere.ts).
await run(process.argv.slice(2));
