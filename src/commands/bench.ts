import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { BACKEND_NAMES, selectBackend, probeBackends, parseBackendName } from '../backend/index.js';
import { enableGpuCounters } from '../backend/webgpu/counters.js';
import { PROFILE_STEPS, prepareStepBench, type StepProfile } from '../bench/steps.js';
import { median } from '../util/median.js';
import { Launcher } from '../bench/launcher.js';
import { checkTorchDevice, findPython, oldTorchWarning, referenceDifferences, runTorch, torchScript, type TorchResult, type TorchRun } from '../bench/torch.js';
import { fmt, renderTable } from '../ui/table.js';
import { collect, intArg, makeLog, writeStdout } from './options.js';
import { benchEval } from './bench-eval.js';

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
  torch?: string | true;
  python?: string;
  torchDevice?: string;
  tfjs?: boolean;
  profile?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  eval?: boolean;
  run?: string;
  samples: number;
  limit: number;
}

interface BenchRow extends StepProfile {
  /** median over the --repeat timed runs */
  msPerStep: number;
  /** ms/step of each timed run, in order */
  runs: number[];
  examplesPerSec: number;
  epochSeconds?: number;
}

/** PyTorch on the GPU when we time a GPU backend, else on the CPU with 2 threads (our machines' cores). */
function torchDevice(opts: BenchOptions, names: string[]): string {
  return opts.torchDevice ?? (names.some((n) => n === 'webgpu' || n === 'cuda') ? 'cuda' : 'cpu');
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
    .option('--torch [script]', 'also time the PyTorch reference (default: the shipped bench/torch_reference.py) in the same run and report the ratio')
    .option('--python <exe>', 'python for --torch (default: the first of $VAE_PYTHON, ./.venv, ./venv, python3, python, /usr/bin/python3 with torch 2.x, else any torch)')
    .option('--torch-device <device>', 'device for --torch: cpu (2 threads) or cuda (default: cuda when timing webgpu or cuda, else cpu)')
    .option('--tfjs', 'time the backend op by op in tfjs instead of its engine (the fused WebGPU engine, or the CPU engine on wasm and tensorflow)')
    .option('--profile', "on webgpu's fused engine: GPU time of each kernel (timestamp queries)")
    .option('--json', 'print JSON on stdout')
    .option('--eval', "time `vae eval`'s importance sampler instead (decoder rows per second)")
    .option('-r, --run <dir>', 'with --eval: the trained run to time (default: the config\'s freshly initialised model)')
    .option('-k, --samples <K>', 'with --eval: importance samples per example', intArg('--samples', 1, 1_000_000), 1000)
    .option('--limit <n>', 'with --eval: test examples to time', intArg('--limit', 1, 1_000_000), 100)
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText(
      'after',
      '\nBenchmarks are commands, not tests. On a shared machine compare ratios from interleaved runs, e.g. (CPU, against PyTorch with 2 threads):\n  vae bench --backend wasm --steps 100 --repeat 5 --torch\n',
    )
    .action(async (opts: BenchOptions) => {
      const log = makeLog(opts);
      const cfg = loadConfig({ config: opts.config, set: [...(opts.set ?? []), ...(opts.batch ? [`train.batchSize=${opts.batch}`] : [])] }).config;
      if (opts.eval) {
        await benchEval({ ...opts, backends: opts.backend.split(',').map((b) => b.trim()) }, cfg, log);
        return;
      }
      const names =
        opts.backend === 'all' ? (await probeBackends()).filter((b) => b.ok).map((b) => b.name) : opts.backend.split(',').map((b) => parseBackendName(b.trim()));
      let torchRun: TorchRun | null = null;
      if (opts.torch) {
        const found = findPython(opts.python);
        const script = torchScript(opts.torch);
        const device = torchDevice(opts, names);
        checkTorchDevice(found.python, device);
        log.info(`PyTorch reference: PyTorch ${found.version} (${found.python}) running ${script} on ${device}`);
        const old = oldTorchWarning(found);
        if (old) log.warn(old);
        const differs = referenceDifferences(cfg);
        if (differs.length) log.warn(`the PyTorch reference does not model this config's ${differs.join(', ')}: the ratio compares different steps`);
        // started now, while this process is small (closed in the finally below)
        torchRun = { script, python: found.python, steps: opts.steps, device, launcher: Launcher.start() };
      }
      // count CPU-GPU traffic on webgpu (installed before Dawn loads; off in every other command)
      if (names.includes('webgpu')) enableGpuCounters();
      const rows: BenchRow[] = [];
      const ratios: { backend: string; ratio: number; runs: number[] }[] = [];
      const torchRuns: TorchResult[] = [];
      let torch: (TorchResult & { runs: number[] }) | null = null;
      try {
        for (const name of names) {
          const report = await selectBackend(name);
          log.status(`preparing ${report.name}: ${opts.warmup} warm-up steps at batch ${cfg.train.batchSize}`);
          const bench = await prepareStepBench(report, cfg, opts.warmup, { tfjs: opts.tfjs ?? false, profile: opts.profile, say: (line) => log.info(line) });
          const runs: number[] = [];
          const paired: number[] = [];
          for (let r = 0; r < opts.repeat; r++) {
            log.status(`timing ${report.name}: ${opts.steps} steps (run ${r + 1} of ${opts.repeat})`);
            runs.push(await bench.time(opts.steps));
            if (torchRun) {
              // right after, so both see the same machine load
              log.status(`timing the PyTorch reference (run ${r + 1} of ${opts.repeat})`);
              const t = await runTorch(torchRun, cfg, false);
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
          if (torchRun) ratios.push({ backend: row.backend, ratio: median(paired), runs: paired });
        }
        if (torchRun) {
          let epochS: number | undefined;
          if (opts.epoch) {
            log.status('timing one epoch of the PyTorch reference');
            const t = await runTorch(torchRun, cfg, true);
            torchRuns.push(t);
            epochS = t.epoch_s;
          }
          log.stopStatus();
          const runs = torchRuns.map((t) => t.ms_per_step);
          torch = { ...torchRuns[0], ms_per_step: median(runs), runs, epoch_s: epochS };
        }
      } finally {
        torchRun?.launcher.close();
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
          `${x.backend} per step: ${fmt(g.uploads, 1)} uploads (${fmt(g.uploadBytes / 1024, 1)} KiB), ${fmt(g.buffersCreated, 1)} GPU buffer allocations, ${fmt(g.dispatches, 1)} dispatches, ${fmt(g.submits, 3)} submits, ${fmt(g.readbacks, 3)} readbacks; ${fmt(x.issueMsPerStep ?? NaN, 3)} ms of CPU to issue it\n`,
        );
      }
      if (opts.profile) {
        for (const x of rows) {
          if (!x.kernelUs) {
            log.warn(`${x.backend}: no kernel profile (${x.kernelUs === null ? 'the adapter has no timestamp queries' : '--profile times the fused webgpu engine only'})`);
            continue;
          }
          const total = x.kernelUs.reduce((a, k) => a + k.us, 0);
          const table = x.kernelUs.map((k) => [k.label, fmt(k.us, 1), `${fmt((100 * k.us) / total, 1)}%`]);
          table.push(['all kernels', fmt(total, 1), `(${fmt(total / 1000 / x.msPerStep, 2)} of the step's wall time)`]);
          process.stderr.write(`${x.backend}, GPU time per kernel (median of ${PROFILE_STEPS} steps, each kernel in a pass of its own):\n${renderTable(['kernel', 'us', 'share'], table)}\n`);
        }
      }
    });
}
