import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applySets, loadConfig, parseSet, resolveConfigPath, PACKAGE_CONFIGS } from '../../src/config/load.js';
import { allKeys, defaultConfig } from '../../src/config/schema.js';
import { VaeError } from '../../src/errors.js';

function tmpConfig(content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-config-'));
  const file = path.join(dir, 'c.json');
  fs.writeFileSync(file, content);
  return file;
}

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VaeError, `expected a VaeError, got ${err}`);
    return err.hint ? `${err.message} (${err.hint})` : err.message;
  }
  assert.fail('expected an error');
}

test('the required keys exist with their names', () => {
  const keys = allKeys();
  for (const k of ['data.dataset', 'data.limit', 'model.arch', 'model.hidden', 'model.latentDim', 'model.likelihood', 'train.epochs', 'train.batchSize', 'train.learningRate', 'train.seed']) {
    assert.ok(keys.includes(k), k);
  }
});

test('precedence: defaults < file < --set', () => {
  const d = defaultConfig();
  assert.equal(d.train.epochs, 10);
  const file = tmpConfig(JSON.stringify({ train: { epochs: 3, batchSize: 64 } }));
  const fromFile = loadConfig({ config: file }).config;
  assert.equal(fromFile.train.epochs, 3);
  assert.equal(fromFile.train.batchSize, 64);
  assert.equal(fromFile.train.learningRate, d.train.learningRate);
  const withSet = loadConfig({ config: file, set: ['train.epochs=7', 'model.hidden=[32,16]', 'data.limit=null'] }).config;
  assert.equal(withSet.train.epochs, 7);
  assert.equal(withSet.train.batchSize, 64);
  assert.deepEqual(withSet.model.hidden, [32, 16]);
  assert.equal(withSet.data.limit, null);
});

test('shipped mnist.json is the reference model', () => {
  const { config, name } = loadConfig({ config: 'mnist.json' });
  assert.equal(name, 'mnist');
  assert.deepEqual(config.model.hidden, [400]);
  assert.equal(config.model.latentDim, 20);
  assert.equal(config.model.activation, 'relu');
  assert.equal(config.model.likelihood, 'bernoulli');
  assert.equal(config.train.batchSize, 128);
  assert.equal(config.train.learningRate, 1e-3);
});

test('a bare config name resolves against the shipped configs/, from any folder', () => {
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-cwd-'));
  assert.equal(resolveConfigPath('mnist.json', elsewhere), path.join(PACKAGE_CONFIGS, 'mnist.json'));
  assert.equal(resolveConfigPath('mnist', elsewhere), path.join(PACKAGE_CONFIGS, 'mnist.json'));
  assert.match(message(() => resolveConfigPath('mnsit.json', elsewhere)), /not found.*did you mean 'mnist.json'/);
  assert.match(message(() => resolveConfigPath('./nope/x.json', elsewhere)), /not found/);
});

test('--set parsing', () => {
  assert.deepEqual(parseSet('train.epochs=5'), { path: ['train', 'epochs'], value: 5 });
  assert.deepEqual(parseSet('model.hidden=[1,2]'), { path: ['model', 'hidden'], value: [1, 2] });
  assert.deepEqual(parseSet('data.dataset=mnist'), { path: ['data', 'dataset'], value: 'mnist' });
  assert.deepEqual(parseSet('a.b=x=y'), { path: ['a', 'b'], value: 'x=y' });
  assert.match(message(() => parseSet('train.epochs')), /--set expects section.key=value, got 'train.epochs'/);
  assert.match(message(() => parseSet('=3')), /--set expects/);
  assert.match(message(() => applySets({}, ['train..epochs=3'])), /not of the form/);
});

test('unknown keys are errors with a suggestion', () => {
  assert.match(message(() => loadConfig({ set: ['model.hiden=[3]'] })), /unknown key 'model.hiden'.*did you mean 'model.hidden'/);
  assert.match(message(() => loadConfig({ set: ['trian.epochs=3'] })), /unknown key 'trian'.*did you mean 'train'/);
  const file = tmpConfig('{"train": {"epoch": 3}}');
  assert.match(message(() => loadConfig({ config: file })), /c\.json: unknown key 'train.epoch'.*did you mean 'train.epochs'/);
});

test('wrong types and out-of-range values name the key and the expected type', () => {
  const cases: [string, RegExp][] = [
    ['train.epochs=-1', /'train.epochs'.*must be an integer from 1 to .*got -1/],
    ['train.epochs="3"', /'train.epochs'.*must be an integer.*got "3"/],
    ['train.batchSize=0', /'train.batchSize'.*must be an integer from 1.*got 0/],
    ['model.latentDim=0', /'model.latentDim'.*got 0/],
    ['model.latentDim=2.5', /'model.latentDim'.*integer.*got 2.5/],
    ['train.learningRate=0', /'train.learningRate'.*must be a number > 0.*got 0/],
    ['train.learningRate=-1e-3', /'train.learningRate'.*got -0.001/],
    ['model.hidden=400', /'model.hidden'.*array.*got 400/],
    ['model.hidden=[0]', /'model.hidden.0'.*got 0/],
    ['train.beta=-1', /'train.beta'.*must be a number from 0 to 1000; got -1/],
    ['model.sigma=0', /'model.sigma'.*'learned-per-pixel'.*got 0/],
    ['model.sigma=wide', /'model.sigma'.*got "wide"/],
    ['train.lrSchedule=linear', /'train.lrSchedule'.*one of constant, step, exponential, cosine, burda.*got "linear"/],
    ['train.iwSamples=0', /'train.iwSamples'.*integer from 1 to 5000.*got 0/],
    ['data.channels=2', /'data.channels' \(for folder: the channels to read.*\) must be a number, 1 or 3; got 2/],
    ['model.likelihood=poisson', /'model.likelihood'.*one of bernoulli.*got "poisson"/],
    ['data.limit=abc', /'data.limit'.*null.*got "abc"/],
    ['train=3', /'train' must be an object/],
  ];
  for (const [set, re] of cases) assert.match(message(() => loadConfig({ set: [set] })), re, set);
});

test('invalid JSON is reported with line and column', () => {
  const file = tmpConfig('{\n  "train": {\n    "epochs": 3,\n  }\n}\n');
  assert.match(message(() => loadConfig({ config: file })), /c\.json:4:\d+: invalid JSON/);
  const trunc = tmpConfig('{\n  "train": {');
  assert.match(message(() => loadConfig({ config: trunc })), /c\.json:2:\d+: invalid JSON/);
  assert.match(message(() => loadConfig({ config: tmpConfig('[1, 2]') })), /must be a JSON object/);
});

test('docs/config.md documents every key with its default', async () => {
  const fs = await import('node:fs');
  const { allKeys, defaultConfig } = await import('../../src/config/schema.js');
  const doc = fs.readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  const d = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  for (const key of allKeys()) {
    const [s, k] = key.split('.');
    const shown = JSON.stringify(d[s][k]).replace(/,/g, ', ');
    assert.ok(doc.includes(`| \`${key}\` | \`${shown}\` |`), `docs/config.md lacks a row for ${key} with default ${shown}`);
  }
});

test('every shipped config is valid and says what it is for', async () => {
  const fs = await import('node:fs');
  const { loadConfig, PACKAGE_CONFIGS } = await import('../../src/config/load.js');
  const doc = fs.readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  for (const f of fs.readdirSync(PACKAGE_CONFIGS).filter((n: string) => n.endsWith('.json'))) {
    const { config } = loadConfig({ config: f });
    assert.ok(config.description && config.description.length > 20, `${f} has a description`);
    assert.ok(doc.includes(`\`${f}\``), `docs/config.md lists ${f}`);
  }
});
