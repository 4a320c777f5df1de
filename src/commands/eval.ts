import os from 'node:os';
import type { Command } from 'commander';
import { tf } from '../tf.js';
import { VaeError } from '../errors.js';
import { hasTestSplit, loadSplits, SPLITS, type SplitName } from '../data/load.js';
import { slice } from '../data/dataset.js';
import { evaluateSplit, ACTIVE_UNIT_THRESHOLD, type SplitResult } from '../eval/elbo.js';
import { EVAL_SEED, evalBinarizes } from '../model/eval-protocol.js';
import { fmt, renderTable } from '../ui/table.js';
import { formatDuration } from '../ui/log.js';
import { Progress } from '../ui/progress.js';
import { SamplerPool } from '../eval/sampler-pool.js';
import { engineSamplerFor } from '../eval/onnx-sampler.js';
import { addBackendOption, addRunOptions, openRun, intArg, makeLog, writeStdout, type CommonOptions } from './options.js';

interface EvalOptions extends CommonOptions {
  run?: string;
  split: string;
  json?: boolean;
  seed: number;
  batch: number;
  samples: number;
  limit?: number;
  best?: boolean;
  perDim?: boolean;
  workers?: number;
}

/** Below this many decoder rows (n x K) the main thread alone is quicker than starting workers. */
const ROWS_FOR_WORKERS = 1_000_000;
/** Each worker holds its own tfjs and chunk buffers (a few hundred MB): at most this many unless asked. */
const MAX_AUTO_WORKERS = 8;

/**
 * The default K: enough for an NLL column a few tenths of a nat above the literature's K = 5000,
 * small enough that plain `vae eval` on the 10,000 MNIST test images answers in seconds (docs/eval.md).
 */
const DEFAULT_SAMPLES = 50;
const LITERATURE_SAMPLES = 5000;

function parseSplits(arg: string): SplitName[] {
  const parts = arg.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of parts) {
    if (!(SPLITS as readonly string[]).includes(p)) throw new VaeError(`unknown split '${p}'`, { hint: `choose from ${SPLITS.join(', ')} (comma-separated for several)` });
  }
  if (parts.length === 0) throw new VaeError('--split needs at least one split');
  return [...new Set(parts)] as SplitName[];
}

/** The JSON record of one split (docs/eval.md lists every key). */
export function evalRecord(split: SplitName, r: SplitResult, extra: Record<string, unknown>) {
  return {
    split,
    n: r.n,
    elbo: r.elbo,
    recon: r.recon,
    kl: r.kl,
    samples: r.iw?.samples ?? 0,
    lk: r.iw?.lk ?? null,
    nll: r.iw?.nll ?? null,
    nllStdErr: r.iw?.nllStdErr ?? null,
    bitsPerDim: r.iw?.bitsPerDim ?? null,
    activeUnits: r.activeUnits,
    activeDims: r.activeDims,
    klPerDim: r.klPerDim,
    muVariance: r.muVariance,
    ...extra,
  };
}

export function registerEval(program: Command): void {
  const cmd = program
    .command('eval')
    .description('ELBO, reconstruction, KL, importance-sampled NLL, active units and bits/dim on a split')
    .option('--split <names>', 'split(s) to evaluate: test, val, train (comma-separated)', 'test')
    .option('-k, --samples <K>', `importance samples per example for L_K and NLL (0 skips them; ${LITERATURE_SAMPLES} is the literature's number)`, intArg('--samples', 0, 1_000_000), DEFAULT_SAMPLES)
    .option('--json', 'print JSON on stdout (one object per split, one per line) instead of tables')
    .option('--per-dim', 'also print the per-dimension KL table, most informative first')
    .option('--seed <int>', 'seed for the fixed binarisation and all noise', intArg('--seed', 0, 2 ** 31 - 1), EVAL_SEED)
    .option('--batch <size>', 'examples per ELBO batch', intArg('--batch', 1, 65_536), 1000)
    .option('--limit <n>', 'evaluate only the first n examples of each split', intArg('--limit', 1, 10_000_000))
    .option('--workers <n>', 'tfjs threads for the importance sampler on wasm/cpu (0: the main thread; default: the CPU engine where it runs this model, else one per core for large jobs)', intArg('--workers', 0, 256))
    .option('-q, --quiet', 'no messages or progress on stderr (the table still prints)')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText(
      'after',
      `\nAll numbers are nats per example, except bits/dim. NLL = -L_K (Burda et al. 2015).\nThe default K = ${DEFAULT_SAMPLES} answers in seconds; --samples ${LITERATURE_SAMPLES} is the literature's estimate, 100 times the work.\nCtrl-C stops at once (exit 130).\n\nExamples:\n  vae eval\n  vae eval --samples 5000 --per-dim\n  vae eval --split test,val --samples 100 --json | jq .nll\n`,
    );
  addBackendOption(addRunOptions(cmd)).action(async (opts: EvalOptions, command: Command) => {
    const log = makeLog(opts);
    let splits = parseSplits(opts.split);
    const { dir, run } = await openRun(opts, log);
    if (command.getOptionValueSource('split') === 'default' && !hasTestSplit(run.config.data)) {
      log.info(`this run's data set has no test split (data.testPath is not set): evaluating the validation split`);
      splits = ['val'];
    }
    const data = await loadSplits(run.config.data, splits, { cacheDir: run.dir, onWarn: (m) => log.warn(m) });
    const results: { split: SplitName; r: SplitResult; seconds: number }[] = [];
    // worker threads for large jobs on CPU backends (a GPU backend keeps the work on its device)
    const rows = splits.reduce((s, split) => s + Math.min(data[split].n, opts.limit ?? Infinity), 0) * opts.samples;
    const cpuBackend = tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';
    // the CPU engine's sampler where it runs this model (wasm and tensorflow, unless told not to)
    const chosen = opts.samples > 0 && opts.workers === undefined ? await engineSamplerFor(run.vae, tf.getBackend()) : { sampler: null, line: '' };
    if (chosen.line) log.info(chosen.line);
    const engine = chosen.sampler;
    const workers = engine || !cpuBackend || opts.samples === 0 ? 0 : (opts.workers ?? (rows >= ROWS_FOR_WORKERS ? Math.min(os.availableParallelism(), MAX_AUTO_WORKERS) : 0));
    if (opts.workers && !cpuBackend) log.warn(`--workers applies to the wasm and cpu backends; ${tf.getBackend()} runs on its device`);
    const workerPool = workers > 0 ? await SamplerPool.start(workers, tf.getBackend() as 'wasm' | 'cpu', run.vae) : null;
    if (workerPool) log.debug(`importance sampler on ${workerPool.size} worker thread${workerPool.size === 1 ? '' : 's'}`);
    const pool = engine ?? workerPool;
    try {
    for (const split of splits) {
      let set = data[split];
      if (opts.limit !== undefined) set = slice(set, 0, opts.limit);
      if (set.n === 0) throw new VaeError(`the ${split} split of this run is empty`, { hint: split === 'val' ? 'the run was trained with data.validation=0' : undefined });
      const t0 = performance.now();
      const progress = new Progress(log, set.n);
      const line = (done: number) => [
        { text: `${split}: ${Math.floor(done)}/${set.n} examples`, rank: 0 },
        { text: `K = ${opts.samples}`, rank: 2, join: ', ' },
        { text: progress.etaText(done), rank: 1, join: ', ' },
      ];
      progress.show(line(0));
      const r = await evaluateSplit(run.vae, set, {
        seed: opts.seed,
        batchSize: opts.batch,
        samples: opts.samples,
        binarize: evalBinarizes(run.config),
        pool,
        onProgress: (done) => progress.show(line(done)),
      });
      progress.end();
      results.push({ split, r, seconds: (performance.now() - t0) / 1000 });
    }
    } finally {
      await workerPool?.close();
      await engine?.close();
    }
    log.info(`run ${dir}, epoch ${run.meta.epoch}${opts.best ? ' (best)' : ''}; nats per example; seed ${opts.seed}; ${results.map((x) => `${x.split} took ${formatDuration(x.seconds)}`).join(', ')}`);
    if (opts.samples > 0 && opts.samples < LITERATURE_SAMPLES) {
      log.info(`NLL from K = ${opts.samples} importance samples per example;`);
      log.info(`--samples ${LITERATURE_SAMPLES} gives the literature's tighter estimate (${Math.round(LITERATURE_SAMPLES / opts.samples)} times the work)`);
    }
    if (opts.json) {
      const lines = results.map(({ split, r, seconds }) => JSON.stringify(evalRecord(split, r, { seed: opts.seed, epoch: run.meta.epoch, run: dir, seconds })));
      await writeStdout(lines.join('\n') + '\n');
      return;
    }
    const k = opts.samples;
    process.stderr.write(
      `${renderTable(
        ['split', 'n', 'ELBO', 'recon', 'KL', `L_${k || 'K'}`, 'NLL', '± s.e.', 'active units', 'bits/dim'],
        results.map(({ split, r }) => [
          split,
          r.n,
          fmt(r.elbo),
          fmt(r.recon),
          fmt(r.kl),
          r.iw ? fmt(r.iw.lk) : '-',
          r.iw ? fmt(r.iw.nll) : '-',
          r.iw ? fmt(r.iw.nllStdErr) : '-',
          `${r.activeUnits} of ${r.klPerDim.length}`,
          r.iw ? fmt(r.iw.bitsPerDim, 4) : '-',
        ]),
      )}\n`,
    );
    for (const { split, r } of results) {
      log.info(`${split}: active units (Var_x E[z_j|x] > ${ACTIVE_UNIT_THRESHOLD}): ${r.activeDims.length ? r.activeDims.join(', ') : 'none'}`);
    }
    if (opts.perDim) {
      for (const { split, r } of results) {
        const order = r.klPerDim.map((_, j) => j).sort((a, b) => r.klPerDim[b] - r.klPerDim[a]);
        process.stderr.write(
          `${split}: KL per latent dimension, most informative first\n${renderTable(
            ['dim', 'KL (nats)', 'Var_x E[z|x]', 'active'],
            order.map((j) => [j, fmt(r.klPerDim[j], 3), fmt(r.muVariance[j], 4), r.muVariance[j] > ACTIVE_UNIT_THRESHOLD ? 'yes' : 'no']),
          )}\n`,
        );
      }
    }
  });
}
