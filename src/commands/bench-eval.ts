/** `vae bench --eval`: times the importance sampler of `vae eval` on each backend asked for. */
import { loadSplits } from '../data/load.js';
import { slice } from '../data/dataset.js';
import { parseBackendName, selectBackend } from '../backend/index.js';
import { createVaeForConfig } from '../train/model-from-config.js';
import { evalBinarizes } from '../model/eval-protocol.js';
import { loadRun, resolveRun } from '../run/run.js';
import { benchEvalSampler, type EvalSpeed } from '../bench/eval-speed.js';
import type { Config } from '../config/schema.js';
import { fmt, renderTable } from '../ui/table.js';
import { formatDuration, type Log } from '../ui/log.js';
import { Progress } from '../ui/progress.js';
import { writeStdout } from './options.js';

export async function benchEval(opts: { backends: string[]; run?: string; samples: number; limit: number; json?: boolean }, cfg: Config, log: Log): Promise<void> {
  const rows: (EvalSpeed & { backend: string; device: string })[] = [];
  for (const name of opts.backends) {
    const report = await selectBackend(parseBackendName(name));
    const dir = opts.run !== undefined ? resolveRun(opts.run) : null;
    const run = dir ? loadRun(dir) : null;
    const config = run ? run.config : cfg;
    const test = (await loadSplits(config.data, ['test'], { cacheDir: dir ?? undefined })).test;
    const set = slice(test, 0, opts.limit);
    const vae = run ? run.vae : createVaeForConfig(config, test);
    const binarize = evalBinarizes(config);
    log.info(`${report.name}: ${dir ? `run ${dir}` : 'a freshly initialised model'}, ${set.n} test examples, K = ${opts.samples}`);
    const paths: ('fused' | 'general')[] = binarize && vae.likelihood.name === 'bernoulli' ? ['fused', 'general'] : ['general'];
    const progress = new Progress(log, paths.length * set.n);
    const onProgress = (path: string, done: number, total: number) => {
      const all = paths.indexOf(path as 'fused') * total + done;
      progress.show([
        { text: `timing the ${path} path: ${Math.floor(done)}/${total} examples x K = ${opts.samples}`, rank: 0 },
        { text: `${formatDuration(progress.elapsed())} elapsed`, rank: 2, join: ', ' },
        { text: progress.etaText(all), rank: 1, join: ', ' },
      ]);
    };
    for (const r of await benchEvalSampler(vae, set, { samples: opts.samples, binarize, paths, onProgress })) {
      rows.push({ ...r, backend: report.name, device: report.device });
    }
    progress.end();
    for (const v of vae.params.values()) v.dispose();
  }
  if (opts.json) {
    await writeStdout(`${JSON.stringify({ eval: rows })}\n`);
    return;
  }
  process.stderr.write(
    `${renderTable(
      ['backend', 'device', 'path', 'K', 'examples', 'decoder rows', 'seconds', 'CPU seconds', 'rows/s', 'rows/CPU-s'],
      rows.map((r) => [r.backend, r.device, r.path, r.samples, r.examples, r.rows, fmt(r.seconds, 2), fmt(r.cpuSeconds, 2), Math.round(r.rowsPerSec), Math.round(r.rowsPerCpuSec)]),
    )}\n`,
  );
}
