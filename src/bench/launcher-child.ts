/**
 * The launcher's child process (src/bench/launcher.ts): runs each command it is sent to the end
 * and sends back its exit status and output. It is started before the bench loads anything, so
 * it stays small and forking it for each command is cheap. When the bench goes away (closed, or
 * stopped by a signal), a command still running is stopped too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { LaunchRequest, LaunchResult } from './launcher.js';

let running: ChildProcess | null = null;

process.on('message', (m: LaunchRequest) => {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let error: string | null = null;
  const child = spawn(m.command, m.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running = child;
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.on('error', (e) => (error = e.message));
  child.on('close', (status) => {
    running = null;
    const result: LaunchResult = { status: error ? null : status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), error };
    if (process.connected) process.send!(result);
  });
});

process.on('disconnect', () => {
  running?.kill('SIGTERM');
  process.exit(0);
});
