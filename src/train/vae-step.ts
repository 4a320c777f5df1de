/**
 * One VAE training step as a closure over the model, optimiser and data: a batch, the noise,
 * the objective (src/model/objective.ts) and its gradients, clipping, and Adam's update. The
 * generic loop (loop.ts) calls it; it knows nothing of logging or checkpoints.
 */
import { tf, type Tensor } from '../tf.js';
import type { Rng } from '../random.js';
import type { Config } from '../config/schema.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { TrainingBatches } from '../data/batches.js';
import { trainingBinarization } from '../model/eval-protocol.js';
import { trainableParams, updateRunningStats, type ForwardContext, type Vae } from '../model/vae.js';
import { klWeightAt, OBJECTIVE_STATS, trainingObjective } from '../model/objective.js';
import { learningRateAt } from './schedule.js';
import { clipByGlobalNorm } from './clip.js';
import type { Adam } from './adam.js';
import type { StepResult, TrainTask } from './loop.js';

/** The names of a training step's stats, in order (gradNorm only when clipping). */
export function trainStatNames(cfg: Config): string[] {
  return [...OBJECTIVE_STATS, ...(cfg.train.gradClip !== null ? ['gradNorm'] : [])];
}

export type RngSnapshot = ReturnType<Rng['state']>;

export interface VaeTask extends TrainTask {
  /** The random streams' state: reparameterisation noise, and the current epoch's binarisation. */
  rngState(): { eps: RngSnapshot; bin: RngSnapshot | null };
  /** Tasks that train off the model's variables (the fused engine) write their state back into them. */
  syncModel?(): Promise<void>;
  dispose?(): void;
}

/** A task whose steps return their stats as a tensor (makeVaeTask's, on every tfjs backend). */
export interface TensorVaeTask extends VaeTask {
  step(epoch: number, index: number): (StepResult & { stats: Tensor }) | Promise<StepResult & { stats: Tensor }>;
}

/**
 * One optimisation step, as a closure over the model, optimiser and data. `resume.bin` continues
 * the binarisation stream of epoch `resume.epoch` from a checkpoint taken part-way through it;
 * `onSkip` is told of each batch skipped under train.skipNonFinite.
 */
export function makeVaeTask(
  vae: Vae,
  adam: Adam,
  train: ImageSet,
  cfg: Config,
  epsRng: Rng,
  resume?: { epoch: number; bin: RngSnapshot | null },
  onSkip?: (info: { epoch: number; index: number; skipped: number }) => void,
): TensorVaeTask {
  const t = cfg.train;
  const B = t.batchSize;
  const D = dimOf(train);
  const J = vae.spec.latentDim;
  const K = t.iwSamples;
  const mode = trainingBinarization(cfg);
  const trainable = trainableParams(vae);
  const varList = [...trainable.values()];
  const ours = new Map([...trainable].map(([name, v]) => [v.name, name]));
  const epsBuf = new Float32Array(K * Math.min(B, train.n) * J);
  const stepsPerEpoch = Math.ceil(train.n / B);
  const warmupSteps = t.warmupEpochs * stepsPerEpoch;
  const statNames = trainStatNames(cfg);
  const batches = new TrainingBatches(train, B, mode, t.seed, resume);
  let skipped = 0;
  return {
    statNames,
    stepsInEpoch: () => stepsPerEpoch,
    rngState: () => ({ eps: epsRng.state(), bin: batches.binState() }),
    step(epoch, i) {
      const { x, n } = batches.batch(epoch, i);
      // Schedules are functions of the position in training, so a resumed run follows them exactly.
      const objective = { klWeight: klWeightAt(epoch * stepsPerEpoch + i, t.beta, warmupSteps), freeBits: t.freeBits, iwSamples: K };
      adam.lr = learningRateAt(t, epoch, i, stepsPerEpoch);
      const eps = epsRng.fillNormal(epsBuf.subarray(0, K * n * J));
      const xT = tf.tensor2d(x, [n, D]);
      const eT = K === 1 ? tf.tensor2d(eps, [n, J]) : tf.tensor3d(eps, [K, n, J]);
      const ctx: ForwardContext = { training: true, moments: [] };
      let stats: Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const r = trainingObjective(vae, xT, eT, objective, ctx);
        stats = tf.keep(r.stats);
        return r.loss;
      }, varList);
      const gradList = Object.values(grads);
      const byName = new Map<string, Tensor>();
      if (t.gradClip !== null) {
        const { clipped, norm } = clipByGlobalNorm(gradList, t.gradClip);
        Object.keys(grads).forEach((tfName, k) => byName.set(ours.get(tfName)!, clipped[k]));
        const withNorm = tf.tidy(() => tf.concat([stats!, tf.reshape(norm, [1])]));
        tf.dispose([stats!, norm, ...gradList]);
        stats = withNorm;
      } else {
        for (const [tfName, g] of Object.entries(grads)) byName.set(ours.get(tfName)!, g);
      }
      const stepGrads = [...byName.values()];
      const update = () => {
        adam.apply(trainable, byName);
        updateRunningStats(vae, ctx);
        tf.dispose([value, xT, eT, ...stepGrads]);
        return { stats: stats!, examples: n };
      };
      if (t.skipNonFinite === 0) return update();
      // With train.skipNonFinite, check this step before updating (a read per step, so only then).
      return (async () => {
        const ok = tf.tidy(() => tf.all(tf.stack([value, ...stepGrads].map((g) => tf.all(tf.isFinite(g))))));
        const finite = (await ok.data())[0] === 1;
        ok.dispose();
        if (!finite && skipped < t.skipNonFinite) {
          skipped++;
          onSkip?.({ epoch, index: i, skipped });
          tf.dispose([value, xT, eT, stats!, ...stepGrads, ...ctx.moments.flatMap((m) => [m.mean, m.variance])]);
          return { stats: tf.zeros([statNames.length]), examples: 0 };
        }
        return update();
      })();
    },
  };
}
