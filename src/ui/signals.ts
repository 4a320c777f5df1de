/**
 * Ctrl-C (SIGINT) and SIGTERM for every command. By default the process says so on stderr and
 * exits at once with 130 or 143: commands write their files atomically (src/util/atomic.ts), so
 * an interrupted command leaves nothing half-written. A command with something to save first
 * (training) takes the signals over with `takeSignals` for as long as it runs.
 *
 * Handlers are JavaScript, so they run only when the event loop turns: long computations yield
 * between chunks (src/ui/progress.ts) for them to be acted on.
 */
export const EXIT_ON = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof EXIT_ON;

let taken: ((signal: StopSignal) => void) | null = null;
let installed = false;
const cleanups = new Set<() => void>();

/** Run `fn` (e.g. remove a live status line) before the process exits on a signal. */
export function beforeSignalExit(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

function onSignal(signal: StopSignal): void {
  if (taken) {
    taken(signal);
    return;
  }
  for (const fn of cleanups) fn();
  process.stderr.write(`\nvae: stopped by ${signal}\n`);
  process.exit(EXIT_ON[signal]);
}

/** Install the default handlers (once per process). */
export function exitOnSignals(): void {
  if (installed) return;
  installed = true;
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
}

/** Route SIGINT and SIGTERM to `handler` until the returned function is called. */
export function takeSignals(handler: (signal: StopSignal) => void): () => void {
  exitOnSignals();
  taken = handler;
  return () => {
    if (taken === handler) taken = null;
  };
}
