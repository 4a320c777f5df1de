import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIKELIHOOD_KINDS, likelihoodKind } from '../../../src/model/likelihoods/registry.js';
import { LIKELIHOODS } from '../../../src/config/schema.js';
import { VaeError } from '../../../src/errors.js';

test('the config schema accepts exactly the likelihoods the registry has', () => {
  assert.deepEqual([...LIKELIHOODS].sort(), LIKELIHOOD_KINDS.map((k) => k.name).sort());
});

test('each likelihood declares what the rest of the program asks of it', () => {
  const by = (n: string) => likelihoodKind(n);
  assert.equal(by('bernoulli').outputsPerPixel, 1);
  assert.equal(by('logistic').outputsPerPixel, 2);
  assert.deepEqual(LIKELIHOOD_KINDS.filter((k) => k.binaryData).map((k) => k.name), ['bernoulli']);
  assert.deepEqual(LIKELIHOOD_KINDS.filter((k) => k.bitsPerDim).map((k) => k.name), ['logistic']);
  assert.equal(by('gaussian').describe({ likelihood: 'gaussian', sigma: 0.1 }), 'gaussian, sigma 0.1');
  assert.deepEqual(by('gaussian').options({ sigma: 'learned' }), { sigma: 'learned' });
  assert.deepEqual(by('bernoulli').options({ sigma: 0.1 }), {});
  assert.throws(() => likelihoodKind('poisson'), (e: unknown) => e instanceof VaeError && /unknown likelihood 'poisson'.*bernoulli, gaussian, logistic/s.test(`${(e as VaeError).message} ${(e as VaeError).hint}`));
});
