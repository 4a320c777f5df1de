/**
 * The config schema: every key, its default, and what it accepts. Defaults live here, in code;
 * config files hold only overrides. Precedence (written once, in load.ts):
 * defaults < config file < --set flags.
 *
 * Each leaf carries a `.describe()` text saying what it expects, in words, so that a validation
 * error can name the key, the expected type and the value it got.
 */
import { z } from 'zod';

export const DATASETS = ['mnist', 'fashion-mnist', 'idx', 'folder'] as const;
export const ARCHS = ['mlp', 'conv'] as const;
export const LIKELIHOODS = ['bernoulli', 'gaussian', 'logistic'] as const;
export const SIGMAS = ['learned', 'learned-per-pixel'] as const;
export const LR_SCHEDULES = ['constant', 'step', 'exponential', 'cosine', 'burda'] as const;
export const ACTIVATIONS = ['relu', 'tanh', 'elu', 'leaky_relu'] as const;
export const BINARIZE = ['dynamic', 'static', 'none'] as const;

const int = (min: number, max: number, what: string) =>
  z.int().min(min).max(max).describe(`${what} (an integer from ${min} to ${max})`);
const num = (min: number, max: number, what: string) =>
  z.number().min(min).max(max).describe(`${what} (a number from ${min} to ${max})`);
const filePath = (what: string) =>
  z
    .string()
    .min(1)
    .nullable()
    .default(null)
    .describe(`${what} (a path, relative to the config file's folder, or null)`);

export const dataSchema = z.strictObject({
  dataset: z.enum(DATASETS).default('mnist').describe(`the data set: one of ${DATASETS.join(', ')}`),
  path: filePath('for idx: the training images IDX file; for folder: the image folder'),
  labels: filePath('for idx: the training labels IDX file'),
  testPath: filePath('for idx: the test images IDX file; for folder: a folder of test images'),
  testLabels: filePath('for idx: the test labels IDX file'),
  size: int(1, 1024, 'for folder: resize every image to size x size pixels')
    .nullable()
    .default(null)
    .describe('for folder: resize every image to size x size pixels (an integer from 1 to 1024, or null to keep the images\' own size)'),
  channels: z
    .union([z.literal(1), z.literal(3)])
    .default(1)
    .describe('for folder: the channels to read, 1 for greyscale or 3 for RGB (a number, 1 or 3)'),
  limit: int(1, 10_000_000, 'how many training examples to use, from the start of the training split')
    .nullable()
    .default(null)
    .describe('how many training examples to use (an integer >= 1, or null for all)'),
  validation: int(0, 1_000_000, 'how many examples to hold out from the end of the training file').default(5000),
  binarize: z
    .enum(BINARIZE)
    .default('dynamic')
    .describe(
      'how greyscale pixels become binary for the Bernoulli likelihood: dynamic (fresh seeded draw every epoch), static (one fixed seeded draw), or none',
    ),
});

export const modelSchema = z.strictObject({
  arch: z.enum(ARCHS).default('mlp').describe(`the architecture: one of ${ARCHS.join(', ')}`),
  hidden: z
    .array(z.int().min(1).max(65_536))
    .max(16)
    .default([400])
    .describe(
      'the dense hidden layer widths, encoder order; for conv, dense layers after the convolutions (an array of 0 to 16 integers from 1 to 65536), e.g. [400]',
    ),
  convChannels: z
    .array(z.int().min(1).max(4096))
    .min(1)
    .max(8)
    .default([32, 64])
    .describe('for conv: the channels of each stride-2 convolution, encoder order (an array of 1 to 8 integers from 1 to 4096), e.g. [32, 64]'),
  kernelSize: int(2, 9, 'for conv: the convolution kernel size').default(4),
  batchNorm: z.boolean().default(false).describe('for conv: batch normalisation after each hidden convolution (true or false)'),
  latentDim: int(1, 4096, 'the number of latent dimensions J').default(20),
  activation: z.enum(ACTIVATIONS).default('relu').describe(`the hidden activation: one of ${ACTIVATIONS.join(', ')}`),
  likelihood: z.enum(LIKELIHOODS).default('bernoulli').describe(`the decoder likelihood: one of ${LIKELIHOODS.join(', ')}`),
  sigma: z
    .union([z.number().gt(0).max(100), z.enum(SIGMAS)])
    .default('learned')
    .describe(
      "for gaussian: the standard deviation of p(x|z) (a number > 0 for a fixed sigma, 'learned' for one learned global sigma, or 'learned-per-pixel')",
    ),
  initOutputBias: z
    .boolean()
    .default(true)
    .describe("start the decoder's output bias at the training data's per-pixel mean (its log-odds for bernoulli) (true or false)"),
});

export const trainSchema = z.strictObject({
  epochs: int(1, 1_000_000, 'the number of passes over the training data').default(10),
  batchSize: int(1, 65_536, 'examples per optimisation step').default(128),
  learningRate: z.number().gt(0).max(10).default(1e-3).describe('the Adam learning rate (a number > 0 and <= 10)'),
  seed: int(0, 2 ** 31 - 1, 'the random seed').default(0),
  logEvery: int(1, 1_000_000, 'optimisation steps between reading the loss back for the progress display').default(20),
  checkpointMinutes: num(0, 1_000_000, 'minutes of training between checkpoints within an epoch, so that at most this much work is lost (0: after every step)').default(5),
  previewSamples: int(1, 1024, 'how many prior samples each epoch draws into samples/epoch-NNN.png').default(64),
  skipNonFinite: int(0, 1_000_000, 'how many batches with a NaN or infinite loss or gradient to skip before stopping (0: stop at the first)').default(0),
  beta: num(0, 1000, 'the weight of the KL term (beta-VAE; 1 is the ELBO)').default(1),
  warmupEpochs: num(0, 1_000_000, 'epochs over which the KL weight rises linearly from 0 to beta (0: no warm-up)').default(0),
  freeBits: num(0, 100, 'the free-bits floor: each latent dimension\'s batch-mean KL counts as at least this many nats in the loss (0: off)').default(0),
  iwSamples: int(1, 5000, 'importance samples per example; above 1 trains the IWAE bound L_k instead of the ELBO').default(1),
  lrSchedule: z
    .enum(LR_SCHEDULES)
    .default('constant')
    .describe(`the learning-rate schedule: one of ${LR_SCHEDULES.join(', ')}`),
  lrDecay: z
    .number()
    .gt(0)
    .max(1)
    .default(0.1)
    .describe('for step and exponential: the factor the learning rate is multiplied by every lrStepEpochs epochs (a number > 0 and <= 1)'),
  lrStepEpochs: num(1e-6, 1_000_000, 'for step and exponential: epochs per decay by lrDecay').default(10),
  lrMin: num(0, 10, 'for cosine: the learning rate at the last step').default(0),
  gradClip: z
    .number()
    .gt(0)
    .nullable()
    .default(null)
    .describe('rescale the gradient when its global L2 norm exceeds this (a number > 0, or null for no clipping)'),
  patience: int(1, 1_000_000, 'early stopping: epochs without a better validation ELBO before stopping')
    .nullable()
    .default(null)
    .describe('early stopping: epochs without a better validation ELBO before stopping (an integer >= 1, or null to train all epochs)'),
  minDelta: num(0, 1e6, 'early stopping: how many nats better the validation ELBO must be to count as better').default(0),
});

export const configSchema = z.strictObject({
  $schema: z.string().optional().describe('a path or URL to a JSON Schema, for editors'),
  description: z.string().optional().describe('a line saying what this config is for'),
  data: dataSchema.prefault({}),
  model: modelSchema.prefault({}),
  train: trainSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type DataConfig = Config['data'];
export type TrainConfig = Config['train'];

/** The sections and their schemas, for key listings, suggestions and per-key descriptions. */
export const SECTIONS = { data: dataSchema, model: modelSchema, train: trainSchema } as const;
export const TOP_LEVEL_KEYS = ['$schema', 'description', ...Object.keys(SECTIONS)];

/** Every settable key as 'section.key'. */
export function allKeys(): string[] {
  return Object.entries(SECTIONS).flatMap(([s, schema]) => Object.keys(schema.shape).map((k) => `${s}.${k}`));
}

/** The describe() text of a leaf key, e.g. 'model.latentDim'. */
export function describeKey(path: readonly (string | number)[]): string | undefined {
  const [section, key] = path;
  const schema = SECTIONS[section as keyof typeof SECTIONS];
  if (!schema || typeof key !== 'string') {
    return path.length === 1 ? (configSchema.shape as Record<string, z.ZodType>)[String(section)]?.description : undefined;
  }
  return describeSchema((schema.shape as Record<string, z.ZodType>)[key]);
}

/** A schema's description, looking through wrappers such as .default() and .nullable(). */
function describeSchema(s: z.ZodType | undefined): string | undefined {
  for (let i = 0; s && i < 4; i++) {
    if (s.description) return s.description;
    const inner = (s as unknown as { unwrap?: () => z.ZodType }).unwrap;
    s = typeof inner === 'function' ? inner.call(s) : undefined;
  }
  return undefined;
}

/** The defaults alone: what a run uses when no file and no flag says otherwise. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}

/** Keys holding file or folder paths: relative ones resolve against the config file's folder. */
export const PATH_KEYS = ['path', 'labels', 'testPath', 'testLabels'] as const;

/**
 * Rules that span keys, checked after the schema: each broken rule is a message naming the keys
 * and a hint saying how to fix it.
 */
export function crossCheck(cfg: Config): { message: string; hint: string } | null {
  const d = cfg.data;
  if ((d.dataset === 'idx' || d.dataset === 'folder') && !d.path) {
    return {
      message: `data.dataset '${d.dataset}' needs data.path`,
      hint: d.dataset === 'idx' ? 'set data.path to an IDX image file (and data.labels to its label file, if any)' : 'set data.path to a folder of PNG, JPEG or WebP images',
    };
  }
  if (d.dataset === 'mnist' || d.dataset === 'fashion-mnist') {
    const set = PATH_KEYS.filter((k) => d[k] !== null);
    if (set.length) return { message: `data.${set[0]} is not used by data.dataset '${d.dataset}'`, hint: "remove it, or set data.dataset to 'idx' or 'folder'" };
  }
  if (d.dataset !== 'folder' && (d.size !== null || d.channels !== 1)) {
    return { message: `data.${d.size !== null ? 'size' : 'channels'} is only used by data.dataset 'folder' (images of ${d.dataset} come in their own size and channels)`, hint: 'remove it' };
  }
  if (d.dataset === 'folder' && (d.labels || d.testLabels)) {
    return { message: `data.${d.labels ? 'labels' : 'testLabels'} is for idx; a folder takes labels from its sub-folder names`, hint: 'remove it' };
  }
  if (d.dataset === 'idx' && d.testLabels && !d.testPath) return { message: 'data.testLabels is set but data.testPath is not', hint: 'set data.testPath to the test images IDX file' };
  const t = cfg.train;
  if (t.iwSamples > 1 && t.freeBits > 0) {
    return { message: `train.freeBits (${t.freeBits}) applies to the ELBO's closed-form KL, but train.iwSamples is ${t.iwSamples} (the IWAE bound has no separate KL term)`, hint: 'set train.freeBits=0 or train.iwSamples=1' };
  }
  if (t.lrSchedule === 'cosine' && t.lrMin > t.learningRate) {
    return { message: `train.lrMin (${t.lrMin}) is above train.learningRate (${t.learningRate})`, hint: 'the cosine schedule falls from learningRate to lrMin; make lrMin smaller' };
  }
  return null;
}
