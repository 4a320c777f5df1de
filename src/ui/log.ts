/**
 * Everything for people goes to stderr; stdout carries data only (PNG bytes, JSON).
 */
import ora, { type Ora } from 'ora';
import { beforeSignalExit } from './signals.js';

export interface LogOptions {
  quiet?: boolean;
  verbose?: boolean;
}

export class Log {
  readonly quiet: boolean;
  readonly verbose: boolean;
  private spinner: Ora | null = null;
  private releaseCleanup: (() => void) | null = null;

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

  /** A live status line (ora) on a terminal; nothing otherwise. */
  status(text: string): void {
    if (!this.interactive) return;
    if (!this.spinner) {
      this.spinner = ora({ text, stream: process.stderr, discardStdin: false }).start();
      this.releaseCleanup = beforeSignalExit(() => this.stopStatus());
    } else this.spinner.text = text;
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
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 1 : 0)}s`;
  const m = Math.floor(sec / 60);
  const s = Math.round(sec % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
