import type { Command } from 'commander';
import { convertStill, type StillFormat } from '../image/convert.js';
import { formatForOutput } from './output-format.js';
import { VaeError } from '../errors.js';
import { Rng } from '../random.js';
import { type LoadedRun } from '../run/run.js';
import { decodeArrays, encodeArrays } from '../model/arrays.js';
import { interpolate, type Interpolation } from '../model/latent.js';
import { gridAnimation, gridPng } from '../image/grid.js';
import { exampleSplit, loadSplits } from '../data/load.js';
import { slice } from '../data/dataset.js';
import { evaluateSplit } from '../eval/elbo.js';
import { EVAL_SEED, evalBinarizes } from '../model/eval-protocol.js';
import { readRef } from './inputs.js';
import { addBackendOption, addRunOptions, openRun, addPictureOptions, emit, intArg, makeLog, preflightOutput, type CommonOptions } from './options.js';

export const MAX_SAMPLES = 4096;

interface SampleOptions extends CommonOptions {
  run?: string;
  n: number;
  cols?: number;
  seed: number;
  temperature: number;
  scale: number;
  padding: number;
  out?: string;
  best?: boolean;
  sample?: boolean;
  mean?: boolean;
  interpolate?: boolean;
  traverse?: boolean;
  from?: string;
  to?: string;
  pairs: number;
  steps?: number;
  method: string;
  dims?: string;
  range: number;
  format: string;
}

function floatArg(flag: string, min: number, max: number) {
  return (value: string): number => {
    const x = Number(value);
    if (value.trim() === '' || !Number.isFinite(x)) throw new VaeError(`${flag} must be a number, got '${value}'`);
    if (x < min || x > max) throw new VaeError(`${flag} must be between ${min} and ${max}, got ${x}`);
    return x;
  };
}

/** Decoder means, or draws from p(x|z) with --sample. */
function render(run: LoadedRun, z: Float32Array, n: number, opts: SampleOptions, rng: Rng): Promise<Float32Array> {
  return decodeArrays(run.vae, z, n, opts.sample ? rng : undefined);
}

function checkCount(n: number, what: string): void {
  if (n > MAX_SAMPLES) throw new VaeError(`${what} makes ${n} images; the limit is ${MAX_SAMPLES}`, { hint: 'ask for fewer' });
}

/** Mean encodings of the --from/--to pairs, or of random test pairs. */
async function endpoints(run: LoadedRun, opts: SampleOptions): Promise<{ a: Float32Array; b: Float32Array }[]> {
  const mu = async (ref: string) => (await encodeArrays(run.vae, (await readRef(run, ref)).images, 1)).mu;
  if (opts.from || opts.to) {
    if (!opts.from || !opts.to) throw new VaeError('--interpolate needs both --from and --to (or neither, for random test pairs)');
    const froms = opts.from.split(',');
    const tos = opts.to.split(',');
    if (froms.length !== tos.length) throw new VaeError(`--from names ${froms.length} image${froms.length === 1 ? "" : "s"} but --to names ${tos.length}; give them in pairs`);
    const out = [];
    for (let i = 0; i < froms.length; i++) out.push({ a: await mu(froms[i]), b: await mu(tos[i]) });
    return out;
  }
  const split = exampleSplit(run.config.data);
  const test = (await loadSplits(run.config.data, [split], { cacheDir: run.dir }))[split];
  const rng = Rng.derive(opts.seed, 'interpolate-pairs');
  const out = [];
  for (let p = 0; p < opts.pairs; p++) {
    const i = Math.floor(rng.uniform() * test.n);
    let j = Math.floor(rng.uniform() * test.n);
    if (j === i) j = (j + 1) % test.n;
    out.push({ a: await mu(`${split}:${i}`), b: await mu(`${split}:${j}`) });
  }
  return out;
}

/** Latent dimensions by mean KL over (up to) 1,000 test images, most informative first. */
async function dimsByKl(run: LoadedRun): Promise<number[]> {
  const split = exampleSplit(run.config.data);
  const test = slice((await loadSplits(run.config.data, [split], { cacheDir: run.dir }))[split], 0, 1000);
  const r = await evaluateSplit(run.vae, test, { seed: EVAL_SEED, binarize: evalBinarizes(run.config), samples: 0 });
  return r.klPerDim.map((_, j) => j).sort((p, q) => r.klPerDim[q] - r.klPerDim[p]);
}

function parseDims(arg: string, J: number): number[] {
  const dims = arg.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  for (const d of dims) if (!Number.isInteger(d) || d < 0 || d >= J) throw new VaeError(`--dims: ${d} is not a latent dimension (0 to ${J - 1})`);
  if (!dims.length) throw new VaeError('--dims needs at least one dimension, e.g. --dims 0,3,5');
  return dims;
}

export function registerSample(program: Command): void {
  const cmd = program
    .command('sample')
    .description('pictures from the model: prior samples, interpolations (--interpolate) or latent traversals (--traverse)')
    .option('-n, --n <count>', `prior samples (1 to ${MAX_SAMPLES})`, intArg('--n', 1, MAX_SAMPLES), 64)
    .option('--seed <int>', 'random seed', intArg('--seed', 0, 2 ** 31 - 1), 0)
    .option('-t, --temperature <T>', 'prior samples z ~ N(0, T^2 I)', floatArg('--temperature', 0, 100), 1)
    .option('--mean', 'show the decoder mean E[x|z] (the default)')
    .option('--sample', 'show a draw x ~ p(x|z) instead of the mean')
    .option('--interpolate', 'rows that walk between pairs of encoded images')
    .option('--from <refs>', 'with --interpolate (and --traverse): image files or data set indices such as 12 or test:12; comma-separated for several pairs')
    .option('--to <refs>', 'with --interpolate: the other end of each pair')
    .option('--pairs <count>', 'with --interpolate and no --from/--to: random test pairs', intArg('--pairs', 1, 256), 4)
    .option('--method <how>', 'interpolation: linear, slerp or both', 'both')
    .option('--traverse', 'one row per latent dimension, sweeping it with the others held at an encoded image')
    .option('--dims <list>', 'with --traverse: dimensions to show, e.g. 0,3,5 (default: all, most informative by KL first)')
    .option('--range <r>', 'with --traverse: sweep from -r to r', floatArg('--range', 0, 100), 3)
    .option('--steps <count>', 'columns of an interpolation (default 10) or traversal (default 11)', intArg('--steps', 2, 256))
    .option('--format <fmt>', 'png, jpeg or webp; gif or webp animate a --traverse (default: from the --out name, else png)', 'png')
    .option('-o, --out <file>', 'write the image here instead of stdout (.png, .jpg, .webp; .gif or .webp animate a --traverse)')
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText(
      'after',
      '\nExamples:\n  vae sample --n 64 > grid.png\n  vae sample --n 100 --cols 10 --temperature 0.7 --scale 3 --out grid.png\n  vae sample --interpolate --from test:3 --to test:7 --method slerp > walk.png\n  vae sample --traverse --from test:0 --dims 0,1,2 > traverse.png\n  vae sample --traverse --format gif --out traverse.gif\n',
    );
  addPictureOptions(cmd);
  addBackendOption(addRunOptions(cmd)).action(async (opts: SampleOptions, command: Command) => {
    if (opts.mean && opts.sample) throw new VaeError('--mean and --sample cannot be used together');
    if (opts.interpolate && opts.traverse) throw new VaeError('--interpolate and --traverse cannot be used together');
    const given = opts.format === 'jpg' ? 'jpeg' : opts.format;
    if (!['png', 'jpeg', 'gif', 'webp'].includes(given)) throw new VaeError(`unknown --format '${opts.format}'`, { hint: 'use png, jpeg, webp, or gif (an animated --traverse)' });
    if (given === 'gif' && !opts.traverse) throw new VaeError('--format gif is for animated traversals', { hint: 'add --traverse, or use --format png' });
    const explicit = command.getOptionValueSource('format') === 'default' ? undefined : (given as 'png' | 'jpeg' | 'webp' | 'gif');
    opts.format = formatForOutput(opts.out, {
      can: opts.traverse ? ['png', 'jpeg', 'webp', 'gif'] : ['png', 'jpeg', 'webp'],
      explicit,
      what: opts.traverse ? 'vae sample --traverse' : 'vae sample',
      hint: opts.traverse ? undefined : 'name the file with one of those; a .gif or .webp animates a --traverse',
    });
    // With --traverse, gif and webp are animations; everything else is one still grid.
    const animated = opts.traverse && (opts.format === 'gif' || opts.format === 'webp');
    const still = (png: Buffer) => convertStill(png, opts.format as StillFormat);
    if (!['linear', 'slerp', 'both'].includes(opts.method)) throw new VaeError(`unknown --method '${opts.method}'`, { hint: 'use linear, slerp or both' });
    if ((opts.to || opts.pairs !== 4) && !opts.interpolate) throw new VaeError('--to and --pairs go with --interpolate');
    if ((opts.dims || opts.range !== 3) && !opts.traverse) throw new VaeError('--dims and --range go with --traverse');
    const example = opts.format === 'png' ? 'grid.png' : `traverse.${opts.format}`;
    preflightOutput(opts.out, { binary: true, label: `${opts.format.toUpperCase()} bytes`, instead: `vae sample ${opts.traverse ? '--traverse ' : ''}--n ${opts.n} > ${example}` });
    const log = makeLog(opts);
    const { dir, run } = await openRun(opts, log);
    const J = run.vae.spec.latentDim;
    const shape = run.meta.dataShape;
    const pic = { scale: opts.scale, padding: opts.padding };
    const rng = Rng.derive(opts.seed, 'sample-x');
    let out: Buffer;
    let what: string;

    if (opts.interpolate) {
      const steps = opts.steps ?? 10;
      const methods: Interpolation[] = opts.method === 'both' ? ['linear', 'slerp'] : [opts.method as Interpolation];
      const pairs = await endpoints(run, opts);
      const rows = pairs.flatMap((p) => methods.map((m) => interpolate(p.a, p.b, steps, m)));
      checkCount(rows.length * steps, 'this interpolation');
      const z = Float32Array.from(rows.flat(2));
      out = await still(await gridPng(await render(run, z, rows.length * steps, opts, rng), rows.length * steps, shape, { ...pic, cols: steps }));
      what = `${pairs.length} interpolation${pairs.length === 1 ? '' : 's'} (${methods.join(' and ')}, ${steps} steps)`;
    } else if (opts.traverse) {
      const steps = opts.steps ?? 11;
      const dims = opts.dims ? parseDims(opts.dims, J) : await dimsByKl(run);
      const base = (await encodeArrays(run.vae, (await readRef(run, opts.from ?? `${exampleSplit(run.config.data)}:0`)).images, 1)).mu;
      const values = Array.from({ length: steps }, (_, s) => -opts.range + (2 * opts.range * s) / (steps - 1));
      checkCount(dims.length * steps, 'this traversal');
      // z for (row = dimension d, column = value v): the base code with z_d = v.
      const z = new Float32Array(dims.length * steps * J);
      dims.forEach((d, r) => values.forEach((v, s) => {
        const o = (r * steps + s) * J;
        z.set(base, o);
        z[o + d] = v;
      }));
      const images = await render(run, z, dims.length * steps, opts, rng);
      if (!animated) {
        out = await still(await gridPng(images, dims.length * steps, shape, { ...pic, cols: steps }));
      } else {
        // One frame per sweep value, each showing every chosen dimension at that value.
        const D = run.vae.spec.inputDim;
        const frames = values.map((_, s) => {
          const f = new Float32Array(dims.length * D);
          dims.forEach((_, r) => f.set(images.subarray((r * steps + s) * D, (r * steps + s + 1) * D), r * D));
          return f;
        });
        out = await gridAnimation(frames, dims.length, shape, { ...pic, cols: opts.cols, format: opts.format as 'gif' | 'webp' });
      }
      what = `a traversal of ${dims.length} dimension${dims.length === 1 ? '' : 's'} (${dims.join(', ')}) from -${opts.range} to ${opts.range}`;
    } else {
      const z = Rng.derive(opts.seed, 'sample').fillNormal(new Float32Array(opts.n * J)).map((v) => v * opts.temperature);
      out = await still(await gridPng(await render(run, z, opts.n, opts, rng), opts.n, shape, { ...pic, cols: opts.cols }));
      what = `${opts.n} samples`;
    }
    await emit(out, opts.out);
    log.info(`wrote ${what} from ${dir} (epoch ${run.meta.epoch}) to ${opts.out ?? 'stdout'}`);
  });
}
