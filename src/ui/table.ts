/**
 * Tables for people (cli-table3), printed on stderr. `streamingTable` prints the header once and
 * then one row at a time, for per-epoch summaries during training.
 */
import Table from 'cli-table3';

const PLAIN = { head: [] as string[], border: [] as string[] };

/** A boxed table without lines between rows. */
export function renderTable(head: string[], rows: (string | number)[][], opts: { colWidths?: (number | null)[] } = {}): string {
  const t = new Table({
    head,
    style: PLAIN,
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    ...(opts.colWidths ? { colWidths: opts.colWidths, wordWrap: true } : {}),
  });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

/** Header once, then one line per row, all with the same fixed column widths. */
export function streamingTable(head: string[], widths: number[]): { header(): string; row(cells: (string | number)[]): string } {
  const chars = {
    top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
    bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
    left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: ' ',
  };
  const make = () => new Table({ chars, colWidths: widths, colAligns: widths.map(() => 'right' as const), style: { ...PLAIN, 'padding-left': 0, 'padding-right': 1 } });
  return {
    header() {
      const t = make();
      t.push(head);
      const line = t.toString();
      return `${line}\n${'-'.repeat(line.length)}`;
    },
    row(cells) {
      const t = make();
      t.push(cells.map(String));
      return t.toString();
    },
  };
}

export function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}
