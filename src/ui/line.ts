/**
 * Live status lines that fit the terminal. A line is a list of fields, each with a rank (0 is
 * the most important); as the terminal narrows the least important fields are dropped first,
 * and only when the most important one alone is too wide is it cut, with '…'. Widths count
 * characters (the lines are plain text, no wide characters).
 */

export interface Field {
  text: string;
  /** 0 is kept longest; the highest rank is dropped first */
  rank: number;
  /** what goes before this field when another precedes it (default two spaces) */
  join?: string;
}

function joined(fields: readonly Field[]): string {
  return fields.map((f, i) => (i === 0 ? f.text : `${f.join ?? '  '}${f.text}`)).join('');
}

/** The fields (in their order) that fit `width` characters, as one line. */
export function fitLine(fields: readonly Field[], width: number): string {
  const w = Math.max(0, Math.floor(width));
  let kept = [...fields];
  let line = joined(kept);
  while (line.length > w && kept.length > 1) {
    // drop the least important (the last of equals), keep the order of the rest
    let drop = 0;
    kept.forEach((f, i) => {
      if (f.rank >= kept[drop].rank) drop = i;
    });
    kept = kept.filter((_, i) => i !== drop);
    line = joined(kept);
  }
  if (line.length <= w) return line;
  return w <= 1 ? line.slice(0, w) : `${line.slice(0, w - 1)}…`;
}

/** Columns a live line may use on stderr: the terminal's width less the spinner and its space, and one column spare. */
export function liveWidth(): number {
  const env = Number(process.env.COLUMNS);
  const columns = process.stderr.columns || (Number.isInteger(env) && env > 0 ? env : 80);
  return columns - 3;
}
