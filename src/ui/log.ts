/**
 * Everything for people goes to stderr; stdout carries data only (PNG bytes, JSON).
 */
import ora, { type Ora } from 'ora';
import { beforeSignalExit } from './signals.js';
import { fitLine, liveWidth, type Field } from './line.js';

export interface LogOptions {
  quiet?: boolean;
  verbose?: boolean;
}

export class Log {
  readonly quiet: boolean;
  readonly verbose: boolean;
  private spinner: Ora | null = null;
  private releaseCleanup: (() => void) | null = null;
  /** the live line's fields, laid out again on a resize */
  private shown: readonly Field[] = [];

  constructor(opts: LogOptions = {}) {
    this.quiet = !!opts.quiet;
    this.verbose = !!opts.verbose;
  }

  /** Live displays only on a terminal, and not with --quiet. */
  get interactive(): boolean {
    return !this.quiet && !!process.stderr.isTTY;
  }

  private write(line: string): void {
    if (this.spinner?.isSpinning) {
      this.spinner.clear();
      process.stderr.write(`${line}\n`);
      this.spinner.render();
    } else {
      process.stderr.write(`${line}\n`);
    }
  }

  info(line: string): void {
    if (!this.quiet) this.write(line);
  }

  debug(line: string): void {
    if (this.verbose) this.write(line);
  }

  /** Warnings show even with --quiet. */
  warn(line: string): void {
    this.write(`vae: warning: ${line}`);
  }

  /**
   * A live status line (ora) on a terminal; nothing otherwise. It never runs past the terminal's
   * edge: a line of fields drops its least important ones to fit (line.ts), a plain string is
   * cut; and it is laid out again when the terminal is resized.
   */
  status(text: string | readonly Field[]): void {
    if (!this.interactive) return;
    this.shown = typeof text === 'string' ? [{ text, rank: 0 }] : text;
    const line = fitLine(this.shown, liveWidth());
    if (!this.spinner) {
      this.spinner = ora({ text: line, stream: process.stderr, discardStdin: false }).start();
      const cleanup = beforeSignalExit(() => this.stopStatus());
      const onResize = () => {
        if (this.spinner) this.spinner.text = fitLine(this.shown, liveWidth());
      };
      process.stderr.on('resize', onResize);
      this.releaseCleanup = () => {
        cleanup();
        process.stderr.off('resize', onResize);
      };
    } else this.spinner.text = line;
  }

  stopStatus(): void {
    this.spinner?.stop();
    this.spinner = null;
    this.releaseCleanup?.();
    this.releaseCleanup = null;
  }
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  if (sec < 59.5) return `${sec.toFixed(sec < 9.95 ? 1 : 0)}s`;
  // whole seconds first, so that 179.6 s reads 3m00s, not 2m60s
  const whole = Math.round(sec);
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m}m${String(whole % 60).padStart(2, '0')}s`;
  const minutes = Math.round(sec / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
