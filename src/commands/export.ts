import type { Command } from 'commander';
import { Option } from 'commander';
import { exportRun } from '../export/export-run.js';
import { checkExportDir, writeExport } from '../export/write.js';
import type { Part } from '../export/describe.js';
import { addBackendOption, addRunOptions, makeLog, openRun, type CommonOptions } from './options.js';

interface ExportOptions extends CommonOptions {
  run?: string;
  best?: boolean;
  out: string;
  part: 'encoder' | 'decoder' | 'both';
}

export function registerExport(program: Command): void {
  const cmd = program
    .command('export')
    .description("a run's model in TensorFlow.js's own format (model.json + weights) for tf.loadLayersModel, with vae.json saying what it means")
    .requiredOption('-o, --out <dir>', 'a new (or empty) folder for encoder/, decoder/ and vae.json')
    .addOption(new Option('--part <which>', 'what to export').choices(['encoder', 'decoder', 'both']).default('both'))
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText(
      'after',
      [
        '',
        'The encoder maps images [batch, H, W, C] in [0, 1] to [mu, logvar]; the decoder maps z [batch, J]',
        'to the image E[x|z] in [0, 1]. Both load with stock @tensorflow/tfjs, in a browser or in Node:',
        "  const decoder = await tf.loadLayersModel('web-model/decoder/model.json');",
        '  const images = decoder.predict(tf.randomNormal([16, J]));',
        '',
        'Examples:',
        '  vae export --out web-model',
        '  vae export --run runs/mnist-20250101-120000 --best --part decoder --out decoder-only',
        '',
      ].join('\n'),
    );
  addBackendOption(addRunOptions(cmd)).action(async (opts: ExportOptions) => {
    checkExportDir(opts.out);
    const log = makeLog(opts);
    const { dir, run } = await openRun(opts, log);
    const parts: Part[] = opts.part === 'both' ? ['encoder', 'decoder'] : [opts.part];
    const { files } = await exportRun(run, opts.best ? 'best' : 'last', parts);
    writeExport(opts.out, files);
    const bytes = [...files.values()].reduce((a, b) => a + b.length, 0);
    log.info(`exported the ${parts.join(' and ')} of ${dir} (${opts.best ? 'best checkpoint, ' : ''}epoch ${run.meta.epoch}) to ${opts.out}/ (${(bytes / 1e6).toFixed(1)} MB)`);
  });
}
