/**
 * Adam (Kingma & Ba 2015) with PyTorch's update rule, so our runs are comparable with
 * bench/torch_reference.py:
 *   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *   w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * The moments are kept per parameter name, so the optimiser state can be saved beside the
 * weights and restored exactly (the step count t travels with it).
 */
import { tf, type Tensor, type Variable } from '../tf.js';
import { variableOf, type Params } from '../model/params.js';
import { constant } from '../model/constants.js';

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class Adam {
  /** The learning rate of the next update (a schedule may change it between steps). */
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Number of updates applied so far. */
  t = 0;
  private readonly m = new Map<string, Variable>();
  private readonly v = new Map<string, Variable>();

  constructor(opts: AdamOptions) {
    this.lr = opts.learningRate;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-8;
  }

  private moments(name: string, like: Tensor): [Variable, Variable] {
    let m = this.m.get(name);
    let v = this.v.get(name);
    if (!m || !v) {
      m = variableOf(tf.zerosLike(like), false);
      v = variableOf(tf.zerosLike(like), false);
      this.m.set(name, m);
      this.v.set(name, v);
    }
    return [m, v];
  }

  /** Apply one update from gradients keyed by parameter name. Does not dispose the gradients. */
  apply(params: Params, grads: Map<string, Tensor>): void {
    this.t += 1;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    tf.tidy(() => {
      // The two values that change every step travel in one tensor (one upload, not two per
      // parameter); the betas and epsilon are cached constants. Same float32 arithmetic as
      // plain numbers would give.
      const [stepSize, invSqrtBc2] = tf.split(tf.tensor1d([this.lr / bc1, 1 / Math.sqrt(bc2)]), 2);
      const [b1, c1, b2, c2, eps] = [this.beta1, 1 - this.beta1, this.beta2, 1 - this.beta2, this.epsilon].map(constant);
      for (const [name, w] of params) {
        const g = grads.get(name);
        if (!g) continue;
        const [m, v] = this.moments(name, w);
        // One tidy per parameter: the update's dozen temporaries are freed before the next
        // parameter's are made, so they cost a dozen copies of one tensor, not of the model.
        tf.tidy(() => {
          const m1 = tf.add(tf.mul(m, b1), tf.mul(g, c1));
          const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), c2));
          m.assign(m1);
          v.assign(v1);
          const denom = tf.add(tf.mul(tf.sqrt(v1), invSqrtBc2), eps);
          w.assign(tf.sub(w, tf.mul(tf.div(m1, denom), stepSize)));
        });
      }
    });
  }

  /** The state as named arrays (read back from the device): `<param>/m`, `<param>/v`. */
  async state(): Promise<{ t: number; arrays: { name: string; shape: number[]; data: Float32Array }[] }> {
    const arrays: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const [name, m] of this.m) {
      arrays.push({ name: `${name}/m`, shape: m.shape, data: (await m.data()) as Float32Array });
      const v = this.v.get(name)!;
      arrays.push({ name: `${name}/v`, shape: v.shape, data: (await v.data()) as Float32Array });
    }
    return { t: this.t, arrays };
  }

  /** Restore from what state() gave (arrays keyed by '<param>/m' and '<param>/v'). */
  restore(t: number, arrays: Map<string, { shape: number[]; data: Float32Array }>): void {
    this.dispose();
    this.t = t;
    for (const [key, a] of arrays) {
      const slash = key.lastIndexOf('/');
      const name = key.slice(0, slash);
      const which = key.slice(slash + 1);
      const target = which === 'm' ? this.m : which === 'v' ? this.v : null;
      if (!target) throw new Error(`unknown optimiser state '${key}'`);
      target.set(name, variableOf(tf.tensor(a.data, a.shape), false));
    }
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
