/**
 * What training a model needs in memory, from its spec alone (nothing is allocated), so that a
 * model or batch far too big for the machine is refused before it is built:
 *   - parameters: every tensor the spec implies, in float32, four times over (the weights, their
 *     gradients and Adam's two moments), and Adam's update of the largest one (its dozen
 *     temporaries; src/train/adam.ts frees them tensor by tensor);
 *   - activations: a training batch's forward values, each kept for the backward pass, which
 *     makes its gradient and a few temporaries: about 8 floats per forward value in all (the
 *     peak memory of the reference MLP and of the conv config at batches of 1,024 to 16,384 on
 *     wasm; k importance samples multiply the decoder's share); or a validation batch's
 *     forward pass, whichever is larger;
 *   - the checkpoint: the weights and Adam's moments go to disk through one buffer.
 * It is an estimate, not a bound: it tells a model that cannot fit from one that should.
 */
import { convGeometry, expectedShapes, type VaeSpec } from './vae.js';
import { likelihoodKind } from './likelihoods/registry.js';

const FLOAT = 4;
/** floats per forward value while training: the value, its gradient and the backward pass's temporaries */
const TRAINING_FLOATS = 8;
/** floats per forward value while validating: the value and the next layer's input */
const EVAL_FLOATS = 2;
/** tensors Adam's update makes for one parameter tensor */
const ADAM_TEMPORARIES = 13;

export interface Footprint {
  /** numbers in all the model's tensors */
  params: number;
  /** weights, gradients and Adam's moments, and the temporaries of Adam's update of the largest tensor */
  paramBytes: number;
  /** the largest batch's activations (and their gradients, while training) */
  activationBytes: number;
  /** whether that is a training batch (train.batchSize matters) rather than a validation batch */
  byTrainingBatch: boolean;
  /** one checkpoint's tensors: weights and Adam's moments */
  checkpointBytes: number;
  total: number;
}

/** Floats one example makes on the way through the model: encoder, then `samples` decoder passes. */
function activationsPerExample(spec: VaeSpec, samples: number): number {
  const m = likelihoodKind(spec.likelihood).outputsPerPixel;
  const D = spec.inputDim;
  const J = spec.latentDim;
  const dense = spec.hidden.reduce((a, b) => a + b, 0);
  let encoder = D + dense + 2 * J;
  let decoder = 2 * J + dense + 2 * m * D;
  if (spec.arch === 'conv') {
    const g = convGeometry(spec);
    // outputs of each stride-2 convolution, and of each transposed one on the way back up
    const down = g.channels.reduce((a, c, i) => a + g.sizes[i + 1][0] * g.sizes[i + 1][1] * c, 0);
    const up = g.channels.reduce((a, _, i) => a + g.sizes[i][0] * g.sizes[i][1] * (i === 0 ? g.C * m : g.channels[i - 1]), 0);
    const bn = spec.batchNorm ? 2 : 1;
    encoder += bn * down;
    decoder += g.flat + bn * up;
  }
  return encoder + samples * decoder;
}

/**
 * The footprint of training `spec` with batches of `batchSize` examples (`samples`: importance
 * samples per example, train.iwSamples), validating in batches of `evalBatch`.
 */
export function trainingFootprint(spec: VaeSpec, batchSize: number, samples = 1, evalBatch = 1000): Footprint {
  let params = 0;
  let largest = 0;
  for (const shape of expectedShapes(spec).values()) {
    const n = shape.reduce((a, b) => a * b, 1);
    params += n;
    largest = Math.max(largest, n);
  }
  const paramBytes = FLOAT * (4 * params + ADAM_TEMPORARIES * largest);
  const training = FLOAT * TRAINING_FLOATS * batchSize * activationsPerExample(spec, samples);
  const validation = FLOAT * EVAL_FLOATS * evalBatch * activationsPerExample(spec, 1);
  const activationBytes = Math.max(training, validation);
  return { params, paramBytes, activationBytes, byTrainingBatch: training >= validation, checkpointBytes: 3 * FLOAT * params, total: paramBytes + activationBytes };
}
