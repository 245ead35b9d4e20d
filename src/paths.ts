import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root folder (package.json, native/…/build, dist/). This module runs from two places, both two
 * folders below the root: dist/src/paths.js (the library), and inlined into the bundled bins in dist/bin/. So code
 * that finds the native addons or the console's assets asks here, never from its own file's place.
 */
export function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** A native addon built by `npm install` (native/build.mjs): native/<dir>/build/Release/<file>. */
export function nativeAddonPath(dir: string, file: string): string {
  return path.join(packageRoot(), 'native', dir, 'build', 'Release', file);
}
