/**
 * Progress for long computations (train, eval, encode, bench): on a terminal a live status line
 * with the elapsed time and an ETA for the whole job, made of ranked fields so that it fits the
 * terminal's width as it narrows or is resized (line.ts); in a pipe or a log a plain line with
 * every field on stderr every few seconds, so a long run never looks hung; nothing with --quiet.
 *
 * `tick` also yields to the event loop with a macrotask. Tensor work on wasm and cpu is
 * synchronous, and an awaited data() there resolves as a microtask, so without a macrotask
 * between chunks no timer (the spinner), key press or signal handler (Ctrl-C) would ever run.
 */
import { formatDuration, type Log } from './log.js';
import { fitLine, type Field } from './line.js';

/** Let timers, key presses and signal handlers run, then continue. */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface ProgressOptions {
  /** seconds between plain lines when stderr is not a terminal */
  plainEverySec?: number;
}

export class Progress {
  private readonly t0 = performance.now();
  private lastPlain: number;
  private readonly plainEveryMs: number;

  /** total: the amount of work (examples, rows, steps) that `done` counts towards. */
  constructor(
    private readonly log: Log,
    private readonly total: number,
    opts: ProgressOptions = {},
  ) {
    this.plainEveryMs = (opts.plainEverySec ?? 5) * 1000;
    this.lastPlain = this.t0;
  }

  /** Seconds since the start. */
  elapsed(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Seconds left at the average pace so far (NaN before any progress). */
  eta(done: number): number {
    if (done <= 0) return NaN;
    return (this.elapsed() / done) * Math.max(0, this.total - done);
  }

  /** "ETA 1m20s" for `done`, or "ETA ?" before any progress. */
  etaText(done: number): string {
    return `ETA ${formatDuration(this.eta(done))}`;
  }

  /**
   * Show a line: the live status on a terminal; on a pipe or a log, the same line prefixed with
   * the elapsed time, at most every few seconds.
   */
  show(line: string | readonly Field[]): void {
    if (this.log.quiet) return;
    if (this.log.interactive) {
      // fitted to the terminal's width, least important fields dropped first (line.ts)
      this.log.status(line);
      return;
    }
    const now = performance.now();
    if (now - this.lastPlain < this.plainEveryMs) return;
    this.lastPlain = now;
    // a log has no width: every field
    this.log.info(`[${formatDuration(this.elapsed())}] ${typeof line === 'string' ? line : fitLine(line, Infinity)}`);
  }

  /** Show `describe(done)`'s line and yield to the event loop (see the file comment). */
  async tick(done: number, describe: (done: number) => string | readonly Field[]): Promise<void> {
    this.show(describe(done));
    await yieldToEvents();
  }

  /** Remove the live line. */
  end(): void {
    this.log.stopStatus();
  }
}
