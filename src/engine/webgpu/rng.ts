/**
 * The engine's counter-based random numbers: a keyed integer hash of (stream key, a, b), the same
 * in WGSL (on the GPU) and in JavaScript (so that tests can feed the cpu reference the very
 * numbers the GPU drew). Nothing is stored between draws: the noise of step t and the binarisation
 * of example i in epoch e are functions of (seed, t) and (seed, e, i), so a resumed run draws what
 * an uninterrupted one would have.
 *
 * The mixing function is Chris Wellons's "lowbias32" (a bijection on 32-bit words with low bias);
 * three rounds chain the key and the two counters. Uniforms take the top 24 bits, so they are
 * exact float32 values in both languages; normals use the Box-Muller transform in float32.
 */

/** Stream tags: each purpose gets its own key derived from the run's seed. */
export const STREAM = { binarize: 1, eps: 2 } as const;

function mix(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** The key of one stream of one seed. */
export function streamKey(seed: number, stream: number): number {
  return mix(mix(seed >>> 0) ^ Math.imul(stream, 0x9e3779b9)) >>> 0;
}

/** The random word for counters (a, b) of a stream. */
export function hash3(key: number, a: number, b: number): number {
  return mix(mix(key ^ mix(a >>> 0)) ^ (b >>> 0));
}

const TWO_POW_M24 = 1 / 16777216;

/** Uniform in [0, 1), exactly representable in float32. */
export function uniform01(h: number): number {
  return (h >>> 8) * TWO_POW_M24;
}

/**
 * A standard normal draw for element `i` of step `t` (two words: 2i and 2i + 1), in float32
 * arithmetic as the GPU computes it (up to the GPU's rounding of log, sqrt and cos; the WGSL
 * takes care that log stays accurate to a few units in the last place near 1).
 */
export function normalAt(key: number, t: number, i: number): number {
  const f = Math.fround;
  const u1 = ((hash3(key, t, 2 * i) >>> 8) + 1) * TWO_POW_M24;
  const u2 = uniform01(hash3(key, t, 2 * i + 1));
  const r = f(Math.sqrt(f(-2 * f(Math.log(u1)))));
  return f(r * f(Math.cos(2 * Math.PI * u2)));
}

/** The same functions in WGSL. */
export const RNG_WGSL = /* wgsl */ `
fn rng_mix(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}
fn rng_hash(key: u32, a: u32, b: u32) -> u32 {
  return rng_mix(rng_mix(key ^ rng_mix(a)) ^ b);
}
fn rng_uniform(h: u32) -> f32 {
  return f32(h >> 8u) * (1.0 / 16777216.0);
}
// ln u for u in (0, 1], accurate near 1 too (where GPUs' log keeps only an absolute error):
// there ln u = 2 atanh(s), s = (u - 1) / (u + 1), |s| <= 1/3, by its series
fn rng_log_unit(u: f32) -> f32 {
  if (u < 0.5) { return log(u); }
  let s = (u - 1.0) / (u + 1.0);
  let q = s * s;
  return 2.0 * s * (1.0 + q * (0.33333334 + q * (0.2 + q * (0.14285715 + q * (0.11111111 + q * (0.09090909 + q * (0.07692308 + q * 0.06666667)))))));
}
// cos(2 pi u) for u in [0, 1), to float32 rounding (WGSL's cos promises only an absolute error of
// 2^-11): reduced exactly to w in [0, 1/8] (u is a multiple of 2^-24), then a short series of
// cos or sin of 2 pi w <= pi / 4
fn rng_cos_2pi(u: f32) -> f32 {
  let a = abs(u - round(u)); // cos is even and has period 1 in u: a in [0, 1/2]
  let flip = a > 0.25; // cos(2 pi a) = -cos(2 pi (1/2 - a))
  let b = select(a, 0.5 - a, flip); // [0, 1/4]
  let useSin = b > 0.125; // cos(2 pi b) = sin(2 pi (1/4 - b))
  let y = 6.2831855 * select(b, 0.25 - b, useSin);
  let q = y * y;
  let c = 1.0 - q * (0.5 - q * (0.041666668 - q * (0.0013888889 - q * (0.0000248015873 - q * 0.000000275573192))));
  let s = y * (1.0 - q * (0.16666667 - q * (0.0083333333 - q * (0.000198412698 - q * 0.00000275573192))));
  let v = select(c, s, useSin);
  return select(v, -v, flip);
}
fn rng_normal(key: u32, t: u32, i: u32) -> f32 {
  let u1 = f32((rng_hash(key, t, 2u * i) >> 8u) + 1u) * (1.0 / 16777216.0);
  let u2 = rng_uniform(rng_hash(key, t, 2u * i + 1u));
  return sqrt(-2.0 * rng_log_unit(u1)) * rng_cos_2pi(u2);
}
`;
