/**
 * Compiling tfjs-node's binding (two C++ files) against the wheel's headers and libraries, with
 * node-gyp and the local Node.js headers, offline. About 15-30 s on 2 cores; done once per user:
 * the result is kept beside the libraries and copied into each installation.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Tools } from './prereqs.js';
import { exec } from './exec.js';
import { bindingDir } from './link.js';

/** Build in the package folder `pkgDir` (deps/ already linked); returns the compiled file. */
export async function buildBinding(tools: Tools, pkgDir: string, opts: { signal?: AbortSignal; onLine?: (line: string) => void }): Promise<string> {
  const out = bindingDir(pkgDir);
  const napi = /napi-v(\d+)/.exec(out)?.[1] ?? '8';
  await exec(
    'building the tfjs-node binding',
    process.execPath,
    [
      tools.nodeGyp,
      'rebuild',
      `--nodedir=${tools.nodeDir}`,
      `--napi_build_version=${napi}`,
      '--module_name=tfjs_binding',
      `--module_path=${out}`,
      '-j',
      String(Math.max(1, os.availableParallelism())),
    ],
    { cwd: pkgDir, signal: opts.signal, onLine: opts.onLine, env: { ...process.env, CXX: tools.cxx, npm_config_nodedir: tools.nodeDir } },
  );
  const file = path.join(out, 'tfjs_binding.node');
  fs.rmSync(path.join(pkgDir, 'build'), { recursive: true, force: true });
  return file;
}
