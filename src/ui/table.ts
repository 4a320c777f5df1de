/**
 * Tables for people, printed on stderr as plain aligned text (cli-table3 without borders): text
 * columns left-aligned, numbers right-aligned, a dashed line under the header. They fit the
 * terminal's width (COLUMNS, else the terminal's own, and no limit in a pipe): headers wrap
 * onto more lines and text columns narrow and wrap inside their cells, so a row never runs over
 * the edge of the screen. `streamingTable` prints the header once and then one row at a time,
 * for per-epoch summaries during training.
 */
import Table from 'cli-table3';

const GAP = 2;
const none = (gap: number) => ({
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: ' '.repeat(gap),
});
const STYLE = { head: [] as string[], border: [] as string[], 'padding-left': 0, 'padding-right': 0 };

/** The width tables must fit: $COLUMNS, else the terminal's, else (a pipe) unlimited. */
export function tableWidth(): number {
  const env = Number(process.env.COLUMNS);
  if (Number.isInteger(env) && env > 0) return env;
  return process.stderr.isTTY && process.stderr.columns ? process.stderr.columns : Infinity;
}

const NUMERIC = /^[-+±]?(\d[\d,]*(\.\d+)?(e[-+]?\d+)?%?|\.\d+|NaN|-?Infinity|-|\?)$/;
const longestWord = (s: string) => Math.max(0, ...s.split(/\s+/).map((w) => w.length));
const longestLine = (s: string) => Math.max(0, ...s.split('\n').map((l) => l.length));

/** Narrow the widest shrinkable column, one character at a time, until the row fits `width`. */
function fit(widths: number[], minimum: number[], width: number, gap: number): number[] {
  const w = [...widths];
  const total = () => w.reduce((a, b) => a + b, 0) + gap * (w.length - 1);
  while (total() > width) {
    let k = -1;
    for (let i = 0; i < w.length; i++) if (w[i] > minimum[i] && (k < 0 || w[i] > w[k])) k = i;
    if (k < 0) break; // cannot narrow further without breaking words or numbers
    w[k]--;
  }
  return w;
}

function dashes(widths: number[], gap: number): string {
  return widths.map((w) => '-'.repeat(w)).join(' '.repeat(gap));
}

/** A whole table at once. */
export function renderTable(head: string[], rows: (string | number)[][]): string {
  const body = rows.map((r) => r.map(String));
  const numeric = head.map((_, i) => body.length > 0 && body.every((r) => NUMERIC.test(r[i] ?? '')));
  const natural = head.map((h, i) => Math.max(h.length, ...body.map((r) => longestLine(r[i] ?? ''))));
  const minimum = head.map((h, i) => Math.max(longestWord(h), ...body.map((r) => (numeric[i] ? (r[i] ?? '').length : Math.min(longestWord(r[i] ?? ''), 12)))));
  const widths = fit(natural, minimum, tableWidth(), GAP);
  const aligns = numeric.map((n) => (n ? 'right' : 'left') as 'right' | 'left');
  const lines = body.length ? new Table({ chars: none(GAP), style: STYLE, colWidths: widths, colAligns: aligns, wordWrap: true }) : null;
  lines?.push(...body);
  return [...headerLines(head, widths, aligns, GAP), dashes(widths, GAP), ...(lines ? lines.toString().split('\n') : [])].map((l) => l.trimEnd()).join('\n');
}

/** Header cells word-wrapped to their widths, bottom-aligned (next to the dashes). */
function headerLines(head: string[], widths: number[], aligns: ('left' | 'right')[], gap: number): string[] {
  const blocks = head.map((h, i) => {
    const lines: string[] = [];
    for (const w of h.split(/\s+/)) {
      const last = lines[lines.length - 1];
      if (last !== undefined && last.length + 1 + w.length <= widths[i]) lines[lines.length - 1] = `${last} ${w}`;
      else lines.push(w);
    }
    return lines;
  });
  const height = Math.max(...blocks.map((b) => b.length));
  return Array.from({ length: height }, (_, r) =>
    blocks
      .map((b, i) => {
        const cell = b[r - (height - b.length)] ?? '';
        return aligns[i] === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
      })
      .join(' '.repeat(gap))
      .trimEnd(),
  );
}

/**
 * Header once, then one line per row, right-aligned in fixed columns. `valueWidths` are the
 * widths the values need; a header wider than its values wraps when the table would not fit.
 */
export function streamingTable(head: string[], valueWidths: number[]): { header(): string; row(cells: (string | number)[]): string } {
  const natural = head.map((h, i) => Math.max(h.length, valueWidths[i]));
  const minimum = head.map((h, i) => Math.max(longestWord(h), valueWidths[i]));
  // One space between columns: right-aligned numbers stay apart, and more columns fit in 80.
  const widths = fit(natural, minimum, tableWidth(), 1);
  const make = () => new Table({ chars: none(1), style: STYLE, colWidths: widths, colAligns: widths.map(() => 'right' as const), wordWrap: true });
  return {
    header() {
      return [...headerLines(head, widths, widths.map(() => 'right' as const), 1), dashes(widths, 1)].join('\n');
    },
    row(cells) {
      const t = make();
      t.push(cells.map(String));
      return t.toString().trimEnd();
    },
  };
}

export function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}
