import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { convertStill } from '../image/convert.js';
import { formatForOutput } from './output-format.js';
import { VaeError } from '../errors.js';
import { decodeArrays } from '../model/arrays.js';
import { parseLatents } from '../data/latents.js';
import { gridPng } from '../image/grid.js';
import { ensureDir, writeFileAtomic } from '../util/atomic.js';
import { addBackendOption, addRunOptions, openRun, addPictureOptions, emit, makeLog, preflightOutput, type CommonOptions } from './options.js';

interface DecodeOptions extends CommonOptions {
  run?: string;
  in?: string;
  out?: string;
  each?: string;
  cols?: number;
  scale: number;
  padding: number;
  best?: boolean;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

export function registerDecode(program: Command): void {
  const cmd = program
    .command('decode')
    .description('latents -> images: a PNG grid of decoder means (or one PNG per latent with --each DIR)')
    .option('-i, --in <file>', "latents: what `vae encode` writes (JSONL or CSV), or one vector per line; '-' or nothing for stdin")
    .option('-o, --out <file>', 'write the grid here instead of stdout (PNG): .png, .jpg or .webp')
    .option('--each <dir>', 'write one PNG per latent into this folder instead of a grid')
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText('after', "\nJSONL objects use 'z' when present, else 'mu'; CSV uses the z0.. columns, else mu0...\n\nExamples:\n  vae encode --split test --limit 16 | vae decode > grid.png\n  vae decode --in latents.jsonl --each decoded/\n  echo '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' | vae decode --out mean.png\n");
  addPictureOptions(cmd);
  addBackendOption(addRunOptions(cmd)).action(async (opts: DecodeOptions) => {
    if (opts.each && opts.out) throw new VaeError('--each and --out cannot be used together');
    const format = formatForOutput(opts.out, { can: ['png', 'jpeg', 'webp'], what: 'vae decode' });
    if (!opts.each) preflightOutput(opts.out, { binary: true, label: 'PNG bytes', instead: 'vae decode --in latents.jsonl > grid.png' });
    const fromStdin = !opts.in || opts.in === '-';
    if (fromStdin && process.stdin.isTTY) {
      throw new VaeError('decode reads latents from --in FILE or from standard input, and nothing is piped in', { hint: 'e.g. vae encode --split test --limit 16 | vae decode > grid.png' });
    }
    const log = makeLog(opts);
    let text: string;
    if (fromStdin) text = await readAll(process.stdin);
    else {
      try {
        text = fs.readFileSync(opts.in!, 'utf8');
      } catch {
        throw new VaeError(`cannot read latents from '${opts.in}': no such file`);
      }
    }
    const { dir, run } = await openRun(opts, log);
    const latents = parseLatents(text, run.vae.spec.latentDim, fromStdin ? 'stdin' : opts.in!);
    const images = await decodeArrays(run.vae, latents.values, latents.n);
    const shape = run.meta.dataShape;
    const pic = { scale: opts.scale, padding: opts.padding };
    if (opts.each) {
      ensureDir(opts.each);
      const D = shape[0] * shape[1] * shape[2];
      const width = String(latents.n - 1).length;
      for (let i = 0; i < latents.n; i++) {
        const png = await gridPng(images.subarray(i * D, (i + 1) * D), 1, shape, { ...pic, padding: 0 });
        writeFileAtomic(path.join(opts.each, `${String(i).padStart(width, '0')}.png`), png);
      }
      log.info(`decoded ${latents.n} latents into ${opts.each}/`);
      return;
    }
    await emit(await convertStill(await gridPng(images, latents.n, shape, { ...pic, cols: opts.cols }), format), opts.out);
    log.info(`decoded ${latents.n} latent${latents.n === 1 ? '' : 's'} with ${dir}${opts.out ? ` to ${opts.out}` : ''}`);
  });
}
