/**
 * This installation's copy of @tensorflow/tfjs-node: installed from npm without its install
 * script (which would download TensorFlow 2.9.1 from outside the registries), its deps/ linked
 * to the shared libraries and headers, and its @tensorflow/tfjs and tfjs-core replaced by links
 * to vae's own copies, so that it registers its backend on the tfjs-core instance vae uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { RuntimeFailure } from '../errors.js';
import { TFJS_NODE_VERSION, type TensorflowLayout } from '../backend/tensorflow-home.js';
import { exec } from './exec.js';

/** npm install @tensorflow/tfjs-node (pinned, no scripts) into the empty folder `dir`. */
export async function installTfjsNode(npmCli: string, dir: string, opts: { signal?: AbortSignal; onLine?: (line: string) => void }): Promise<void> {
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'vae-tensorflow-backend', private: true, description: 'written by vae setup tensorflow' }, null, 2)}\n`);
  await exec(
    `npm install @tensorflow/tfjs-node@${TFJS_NODE_VERSION}`,
    process.execPath,
    [npmCli, 'install', `@tensorflow/tfjs-node@${TFJS_NODE_VERSION}`, '--save-exact', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', '--prefer-offline', '--omit=dev', '--loglevel=http'],
    { cwd: dir, signal: opts.signal, onLine: opts.onLine },
  );
}

/** The package's folder for the binding: lib/napi-vN, N the newest N-API it lists that this Node has. */
export function bindingDir(pkgDir: string): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { binary: { module_path: string; napi_versions: number[] } };
  const have = Number(process.versions.napi);
  const napi = Math.max(...pkg.binary.napi_versions.filter((v) => v <= have));
  if (!Number.isFinite(napi)) throw new RuntimeFailure(`this Node.js (N-API ${have}) is older than any N-API version @tensorflow/tfjs-node supports`);
  return path.resolve(pkgDir, pkg.binary.module_path.replace('{napi_build_version}', String(napi)));
}

function relink(link: string, target: string): void {
  fs.rmSync(link, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(target, link);
}

/**
 * Link the installed package in `dir` (an installs/<id> folder or its staging sibling) to the
 * shared libraries and headers, and to the tfjs packages of the vae installation at `root`.
 */
export function linkInstall(dir: string, layout: TensorflowLayout, root: string): void {
  const pkgDir = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
  const deps = path.join(pkgDir, 'deps');
  // relative, so that they hold when the staging folder is renamed into place
  relink(path.join(deps, 'lib'), path.relative(deps, layout.lib));
  relink(path.join(deps, 'include'), path.relative(deps, layout.include));
  const scope = path.join(dir, 'node_modules', '@tensorflow');
  const ours = createRequire(path.join(root, 'package.json'));
  for (const name of fs.readdirSync(scope)) {
    if (name === 'tfjs-node') continue;
    let target: string | null = null;
    try {
      target = fs.realpathSync(path.dirname(ours.resolve(`@tensorflow/${name}/package.json`)));
    } catch {
      /* vae does not have it: tfjs-node does not need it directly */
    }
    if (target) relink(path.join(scope, name), target);
    else fs.rmSync(path.join(scope, name), { recursive: true, force: true });
  }
  for (const needed of ['tfjs', 'tfjs-core']) {
    if (!fs.existsSync(path.join(scope, needed))) throw new RuntimeFailure(`vae's own @tensorflow/${needed} was not found from ${root}`, { hint: 'run npm install in vae\'s folder' });
  }
}
