import { startupSnapshot } from 'node:v8';
import { chooseCurveEngineAtStart } from '../crypto/secp256k1.js';
import { log, setLogLevelFromEnv } from '../log.js';

/**
 * How a program starts from its startup snapshot. build.mjs bundles a snapshot-<program>.ts entry and runs it
 * under `node --build-snapshot` (dist/snapshot/<program>.blob); the bin's launcher line then starts
 * `node --snapshot-blob` instead of loading the bundle. The builder loads every module the program imports and
 * runs their top-level code, so a start skips loading and compiling them, and Node's crypto with them. What
 * depends on the machine or the environment is done here, when the program starts: the log level, and the choice
 * of secp256k1 engine, a native addon, which cannot be part of a snapshot. No key or passphrase is read while a
 * snapshot is built: the program's own code runs only from here.
 */
export function startFromSnapshot(program: string, main: (args: string[]) => Promise<void>): void {
  startupSnapshot.setDeserializeMainFunction(async () => {
    setLogLevelFromEnv();
    await chooseCurveEngineAtStart();
    log('debug', `${program}: started from its startup snapshot (dist/snapshot/${program}.blob)`);
    await main(process.argv.slice(2));
  });
}
