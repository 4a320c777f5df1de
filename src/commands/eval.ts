import type { Command } from 'commander';
import { VaeError } from '../errors.js';
import { loadRun, resolveRun } from '../run/run.js';
import { loadSplits, SPLITS, type SplitName } from '../data/load.js';
import { slice } from '../data/dataset.js';
import { evaluateElbo, type ElboResult } from '../eval/elbo.js';
import { EVAL_SEED, evalBinarizes } from '../train/train-vae.js';
import { fmt, renderTable } from '../ui/table.js';
import { addBackendOption, intArg, makeLog, startBackend, writeStdout, type CommonOptions } from './options.js';

interface EvalOptions extends CommonOptions {
  run?: string;
  split: string;
  json?: boolean;
  seed: number;
  batch: number;
  limit?: number;
  best?: boolean;
}

function parseSplits(arg: string): SplitName[] {
  const parts = arg.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of parts) {
    if (!(SPLITS as readonly string[]).includes(p)) throw new VaeError(`unknown split '${p}'`, { hint: `choose from ${SPLITS.join(', ')} (comma-separated for several)` });
  }
  if (parts.length === 0) throw new VaeError('--split needs at least one split');
  return [...new Set(parts)] as SplitName[];
}

export function registerEval(program: Command): void {
  const cmd = program
    .command('eval')
    .description('ELBO, reconstruction term and KL per example (nats) on a split, as a table or --json')
    .option('-r, --run <dir>', 'run directory (default: the latest run under ./runs)')
    .option('--split <names>', 'split(s) to evaluate: test, val, train (comma-separated)', 'test')
    .option('--json', 'print JSON on stdout (one object per split, one per line) instead of a table')
    .option('--seed <int>', 'seed for the fixed binarisation and noise', intArg('--seed', 0, 2 ** 31 - 1), EVAL_SEED)
    .option('--batch <size>', 'examples per batch', intArg('--batch', 1, 65_536), 1000)
    .option('--limit <n>', 'evaluate only the first n examples of each split', intArg('--limit', 1, 10_000_000))
    .option('--best', "use the run's best checkpoint (by validation ELBO) instead of its last")
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText('after', '\nExamples:\n  vae eval\n  vae eval --split test,val --json | jq .elbo\n');
  addBackendOption(cmd).action(async (opts: EvalOptions) => {
    const log = makeLog(opts);
    const splits = parseSplits(opts.split);
    const dir = resolveRun(opts.run);
    await startBackend(opts.backend, log);
    const run = loadRun(dir, opts.best ? 'best' : 'last');
    const data = loadSplits(run.config.data, splits);
    const results: (ElboResult & { split: SplitName })[] = [];
    for (const split of splits) {
      let set = data[split];
      if (opts.limit !== undefined) set = slice(set, 0, opts.limit);
      if (set.n === 0) throw new VaeError(`the ${split} split of this run is empty`, { hint: split === 'val' ? 'the run was trained with data.validation=0' : undefined });
      log.status(`evaluating ${split} (${set.n} examples)`);
      const r = evaluateElbo(run.vae, set, {
        seed: opts.seed,
        batchSize: opts.batch,
        binarize: evalBinarizes(run.config),
        onBatch: (done, total) => log.status(`evaluating ${split}: ${done}/${total}`),
      });
      log.stopStatus();
      results.push({ split, ...r });
    }
    log.info(`run ${dir}, epoch ${run.meta.epoch}${opts.best ? ' (best)' : ''}; nats per example, seed ${opts.seed}`);
    if (opts.json) {
      await writeStdout(results.map((r) => JSON.stringify({ split: r.split, n: r.n, elbo: r.elbo, recon: r.recon, kl: r.kl, epoch: run.meta.epoch, run: dir })).join('\n') + '\n');
    } else {
      process.stderr.write(
        `${renderTable(['split', 'n', 'ELBO', 'recon E[log p(x|z)]', 'KL'], results.map((r) => [r.split, r.n, fmt(r.elbo), fmt(r.recon), fmt(r.kl)]))}\n`,
      );
    }
  });
}
