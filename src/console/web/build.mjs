// Bundles the console's page (preact, htm, uPlot and our code and styles) into dist/src/console/web/app.js and
// app.css, which the console serves itself. Run by npm run build after tsc.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');
await build({
  entryPoints: [path.join(here, 'app.js')],
  outdir: path.join(root, 'dist', 'src', 'console', 'web'),
  entryNames: 'app',
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  legalComments: 'eof',
  logLevel: 'warning',
});
