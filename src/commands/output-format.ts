/**
 * Output files are what their names say: the extension of --out decides the format, an
 * extension a command cannot write is refused naming what it can write, and an extension that
 * contradicts an explicit --format is refused too. A name without an extension (and stdout)
 * gets the command's default.
 */
import path from 'node:path';
import { VaeError } from '../errors.js';

const BY_EXTENSION: Record<string, string> = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
  '.gif': 'gif',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.csv': 'csv',
};

/** How formats are named to people: their usual extensions. */
const SPELLING: Record<string, string> = { png: '.png', jpeg: '.jpg/.jpeg', webp: '.webp', gif: '.gif', jsonl: '.jsonl', csv: '.csv' };

/** `a, b or c` */
function listOf(items: string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * The format to write `file` in. `can`: the formats this command writes (first: the default);
 * `explicit`: a --format the user gave; `what`: how the error names the output, e.g. 'vae sample'.
 */
export function formatForOutput<F extends string>(file: string | undefined, opts: { can: readonly F[]; explicit?: F; what: string; flag?: string; hint?: string }): F {
  const ext = file ? path.extname(file).toLowerCase() : '';
  const fallback = opts.explicit ?? opts.can[0];
  if (!file || !ext) return fallback;
  const named = BY_EXTENSION[ext] as F | undefined;
  const writes = `${opts.what} writes ${listOf(opts.can.map((f) => SPELLING[f] ?? f))}`;
  if (!named || !opts.can.includes(named)) {
    throw new VaeError(`cannot write ${file}: ${writes}`, { hint: opts.hint ?? 'name the file with one of those extensions' });
  }
  if (opts.explicit && opts.explicit !== named) {
    throw new VaeError(`${opts.flag ?? '--out'} ${file} is a ${SPELLING[named]} name, but --format is ${opts.explicit}`, {
      hint: `name the file ${path.basename(file, path.extname(file))}${SPELLING[opts.explicit]?.split('/')[0] ?? ''}, or leave out --format`,
    });
  }
  return named;
}
