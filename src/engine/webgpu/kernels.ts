/**
 * The engine's WGSL, generated once per model with every size and offset baked in as a
 * constant (so no kernel needs a uniform of its own): a tiled matrix product with three
 * operand layouts and a fused epilogue (bias + activation, the loss and its gradient, a weight
 * gradient with its bias row, or a gradient times the activation's derivative), and small
 * kernels for the batch gather, the latent layer, the statistics, the learned sigma's gradient,
 * the global gradient norm and Adam. Every kernel declares the same eight bindings (one bind
 * group layout, engine.ts) and reads the step's values from the uniform `S` at a dynamic offset.
 */
import type { Activation, VaeSpec } from '../../model/vae.js';
import { LOGVAR_RANGE } from '../../model/vae.js';
import { LOG_SIGMA_RANGE } from '../../model/likelihoods/gaussian.js';
import { RNG_WGSL } from './rng.js';
import type { Layer, Plan } from './plan.js';

export interface Kernel {
  label: string;
  code: string;
  /** workgroups to dispatch */
  groups: [number, number];
}

/** What the kernels need beside the plan. */
export interface KernelOptions {
  likelihood: { kind: 'bernoulli' } | { kind: 'gaussian'; sigma: number | 'learned' | 'learned-per-pixel' } | { kind: 'logistic' };
  binarize: 'dynamic' | 'none';
  /** images stored as bytes (4 per word, decoded through a table) rather than float32 words */
  byteImages: boolean;
  freeBits: number;
  gradClip: number | null;
  /** train.skipNonFinite: how many non-finite steps to skip (their update left out) before the rest go through */
  skipNonFinite: number;
  adam: { beta1: number; beta2: number; epsilon: number };
  keys: { binarize: number; eps: number };
}

/**
 * The columns of each step's statistics row: the objective's four, the gradient norm with
 * clipping, and with train.skipNonFinite a last column that is 1 where the step was skipped.
 */
export function statsColumns(o: Pick<KernelOptions, 'gradClip' | 'skipNonFinite'>): { width: number; norm: number | null; skipped: number | null } {
  let width = 4;
  const norm = o.gradClip !== null ? width++ : null;
  const skipped = o.skipNonFinite > 0 ? width++ : null;
  return { width, norm, skipped };
}

/** The likelihood as the kernels take it, or null for one they do not implement. */
export function kernelLikelihood(spec: VaeSpec): KernelOptions['likelihood'] | null {
  switch (spec.likelihood) {
    case 'bernoulli':
    case 'logistic':
      return { kind: spec.likelihood };
    case 'gaussian':
      return { kind: 'gaussian', sigma: spec.sigma ?? 'learned' };
    default:
      return null;
  }
}

/** A float32 literal (the value rounded to float32 and printed so that it reads back exactly). */
export function f32(v: number): string {
  const x = Math.fround(v);
  if (!Number.isFinite(x)) throw new Error(`not a finite float32: ${v}`);
  const s = x.toPrecision(9);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

const u = (v: number) => `${v >>> 0}u`;

const HEADER = /* wgsl */ `
struct Step {
  rows: u32, start: u32, epoch: u32, gstep: u32,
  row: u32, zero: u32, adamT: u32, knownSkips: u32,
  klWeight: f32, stepSize: f32, invSqrtBc2: f32, lr: f32,
}
@group(0) @binding(0) var<storage, read_write> P: array<f32>;
@group(0) @binding(1) var<storage, read_write> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> ACT: array<f32>;
@group(0) @binding(3) var<storage, read_write> MV: array<f32>;
@group(0) @binding(4) var<storage, read> IMG: array<u32>;
@group(0) @binding(5) var<storage, read> PERM: array<u32>;
@group(0) @binding(6) var<storage, read_write> ST: array<f32>;
@group(0) @binding(7) var<uniform> S: Step;
fn log1p_(y: f32) -> f32 {
  let v = 1.0 + y;
  if (v == 1.0) { return y; }
  return log(v) * (y / (v - 1.0));
}
fn sigmoid_(l: f32) -> f32 {
  if (l >= 0.0) { return 1.0 / (1.0 + exp(-l)); }
  let e = exp(l);
  return e / (1.0 + e);
}
fn softplus_(v: f32) -> f32 {
  return max(v, 0.0) + log1p_(exp(-abs(v)));
}
fn nonfinite_(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}
// e^x - 1, accurate near 0 too
fn expm1_(x: f32) -> f32 {
  let e = exp(x);
  if (e == 1.0) { return x; }
  return (e - 1.0) * (x / log(e));
}
fn tanh_(v: f32) -> f32 {
  let e = exp(-2.0 * abs(v));
  let t = (1.0 - e) / (1.0 + e);
  return select(-t, t, v >= 0.0);
}
`;

function activation(act: Activation | 'linear', v: string): string {
  switch (act) {
    case 'linear':
      return v;
    case 'relu':
      return `max(${v}, 0.0)`;
    case 'tanh':
      return `tanh_(${v})`;
    case 'elu':
      return `select(exp(${v}) - 1.0, ${v}, ${v} >= 0.0)`;
    case 'leaky_relu':
      return `select(0.2 * ${v}, ${v}, ${v} >= 0.0)`;
  }
}

/** The activation's derivative, from its output y. */
function activationGrad(act: Activation | 'linear', y: string): string {
  switch (act) {
    case 'linear':
      return '1.0';
    case 'relu':
      return `select(0.0, 1.0, ${y} > 0.0)`;
    case 'tanh':
      return `(1.0 - ${y} * ${y})`;
    case 'elu':
      return `select(${y} + 1.0, 1.0, ${y} >= 0.0)`;
    case 'leaky_relu':
      return `select(0.2, 1.0, ${y} > 0.0)`;
  }
}

const TILE = 64;

interface Gemm {
  label: string;
  M: number;
  N: number;
  K: number;
  /** A(m, k) as a WGSL expression, and whether k is A's contiguous index */
  a: (m: string, k: string) => string;
  aKFast: boolean;
  /** B(k, n), and whether n is B's contiguous index */
  b: (k: string, n: string) => string;
  bNFast: boolean;
  /** statements run for each (m < M, n < N) with the sum in `acc` */
  epilogue: (m: string, n: string, acc: string) => string;
  extra?: string;
}

/**
 * C = A B over a 64 x 64 tile per workgroup of 16 x 16 threads (4 x 4 outputs each, strided by
 * 16), K in steps of 16 through workgroup memory; tile loads follow each operand's contiguous
 * index so that neighbouring threads read neighbouring words.
 */
function gemm(g: Gemm): Kernel {
  const aIdx = g.aKFast ? 'let kk = e % 16u; let mm = e / 16u;' : 'let mm = e % 64u; let kk = e / 64u;';
  const bIdx = g.bNFast ? 'let nn = e % 64u; let kb = e / 64u;' : 'let kb = e % 16u; let nn = e / 16u;';
  const code = /* wgsl */ `${HEADER}${g.extra ?? ''}
const M = ${u(g.M)}; const N = ${u(g.N)};
var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * ${u(TILE)};
  let n0 = wg.x * ${u(TILE)};
  // S.zero is 0: a trip count known only at run time, so that no compiler unrolls the loop
  let K = ${u(g.K)} + S.zero;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var q = 0u; q < 4u; q++) {
      let e = li + q * 256u;
      {
        ${aIdx}
        let gm = m0 + mm; let gk = k0 + kk;
        var v = 0.0;
        if (gm < M && gk < K) { v = ${g.a('gm', 'gk')}; }
        As[kk * 64u + mm] = v;
      }
      {
        ${bIdx}
        let gn = n0 + nn; let gk = k0 + kb;
        var v = 0.0;
        if (gn < N && gk < K) { v = ${g.b('gk', 'gn')}; }
        Bs[kb * 64u + nn] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = As[kk * 64u + lid.y + 16u * i]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[kk * 64u + lid.x + 16u * j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += av[i] * bv[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let m = m0 + lid.y + 16u * i;
      let n = n0 + lid.x + 16u * j;
      if (m < M && n < N) {
        let acc_ = acc[i * 4u + j];
        ${g.epilogue('m', 'n', 'acc_')}
      }
    }
  }
}
`;
  return { label: g.label, code, groups: [Math.ceil(g.N / TILE), Math.ceil(g.M / TILE)] };
}

const WG = 64;

/** A kernel over `count` elements (index `i`), on a 2-D grid when one dimension is not enough. */
function elementwise(label: string, count: number, body: string, extra = ''): Kernel {
  const groups = Math.ceil(count / WG);
  const x = Math.min(groups, 65535);
  const y = Math.ceil(groups / x);
  const code = /* wgsl */ `${HEADER}${extra}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * ${u(x * WG)};
  if (i >= ${u(count)}) { return; }
  ${body}
}
`;
  return { label, code, groups: [x, y] };
}

/**
 * `reduce(li, v)`: the sum of v over a workgroup of `size` threads (a tree in workgroup memory;
 * every thread must call it, and gets the sum; it may be called again).
 */
function reduction(size: number): string {
  return /* wgsl */ `var<workgroup> red: array<f32, ${size}>;
fn reduce(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = ${u(size / 2)}; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
}

/** One workgroup of 256 threads, with `reduce(li, v)`. */
function single(label: string, body: string): Kernel {
  const code = /* wgsl */ `${HEADER}
${reduction(256)}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  ${body}
}
`;
  return { label, code, groups: [1, 1] };
}

/** One workgroup of 64 threads per row (`row`, on a 2-D grid when one dimension is not enough), with `reduce(li, v)`. */
function perRow(label: string, rows: number, body: string): Kernel {
  const x = Math.min(rows, 65535);
  const y = Math.ceil(rows / x);
  const code = /* wgsl */ `${HEADER}
${reduction(64)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * ${u(x)};
  if (row >= ${u(rows)}) { return; }
  ${body}
}
`;
  return { label, code, groups: [x, y] };
}

/** Every kernel of one training step, in order. */
export function stepKernels(plan: Plan, o: KernelOptions): Kernel[] {
  const { B, D, J, K, R, arena: ar } = plan;
  const iw = K > 1;
  const out: Kernel[] = [];
  const cols = statsColumns(o);
  const W = cols.width;
  /** the example of decoder row r (sample k of example b is row k * B + b) */
  const exampleOf = (r: string) => (iw ? `(${r} % ${u(B)})` : r);

  // 1. the batch: rows of the permutation, binarised on the fly
  const pixel = o.byteImages
    ? `IMG_LUT[(IMG[idx >> 2u] >> ((idx & 3u) * 8u)) & 0xffu]`
    : `bitcast<f32>(IMG[idx])`;
  const lut = o.byteImages ? `var<private> IMG_LUT: array<f32, 256> = array<f32, 256>(${Array.from({ length: 256 }, (_, k) => f32(k / 255)).join(', ')});` : '';
  const binar = o.binarize === 'dynamic' ? `select(0.0, 1.0, rng_uniform(rng_hash(${u(o.keys.binarize)}, S.epoch, idx)) < p)` : 'p';
  out.push(
    elementwise(
      'gather',
      B * D,
      `let b = i / ${u(D)};
  var v = 0.0;
  if (b < S.rows) {
    let idx = PERM[S.start + b] * ${u(D)} + i % ${u(D)};
    let p = ${pixel};
    v = ${binar};
  }
  ACT[${u(ar.x)} + i] = v;`,
      `${RNG_WGSL}\n${lut}`,
    ),
  );

  // 2. encoder layers: act(x W + b) (the output layer passes its own epilogue and label)
  const forward = (
    l: Layer,
    rows: number,
    epilogue: Gemm['epilogue'] = (m, n, acc) => `let v = ${acc} + P[${u(l.bias)} + ${n}];
        ACT[${u(l.output)} + ${m} * ${u(l.outDim)} + ${n}] = ${activation(l.act, 'v')};`,
    label = `forward ${l.name}`,
  ) =>
    gemm({
      label,
      M: rows,
      N: l.outDim,
      K: l.inDim,
      a: (m, k) => `ACT[${u(l.input)} + ${m} * ${u(l.inDim)} + ${k}]`,
      aKFast: true,
      b: (k, n) => `P[${u(l.kernel)} + ${k} * ${u(l.outDim)} + ${n}]`,
      bNFast: true,
      epilogue,
    });
  for (const l of plan.encoder) out.push(forward(l, B));

  // 3. the latent layer: mu, log sigma^2 (clipped), the KL per dimension, and for each of the K
  // samples z = mu + sigma * eps (eps of sample k, example b, dimension j is draw (k n + b) J + j
  // of the step, n the batch's examples: the order of a [K, n, J] array)
  const H = plan.headDim;
  const [lvMin, lvMax] = LOGVAR_RANGE.map(f32);
  out.push(
    elementwise(
      'latent',
      B * J,
      `let b = i / ${u(J)};
  let j = i % ${u(J)};
  var m = 0.0;
  var l = 0.0;
  for (var k = 0u; k < ${u(H)} + S.zero; k++) {
    let h = ACT[${u(plan.headInput)} + b * ${u(H)} + k];
    m += h * P[${u(plan.mu.kernel)} + k * ${u(J)} + j];
    l += h * P[${u(plan.logvar.kernel)} + k * ${u(J)} + j];
  }
  m += P[${u(plan.mu.bias)} + j];
  l += P[${u(plan.logvar.bias)} + j];
  let lv = clamp(l, ${lvMin}, ${lvMax});
  let sd = exp(0.5 * lv);
  ACT[${u(ar.mu)} + i] = m;
  ACT[${u(ar.logvar)} + i] = l;
  ACT[${u(ar.kl)} + i] = 0.5 * ((m * m + exp(lv)) - (1.0 + lv));
  for (var s = 0u; s < ${u(K)}; s++) {
    let e = rng_normal(${u(o.keys.eps)}, S.gstep, (s * S.rows + b) * ${u(J)} + j);
    let r = (s * ${u(B)} + b) * ${u(J)} + j;
    ACT[${u(ar.eps)} + r] = e;
    ACT[${u(ar.z)} + r] = m + sd * e;
  }`,
      RNG_WGSL,
    ),
  );

  // 4. decoder hidden layers (K * B rows), then the output layer fused with log p(x|z) and its
  // gradient (the discretised logistic, with two outputs per pixel, takes a kernel of its own)
  const dec = plan.decoder;
  for (const l of dec.slice(0, -1)) out.push(forward(l, R));
  const last = dec[dec.length - 1];
  const lik = o.likelihood;
  const [lsMin, lsMax] = LOG_SIGMA_RANGE.map(f32);
  const lossEpilogue = (lossBody: string) => (m: string, n: string, acc: string) => `let v = ${acc} + P[${u(last.bias)} + ${n}];
        let x = ACT[${u(ar.x)} + ${exampleOf(m)} * ${u(D)} + ${n}];
        let valid = ${exampleOf(m)} < S.rows;
        var lp = 0.0;
        var dv = 0.0;
        ${lossBody}
        ACT[${u(ar.lp)} + ${m} * ${u(D)} + ${n}] = select(0.0, lp, valid);
        ACT[${u(last.delta)} + ${m} * ${u(last.outDim)} + ${n}] = select(0.0, dv, valid);`;
  let epilogue: Gemm['epilogue'];
  if (lik.kind === 'bernoulli') {
    epilogue = lossEpilogue(`lp = x * v - softplus_(v);
        dv = (sigmoid_(v) - x) / f32(S.rows);`);
  } else if (lik.kind === 'gaussian') {
    const ls =
      typeof lik.sigma === 'number' ? f32(Math.log(lik.sigma)) : `clamp(P[${u(plan.logSigma!.offset)}${lik.sigma === 'learned-per-pixel' ? ' + n' : ''}], ${lsMin}, ${lsMax})`;
    epilogue = lossEpilogue(`let ls = ${ls};
        let si = exp(-ls);
        let zz = (x - v) * si;
        lp = -0.5 * ((zz * zz + 2.0 * ls) + ${f32(Math.log(2 * Math.PI))});
        dv = -(zz * si) / f32(S.rows);
        ACT[${u(ar.sq)} + m * ${u(D)} + n] = select(0.0, zz * zz - 1.0, valid);`);
  } else {
    // the outputs themselves; the loss kernel below pairs each pixel's location and log-scale
    epilogue = (m, n, acc) => `ACT[${u(last.output)} + ${m} * ${u(last.outDim)} + ${n}] = ${acc} + P[${u(last.bias)} + ${n}];`;
  }
  out.push(forward(last, R, epilogue, lik.kind === 'logistic' ? 'forward decoder.out' : 'forward decoder.out with the loss'));
  if (lik.kind === 'logistic') out.push(logisticLoss(plan));

  // 5. statistics: log p(x|z) and the KL per row, many rows at a time (one workgroup each), then
  // the batch means into the step's row: the ELBO's (with the free-bits mask the latent gradient
  // needs), or for K > 1 the importance weights
  const fb = f32(o.freeBits);
  /** thread 0 writes the objective's four statistics into the step's row */
  const writeStats = (recon: string, kl: string, klWeighted: string, bound: string) => `if (li == 0u) {
    let r = S.row * ${u(W)};
    ST[r] = ${recon};
    ST[r + 1u] = ${kl};
    ST[r + 2u] = ${klWeighted};
    ST[r + 3u] = ${bound};
  }`;
  const L2P = f32(Math.log(2 * Math.PI));
  const globalSigma = plan.logSigma !== null && plan.logSigma.size === 1;
  // a learned global sigma's gradient needs each row's sum of (x - mean)^2 / sigma^2 - 1
  const rowSq = globalSigma
    ? `var q = 0.0;
  for (var d = li; d < ${u(D)}; d += 64u) { q += ACT[${u(ar.sq)} + row * ${u(D)} + d]; }
  let qt = reduce(li, q);
  if (li == 0u) { ACT[${u(ar.rowSq)} + row] = qt; }`
    : '';
  // K > 1: log p(z) - log q(z|x) of the row's z, as the objective module writes it
  const rowRatio = iw
    ? `var pz = 0.0;
  var qz = 0.0;
  let e = row % ${u(B)};
  for (var j = li; j < ${u(J)}; j += 64u) {
    let z = ACT[${u(ar.z)} + row * ${u(J)} + j];
    let lv = clamp(ACT[${u(ar.logvar)} + e * ${u(J)} + j], ${lvMin}, ${lvMax});
    let d = z - ACT[${u(ar.mu)} + e * ${u(J)} + j];
    pz += ${L2P} + z * z;
    qz += (${L2P} + lv) + (d * d) / exp(lv);
  }
  let pt = reduce(li, pz);
  let qt2 = reduce(li, qz);
  if (li == 0u) { ACT[${u(ar.rowRatio)} + row] = -0.5 * pt - -0.5 * qt2; }`
    : '';
  out.push(
    perRow(
      'per-row sums',
      R,
      `var s = 0.0;
  for (var d = li; d < ${u(D)}; d += 64u) { s += ACT[${u(ar.lp)} + row * ${u(D)} + d]; }
  let t = reduce(li, s);
  var k = 0.0;
  if (row < ${u(B)}) {
    for (var j = li; j < ${u(J)}; j += 64u) { k += ACT[${u(ar.kl)} + row * ${u(J)} + j]; }
  }
  let kt = reduce(li, k);
  if (li == 0u) {
    ACT[${u(ar.rowLp)} + row] = t;
    if (row < ${u(B)}) { ACT[${u(ar.rowKl)} + row] = kt; }
  }
  ${rowSq}
  ${rowRatio}`,
    ),
  );
  if (!iw) {
    const freeBits =
      o.freeBits > 0
        ? `var kf = 0.0;
  for (var j = li; j < ${u(J)}; j += 256u) {
    var kj = 0.0;
    for (var b = 0u; b < n; b++) { kj += ACT[${u(ar.kl)} + b * ${u(J)} + j]; }
    let mj = kj / nf;
    kf += max(mj, ${fb});
    ACT[${u(ar.freeMask)} + j] = select(0.0, 1.0, mj >= ${fb});
  }
  let klw = reduce(li, kf) * S.klWeight;`
        : 'let klw = kl * S.klWeight;';
    out.push(
      single(
        'statistics',
        `let n = S.rows;
  let nf = f32(n);
  var s = 0.0;
  var k = 0.0;
  for (var b = li; b < n; b += 256u) {
    s += ACT[${u(ar.rowLp)} + b];
    k += ACT[${u(ar.rowKl)} + b];
  }
  let recon = reduce(li, s) / nf;
  let kl = reduce(li, k) / nf;
  ${freeBits}
  ${writeStats('recon', 'kl', 'klw', 'recon - klw')}`,
      ),
    );
  } else {
    // log w_k = log p(x|z_k) + w (log p(z_k) - log q(z_k|x)) as the objective module writes it;
    // alpha_k = softmax_k(log w_k), zero on rows past the batch; L_k = logsumexp_k - log K
    out.push(
      single(
        'importance weights',
        `let n = S.rows;
  let nf = f32(n);
  var sr = 0.0;
  var sk = 0.0;
  var sb = 0.0;
  for (var b = li; b < n; b += 256u) {
    var mx = -3.4e38;
    for (var s = 0u; s < ${u(K)}; s++) {
      let r = s * ${u(B)} + b;
      let lpx = ACT[${u(ar.rowLp)} + r];
      sr += lpx;
      let lw = lpx + ACT[${u(ar.rowRatio)} + r] * S.klWeight;
      ACT[${u(ar.alpha)} + r] = lw;
      mx = max(mx, lw);
    }
    var se = 0.0;
    for (var s = 0u; s < ${u(K)}; s++) { se += exp(ACT[${u(ar.alpha)} + s * ${u(B)} + b] - mx); }
    let lse = mx + log(se);
    for (var s = 0u; s < ${u(K)}; s++) {
      let r = s * ${u(B)} + b;
      ACT[${u(ar.alpha)} + r] = exp(ACT[${u(ar.alpha)} + r] - lse);
    }
    sb += lse - ${f32(Math.log(K))};
    sk += ACT[${u(ar.rowKl)} + b];
  }
  for (var b = n + li; b < ${u(B)}; b += 256u) {
    for (var s = 0u; s < ${u(K)}; s++) { ACT[${u(ar.alpha)} + s * ${u(B)} + b] = 0.0; }
  }
  let recon = reduce(li, sr) / (nf * ${f32(K)});
  let kl = reduce(li, sk) / nf;
  let bound = reduce(li, sb) / nf;
  ${writeStats('recon', 'kl', 'kl * S.klWeight', 'bound')}`,
      ),
    );
    // d loss / d log w_k = -alpha_k / n: scale each row's output gradient (and a learned
    // sigma's per-pixel terms) by its weight
    const scaleSq = plan.logSigma && !globalSigma ? `if (i < ${u(R * D)}) { ACT[${u(ar.sq)} + i] *= ACT[${u(ar.alpha)} + i / ${u(D)}]; }` : '';
    out.push(
      elementwise(
        'importance-weighted output gradient',
        R * last.outDim,
        `ACT[${u(last.delta)} + i] *= ACT[${u(ar.alpha)} + i / ${u(last.outDim)}];
  ${scaleSq}`,
      ),
    );
  }

  // 6. backward through the decoder: weight gradients (bias as an extra row of ones) and deltas
  /** A(m, k) = input[k, m] for m < dim, 1 for m = dim: the input transposed, with the bias's row of ones */
  const withOnes = (input: number, dim: number) => (m: string, k: string) =>
    `select(ACT[${u(input)} + ${k} * ${u(dim)} + min(${m}, ${u(dim - 1)})], 1.0, ${m} == ${u(dim)})`;
  /** the layer's delta from the gradient with respect to its output, times the activation's derivative */
  const deltaEpilogue = (l: Layer) => (m: string, n: string, acc: string) => `let y = ACT[${u(l.output)} + ${m} * ${u(l.outDim)} + ${n}];
        ACT[${u(l.delta)} + ${m} * ${u(l.outDim)} + ${n}] = ${acc} * ${activationGrad(l.act, 'y')};`;
  const weightGrad = (l: Layer, rows: number) =>
    gemm({
      label: `weight gradient ${l.name}`,
      M: l.inDim + 1,
      N: l.outDim,
      K: rows,
      a: withOnes(l.input, l.inDim),
      aKFast: false,
      b: (k, n) => `ACT[${u(l.delta)} + ${k} * ${u(l.outDim)} + ${n}]`,
      bNFast: true,
      epilogue: (m, n, acc) => `G[${u(l.kernel)} + ${m} * ${u(l.outDim)} + ${n}] = ${acc};`,
    });
  const delta = (l: Layer, next: Layer, rows: number) =>
    gemm({
      label: `delta ${l.name}`,
      M: rows,
      N: l.outDim,
      K: next.outDim,
      a: (m, k) => `ACT[${u(next.delta)} + ${m} * ${u(next.outDim)} + ${k}]`,
      aKFast: true,
      b: (k, n) => `P[${u(next.kernel)} + ${n} * ${u(next.outDim)} + ${k}]`,
      bNFast: false,
      epilogue: deltaEpilogue(l),
    });
  for (let i = dec.length - 1; i >= 0; i--) {
    out.push(weightGrad(dec[i], R));
    if (i > 0) out.push(delta(dec[i - 1], dec[i], R));
  }

  // 7. the latent layer's gradient: through z (from the first decoder layer) and the KL term
  // (ELBO: beta, warm-up, free bits) or the prior/posterior ratio in log w (K > 1)
  const d0 = dec[0];
  const dzOf = (r: string) => `var dz = 0.0;
    for (var k = 0u; k < ${u(d0.outDim)} + S.zero; k++) {
      dz += ACT[${u(d0.delta)} + ${r} * ${u(d0.outDim)} + k] * P[${u(d0.kernel)} + j * ${u(d0.outDim)} + k];
    }`;
  const mask = o.freeBits > 0 ? ` * ACT[${u(ar.freeMask)} + j]` : '';
  const latentGrad = iw
    ? // d/d mu = sum_k (dz_k + (w / n) alpha_k z_k); d/d logvar = sum_k (dz_k + (w / n) alpha_k z_k) eps_k sigma / 2 - (w / n) sum_k alpha_k / 2
      `var gmu = 0.0;
  var gz = 0.0;
  var sa = 0.0;
  for (var s = 0u; s < ${u(K)}; s++) {
    let r = s * ${u(B)} + b;
    ${dzOf('r')}
    let a = ACT[${u(ar.alpha)} + r];
    let t = dz + w * a * ACT[${u(ar.z)} + r * ${u(J)} + j];
    gmu += t;
    gz += t * ACT[${u(ar.eps)} + r * ${u(J)} + j];
    sa += a;
  }
  let dmu = gmu;
  let dlv = select(0.0, gz * (0.5 * exp(0.5 * lv)) - 0.5 * w * sa, inRange);`
    : `${dzOf('b')}
  let e = ACT[${u(ar.eps)} + i];
  let dmu = dz + w * m;
  let dlv = select(0.0, dz * e * (0.5 * exp(0.5 * lv)) + w * (0.5 * (exp(lv) - 1.0)), inRange);`;
  out.push(
    elementwise(
      'latent gradient',
      B * J,
      `let b = i / ${u(J)};
  let j = i % ${u(J)};
  let valid = b < S.rows;
  let w = S.klWeight / f32(S.rows)${iw ? '' : mask};
  let m = ACT[${u(ar.mu)} + i];
  let raw = ACT[${u(ar.logvar)} + i];
  let lv = clamp(raw, ${lvMin}, ${lvMax});
  let inRange = raw >= ${lvMin} && raw <= ${lvMax};
  ${latentGrad}
  ACT[${u(ar.dlat)} + b * ${u(2 * J)} + j] = select(0.0, dmu, valid);
  ACT[${u(ar.dlat)} + b * ${u(2 * J)} + ${u(J)} + j] = select(0.0, dlv, valid);`,
    ),
  );

  // 8. the heads' weight gradients (mu's block, then logvar's), then back through the encoder
  const headBlock = (H + 1) * J;
  out.push(
    gemm({
      label: 'weight gradient encoder heads',
      M: H + 1,
      N: 2 * J,
      K: B,
      a: withOnes(plan.headInput, H),
      aKFast: false,
      b: (k, n) => `ACT[${u(ar.dlat)} + ${k} * ${u(2 * J)} + ${n}]`,
      bNFast: true,
      epilogue: (m, n, acc) => `G[${u(plan.mu.kernel)} + (${n} / ${u(J)}) * ${u(headBlock)} + ${m} * ${u(J)} + ${n} % ${u(J)}] = ${acc};`,
    }),
  );
  const enc = plan.encoder;
  for (let i = enc.length - 1; i >= 0; i--) {
    const l = enc[i];
    if (i === enc.length - 1) {
      out.push(
        gemm({
          label: `delta ${l.name}`,
          M: B,
          N: l.outDim,
          K: 2 * J,
          a: (m, k) => `ACT[${u(ar.dlat)} + ${m} * ${u(2 * J)} + ${k}]`,
          aKFast: true,
          b: (k, n) => `P[${u(plan.mu.kernel)} + (${k} / ${u(J)}) * ${u(headBlock)} + ${n} * ${u(J)} + ${k} % ${u(J)}]`,
          bNFast: false,
          epilogue: deltaEpilogue(l),
        }),
      );
    } else {
      out.push(delta(l, enc[i + 1], B));
    }
    out.push(weightGrad(l, B));
  }

  // 9. a learned sigma's gradient: -(1/n) sum over the rows (and pixels) of (z^2 - 1), each row
  // weighted by alpha for K > 1 (rows past the batch hold zeros); a global sigma's from the
  // per-row sums
  if (plan.logSigma && lik.kind === 'gaussian') {
    const ls = plan.logSigma;
    const rows = iw ? u(R) : 'S.rows';
    const inRange = (r: string) => `${r} >= ${lsMin} && ${r} <= ${lsMax}`;
    if (ls.size === 1) {
      out.push(
        single(
          'sigma gradient',
          `var s = 0.0;
  for (var r = li; r < ${rows}; r += 256u) { s += ${iw ? `ACT[${u(ar.alpha)} + r] * ` : ''}ACT[${u(ar.rowSq)} + r]; }
  let t = reduce(li, s);
  if (li == 0u) {
    let r = P[${u(ls.offset)}];
    G[${u(ls.offset)}] = select(0.0, -t / f32(S.rows), ${inRange('r')});
  }`,
        ),
      );
    } else {
      out.push(
        elementwise(
          'sigma gradient',
          D,
          `var s = 0.0;
  for (var b = 0u; b < ${rows}; b++) { s += ACT[${u(ar.sq)} + b * ${u(D)} + i]; }
  let r = P[${u(ls.offset)} + i];
  G[${u(ls.offset)} + i] = select(0.0, -s / f32(S.rows), ${inRange('r')});`,
        ),
      );
    }
  }

  // 10. the global gradient norm, for clipping (and the statistics), and with train.skipNonFinite
  // whether any gradient is NaN or infinite (by its bits, so that no compiler can assume them
  // away): partial sums over many workgroups, then one small sum
  const parts = plan.normParts;
  if (cols.norm !== null || cols.skipped !== null) {
    const per = parts.per / 256;
    out.push({
      label: 'gradient norm partials',
      code: /* wgsl */ `${HEADER}
${reduction(256)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = wg.x * ${u(parts.per)} + li;
  var s = 0.0;
  var bad = 0.0;
  for (var q = 0u; q < ${u(per)} + S.zero; q++) {
    let i = base + q * 256u;
    if (i < ${u(plan.P)}) {
      let g = G[i];
      s += g * g;
      if (nonfinite_(g)) { bad = 1.0; }
    }
  }
  let t = reduce(li, s);
  let b = reduce(li, bad);
  if (li == 0u) {
    ACT[${u(ar.normParts)} + wg.x] = t;
    ACT[${u(ar.normParts + parts.count)} + wg.x] = b;
  }
}
`,
      groups: [parts.count, 1],
    });
  }
  const sumParts = (at: number) => `var p = 0.0;
  for (var i = li; i < ${u(parts.count)}; i += 256u) { p += ACT[${u(at)} + i]; }`;
  if (cols.norm !== null) {
    out.push(
      single(
        'gradient norm',
        `${sumParts(ar.normParts)}
  let t = sqrt(reduce(li, p));
  if (li == 0u) {
    ACT[${u(ar.norm)}] = t;
    ST[S.row * ${u(W)} + ${u(cols.norm)}] = t;
  }`,
      ),
    );
  }

  // 11. train.skipNonFinite: a step whose loss or any gradient is NaN or infinite is skipped,
  // until the allowance is spent
  if (cols.skipped !== null) {
    out.push(
      single(
        'finite check',
        `${sumParts(ar.normParts + parts.count)}
  let t = reduce(li, p);
  if (li == 0u) {
    let r = S.row * ${u(W)};
    let count = ACT[${u(ar.norm + 2)}];
    let skip = (t > 0.0 || nonfinite_(ST[r + 3u])) && count < ${f32(o.skipNonFinite)};
    ACT[${u(ar.norm + 1)}] = select(0.0, 1.0, skip);
    ACT[${u(ar.norm + 2)}] = count + select(0.0, 1.0, skip);
    ST[r + ${u(cols.skipped)}] = select(0.0, 1.0, skip);
  }`,
      ),
    );
  }

  // 12. Adam over every parameter at once (PyTorch's rule, the same float32 operations as adam.ts);
  // after a skip the GPU knows of before the CPU does, Adam's step count is one lower per skip
  const a = o.adam;
  const clip = o.gradClip !== null ? `g = g * (${f32(o.gradClip)} / max(ACT[${u(ar.norm)}], ${f32(o.gradClip)}));` : '';
  const skipped =
    cols.skipped === null
      ? ''
      : `if (ACT[${u(ar.norm + 1)}] != 0.0) { return; }
  let extra = ACT[${u(ar.norm + 2)}] - f32(S.knownSkips);
  if (extra > 0.0) {
    let t = f32(S.adamT) - extra;
    stepSize = S.lr / one_minus_pow_(${f32(Math.log(a.beta1))}, t);
    invSqrtBc2 = 1.0 / sqrt(one_minus_pow_(${f32(Math.log(a.beta2))}, t));
  }`;
  out.push(
    elementwise(
      'adam',
      plan.P,
      `var stepSize = S.stepSize;
  var invSqrtBc2 = S.invSqrtBc2;
  ${skipped}
  var g = G[i];
  ${clip}
  let m1 = MV[i] * ${f32(a.beta1)} + g * ${f32(1 - a.beta1)};
  let v1 = MV[${u(plan.P)} + i] * ${f32(a.beta2)} + (g * g) * ${f32(1 - a.beta2)};
  MV[i] = m1;
  MV[${u(plan.P)} + i] = v1;
  let denom = sqrt(v1) * invSqrtBc2 + ${f32(a.epsilon)};
  P[i] = P[i] - (m1 / denom) * stepSize;`,
      cols.skipped === null
        ? ''
        : `// 1 - beta^t = -expm1(t ln beta), accurate for beta near 1
fn one_minus_pow_(lnBeta: f32, t: f32) -> f32 {
  return -expm1_(t * lnBeta);
}`,
    ),
  );
  return out;
}

/**
 * The discretised logistic's log p(x|z) per pixel and its gradient with respect to the pixel's
 * location and raw log-scale (the two halves of the output row), as the likelihood module writes
 * it: the end bins as log sigma(.) and log(1 - sigma(.)), inner bins as the log of a CDF
 * difference, or the density times the bin width where that difference is under 1e-5.
 */
function logisticLoss(plan: Plan): Kernel {
  const { B, D, K, R, arena: ar } = plan;
  const last = plan.decoder[plan.decoder.length - 1];
  const h = 0.5 / 255;
  const b = K > 1 ? `(r % ${u(B)})` : 'r';
  return elementwise(
    'log p(x|z), discretised logistic',
    R * D,
    `let r = i / ${u(D)};
  let d = i % ${u(D)};
  let valid = ${b} < S.rows;
  let o = ${u(last.output)} + r * ${u(2 * D)} + d;
  let loc = ACT[o];
  let raw = ACT[o + ${u(D)}];
  let x = ACT[${u(ar.x)} + ${b} * ${u(D)} + d];
  let ls = max(raw, -7.0);
  let s = exp(-ls);
  let c = x - loc;
  let pin = s * (c + ${f32(h)});
  let min_ = s * (c - ${f32(h)});
  let mid = s * c;
  // lp and its derivatives with respect to c = x - loc and to 1/s (through pin, min and mid)
  var lp = 0.0;
  var dc = 0.0;
  var dinv = 0.0;
  var dls = 0.0;
  if (x < ${f32(h)}) {
    lp = pin - softplus_(pin);
    let gp = sigmoid_(-pin);
    dc = s * gp;
    dinv = gp * (c + ${f32(h)});
  } else if (x > ${f32(1 - h)}) {
    lp = -softplus_(min_);
    let gm = -sigmoid_(min_);
    dc = s * gm;
    dinv = gm * (c - ${f32(h)});
  } else {
    // sigma(pin) - sigma(min) without the cancellation: sigma(pin) sigma(-min) (1 - e^(-2h s))
    // (s here is the inverse scale), as the likelihood module writes it
    let e = -expm1_(s * ${f32(-2 * h)});
    let cdf = (sigmoid_(pin) * sigmoid_(-min_)) * e;
    if (cdf - ${f32(1e-5)} > 0.0) {
      lp = log(max(cdf, ${f32(1e-12)}));
      let gp = sigmoid_(-pin);
      let gm = -sigmoid_(min_);
      dc = s * (gp + gm);
      dinv = (gp * (c + ${f32(h)}) + gm * (c - ${f32(h)})) + ${f32(2 * h)} * (exp(s * ${f32(-2 * h)}) / e);
    } else {
      lp = ((mid - ls) - 2.0 * softplus_(mid)) - ${f32(Math.log(255))};
      let gd = 1.0 - 2.0 * sigmoid_(mid);
      dc = s * gd;
      dinv = gd * c;
      dls = -1.0;
    }
  }
  let nf = f32(S.rows);
  let dloc = -dc;
  dls += -s * dinv;
  ACT[${u(ar.lp)} + i] = select(0.0, lp, valid);
  let t = ${u(last.delta)} + r * ${u(2 * D)} + d;
  ACT[t] = select(0.0, -dloc / nf, valid);
  ACT[t + ${u(D)}] = select(0.0, select(0.0, -dls / nf, raw >= -7.0), valid);`,
  );
}
