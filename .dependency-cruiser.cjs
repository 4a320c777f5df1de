/**
 * Import rules for src/, checked by `npm run lint` (part of `npm test`).
 *
 * The layers, top to bottom. A module may import from its own layer (as the notes allow) and
 * from any layer below it, never from one above:
 *
 *   1. src/cli.ts                  builds the commander program
 *   2. src/commands/               parse options, call the library, present the result
 *   3. src/train/ src/eval/ src/bench/ src/export/ src/serve/ src/setup/
 *                                  whole jobs: training, evaluation, timing, export, serving, set-up
 *                                  (train may use eval for validation; bench may use train and eval;
 *                                  serve may use export; eval uses none of them)
 *   4. src/engine/                 engines that run whole training steps themselves (GPU and CPU)
 *   5. src/model/ src/data/ src/run/ src/image/
 *                                  the maths, the data sets, run directories, pictures
 *                                  (run may read model and data; model may read data's types;
 *                                  data and image read none of the four)
 *   6. src/backend/ src/config/    choosing the tfjs backend; the config schema and loading
 *                                  (neither reads the other)
 *   7. src/tf.ts src/errors.ts src/random.ts src/version.ts src/ui/ src/util/
 *                                  the floor: tfjs itself, typed errors, seeded randomness,
 *                                  versions, stderr output, atomic file writes
 *
 * Why: each layer can be read, tested and replaced knowing only the layers below it, and a
 * change to a command never ripples into the maths. Where something below needs a type from
 * above, the type moves down.
 */
const LAYERS = [
  ['^src/cli\\.ts$'],
  ['^src/commands/'],
  ['^src/(train|eval|bench|export|serve|setup)/'],
  ['^src/engine/'],
  ['^src/(model|data|run|image)/'],
  ['^src/(backend|config)/'],
  ['^src/(tf|errors|random|version)\\.ts$', '^src/(ui|util)/'],
];

const either = (patterns) => patterns.join('|');

const upward = LAYERS.slice(1).map((layer, i) => ({
  name: `layer-${i + 2}-imports-upward`,
  comment: `${layer.join(' ')} may not import from a layer above it (see the top of .dependency-cruiser.cjs)`,
  severity: 'error',
  from: { path: either(layer) },
  to: { path: either(LAYERS.slice(0, i + 1).flat()) },
}));

const sideways = [
  ['^src/eval/', '^src/(train|bench|export|serve|setup)/', 'eval is used by train and bench, not the other way round'],
  ['^src/train/', '^src/(bench|export|serve|setup)/', 'training does not depend on the other jobs'],
  ['^src/(export|setup)/', '^src/(train|bench|serve)/', 'export and set-up stand alone'],
  ['^src/model/', '^src/(run|image)/', 'the maths knows nothing of run folders or pictures'],
  ['^src/data/', '^src/(model|run|image)/', 'data sets know nothing of models, runs or pictures'],
  ['^src/image/', '^src/(model|data|run)/', 'pictures are drawn from plain arrays'],
  ['^src/backend/', '^src/config/', 'backends know nothing of configs'],
  ['^src/config/', '^src/backend/', 'configs know nothing of backends'],
].map(([from, to, comment]) => ({ name: `sideways-${from.replace(/\W/g, '')}`, comment, severity: 'error', from: { path: from }, to: { path: to } }));

module.exports = {
  forbidden: [
    ...upward,
    ...sideways,
    {
      name: 'no-circular',
      comment: 'import cycles make the order of initialisation fragile',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment: 'a module nothing imports is dead code (entry points: src/cli.ts, tests, bench scripts)',
      severity: 'error',
      from: { orphan: true, pathNot: ['\\.d\\.ts$', '^test/', '^bench/', '(^|/)tsconfig\\.json$'] },
      to: {},
    },
    {
      name: 'tests-and-bench-not-commands',
      comment: 'bench scripts use the library, not the command layer',
      severity: 'error',
      from: { path: '^bench/' },
      to: { path: '^src/(cli\\.ts|commands/)' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that resolves to nothing',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^test/fixtures/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
