/**
 * Seeded randomness for everything the program draws on the JavaScript side: parameter
 * initialisation, data order, binarisation and the reparameterisation noise. Generators are
 * seedrandom's Alea, whose state can be saved and restored (so a resumed run continues the
 * same stream), and each purpose gets its own stream derived from the run's seed, so that
 * e.g. changing the validation size does not change the training noise.
 */
import seedrandom from 'seedrandom';
import { binarizeAlea } from './util/binarize-wasm.js';

export type RngState = seedrandom.State.Alea;

export class Rng {
  private prng: seedrandom.StatefulPRNG<RngState>;
  private spare: number | null = null;

  private constructor(prng: seedrandom.StatefulPRNG<RngState>) {
    this.prng = prng;
  }

  /** A stream for one purpose, e.g. Rng.derive(seed, 'order', epoch). */
  static derive(seed: number, ...purpose: (string | number)[]): Rng {
    return new Rng(seedrandom.alea([seed, ...purpose].join(':'), { state: true }));
  }

  static fromState(state: { alea: RngState; spare: number | null }): Rng {
    const rng = new Rng(seedrandom.alea('', { state: state.alea }));
    rng.spare = state.spare;
    return rng;
  }

  state(): { alea: RngState; spare: number | null } {
    return { alea: this.prng.state(), spare: this.spare };
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.prng();
  }

  /** Standard normal, by the Box-Muller transform (pairs, the second one kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.prng();
    const v = this.prng();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }

  /**
   * Bernoulli draws in place: each value p becomes 1 with probability p (uniform() < p), else 0,
   * using exactly the draws uniform() would make, in order.
   */
  binarize(values: Float32Array): Float32Array {
    const next = binarizeAlea(this.prng.state(), values);
    this.prng = seedrandom.alea('', { state: next });
    return values;
  }

  fillUniform(out: Float32Array, lo: number, hi: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.prng();
    return out;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.prng() * (i + 1));
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
