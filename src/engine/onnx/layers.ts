/** The MLP pieces the CPU engine's graphs share: activations, as src/model/vae.ts applies them. */
import type { Activation } from '../../model/vae.js';
import type { Graph } from './graph.js';

/** The hidden layers' leaky ReLU slope (src/model/vae.ts). */
export const LEAKY_ALPHA = 0.2;

export const LOG_2PI = Math.log(2 * Math.PI);

/** act(pre) */
export function activate(g: Graph, pre: string, act: Activation): string {
  switch (act) {
    case 'relu':
      return g.op('Relu', [pre]);
    case 'tanh':
      return g.op('Tanh', [pre]);
    case 'elu':
      return g.op('Elu', [pre], { alpha: { float: 1 } });
    case 'leaky_relu':
      return g.op('LeakyRelu', [pre], { alpha: { float: LEAKY_ALPHA } });
  }
}
