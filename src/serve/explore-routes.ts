/**
 * Everything `vae explore` serves: the page (web/explore/ in the package), tfjs's browser build
 * from our own node_modules (nothing from a CDN, so the page works offline), the image
 * preparation recipes (src/image/prepare.ts as compiled), the exported model under /model/ and
 * the test map under /data/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ExportFiles } from '../export/export-run.js';
import type { TestMap } from './test-map.js';
import type { Content } from './server.js';

/** The page's own files: <package>/web/explore (this file is src/serve/ or dist/serve/). */
export const PAGE_DIR = fileURLToPath(new URL('../../web/explore/', import.meta.url));

/** tfjs's minified browser bundle (it defines the global `tf`). */
function tfjsBundle(): string {
  const pkg = createRequire(import.meta.url).resolve('@tensorflow/tfjs/package.json');
  return path.join(path.dirname(pkg), 'dist', 'tf.min.js');
}

export function exploreRoutes(model: ExportFiles, map: TestMap, images: Uint8Array): Map<string, Content> {
  const routes = new Map<string, Content>();
  routes.set('/', { file: path.join(PAGE_DIR, 'index.html') });
  for (const f of fs.readdirSync(PAGE_DIR)) routes.set(`/${f}`, { file: path.join(PAGE_DIR, f) });
  routes.set('/tfjs/tf.min.js', { file: tfjsBundle() });
  // The data sets' preparation recipes, compiled (plain array code with no imports): the page
  // prepares dropped pictures with the same code as `vae reconstruct`.
  routes.set('/lib/prepare.js', { file: fileURLToPath(new URL('../image/prepare.js', import.meta.url)) });
  for (const [rel, bytes] of model) routes.set(`/model/${rel}`, { bytes });
  routes.set('/data/map.json', { bytes: new TextEncoder().encode(JSON.stringify(map)) });
  routes.set('/data/images.bin', { bytes: images });
  return routes;
}
