/**
 * A VAE's encoder trunk and decoder as trunk.ts's layers, in the order src/model/vae.ts runs
 * them, for the step graph (which also runs them backward) and the importance graph (forward only).
 */
import { CONV_STRIDE, convGeometry, type Activation, type VaeSpec } from '../../model/vae.js';
import { likelihoodKind } from '../../model/likelihoods/registry.js';
import type { Layer, Trunk } from './trunk.js';

/** Why the engine's graphs (the step's and the importance weights') cannot express this model, or null when they can. */
export function engineUnsupported(spec: VaeSpec): string | null {
  if (!['bernoulli', 'gaussian', 'logistic'].includes(spec.likelihood)) return `the ${spec.likelihood} likelihood is not in it`;
  return null;
}

/**
 * A hidden convolution or transpose (`make`) with its bias and the activation, or with batch norm
 * neither (beta plays the bias's part, as src/model/vae.ts plans it) and then the norm; returns its output.
 */
function hidden(trunk: Trunk, spec: VaeSpec, layer: string, push: (l: Layer) => string, make: (act: Activation | 'linear', bias: boolean) => Layer): string {
  if (!spec.batchNorm) return push(make(spec.activation, true));
  return push(trunk.batchNorm(push(make('linear', false)), layer, spec.activation));
}

function chain(start: string, build: (push: (l: Layer) => string, h: string) => void): Layer[] {
  const layers: Layer[] = [];
  build((l) => (layers.push(l), l.output), start);
  return layers;
}

/** The encoder up to (not including) the mu and log sigma^2 heads, from rows x [B, D]; empty for an MLP without hidden layers. */
export function encoderLayers(trunk: Trunk, spec: VaeSpec, x: string): Layer[] {
  const conv = spec.arch === 'conv' ? convGeometry(spec) : null;
  return chain(x, (push, h) => {
    if (conv) {
      const L = conv.channels.length;
      h = push(trunk.toImages(h, [conv.H, conv.W, conv.C]));
      conv.channels.forEach((_, i) => {
        const input = h;
        h = hidden(trunk, spec, `encoder.conv${i}`, push, (act, bias) => trunk.conv(input, `encoder.conv${i}`, conv.sizes[i], conv.k, CONV_STRIDE, act, bias));
      });
      const [hh, ww] = conv.sizes[L];
      h = push(trunk.toRows(h, [hh, ww, conv.channels[L - 1]]));
    }
    spec.hidden.forEach((_, i) => {
      h = push(trunk.dense(h, `encoder.hidden${i}`, spec.activation));
    });
  });
}

/** The decoder from z [rows, J] to its raw output rows [rows, outputs per pixel x D] (the last layer's output; the logistic's locations, then its log-scales). */
export function decoderLayers(trunk: Trunk, spec: VaeSpec, z: string): Layer[] {
  const conv = spec.arch === 'conv' ? convGeometry(spec) : null;
  return chain(z, (push, h) => {
    spec.hidden.forEach((_, i) => {
      h = push(trunk.dense(h, `decoder.hidden${i}`, spec.activation));
    });
    if (!conv) {
      push(trunk.dense(h, 'decoder.out', 'linear'));
      return;
    }
    const L = conv.channels.length;
    const [h0, w0] = conv.sizes[L];
    h = push(trunk.dense(h, 'decoder.project', spec.activation));
    h = push(trunk.toImages(h, [h0, w0, conv.channels[L - 1]]));
    for (let i = L - 1; i >= 1; i--) {
      const input = h;
      h = hidden(trunk, spec, `decoder.deconv${i}`, push, (act, bias) => trunk.deconv(input, `decoder.deconv${i}`, conv.sizes[i], conv.k, CONV_STRIDE, act, bias));
    }
    h = push(trunk.deconv(h, 'decoder.out', conv.sizes[0], conv.k, CONV_STRIDE, 'linear', false));
    h = push(trunk.toRows(h, [conv.H, conv.W, conv.C], likelihoodKind(spec.likelihood).outputsPerPixel));
    push(trunk.bias(h, 'decoder.out.bias'));
  });
}
