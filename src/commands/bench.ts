import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { Command } from 'commander';
import { tf } from '../tf.js';
import { VaeError } from '../errors.js';
import { Rng } from '../random.js';
import { loadConfig } from '../config/load.js';
import { loadSplits } from '../data/load.js';
import { BACKEND_NAMES, selectBackend, probeBackends, parseBackendName, type BackendReport } from '../backend/index.js';
import { Adam } from '../train/adam.js';
import { createVaeForConfig, makeVaeTask } from '../train/train-vae.js';
import { gpuCounters, gpuCountersPerStep, type GpuCounters } from '../backend/webgpu.js';
import { fmt, renderTable } from '../ui/table.js';
import { collect, intArg, makeLog, writeStdout } from './options.js';
import { benchEval } from './bench-eval.js';
import { yieldToEvents } from '../ui/progress.js';

interface BenchOptions {
  config?: string;
  set?: string[];
  backend: string;
  batch?: number;
  steps: number;
  warmup: number;
  repeat: number;
  epoch?: boolean;
  json?: boolean;
  torch?: string;
  python: string;
  torchDevice?: string;
  quiet?: boolean;
  verbose?: boolean;
  eval?: boolean;
  run?: string;
  samples: number;
  limit: number;
}

interface BenchRow {
  backend: string;
  device: string;
  batch: number;
  /** median over the --repeat timed runs */
  msPerStep: number;
  /** ms/step of each timed run, in order */
  runs: number[];
  examplesPerSec: number;
  kernelsPerStep: number;
  /** tensors and bytes a step leaves allocated (0 when nothing leaks) */
  netTensorsPerStep: number;
  netBytesPerStep: number;
  epochSeconds?: number;
  /** webgpu only: CPU-GPU traffic per step (uploads, buffer allocations, dispatches, submits, readbacks) */
  gpuPerStep?: GpuCounters;
}

interface TorchResult {
  ms_per_step: number;
  impl: string;
  threads: number;
  epoch_s?: number;
  /** cpu or cuda */
  device: string;
}

type Cfg = ReturnType<typeof loadConfig>['config'];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/**
 * The config's model on the current backend, warmed up and profiled, ready to time training
 * steps exactly as `vae train` runs them.
 */
async function prepare(report: BackendReport, opts: BenchOptions, cfg: Cfg) {
  const train = (await loadSplits(cfg.data, ['train'])).train;
  const vae = createVaeForConfig(cfg, train);
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const task = makeVaeTask(vae, adam, train, cfg, Rng.derive(cfg.train.seed, 'eps'));
  const steps = task.stepsInEpoch(0);
  const B = Math.min(cfg.train.batchSize, train.n);
  let i = 0;
  const run = async (n: number) => {
    const pending: tf.Tensor[] = [];
    for (let k = 0; k < n; k++, i++) {
      pending.push((await task.step(0, i % steps)).stats);
      await yieldToEvents(); // Ctrl-C and the spinner, as in training (a few microseconds a step)
      // read back at the training loop's interval, as training does
      if (pending.length === cfg.train.logEvery || k === n - 1) {
        const s = tf.stack(pending);
        await s.data();
        tf.dispose([s, ...pending]);
        pending.length = 0;
      }
    }
  };
  await run(opts.warmup);
  const prof = await tf.profile(async () => {
    (await task.step(0, i++ % steps)).stats.dispose();
  });
  // CPU-GPU traffic of the training loop's own rhythm (reads every logEvery steps)
  let gpuPerStep: GpuCounters | undefined;
  if (report.name === 'webgpu') {
    const n = Math.max(cfg.train.logEvery, 10);
    const start = gpuCounters();
    await run(n);
    gpuPerStep = gpuCountersPerStep(start, n);
  }
  return {
    info: { backend: report.name, device: report.device, batch: B, kernelsPerStep: prof.kernels.length, netTensorsPerStep: prof.newTensors, netBytesPerStep: prof.newBytes, gpuPerStep },
    /** ms per step over n steps */
    async time(n: number): Promise<number> {
      const t0 = performance.now();
      await run(n);
      return (performance.now() - t0) / n;
    },
    /** seconds for one full epoch */
    async epoch(): Promise<number> {
      const e0 = performance.now();
      i = 0;
      await run(steps);
      return (performance.now() - e0) / 1000;
    },
    dispose(): void {
      adam.dispose();
      for (const v of vae.params.values()) v.dispose();
    },
  };
}

/** PyTorch on the GPU when we time a GPU backend, else on the CPU with 2 threads (our machines' cores). */
function torchDevice(opts: BenchOptions, names: string[]): string {
  return opts.torchDevice ?? (names.some((n) => n === 'webgpu' || n === 'cuda') ? 'cuda' : 'cpu');
}

function runTorch(opts: BenchOptions, cfg: Cfg, epoch: boolean, device: string): TorchResult {
  const threads = device === 'cpu' ? ['--threads', '2'] : [];
  const args = [opts.torch!, '--device', device, ...threads, '--batch', String(cfg.train.batchSize), '--steps', String(opts.steps), '--hidden', String(cfg.model.hidden[0]), '--latent', String(cfg.model.latentDim), ...(epoch ? ['--epoch'] : [])];
  const r = spawnSync(opts.python, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new VaeError(`the PyTorch reference failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`, { hint: 'check --python (it needs torch and numpy)' });
  return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Omit<TorchResult, 'device'>), device };
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('time training steps per backend (ms/step, examples/s, kernels and bytes per step); optionally against PyTorch')
    .option('-c, --config <file>', 'model and data config (default: the reference mnist.json)', 'mnist.json')
    .option('-s, --set <key=value>', 'override a config key (repeatable)', collect, [])
    .option('--backend <names|all>', `backends to time, comma-separated: ${BACKEND_NAMES.filter((b) => b !== 'auto').join(', ')}, auto; or all (those that load)`, 'auto')
    .option('--batch <size>', 'batch size (default: the config\'s)', intArg('--batch', 1, 65_536))
    .option('--steps <n>', 'timed steps', intArg('--steps', 1, 100_000), 50)
    .option('--warmup <n>', 'untimed steps first', intArg('--warmup', 0, 100_000), 5)
    .option('--repeat <n>', 'timed runs per backend (median reported); with --torch each run is paired with a PyTorch run right after it', intArg('--repeat', 1, 100), 1)
    .option('--epoch', 'also time one full epoch')
    .option('--torch <script>', 'also run this PyTorch reference (shared/bench/torch_reference.py) in the same run and report the ratio')
    .option('--python <exe>', 'python for --torch', 'python3')
    .option('--torch-device <device>', 'device for --torch: cpu (2 threads) or cuda (default: cuda when timing webgpu or cuda, else cpu)')
    .option('--json', 'print JSON on stdout')
    .option('--eval', "time `vae eval`'s importance sampler instead (decoder rows per second)")
    .option('-r, --run <dir>', 'with --eval: the trained run to time (default: the config\'s freshly initialised model)')
    .option('-k, --samples <K>', 'with --eval: importance samples per example', intArg('--samples', 1, 1_000_000), 1000)
    .option('--limit <n>', 'with --eval: test examples to time', intArg('--limit', 1, 1_000_000), 100)
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText(
      'after',
      '\nBenchmarks are commands, not tests. On a shared machine compare ratios from interleaved runs, e.g. (CPU, against PyTorch with 2 threads):\n  vae bench --backend wasm --steps 100 --repeat 5 --torch ../shared/bench/torch_reference.py --python /usr/bin/python3\n',
    )
    .action(async (opts: BenchOptions) => {
      const log = makeLog(opts);
      const cfg = loadConfig({ config: opts.config, set: [...(opts.set ?? []), ...(opts.batch ? [`train.batchSize=${opts.batch}`] : [])] }).config;
      if (opts.torch && !fs.existsSync(opts.torch)) throw new VaeError(`--torch: '${opts.torch}' does not exist`);
      if (opts.eval) {
        await benchEval({ ...opts, backends: opts.backend.split(',').map((b) => b.trim()) }, cfg, log);
        return;
      }
      const names =
        opts.backend === 'all' ? (await probeBackends()).filter((b) => b.ok).map((b) => b.name) : opts.backend.split(',').map((b) => parseBackendName(b.trim()));
      const rows: BenchRow[] = [];
      const ratios: { backend: string; ratio: number; runs: number[] }[] = [];
      const torchRuns: TorchResult[] = [];
      for (const name of names) {
        const report = await selectBackend(name);
        log.status(`preparing ${report.name}: ${opts.warmup} warm-up steps at batch ${cfg.train.batchSize}`);
        const bench = await prepare(report, opts, cfg);
        const runs: number[] = [];
        const paired: number[] = [];
        for (let r = 0; r < opts.repeat; r++) {
          log.status(`timing ${report.name}: ${opts.steps} steps (run ${r + 1} of ${opts.repeat})`);
          runs.push(await bench.time(opts.steps));
          if (opts.torch) {
            // right after, so both see the same machine load
            log.status(`timing the PyTorch reference (run ${r + 1} of ${opts.repeat})`);
            const t = runTorch(opts, cfg, false, torchDevice(opts, names));
            torchRuns.push(t);
            paired.push(runs[r] / t.ms_per_step);
          }
        }
        const ms = median(runs);
        const row: BenchRow = { ...bench.info, msPerStep: ms, runs, examplesPerSec: (bench.info.batch / ms) * 1000 };
        if (opts.epoch) {
          log.status(`timing one epoch on ${report.name}`);
          row.epochSeconds = await bench.epoch();
        }
        bench.dispose();
        log.stopStatus();
        rows.push(row);
        if (opts.torch) ratios.push({ backend: report.name, ratio: median(paired), runs: paired });
      }
      let torch: (TorchResult & { runs: number[] }) | null = null;
      if (opts.torch) {
        let epochS: number | undefined;
        if (opts.epoch) {
          log.status('timing one epoch of the PyTorch reference');
          const t = runTorch(opts, cfg, true, torchDevice(opts, names));
          torchRuns.push(t);
          epochS = t.epoch_s;
        }
        log.stopStatus();
        const runs = torchRuns.map((t) => t.ms_per_step);
        torch = { ...torchRuns[0], ms_per_step: median(runs), runs, epoch_s: epochS };
      }
      if (opts.json) {
        await writeStdout(`${JSON.stringify({ rows, torch, ratios: torch ? ratios : null })}\n`);
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
        ...(torch ? [fmt(ratios.find((r) => r.backend === x.backend)!.ratio)] : []),
      ]);
      if (torch) body.push([`PyTorch ${torch.impl.replace('pytorch ', '')}`, torch.device === 'cpu' ? `CPU, ${torch.threads} threads` : torch.device, cfg.train.batchSize, fmt(torch.ms_per_step), Math.round((cfg.train.batchSize / torch.ms_per_step) * 1000), '', '', '', ...(opts.epoch ? [fmt(torch.epoch_s ?? NaN, 1)] : []), '1.00']);
      process.stderr.write(`${renderTable(head, body)}\n`);
      if (opts.repeat > 1) {
        const lines = rows.map((x) => `  ${x.backend}: ms/step ${x.runs.map((v) => fmt(v)).join(' ')}${torch ? `; x PyTorch ${ratios.find((r) => r.backend === x.backend)!.runs.map((v) => fmt(v)).join(' ')}` : ''}`);
        if (torch) lines.push(`  PyTorch: ms/step ${torch.runs.map((v) => fmt(v)).join(' ')}`);
        const note = torch ? '; x PyTorch pairs each run with the PyTorch run right after it' : '';
        process.stderr.write(`each run (the table shows medians${note}):\n${lines.join('\n')}\n`);
      }
      for (const x of rows.filter((r) => r.gpuPerStep)) {
        const g = x.gpuPerStep!;
        process.stderr.write(
          `${x.backend} per step: ${fmt(g.uploads, 1)} uploads (${fmt(g.uploadBytes / 1024, 1)} KiB), ${fmt(g.buffersCreated, 1)} GPU buffer allocations, ${fmt(g.dispatches, 1)} dispatches, ${fmt(g.submits, 1)} submits, ${fmt(g.readbacks, 2)} readbacks\n`,
        );
      }
    });
}
