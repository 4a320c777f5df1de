/**
 * The encoder q(z|x) as a stock tfjs layers model: image [B, H, W, C] in [0, 1] -> [mu, logvar],
 * each [B, J], with the same layers, weights and log-variance clip as src/model/vae.ts's encode.
 */
import { tf, tfl, type LayersModel, type SymbolicTensor } from '../tf.js';
import { convGeometry, LOGVAR_RANGE, type Vae } from '../model/vae.js';
import { activation, batchNorm, constant, dense, LayerPlan } from './layers.js';

const STRIDE = 2;

/** The layers model of vae's encoder (the caller disposes it). */
export function encoderModel(vae: Vae, imageShape: [number, number, number]): LayersModel {
  const spec = vae.spec;
  const plan = new LayerPlan(vae);
  const image = tfl.input({ shape: imageShape, name: 'image' });
  let h: SymbolicTensor = image;
  if (spec.arch === 'conv') {
    const g = convGeometry(spec);
    g.channels.forEach((c, i) => {
      const layer = `encoder.conv${i}`;
      const name = `encoder_conv${i}`;
      const bn = spec.batchNorm ?? false;
      const kernel = plan.param(`${layer}.kernel`);
      const conv = tfl.layers.conv2d({ filters: c, kernelSize: g.k, strides: STRIDE, padding: 'same', useBias: !bn, name });
      h = plan.apply(conv, h, bn ? [kernel] : [kernel, plan.param(`${layer}.bias`)]);
      h = bn ? batchNorm(plan, h, layer, spec.activation, name) : activation(plan, h, spec.activation, `${name}_${spec.activation}`);
    });
  }
  h = plan.apply(tfl.layers.flatten({ name: 'flatten' }), h);
  spec.hidden.forEach((_, i) => {
    h = dense(plan, h, `encoder.hidden${i}`, spec.activation, `encoder_hidden${i}`);
  });
  const mu = dense(plan, h, 'encoder.mu', 'linear', 'mu');
  // logvar = min(max(raw, lo), hi): vae clips the log-variance to LOGVAR_RANGE (src/model/vae.ts).
  const J = spec.latentDim;
  const raw = dense(plan, h, 'encoder.logvar', 'linear', 'logvar_raw');
  const lo = constant(plan, h, plan.own(tf.fill([J], LOGVAR_RANGE[0])), 'logvar_min');
  const hi = constant(plan, h, plan.own(tf.fill([J], LOGVAR_RANGE[1])), 'logvar_max');
  const floored = plan.apply(tfl.layers.maximum({ name: 'logvar_floor' }), [raw, lo]);
  const logvar = plan.apply(tfl.layers.minimum({ name: 'logvar' }), [floored, hi]);
  const model = tfl.model({ inputs: image, outputs: [mu, logvar], name: 'encoder' });
  plan.setWeights();
  return model;
}
