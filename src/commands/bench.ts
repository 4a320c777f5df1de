import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { Command } from 'commander';
import { tf } from '../tf.js';
import { VaeError } from '../errors.js';
import { Rng } from '../random.js';
import { loadConfig } from '../config/load.js';
import { loadSplits } from '../data/load.js';
import { BACKEND_NAMES, selectBackend, probeBackends, parseBackendName, type BackendReport } from '../backend/index.js';
import { createVae } from '../model/vae.js';
import { Adam } from '../train/adam.js';
import { makeVaeTask, specFromConfig } from '../train/train-vae.js';
import { fmt, renderTable } from '../ui/table.js';
import { collect, intArg, makeLog, writeStdout } from './options.js';

interface BenchOptions {
  config?: string;
  set?: string[];
  backend: string;
  batch?: number;
  steps: number;
  warmup: number;
  epoch?: boolean;
  json?: boolean;
  torch?: string;
  python: string;
  quiet?: boolean;
  verbose?: boolean;
}

interface BenchRow {
  backend: string;
  device: string;
  batch: number;
  msPerStep: number;
  examplesPerSec: number;
  kernelsPerStep: number;
  /** tensors and bytes a step leaves allocated (0 when nothing leaks) */
  netTensorsPerStep: number;
  netBytesPerStep: number;
  epochSeconds?: number;
}

/** Time training steps of the config's model on one backend (after warm-up). */
async function benchOne(report: BackendReport, opts: BenchOptions, cfg: ReturnType<typeof loadConfig>['config']): Promise<BenchRow> {
  const train = (await loadSplits(cfg.data, ['train'])).train;
  const vae = createVae(specFromConfig(cfg, train), Rng.derive(cfg.train.seed, 'init'));
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const task = makeVaeTask(vae, adam, train, cfg, Rng.derive(cfg.train.seed, 'eps'));
  const steps = task.stepsInEpoch(0);
  const B = Math.min(cfg.train.batchSize, train.n);
  let i = 0;
  const run = (n: number) => {
    const pending: tf.Tensor[] = [];
    for (let k = 0; k < n; k++, i++) {
      pending.push(task.step(0, i % steps).stats);
      // read back at the training loop's interval, as training does
      if (pending.length === cfg.train.logEvery || k === n - 1) {
        const s = tf.stack(pending);
        s.dataSync();
        tf.dispose([s, ...pending]);
        pending.length = 0;
      }
    }
  };
  run(opts.warmup);
  const prof = await tf.profile(() => {
    task.step(0, i++ % steps).stats.dispose();
  });
  const t0 = performance.now();
  run(opts.steps);
  const ms = (performance.now() - t0) / opts.steps;
  const row: BenchRow = {
    backend: report.name,
    device: report.device,
    batch: B,
    msPerStep: ms,
    examplesPerSec: (B / ms) * 1000,
    kernelsPerStep: prof.kernels.length,
    netTensorsPerStep: prof.newTensors,
    netBytesPerStep: prof.newBytes,
  };
  if (opts.epoch) {
    const e0 = performance.now();
    i = 0;
    run(steps);
    row.epochSeconds = (performance.now() - e0) / 1000;
  }
  adam.dispose();
  for (const v of vae.params.values()) v.dispose();
  return row;
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('time training steps per backend (ms/step, examples/s, kernels and bytes per step); optionally against PyTorch')
    .option('-c, --config <file>', 'model and data config (default: the reference mnist.json)', 'mnist.json')
    .option('-s, --set <key=value>', 'override a config key (repeatable)', collect, [])
    .option('--backend <name|all>', `backend to time: ${BACKEND_NAMES.filter((b) => b !== 'auto').join(', ')}, auto or all (those that load)`, 'auto')
    .option('--batch <size>', 'batch size (default: the config\'s)', intArg('--batch', 1, 65_536))
    .option('--steps <n>', 'timed steps', intArg('--steps', 1, 100_000), 50)
    .option('--warmup <n>', 'untimed steps first', intArg('--warmup', 0, 100_000), 5)
    .option('--epoch', 'also time one full epoch')
    .option('--torch <script>', 'also run this PyTorch reference (shared/bench/torch_reference.py) in the same run and report the ratio')
    .option('--python <exe>', 'python for --torch', 'python3')
    .option('--json', 'print JSON on stdout')
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText('after', '\nBenchmarks are commands, not tests. Example (CPU, against PyTorch with 2 threads):\n  vae bench --backend wasm --steps 100 --torch ../shared/bench/torch_reference.py --python /usr/bin/python3\n')
    .action(async (opts: BenchOptions) => {
      const log = makeLog(opts);
      const cfg = loadConfig({ config: opts.config, set: [...(opts.set ?? []), ...(opts.batch ? [`train.batchSize=${opts.batch}`] : [])] }).config;
      if (opts.torch && !fs.existsSync(opts.torch)) throw new VaeError(`--torch: '${opts.torch}' does not exist`);
      const names =
        opts.backend === 'all' ? (await probeBackends()).filter((b) => b.ok).map((b) => b.name) : [parseBackendName(opts.backend)];
      const rows: BenchRow[] = [];
      for (const name of names) {
        const report = await selectBackend(name);
        log.status(`timing ${report.name}: ${opts.warmup} warm-up + ${opts.steps} steps at batch ${cfg.train.batchSize}`);
        rows.push(await benchOne(report, opts, cfg));
        log.stopStatus();
      }
      let torch: { ms_per_step: number; impl: string; threads: number; epoch_s?: number } | null = null;
      if (opts.torch) {
        log.status('timing the PyTorch reference');
        const args = [opts.torch, '--device', 'cpu', '--threads', '2', '--batch', String(cfg.train.batchSize), '--steps', String(opts.steps), '--hidden', String(cfg.model.hidden[0]), '--latent', String(cfg.model.latentDim), ...(opts.epoch ? ['--epoch'] : [])];
        const r = spawnSync(opts.python, args, { encoding: 'utf8' });
        log.stopStatus();
        if (r.status !== 0) throw new VaeError(`the PyTorch reference failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`, { hint: 'check --python (it needs torch and numpy)' });
        torch = JSON.parse(r.stdout.trim().split('\n').pop()!);
      }
      if (opts.json) {
        await writeStdout(`${JSON.stringify({ rows, torch, ratios: torch ? rows.map((x) => ({ backend: x.backend, ratio: x.msPerStep / torch!.ms_per_step })) : null })}\n`);
        return;
      }
      const head = ['backend', 'device', 'batch', 'ms/step', 'examples/s', 'kernels/step', 'tensors left/step', 'bytes left/step', ...(opts.epoch ? ['epoch s'] : []), ...(torch ? ['x PyTorch'] : [])];
      const body: (string | number)[][] = rows.map((x) => [
        x.backend,
        x.device,
        x.batch,
        fmt(x.msPerStep),
        Math.round(x.examplesPerSec),
        x.kernelsPerStep,
        x.netTensorsPerStep,
        x.netBytesPerStep,
        ...(opts.epoch ? [fmt(x.epochSeconds ?? NaN, 1)] : []),
        ...(torch ? [fmt(x.msPerStep / torch.ms_per_step)] : []),
      ]);
      if (torch) body.push([`PyTorch ${torch.impl.replace('pytorch ', '')}`, `CPU, ${torch.threads} threads`, cfg.train.batchSize, fmt(torch.ms_per_step), Math.round((cfg.train.batchSize / torch.ms_per_step) * 1000), '', '', '', ...(opts.epoch ? [fmt(torch.epoch_s ?? NaN, 1)] : []), '1.00']);
      process.stderr.write(`${renderTable(head, body)}\n`);
    });
}
