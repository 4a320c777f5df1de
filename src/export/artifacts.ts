/**
 * A layers model to the files of TensorFlow.js's own model format (as tf.io defines it): a
 * `model.json` with the topology and a weights manifest, and one binary shard of little-endian
 * float32 weights beside it, which `tf.loadLayersModel('<url>/model.json')` reads.
 */
import { tf, type LayersModel } from '../tf.js';

/** The weights file's name (as tensorflowjs_converter names a model's only shard). */
export const WEIGHTS_FILE = 'group1-shard1of1.bin';

/** model.json and its weights, as file name -> bytes. */
export async function modelFiles(model: LayersModel): Promise<Map<string, Uint8Array>> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!saved?.weightSpecs || saved.weightData === undefined) throw new Error('tfjs saved a model without weights');
  const weights = tf.io.concatenateArrayBuffers(Array.isArray(saved.weightData) ? saved.weightData : [saved.weightData]);
  const json: tf.io.ModelJSON = {
    modelTopology: saved.modelTopology as object,
    format: saved.format,
    generatedBy: saved.generatedBy,
    convertedBy: saved.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: saved.weightSpecs }],
  };
  return new Map([
    ['model.json', new TextEncoder().encode(`${JSON.stringify(json)}\n`)],
    [WEIGHTS_FILE, new Uint8Array(weights)],
  ]);
}
