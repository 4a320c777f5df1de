/**
 * What `vae setup tensorflow` needs from the machine, each checked up front and reported as one
 * line saying how to get it: Linux x64, pip (unless --wheel), npm and its node-gyp, Python 3
 * (node-gyp runs gyp), a C++ compiler and make, and Node.js's headers (never downloaded).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Tools {
  /** the command that runs pip, e.g. ['python3', '-m', 'pip'] */
  pip: string[] | null;
  /** npm's CLI script, run with this node */
  npm: string;
  nodeGyp: string;
  /** --nodedir for node-gyp: a folder holding include/node/node_api.h and common.gypi */
  nodeDir: string;
  /** the C++ compiler, passed to make as CXX */
  cxx: string;
}

interface Missing {
  what: string;
  how: string;
}

function onPath(cmd: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

function works(cmd: string[], env: NodeJS.ProcessEnv): boolean {
  const r = spawnSync(cmd[0], [...cmd.slice(1), '--version'], { env, stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}

function findPip(env: NodeJS.ProcessEnv): string[] | null {
  const candidates: string[][] = [];
  if (env.VAE_PIP) candidates.push(env.VAE_PIP.split(' '));
  for (const py of ['python3', 'python']) if (onPath(py, env)) candidates.push([py, '-m', 'pip']);
  for (const pip of ['pip3', 'pip']) if (onPath(pip, env)) candidates.push([pip]);
  return candidates.find((c) => works(c, env)) ?? null;
}

/** npm's own CLI script: from npm_execpath when npm started us, else the npm on PATH. */
function findNpm(env: NodeJS.ProcessEnv): string | null {
  const fromEnv = env.npm_execpath && /npm-cli\.js$/.test(env.npm_execpath) ? env.npm_execpath : null;
  if (fromEnv && fs.existsSync(fromEnv)) return fromEnv;
  const bin = onPath('npm', env);
  if (!bin) return null;
  const real = fs.realpathSync(bin);
  return real.endsWith('.js') ? real : null;
}

/** node-gyp as npm ships it (npm builds native packages with it), else one on PATH. */
function findNodeGyp(npmCli: string | null, env: NodeJS.ProcessEnv): string | null {
  if (env.npm_config_node_gyp && fs.existsSync(env.npm_config_node_gyp)) return env.npm_config_node_gyp;
  if (npmCli) {
    const bundled = path.join(path.dirname(path.dirname(npmCli)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (fs.existsSync(bundled)) return bundled;
  }
  const bin = onPath('node-gyp', env);
  return bin ? fs.realpathSync(bin) : null;
}

/** The folder beside the running node that holds its headers, else /usr (Debian's libnode-dev, NodeSource's nodejs). */
function findNodeDir(env: NodeJS.ProcessEnv): string | null {
  const candidates = [env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..'), '/usr/local', '/usr'].filter((d): d is string => !!d);
  return candidates.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')) && fs.existsSync(path.join(d, 'include', 'node', 'common.gypi'))) ?? null;
}

export function checkTools(opts: { needPip: boolean }, env: NodeJS.ProcessEnv = process.env): { tools: Tools | null; missing: Missing[] } {
  const missing: Missing[] = [];
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { tools: null, missing: [{ what: `Linux x64 (this is ${process.platform} ${process.arch})`, how: 'TensorFlow publishes its C library in the wheel used here for Linux x64 only; use --backend wasm' }] };
  }
  const pip = opts.needPip ? findPip(env) : null;
  if (opts.needPip && !pip) missing.push({ what: 'pip', how: 'install it (Debian: apt-get install -y python3-pip), or download the wheel elsewhere and pass --wheel FILE' });
  const npm = findNpm(env);
  if (!npm) missing.push({ what: 'npm', how: 'it comes with Node.js; put it on PATH' });
  const nodeGyp = findNodeGyp(npm, env);
  if (npm && !nodeGyp) missing.push({ what: 'node-gyp', how: 'npm normally ships it; npm install -g node-gyp' });
  if (!onPath('python3', env) && !env.PYTHON) missing.push({ what: 'python3 (node-gyp runs gyp with it)', how: 'apt-get install -y python3' });
  const cxx = [env.CXX, 'g++', 'c++', 'clang++'].find((c): c is string => !!c && !!onPath(c, env));
  if (!cxx) missing.push({ what: 'a C++ compiler', how: 'apt-get install -y g++ make (or set CXX)' });
  if (!onPath('make', env)) missing.push({ what: 'make', how: 'apt-get install -y make' });
  const nodeDir = findNodeDir(env);
  if (!nodeDir) {
    missing.push({
      what: `Node.js ${process.version} headers (include/node/node_api.h beside ${process.execPath}, or in /usr/include/node)`,
      how: 'Debian: apt-get install -y libnode-dev; NodeSource and nodejs.org builds include them; or set npm_config_nodedir',
    });
  }
  if (missing.length || !npm || !nodeGyp || !cxx || !nodeDir) return { tools: null, missing };
  return { tools: { pip, npm, nodeGyp, nodeDir, cxx }, missing };
}
