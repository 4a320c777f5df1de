import path from 'node:path';
import type { Command } from 'commander';
import { convertStill } from '../image/convert.js';
import { formatForOutput } from './output-format.js';
import { VaeError } from '../errors.js';
import { Rng } from '../random.js';
import { encodeArrays } from '../model/arrays.js';
import { project2d } from '../model/latent.js';
import { scatterSvg, svgToPng } from '../image/plot.js';
import { writeFileAtomic } from '../util/atomic.js';
import { checkPrepare, readInputs } from './inputs.js';
import { Progress, yieldToEvents } from '../ui/progress.js';
import { addBackendOption, addRunOptions, openRun, checkOutputPath, emit, intArg, makeLog, preflightOutput, type CommonOptions } from './options.js';

interface EncodeOptions extends CommonOptions {
  run?: string;
  split?: string;
  limit?: number;
  format: string;
  out?: string;
  sample?: boolean;
  seed: number;
  plot?: string;
  best?: boolean;
  prepare: string;
}

const round = (x: number) => Number(x.toPrecision(7));

export function registerEncode(program: Command): void {
  const cmd = program
    .command('encode')
    .description('images -> latents: one record per image with its id, label, mu and logvar (JSONL or CSV)')
    .argument('[files...]', 'image files (any size or colour; converted to what the model expects)')
    .option('--split <name>', 'encode a data set split instead of files: test, val or train')
    .option('--limit <n>', 'with --split: the first n images (default: all)', intArg('--limit', 1, 10_000_000))
    .option('--format <fmt>', 'jsonl or csv', 'jsonl')
    .option('-o, --out <file>', 'write here instead of stdout')
    .option('--sample', 'add a draw z ~ q(z|x) to each record')
    .option('--seed <int>', 'seed for --sample', intArg('--seed', 0, 2 ** 31 - 1), 0)
    .option('--plot <file.png>', 'also draw a scatter of the first two latent dims (or principal components) coloured by label')
    .option('--prepare <how>', "image files: auto (prepared as the run's data set was, e.g. MNIST's centring) or none (resized only)", 'auto')
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText('after', '\nExamples:\n  vae encode --split test --limit 1000 --plot latent.png > test.jsonl\n  vae encode digit.png another.jpg --format csv\n  vae encode --split test --limit 16 | vae decode > grid.png\n');
  addBackendOption(addRunOptions(cmd)).action(async (files: string[], opts: EncodeOptions, command: Command) => {
    if (opts.format !== 'jsonl' && opts.format !== 'csv') throw new VaeError(`unknown --format '${opts.format}'`, { hint: 'use jsonl or csv' });
    const explicit = command.getOptionValueSource('format') === 'default' ? undefined : opts.format;
    // A .csv or .jsonl name decides (or must agree with --format); other names get --format.
    if (opts.out && ['.csv', '.jsonl', '.ndjson'].includes(path.extname(opts.out).toLowerCase())) {
      opts.format = formatForOutput(opts.out, { can: ['jsonl', 'csv'] as const, explicit: explicit as 'jsonl' | 'csv' | undefined, what: 'vae encode' });
    }
    const plotFormat = formatForOutput(opts.plot, { can: ['png', 'jpeg', 'webp'], what: '--plot', flag: '--plot' });
    preflightOutput(opts.out, { binary: false, label: '', instead: '' });
    if (opts.plot) checkOutputPath(opts.plot);
    const prepare = checkPrepare(opts.prepare);
    const log = makeLog(opts);
    const { dir, run } = await openRun(opts, log);
    const inputs = await readInputs(run, { files, split: opts.split, limit: opts.limit, defaultLimit: Number.MAX_SAFE_INTEGER, prepare });
    const J = run.vae.spec.latentDim;
    const progress = new Progress(log, 2 * inputs.n);
    const line = (what: string, done: number) => [
      { text: `${what}: ${done}/${inputs.n} images`, rank: 0 },
      { text: progress.etaText(what === 'encoding' ? done : inputs.n + done), rank: 1, join: ', ' },
    ];
    progress.show(line('encoding', 0));
    const { mu, logvar } = await encodeArrays(run.vae, inputs.images, inputs.n, (done) => progress.show(line('encoding', done)));
    const rng = Rng.derive(opts.seed, 'encode-sample');
    const vec = (a: Float32Array, i: number) => Array.from(a.subarray(i * J, (i + 1) * J), round);
    const z = (i: number) => vec(mu, i).map((m, j) => round(m + Math.exp(0.5 * logvar[i * J + j]) * rng.normal()));
    const names = (p: string) => Array.from({ length: J }, (_, j) => `${p}${j}`);
    const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const record =
      opts.format === 'jsonl'
        ? (i: number) => JSON.stringify({ id: inputs.ids[i], label: inputs.labels[i], mu: vec(mu, i), logvar: vec(logvar, i), ...(opts.sample ? { z: z(i) } : {}) })
        : (i: number) => [quote(inputs.ids[i]), inputs.labels[i] ?? '', ...vec(mu, i), ...vec(logvar, i), ...(opts.sample ? z(i) : [])].join(',');
    const lines = opts.format === 'jsonl' ? [] : [['id', 'label', ...names('mu'), ...names('logvar'), ...(opts.sample ? names('z') : [])].join(',')];
    for (let i = 0; i < inputs.n; i++) {
      lines.push(record(i));
      if ((i + 1) % 2000 === 0) {
        progress.show(line('formatting', i + 1));
        await yieldToEvents();
      }
    }
    progress.end();
    await emit(`${lines.join('\n')}\n`, opts.out);
    if (opts.plot) {
      const { points, axes } = project2d(mu, inputs.n, J);
      const svg = scatterSvg(points, inputs.labels, { title: `E[z|x] of ${inputs.n} images`, xLabel: axes[0], yLabel: axes[1] });
      writeFileAtomic(opts.plot, await convertStill(await svgToPng(svg), plotFormat));
      log.info(`wrote the latent scatter plot to ${opts.plot}`);
    }
    log.info(`encoded ${inputs.n} image${inputs.n === 1 ? '' : 's'} with ${dir} (J = ${J})${opts.out ? ` to ${opts.out}` : ''}`);
  });
}
