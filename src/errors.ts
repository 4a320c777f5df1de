/**
 * Errors meant for people. Anything thrown as a VaeError is printed by the CLI as one line
 * (`vae: <message>` plus an optional hint) with its exit code; anything else is a bug and
 * prints a stack trace only with --verbose.
 *
 * Exit codes: 2 for usage and input errors (the user can fix the command or the file),
 * 1 for runtime failures (training diverged, disk full, backend crashed).
 */
export class VaeError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(message: string, opts: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VaeError';
    this.exitCode = opts.exitCode ?? 2;
    this.hint = opts.hint;
  }
}

/** A failure at run time rather than in what the user typed (exit code 1). */
export class RuntimeFailure extends VaeError {
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: 1 });
    this.name = 'RuntimeFailure';
  }
}

/** One line for people: the message, then "; hint" if there is one. */
export function formatError(err: VaeError): string {
  return err.hint ? `${err.message} (${err.hint})` : err.message;
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest candidate to `word`, if it is close enough to be a plausible typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}
