/** A loaded run to the files of an export: encoder/, decoder/ (TensorFlow.js models) and vae.json. */
import type { LoadedRun } from '../run/run.js';
import { encoderModel } from './encoder.js';
import { decoderModel } from './decoder.js';
import { modelFiles } from './artifacts.js';
import { describeExport, type ExportInfo, type Part } from './describe.js';

/** Relative path -> bytes, e.g. 'decoder/model.json'. */
export type ExportFiles = Map<string, Uint8Array>;

export async function exportRun(run: LoadedRun, which: 'last' | 'best', parts: readonly Part[]): Promise<{ files: ExportFiles; info: ExportInfo }> {
  const info = describeExport(run, which, parts);
  const files: ExportFiles = new Map();
  for (const part of parts) {
    const model = part === 'encoder' ? encoderModel(run.vae, info.imageShape) : decoderModel(run.vae, info.imageShape);
    try {
      for (const [name, bytes] of await modelFiles(model)) files.set(`${part}/${name}`, bytes);
    } finally {
      model.dispose();
    }
  }
  files.set('vae.json', new TextEncoder().encode(`${JSON.stringify(info, null, 2)}\n`));
  return { files, info };
}
