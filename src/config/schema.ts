/**
 * The config schema: every key, its default, and what it accepts. Defaults live here, in code;
 * config files hold only overrides. Precedence (written once, in load.ts):
 * defaults < config file < --set flags.
 *
 * Each leaf carries a `.describe()` text saying what it expects, in words, so that a validation
 * error can name the key, the expected type and the value it got.
 */
import { z } from 'zod';

export const DATASETS = ['mnist'] as const;
export const ARCHS = ['mlp'] as const;
export const LIKELIHOODS = ['bernoulli'] as const;
export const ACTIVATIONS = ['relu', 'tanh', 'elu', 'leaky_relu'] as const;
export const BINARIZE = ['dynamic', 'static', 'none'] as const;

const int = (min: number, max: number, what: string) =>
  z.int().min(min).max(max).describe(`${what} (an integer from ${min} to ${max})`);

export const dataSchema = z.strictObject({
  dataset: z.enum(DATASETS).default('mnist').describe(`the data set: one of ${DATASETS.join(', ')}`),
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
    .min(1)
    .max(16)
    .default([400])
    .describe('the hidden layer widths, encoder order (an array of 1 to 16 integers from 1 to 65536), e.g. [400]'),
  latentDim: int(1, 4096, 'the number of latent dimensions J').default(20),
  activation: z.enum(ACTIVATIONS).default('relu').describe(`the hidden activation: one of ${ACTIVATIONS.join(', ')}`),
  likelihood: z.enum(LIKELIHOODS).default('bernoulli').describe(`the decoder likelihood: one of ${LIKELIHOODS.join(', ')}`),
});

export const trainSchema = z.strictObject({
  epochs: int(1, 1_000_000, 'the number of passes over the training data').default(10),
  batchSize: int(1, 65_536, 'examples per optimisation step').default(128),
  learningRate: z.number().gt(0).max(10).default(1e-3).describe('the Adam learning rate (a number > 0 and <= 10)'),
  seed: int(0, 2 ** 31 - 1, 'the random seed').default(0),
  logEvery: int(1, 1_000_000, 'optimisation steps between reading the loss back for the progress display').default(20),
  previewSamples: int(1, 1024, 'how many prior samples each epoch draws into samples/epoch-NNN.png').default(64),
  skipNonFinite: int(0, 1_000_000, 'how many batches with a NaN or infinite loss or gradient to skip before stopping (0: stop at the first)').default(0),
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
export type ModelConfig = Config['model'];
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
