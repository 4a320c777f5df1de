/**
 * `vae eval`'s importance weights as one ONNX graph: for G examples with q's mu and log sigma^2
 * and k standard normal draws each,
 *
 *   z_gk = mu_g + sigma_g eps_gk,   out_gk = decoder(z_gk)   (MLP or conv, network.ts's layers)
 *   log w_gk = log p(x_g | out_gk) + log p(z_gk) - log q(z_gk|x_g)
 *
 * the terms as src/model/objective.ts and the likelihoods write them. For the Bernoulli,
 * sum_d x_gd l_gkd is a batched product of each example's k logit rows with its own pixels (no
 * copy of x per draw); the Gaussian (fixed or learned sigma) and the discretised logistic
 * broadcast x over the draws.
 *
 * Inputs: x [G, D], mu [G, J], logvar [G, J], eps [G, k, J] (G and k symbolic), and the
 * decoder's and likelihood's parameters `p<i>` (graph.params' order; batch norm's running
 * averages among them). Output: logW [G, k].
 */
import { expectedShapes, type VaeSpec } from '../../model/vae.js';
import { likelihoodKind } from '../../model/likelihoods/registry.js';
import { Graph } from './graph.js';
import { gaussianTerms, logisticTerms, logPriorOverPosterior, sumLogSigmoidAbs } from './terms.js';
import { decoderLayers, engineUnsupported } from './network.js';
import { Trunk } from './trunk.js';

export interface ImportanceGraph {
  model: Uint8Array;
  /** the decoder's (and the likelihood's) parameters, as the graph's inputs p0, p1, ... */
  params: { name: string; shape: number[] }[];
}

export function buildImportanceGraph(spec: VaeSpec): ImportanceGraph {
  const why = engineUnsupported(spec);
  if (why) throw new Error(`the importance graph: ${why}`);
  const g = new Graph();
  const D = spec.inputDim;
  const J = spec.latentDim;
  const x = g.input('x', ['examples', D]);
  const mu = g.input('mu', ['examples', J]);
  const logvar = g.input('logvar', ['examples', J]);
  const eps = g.input('eps', ['examples', 'draws', J]);
  const params = [...expectedShapes(spec)].filter(([name]) => name.startsWith('decoder.') || name.startsWith('likelihood.')).map(([name, shape]) => ({ name, shape }));
  const value = new Map(params.map((p, i) => [p.name, g.input(`p${i}`, p.shape)]));
  const P = (name: string) => {
    const v = value.get(name);
    if (!v) throw new Error(`the model has no ${name}`);
    return v;
  };
  const rowWidth = likelihoodKind(spec.likelihood).outputsPerPixel * D;
  const rowSum = (t: string) => g.op('ReduceSum', [t, g.ints([-1])], { keepdims: 0 });

  const mu3 = g.op('Unsqueeze', [mu, g.ints([1])]);
  const lv3 = g.op('Unsqueeze', [logvar, g.ints([1])]);
  const z = g.op('Add', [mu3, g.op('Mul', [g.op('Exp', [g.op('Mul', [lv3, g.scalar(0.5)])]), eps])]); // [G, k, J]
  // forward only, batch norm on its running averages (as vae eval's tfjs decoder): the layers'
  // backward passes are never asked for, so their gradients stay unset
  const decoder = decoderLayers(new Trunk(g, P, new Map(), false), spec, g.op('Reshape', [z, g.ints([-1, J])]));
  const rows = decoder[decoder.length - 1].output; // [G k, outputs per pixel x D]
  // [G, k, outputs per pixel x D], G taken from x's shape
  const out = g.op('Reshape', [rows, g.op('Concat', [g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([1])]), g.ints([-1, rowWidth])], { axis: 0 })]);
  let logPx: string;
  if (spec.likelihood === 'bernoulli') {
    const xl = g.op('Squeeze', [g.op('MatMul', [out, g.op('Unsqueeze', [x, g.ints([2])])]), g.ints([2])]); // [G, k]
    logPx = g.op('Add', [g.op('Sub', [xl, rowSum(g.op('Relu', [out]))]), sumLogSigmoidAbs(g, out, 3, D)]);
  } else if (spec.likelihood === 'logistic') {
    logPx = rowSum(logisticTerms(g, g.op('Unsqueeze', [x, g.ints([1])]), out, D, 2, false).logPx);
  } else {
    logPx = rowSum(gaussianTerms(g, spec, P, g.op('Unsqueeze', [x, g.ints([1])]), out).logPx);
  }
  g.output('logW', ['examples', 'draws'], 'Add', [logPx, logPriorOverPosterior(g, z, mu3, lv3)]);
  return { model: g.encode('vae-importance-weights'), params };
}
