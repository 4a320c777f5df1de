/**
 * Reading latent vectors for `vae decode`: the JSONL or CSV that `vae encode` writes, or bare
 * vectors (a JSON array per line, or numbers separated by commas or spaces). A JSONL object's
 * `z` is used when present, else its `mu`; in CSV the z0.. columns, else mu0.., else every
 * numeric column. Every problem is reported with its line number.
 */
import { VaeError } from '../errors.js';

export interface Latents {
  ids: string[];
  /** n x J */
  values: Float32Array;
  n: number;
}

function checkVector(v: unknown, J: number, line: number, where: string): number[] {
  if (!Array.isArray(v)) throw new VaeError(`${where}:${line}: expected an array of ${J} numbers`);
  if (v.length !== J) {
    throw new VaeError(`${where}:${line}: latent has ${v.length} numbers, but this run's model expects J = ${J}`, {
      hint: 'decode latents encoded by a run with the same latentDim',
    });
  }
  v.forEach((x, j) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new VaeError(`${where}:${line}: entry ${j} is ${JSON.stringify(x)}, not a finite number`);
  });
  return v as number[];
}

export function parseLatents(text: string, J: number, where = 'input'): Latents {
  const lines = text.split(/\r?\n/);
  const ids: string[] = [];
  const rows: number[][] = [];
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) throw new VaeError(`${where} has no latents`, { hint: 'pipe in what `vae encode` writes, or one vector per line' });
  const head = lines[first].trim();
  if (head.startsWith('{') || head.startsWith('[')) {
    lines.forEach((raw, i) => {
      const l = raw.trim();
      if (!l) return;
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch (err) {
        throw new VaeError(`${where}:${i + 1}: not valid JSON (${(err as Error).message.replace(/^JSON\.parse: /, '')})`);
      }
      if (Array.isArray(v)) {
        rows.push(checkVector(v, J, i + 1, where));
        ids.push(String(rows.length - 1));
      } else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        const vec = o.z ?? o.mu;
        if (vec === undefined) throw new VaeError(`${where}:${i + 1}: expected an object with 'z' or 'mu' (an array of ${J} numbers)`);
        rows.push(checkVector(vec, J, i + 1, where));
        ids.push(o.id !== undefined ? String(o.id) : String(rows.length - 1));
      } else {
        throw new VaeError(`${where}:${i + 1}: expected a JSON object or array, got ${JSON.stringify(v)}`);
      }
    });
  } else {
    const split = (l: string) => l.split(/[,\s]+/).filter((t) => t !== '');
    const headTokens = split(head);
    const hasHeader = headTokens.some((t) => !Number.isFinite(Number(t)));
    let cols: number[] = [];
    let idCol = -1;
    if (hasHeader) {
      const pick = (p: string) => headTokens.map((t, k) => (new RegExp(`^${p}\\d+$`).test(t) ? k : -1)).filter((k) => k >= 0);
      cols = pick('z');
      if (!cols.length) cols = pick('mu');
      idCol = headTokens.indexOf('id');
      if (!cols.length) throw new VaeError(`${where}:${first + 1}: CSV header has no z0.. or mu0.. columns`);
    }
    lines.forEach((raw, i) => {
      const l = raw.trim();
      if (!l || (hasHeader && i === first)) return;
      const tokens = hasHeader ? l.split(',').map((t) => t.trim()) : split(l);
      const use = hasHeader ? cols : tokens.map((_, k) => k);
      if (hasHeader && tokens.length !== headTokens.length) {
        throw new VaeError(`${where}:${i + 1}: ${tokens.length} fields, but the header has ${headTokens.length}`);
      }
      const v = use.map((k) => {
        const x = Number(tokens[k]);
        if (tokens[k] === '' || !Number.isFinite(x)) throw new VaeError(`${where}:${i + 1}: '${tokens[k]}' is not a number`);
        return x;
      });
      rows.push(checkVector(v, J, i + 1, where));
      ids.push(idCol >= 0 ? tokens[idCol] : String(rows.length - 1));
    });
  }
  const values = new Float32Array(rows.length * J);
  rows.forEach((r, i) => values.set(r, i * J));
  return { ids, values, n: rows.length };
}
