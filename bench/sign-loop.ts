/**
 * One benchmark process: signs for `seconds` per repetition with one engine and prints signatures/s per
 * repetition as JSON. With `verify` as fourth argument each signature is also verified, which is the daemon's
 * work per signature (its self-check). bench/run.ts runs it pinned to one core (taskset -c 0).
 */
import { availableEngines, sha256, utf8 } from '../src/crypto/index.js';

const [engineName = 'noble-curves', repsArg = '5', secondsArg = '1', mode = 'sign'] = process.argv.slice(2);
const engine = (await availableEngines()).find((e) => e.name === engineName);
if (!engine) {
  process.stdout.write(JSON.stringify({ error: `engine ${engineName} not available` }) + '\n');
  process.exit(0);
}
const key = sha256(utf8('bench-key'));
const pub = engine.publicKey(key);
const verify = mode === 'verify';
const digests = Array.from({ length: 1024 }, (_, i) => sha256(utf8(`${i}:678:`)));
const seconds = Number(secondsArg);
// Warm-up: builds precomputed tables and lets the JIT settle.
for (let i = 0, t = performance.now(); performance.now() - t < 500; i++) engine.signDigest(digests[i & 1023]!, key);
const rates: number[] = [];
for (let r = 0; r < Number(repsArg); r++) {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let k = 0; k < 64; k++, n++) {
      const d = digests[n & 1023]!;
      const sig = engine.signDigest(d, key);
      if (verify && !engine.verifyDigest(sig, d, pub)) throw new Error('self-check failed');
    }
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < seconds);
  rates.push(n / elapsed);
}
process.stdout.write(JSON.stringify({ engine: engine.name, rates }) + '\n');
