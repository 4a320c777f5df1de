/**
 * The one place tfjs is imported. The cpu backend is always registered; others are loaded on
 * demand by src/backend. Prod mode turns off debug checks and tfjs's console banners (such as
 * the "install tfjs-node" advice, which is not ours to give).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's Node build ships no gradient functions; the umbrella package's Node build
// registers all of them (into this same tfjs-core), which training needs.
import * as tfjs from '@tensorflow/tfjs';

tf.enableProdMode();

export { tf };
/** tfjs's layers API, used to write models in TensorFlow.js's own format (src/export). */
export const tfl = { layers: tfjs.layers, model: tfjs.model, input: tfjs.input };
export type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs';
export type { Tensor, Variable } from '@tensorflow/tfjs-core';
