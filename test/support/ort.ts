/** Tests of the CPU engine skip, with onnxruntime's own reason, where onnxruntime-node does not load. */
import { loadOrt } from '../../src/engine/onnx/engine.js';

/** false where onnxruntime loads, else why not (a node:test `skip` value). */
export async function skipWithoutOrt(): Promise<string | false> {
  try {
    await loadOrt();
    return false;
  } catch (err) {
    return (err as Error).message;
  }
}
