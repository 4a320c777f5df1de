/**
 * The decoder as a stock tfjs layers model: z [B, J] -> the decoder mean E[x|z], an image
 * [B, H, W, C] in [0, 1] (what `vae sample` and `vae decode` draw), with the same weights as
 * src/model/vae.ts's decode followed by the likelihood's mean:
 * as the likelihood declares it (exportMean): the sigmoid of the Bernoulli's logits, the
 * Gaussian's mean (whatever its sigma) or the logistic's location clipped to [0, 1]; outputs
 * beyond the first D per pixel (the logistic's log-scales) are left out.
 * Transposed convolutions: vae's SAME transpose equals a 'valid' Conv2DTranspose cropped by
 * TensorFlow's SAME padding, for any size (odd ones too).
 */
import { tf, tfl, type LayersModel, type SymbolicTensor, type Tensor } from '../tf.js';
import { VaeError } from '../errors.js';
import { convGeometry, type Vae } from '../model/vae.js';
import { likelihoodKind } from '../model/likelihoods/registry.js';
import { activation, batchNorm, constant, dense, LayerPlan, samePadding } from './layers.js';

const STRIDE = 2;

/** The likelihood's mean as a layer: how the decoder's output becomes pixels. */
function meanLayer(vae: Vae) {
  switch (likelihoodKind(vae.spec.likelihood).exportMean) {
    case 'sigmoid':
      return tfl.layers.activation({ activation: 'sigmoid', name: 'mean' });
    case 'clip':
      // ReLU with a ceiling of 1: min(max(x, 0), 1), exactly a clip to [0, 1].
      return tfl.layers.reLU({ maxValue: 1, name: 'mean' });
    default:
      throw new VaeError(`cannot export a decoder with the '${vae.spec.likelihood}' likelihood: its mean has no TensorFlow.js layer`, {
        hint: 'export the encoder alone with --part encoder',
      });
  }
}

/** The first D of m * D output units along `axis` (the location, for the logistic); t itself when m = 1. */
function firstGroup(plan: LayerPlan, t: Tensor, D: number, axis: number): Tensor {
  const shape = t.shape;
  if (shape[axis] === D) return t;
  const size = shape.map((n, i) => (i === axis ? D : n));
  return plan.own(tf.slice(t, shape.map(() => 0), size));
}

/** The layers model of vae's decoder mean (the caller disposes it). */
export function decoderModel(vae: Vae, imageShape: [number, number, number]): LayersModel {
  const spec = vae.spec;
  const plan = new LayerPlan(vae);
  const [H, W, C] = imageShape;
  const D = H * W * C;
  const z = tfl.input({ shape: [spec.latentDim], name: 'z' });
  let h: SymbolicTensor = z;
  spec.hidden.forEach((_, i) => {
    h = dense(plan, h, `decoder.hidden${i}`, spec.activation, `decoder_hidden${i}`);
  });
  let out: SymbolicTensor;
  if (spec.arch === 'mlp') {
    const kernel = firstGroup(plan, plan.param('decoder.out.kernel'), D, 1);
    const bias = firstGroup(plan, plan.param('decoder.out.bias'), D, 0);
    out = plan.apply(tfl.layers.dense({ units: D, name: 'decoder_out' }), h, [kernel, bias]);
    out = plan.apply(tfl.layers.reshape({ targetShape: [H, W, C], name: 'to_image' }), out);
  } else {
    const g = convGeometry(spec);
    const L = g.channels.length;
    const bn = spec.batchNorm ?? false;
    h = dense(plan, h, 'decoder.project', spec.activation, 'decoder_project');
    const [h0, w0] = g.sizes[L];
    h = plan.apply(tfl.layers.reshape({ targetShape: [h0, w0, g.channels[L - 1]], name: 'decoder_unflatten' }), h);
    // Layer i maps sizes[i+1] -> sizes[i]: a valid transpose (h*s + max(k - s, 0) long), cropped.
    const up = (x: SymbolicTensor, i: number, filters: number, useBias: boolean, param: string, name: string): SymbolicTensor => {
      const kernel = firstGroup(plan, plan.param(`${param}.kernel`), filters, 2); // [k, k, out, in]
      const layer = tfl.layers.conv2dTranspose({ filters, kernelSize: g.k, strides: STRIDE, padding: 'valid', useBias, name });
      const y = plan.apply(layer, x, useBias ? [kernel, plan.param(`${param}.bias`)] : [kernel]);
      const [outH, outW] = g.sizes[i];
      const [inH, inW] = g.sizes[i + 1];
      const crop = (n: number, m: number): [number, number] => {
        const before = samePadding(n, g.k, STRIDE).before;
        return [before, m * STRIDE + Math.max(g.k - STRIDE, 0) - before - n];
      };
      return plan.apply(tfl.layers.cropping2D({ cropping: [crop(outH, inH), crop(outW, inW)], name: `${name}_crop` }), y);
    };
    for (let i = L - 1; i >= 1; i--) {
      const layer = `decoder.deconv${i}`;
      const name = `decoder_deconv${i}`;
      h = up(h, i, g.channels[i - 1], !bn, layer, name);
      h = bn ? batchNorm(plan, h, layer, spec.activation, name) : activation(plan, h, spec.activation, `${name}_${spec.activation}`);
    }
    out = up(h, 0, C, false, 'decoder.out', 'decoder_out');
    // vae adds one bias per output pixel (not per channel) after the last transpose.
    const bias = constant(plan, z, firstGroup(plan, plan.param('decoder.out.bias'), D, 0), 'decoder_out_bias');
    const biasImage = plan.apply(tfl.layers.reshape({ targetShape: [H, W, C], name: 'decoder_out_bias_image' }), bias);
    out = plan.apply(tfl.layers.add({ name: 'decoder_out_add_bias' }), [out, biasImage]);
  }
  const image = plan.apply(meanLayer(vae), out);
  const model = tfl.model({ inputs: z, outputs: image, name: 'decoder' });
  plan.setWeights();
  return model;
}
