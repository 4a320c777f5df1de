/** Running the tools setup needs (pip, npm, node-gyp): captured output, abortable, one-line failures. */
import { spawn } from 'node:child_process';
import { RuntimeFailure } from '../errors.js';

interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** each line of output as it comes (for a progress line or --verbose) */
  onLine?: (line: string) => void;
}

/** Run a command to completion; rejects with a RuntimeFailure naming `what` and the tool's own error line. */
export function exec(what: string, cmd: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(opts.signal.reason);
    // its own process group, so that an abort stops the whole tree (node-gyp -> make -> g++)
    // before the staging folder it writes into is removed
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const stop = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    };
    opts.signal?.addEventListener('abort', stop, { once: true });
    let out = '';
    let partial = '';
    const take = (chunk: Buffer) => {
      const text = chunk.toString();
      out += text;
      if (out.length > 1 << 20) out = out.slice(-(1 << 19));
      if (!opts.onLine) return;
      const lines = (partial + text).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) opts.onLine(l);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (err) => reject(new RuntimeFailure(`${what}: cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', stop);
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      if (code === 0) return resolve(out);
      reject(new RuntimeFailure(`${what} failed (${signal ?? `exit ${code}`}): ${errorLine(out)}`, { hint: 'rerun with --verbose to see its output' }));
    });
  });
}

/** The most telling line of a tool's output: its first error line, else its last line. */
function errorLine(out: string): string {
  const lines = out.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const err = lines.find((l) => /\berror\b|ERROR|not found|No such file|Could not|THESE PACKAGES DO NOT MATCH/i.test(l) && !/^gyp info/.test(l));
  return (err ?? lines.at(-1) ?? '(no output)').slice(0, 300);
}
