import type { Command } from 'commander';
import { VaeError } from '../errors.js';
import { makeLog } from './options.js';
import { removeTensorflow, setupTensorflow } from '../setup/tensorflow.js';
import { takeSignals } from '../ui/signals.js';

export function registerSetup(program: Command): void {
  program
    .command('setup')
    .description('install a compute backend that npm cannot: tensorflow (TensorFlow 2.21 C library from PyPI, tfjs-node built against it)')
    .argument('<backend>', 'tensorflow')
    .option('--wheel <file>', `use this ${'tensorflow-cpu'} 2.21.0 wheel instead of downloading it with pip (offline machines)`)
    .option('--force', 'redo every step, even if it is set up')
    .option('--remove', 'delete what setup installed')
    .option('-q, --quiet', 'only errors')
    .option('-v, --verbose', 'show the output of pip, npm and the compiler')
    .addHelpText('after', '\nWhere it goes, what it needs and what it costs: docs/backends.md\n')
    .action(async (backend: string, opts: { wheel?: string; force?: boolean; remove?: boolean; quiet?: boolean; verbose?: boolean }) => {
      if (backend !== 'tensorflow') {
        const why = backend === 'cuda' ? ': no GPU TensorFlow wheel built for CUDA 12 can be set up yet (docs/backends.md)' : '';
        throw new VaeError(`vae setup ${backend} is not available${why}`, { hint: 'vae setup tensorflow sets up the TensorFlow CPU backend' });
      }
      const log = makeLog(opts);
      if (opts.remove) return removeTensorflow(log);
      const ac = new AbortController();
      const stop = () => ac.abort(new VaeError('setup interrupted: tensorflow is not set up; steps that finished are kept', { hint: 'run vae setup tensorflow again to continue', exitCode: 130 }));
      // taken over from the default exit (src/ui/signals.ts): setup aborts its child processes first
      const release = takeSignals(stop);
      try {
        await setupTensorflow({ wheel: opts.wheel, force: opts.force, log, signal: ac.signal });
      } catch (err) {
        if (ac.signal.aborted) throw ac.signal.reason;
        throw err;
      } finally {
        release();
      }
    });
}
