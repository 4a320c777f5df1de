/** Running the real `vae` binary (bin/vae.js over dist/, built by `npm test`) from tests. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/vae.js', import.meta.url));

export function runVae(args: string[], opts: { cwd: string; input?: string | Buffer; env?: NodeJS.ProcessEnv }) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    input: opts.input,
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** A run's metrics.jsonl without the timing fields (which differ between identical runs). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the records are checked field by field in tests
export function runMetrics(dir: string): any[] {
  return fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds, examplesPerSec, time, ...rest } = JSON.parse(l);
      return rest;
    });
}
