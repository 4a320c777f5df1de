/**
 * `vae eval`'s importance weights for an MLP decoder with the Bernoulli likelihood, as one ONNX
 * graph: for G examples with q's mu and log sigma^2 and k standard normal draws each,
 *
 *   z_gk = mu_g + sigma_g eps_gk,   l_gk = decoder(z_gk)
 *   log w_gk = sum_d (x_gd l_gkd - softplus(l_gkd)) + log p(z_gk) - log q(z_gk|x_g)
 *
 * the terms as src/model/objective.ts writes them (logStdNormal, logNormalDiag). sum_d x_gd l_gkd
 * is a batched product of each example's k logit rows with its own pixels (no copy of x per
 * draw), and softplus(l) = relu(l) - log max(s, 1 - s) with s = sigmoid(l): max(s, 1 - s) lies
 * in [1/2, 1], so nothing underflows however wrong a pixel is.
 *
 * Inputs: x [G, D], mu [G, J], logvar [G, J], eps [G, k, J] (G and k symbolic), and the
 * decoder's parameters `p<i>` (graph.params' order). Output: logW [G, k].
 */
import { expectedShapes, type VaeSpec } from '../../model/vae.js';
import { Graph } from './graph.js';
import { activate, LOG_2PI } from './layers.js';

export interface ImportanceGraph {
  model: Uint8Array;
  /** the decoder's parameters, as the graph's inputs p0, p1, ... */
  params: { name: string; shape: number[] }[];
}

/** Why the graph cannot compute this model's weights, or null when it can. */
export function importanceGraphUnsupported(spec: VaeSpec): string | null {
  if (spec.arch !== 'mlp') return `it runs mlp models only (model.arch is '${spec.arch}')`;
  if (spec.likelihood !== 'bernoulli') return `it runs the bernoulli likelihood only (model.likelihood is '${spec.likelihood}')`;
  return null;
}

export function buildImportanceGraph(spec: VaeSpec): ImportanceGraph {
  const why = importanceGraphUnsupported(spec);
  if (why) throw new Error(`the importance graph: ${why}`);
  const g = new Graph();
  const D = spec.inputDim;
  const J = spec.latentDim;
  const c = (v: number) => g.scalar(v);
  const x = g.input('x', ['examples', D]);
  const mu = g.input('mu', ['examples', J]);
  const logvar = g.input('logvar', ['examples', J]);
  const eps = g.input('eps', ['examples', 'draws', J]);
  const params = [...expectedShapes(spec)].filter(([name]) => name.startsWith('decoder.')).map(([name, shape]) => ({ name, shape }));
  const value = new Map(params.map((p, i) => [p.name, g.input(`p${i}`, p.shape)]));
  const P = (name: string) => value.get(name)!;
  const rowSum = (t: string) => g.op('ReduceSum', [t, g.ints([-1])], { keepdims: 0 });

  const mu3 = g.op('Unsqueeze', [mu, g.ints([1])]);
  const lv3 = g.op('Unsqueeze', [logvar, g.ints([1])]);
  const z = g.op('Add', [mu3, g.op('Mul', [g.op('Exp', [g.op('Mul', [lv3, c(0.5)])]), eps])]); // [G, k, J]
  let h = g.op('Reshape', [z, g.ints([-1, J])]);
  spec.hidden.forEach((_, i) => {
    h = activate(g, g.op('Gemm', [h, P(`decoder.hidden${i}.kernel`), P(`decoder.hidden${i}.bias`)]), spec.activation);
  });
  const logits = g.op('Gemm', [h, P('decoder.out.kernel'), P('decoder.out.bias')]); // [G k, D]
  // [G, k, D], G taken from x's shape
  const l3 = g.op('Reshape', [logits, g.op('Concat', [g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([1])]), g.ints([-1, D])], { axis: 0 })]);
  const xl = g.op('Squeeze', [g.op('MatMul', [l3, g.op('Unsqueeze', [x, g.ints([2])])]), g.ints([2])]); // [G, k]
  const s = g.op('Sigmoid', [l3]);
  const softplus = g.op('Sub', [g.op('Relu', [l3]), g.op('Log', [g.op('Max', [s, g.op('Sub', [c(1), s])])])]);
  const logPx = g.op('Sub', [xl, rowSum(softplus)]);
  // log p(z) - log q(z|x): -1/2 sum (log 2 pi + z^2) - (-1/2 sum (log 2 pi + lv + (z - mu)^2 / e^lv))
  const logStd = g.op('Mul', [rowSum(g.op('Add', [c(LOG_2PI), g.op('Mul', [z, z])])), c(-0.5)]);
  const diff = g.op('Sub', [z, mu3]);
  const logQ = g.op('Mul', [rowSum(g.op('Add', [g.op('Add', [c(LOG_2PI), lv3]), g.op('Div', [g.op('Mul', [diff, diff]), g.op('Exp', [lv3])])])), c(-0.5)]);
  g.output('logW', ['examples', 'draws'], 'Add', [logPx, g.op('Sub', [logStd, logQ])]);
  return { model: g.encode('vae-importance-weights'), params };
}
