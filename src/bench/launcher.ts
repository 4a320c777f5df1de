/**
 * Runs commands (the PyTorch reference) from a small helper process rather than from the bench
 * itself. Starting a process forks the one that starts it, and after a fork every page the bench
 * then writes (onnxruntime's buffers, the engine's memory, the heap) takes a copy-on-write fault
 * the first time: about 10,000 faults, a few hundred milliseconds spread over the next timed
 * run, which a training run never pays. The helper is forked once, before the bench loads data
 * or models, and does the forking from then on.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface LaunchRequest {
  command: string;
  args: string[];
}

export interface LaunchResult {
  /** the exit status (null: killed by a signal, or it did not start) */
  status: number | null;
  stdout: string;
  stderr: string;
  /** why it did not start (null: it started) */
  error: string | null;
}

export class Launcher {
  private constructor(private readonly child: ChildProcess) {}

  static start(): Launcher {
    const child = fork(new URL('./launcher-child.js', import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    return new Launcher(child);
  }

  /** Runs `command args` to the end (one at a time). */
  run(command: string, args: string[]): Promise<LaunchResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the helper process that starts the PyTorch reference stopped (exit ${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (m: LaunchResult) => {
        this.child.off('exit', onExit);
        resolve(m);
      });
      this.child.send({ command, args } satisfies LaunchRequest);
    });
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
  }
}
