/**
 * Plain maths on latent vectors (Float64 arrays, no tensors): interpolation paths and a 2-D
 * principal-component projection for plots.
 */

export type Interpolation = 'linear' | 'slerp';

/** `steps` points from a to b inclusive, linearly. */
export function lerpPath(a: ArrayLike<number>, b: ArrayLike<number>, steps: number): number[][] {
  return Array.from({ length: steps }, (_, s) => {
    const t = steps === 1 ? 0 : s / (steps - 1);
    return Array.from(a, (v, j) => (1 - t) * v + t * b[j]);
  });
}

/**
 * `steps` points from a to b inclusive along the great circle (spherical interpolation, as in
 * White 2016 "Sampling Generative Networks"): norms are interpolated linearly, directions by
 * slerp. Falls back to linear when a and b point the same way or one is zero.
 */
export function slerpPath(a: ArrayLike<number>, b: ArrayLike<number>, steps: number): number[][] {
  const na = Math.hypot(...Array.from(a));
  const nb = Math.hypot(...Array.from(b));
  if (na === 0 || nb === 0) return lerpPath(a, b, steps);
  let dot = 0;
  for (let j = 0; j < a.length; j++) dot += (a[j] / na) * (b[j] / nb);
  const omega = Math.acos(Math.min(1, Math.max(-1, dot)));
  if (omega < 1e-6) return lerpPath(a, b, steps);
  const so = Math.sin(omega);
  return Array.from({ length: steps }, (_, s) => {
    if (s === 0) return Array.from(a);
    if (s === steps - 1) return Array.from(b);
    const t = s / (steps - 1);
    const wa = Math.sin((1 - t) * omega) / so;
    const wb = Math.sin(t * omega) / so;
    const norm = (1 - t) * na + t * nb;
    return Array.from(a, (v, j) => norm * (wa * (v / na) + wb * (b[j] / nb)));
  });
}

export function interpolate(a: ArrayLike<number>, b: ArrayLike<number>, steps: number, how: Interpolation): number[][] {
  return how === 'slerp' ? slerpPath(a, b, steps) : lerpPath(a, b, steps);
}

/**
 * Project rows of x (n x J) onto 2 dimensions: the first two coordinates when J <= 2, else the
 * first two principal components (power iteration with deflation on the J x J covariance).
 */
export function project2d(x: Float32Array | Float64Array, n: number, J: number): { points: [number, number][]; axes: [string, string] } {
  if (J === 1) return { points: Array.from({ length: n }, (_, i) => [x[i], 0]), axes: ['z0', '(none)'] };
  if (J === 2) return { points: Array.from({ length: n }, (_, i) => [x[2 * i], x[2 * i + 1]]), axes: ['z0', 'z1'] };
  const mean = new Float64Array(J);
  for (let i = 0; i < n; i++) for (let j = 0; j < J; j++) mean[j] += x[i * J + j] / n;
  const cov = Array.from({ length: J }, () => new Float64Array(J));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < J; j++) {
      const dj = x[i * J + j] - mean[j];
      for (let k = j; k < J; k++) cov[j][k] += (dj * (x[i * J + k] - mean[k])) / Math.max(1, n - 1);
    }
  }
  for (let j = 0; j < J; j++) for (let k = 0; k < j; k++) cov[j][k] = cov[k][j];
  const comps: Float64Array[] = [];
  for (let c = 0; c < 2; c++) {
    let v = Float64Array.from({ length: J }, (_, j) => 1 + j * 0.01);
    for (let it = 0; it < 500; it++) {
      const w = new Float64Array(J);
      for (let j = 0; j < J; j++) for (let k = 0; k < J; k++) w[j] += cov[j][k] * v[k];
      for (const p of comps) {
        let d = 0;
        for (let j = 0; j < J; j++) d += w[j] * p[j];
        for (let j = 0; j < J; j++) w[j] -= d * p[j];
      }
      const norm = Math.hypot(...w) || 1;
      v = w.map((e) => e / norm);
    }
    comps.push(v);
  }
  const points = Array.from({ length: n }, (_, i) => {
    const p: [number, number] = [0, 0];
    for (let c = 0; c < 2; c++) for (let j = 0; j < J; j++) p[c] += (x[i * J + j] - mean[j]) * comps[c][j];
    return p;
  });
  return { points, axes: ['principal component 1', 'principal component 2'] };
}
