import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

function versionOf(pkgJson: string): string {
  try {
    return (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** This package's version (package.json two folders up, from src/ and from dist/). */
export const VERSION = versionOf(fileURLToPath(new URL('../package.json', import.meta.url)));

/** Versions recorded in every run directory. */
export function versions(): Record<string, string> {
  const dep = (name: string) => {
    try {
      return versionOf(require.resolve(`${name}/package.json`));
    } catch {
      return 'not installed';
    }
  };
  return {
    vae: VERSION,
    node: process.versions.node,
    '@tensorflow/tfjs-core': dep('@tensorflow/tfjs-core'),
    '@tensorflow/tfjs-backend-wasm': dep('@tensorflow/tfjs-backend-wasm'),
  };
}
