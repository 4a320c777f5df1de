import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { dataSchema, type DataConfig } from '../../src/config/schema.js';
import { loadConfig } from '../../src/config/load.js';
import { loadSplits, writeDataCache } from '../../src/data/load.js';
import { listFolder } from '../../src/data/folder.js';
import { cacheFile } from '../../src/data/cache.js';
import { FASHION_CLASSES } from '../../src/data/fashion-mnist.js';
import { VaeError } from '../../src/errors.js';

const made: string[] = [];
function tmp(prefix = 'vae-data-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function cfg(over: Record<string, unknown>): DataConfig {
  return dataSchema.parse({ validation: 0, ...over });
}

/** Write a PNG (or JPEG/WebP by extension) of w x h pixels, every pixel the same colour. */
async function solid(file: string, w: number, h: number, colour: number[]): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const c = colour.length;
  const px = Buffer.alloc(w * h * c);
  for (let i = 0; i < w * h; i++) for (let k = 0; k < c; k++) px[i * c + k] = colour[k];
  await sharp(px, { raw: { width: w, height: h, channels: c as 1 | 2 | 3 | 4 } }).toFile(file);
}

/** A labelled folder: per class, `per` images of w x h, with grey level 10 * (class + 1) + image. */
async function labelledFolder(classes: string[], per: number, w = 6, h = 6): Promise<string> {
  const root = tmp();
  for (const [k, name] of classes.entries()) {
    for (let i = 0; i < per; i++) await solid(path.join(root, name, `img${i}.png`), w, h, [10 * (k + 1) + i]);
  }
  return root;
}

function collect(): { warnings: string[]; onWarn: (m: string) => void } {
  const warnings: string[] = [];
  return { warnings, onWarn: (m) => warnings.push(m) };
}

const isVaeError = (re: RegExp, hint?: RegExp) => (e: unknown) => e instanceof VaeError && re.test(e.message) && (!hint || hint.test(e.hint ?? ''));

test('folder: resized to data.size x data.size (cover), greyscale or RGB by data.channels', async () => {
  const root = tmp();
  await solid(path.join(root, 'a.png'), 20, 12, [200, 100, 50]);
  await solid(path.join(root, 'b.jpg'), 9, 30, [200, 100, 50]);
  await solid(path.join(root, 'c.webp'), 16, 16, [200, 100, 50, 255]);
  const rgb = (await loadSplits(cfg({ dataset: 'folder', path: root, size: 8, channels: 3 }), ['train'])).train;
  assert.equal(rgb.n, 3);
  assert.deepEqual(rgb.shape, [8, 8, 3]);
  assert.equal(rgb.images.length, 3 * 8 * 8 * 3);
  assert.equal(rgb.labels, null);
  assert.equal(rgb.classes, undefined);
  // A lossless PNG keeps its colour exactly, whichever example it was shuffled to.
  const exact = [0, 1, 2].filter((i) => rgb.images[i * 192] === Math.fround(200 / 255) && rgb.images[i * 192 + 1] === Math.fround(100 / 255) && rgb.images[i * 192 + 2] === Math.fround(50 / 255));
  assert.ok(exact.length >= 2, 'the PNG and WebP pixels are (200, 100, 50) / 255');
  const grey = (await loadSplits(cfg({ dataset: 'folder', path: root, size: 5, channels: 1 }), ['train'])).train;
  assert.deepEqual(grey.shape, [5, 5, 1]);
  for (const v of grey.images) assert.ok(v > 0.2 && v < 0.7, `grey level ${v}`);
  // Transparent pixels are flattened onto black.
  const clear = tmp();
  await solid(path.join(clear, 't.png'), 4, 4, [255, 255, 255, 0]);
  const flat = (await loadSplits(cfg({ dataset: 'folder', path: clear, channels: 3 }), ['train'])).train;
  assert.ok(flat.images.every((v) => v === 0));
});

test('folder: labels from sorted sub-folder names; images in the root beside them are ignored with a warning', async () => {
  const root = await labelledFolder(['square', 'circle', 'triangle'], 4);
  await solid(path.join(root, 'stray.png'), 6, 6, [255]);
  fs.writeFileSync(path.join(root, 'README.txt'), 'not an image');
  fs.mkdirSync(path.join(root, 'empty')); // no images: not a class
  await solid(path.join(root, 'circle', 'nested', 'deep.png'), 6, 6, [255]); // still a circle
  const { warnings, onWarn } = collect();
  const s = await loadSplits(cfg({ dataset: 'folder', path: root, validation: 3 }), ['train', 'val'], { onWarn });
  assert.deepEqual(s.train.classes, ['circle', 'square', 'triangle']);
  assert.equal(s.train.n + s.val.n, 13);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /ignored 1 image lying directly in .*stray\.png.*sub-folders are the classes/);
  // Each example's grey level says its folder: 10 * (original index + 1) + i; 255 is the nested circle.
  const folderOf = (v: number) => (v === 255 ? 'circle' : ['square', 'circle', 'triangle'][Math.floor(v / 10) - 1]);
  const all = [...Array(13).keys()].map((i) => (i < s.train.n ? { set: s.train, j: i } : { set: s.val, j: i - s.train.n }));
  for (const { set, j } of all) {
    const v = Math.round(set.images[j * 36] * 255);
    assert.equal(set.classes![set.labels![j]], folderOf(v));
  }
  // The fixed shuffle mixes the classes, so the validation split (from the end) is not one class.
  assert.ok(new Set(s.val.labels).size > 1);
  const again = await loadSplits(cfg({ dataset: 'folder', path: root, validation: 3 }), ['train', 'val'], { onWarn: () => {} });
  assert.deepEqual(again.val.labels, s.val.labels);
});

test('folder: no sub-folders gives unlabelled data', async () => {
  const root = tmp();
  for (let i = 0; i < 3; i++) await solid(path.join(root, `${i}.png`), 4, 4, [i * 50]);
  const s = await loadSplits(cfg({ dataset: 'folder', path: root }), ['train']);
  assert.equal(s.train.labels, null);
  assert.equal(s.train.classes, undefined);
  assert.deepEqual(s.train.shape, [4, 4, 1]);
  assert.deepEqual([...s.train.images.filter((_, k) => k % 16 === 0)].map((v) => Math.round(v * 255)).sort((a, b) => a - b), [0, 50, 100]);
});

test('folder: unreadable files are skipped and counted in one warning line', async () => {
  const root = await labelledFolder(['a', 'b'], 3);
  fs.writeFileSync(path.join(root, 'b', 'bad.png'), Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 255)));
  fs.writeFileSync(path.join(root, 'a', 'also-bad.jpg'), 'not a jpeg');
  const { warnings, onWarn } = collect();
  const s = await loadSplits(cfg({ dataset: 'folder', path: root }), ['train'], { onWarn });
  assert.equal(s.train.n, 6);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^skipped 2 of 8 files in .* that are not readable images \(first: a[/\\]also-bad\.jpg: .+\)$/);
});

test('folder: an empty folder, a missing one, a file, or nothing readable are clear errors', async () => {
  const empty = tmp();
  fs.writeFileSync(path.join(empty, 'notes.txt'), 'x');
  await assert.rejects(loadSplits(cfg({ dataset: 'folder', path: empty }), ['train']), isVaeError(/no images found in .*looked for \.png, \.jpg, \.jpeg, \.webp files.*found 1 other file/));
  await assert.rejects(loadSplits(cfg({ dataset: 'folder', path: path.join(empty, 'nope') }), ['train']), isVaeError(/data\.path: folder .* not found/, /relative to the config file/));
  await assert.rejects(loadSplits(cfg({ dataset: 'folder', path: path.join(empty, 'notes.txt') }), ['train']), isVaeError(/is a file, not a folder/));
  const junk = tmp();
  fs.writeFileSync(path.join(junk, 'x.png'), 'junk');
  await assert.rejects(loadSplits(cfg({ dataset: 'folder', path: junk }), ['train']), isVaeError(/none of the 1 image files .* could be read \(first: x\.png: /));
});

test('folder: mixed sizes without data.size name two files; data.size resizes them', async () => {
  const root = tmp();
  await solid(path.join(root, 'big.png'), 10, 8, [1]);
  await solid(path.join(root, 'small.png'), 4, 4, [2]);
  await assert.rejects(
    loadSplits(cfg({ dataset: 'folder', path: root }), ['train']),
    isVaeError(/different sizes: big\.png is 10x8 but small\.png is 4x4/, /set data\.size.*data\.size=4/),
  );
  const s = await loadSplits(cfg({ dataset: 'folder', path: root, size: 6 }), ['train']);
  assert.deepEqual(s.train.shape, [6, 6, 1]);
});

test('folder: more than 256 classes is an error', async () => {
  const root = tmp();
  const png = await sharp(Buffer.alloc(4), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer();
  for (let k = 0; k < 257; k++) {
    fs.mkdirSync(path.join(root, `c${k}`));
    fs.writeFileSync(path.join(root, `c${k}`, 'x.png'), png);
  }
  assert.throws(() => listFolder(root, 'data.path'), isVaeError(/257 class sub-folders, more than the 256/));
});

test('folder cache: written, reused without decoding, rebuilt when stale or damaged', async () => {
  const root = await labelledFolder(['a', 'b'], 3);
  const cacheDir = path.join(tmp(), 'run');
  const c = cfg({ dataset: 'folder', path: root, size: 4, validation: 2 });
  const first = await loadSplits(c, ['train', 'val'], { cacheDir });
  assert.equal(first.fromCache, false);
  assert.equal(first.decoded, 6);
  const file = cacheFile(cacheDir, 'train');
  assert.ok(fs.existsSync(file));

  const second = await loadSplits(c, ['train', 'val'], { cacheDir });
  assert.equal(second.fromCache, true);
  assert.equal(second.decoded, 0);
  assert.deepEqual(second.train.images, first.train.images);
  assert.deepEqual(second.val.labels, first.val.labels);
  assert.deepEqual(second.train.classes, ['a', 'b']);

  // A file changes (new content, new size): the key changes, the cache is rebuilt.
  await solid(path.join(root, 'b', 'img0.png'), 7, 7, [250]);
  const third = await loadSplits(c, ['train', 'val'], { cacheDir });
  assert.equal(third.fromCache, false);
  assert.equal(third.decoded, 6);
  assert.ok([...third.train.images, ...third.val.images].some((v) => v === Math.fround(250 / 255)));
  assert.equal((await loadSplits(c, ['train'], { cacheDir })).fromCache, true);

  // Another data.size is another key.
  assert.equal((await loadSplits({ ...c, size: 5 }, ['train'], { cacheDir })).fromCache, false);

  // A damaged cache (one flipped pixel byte) is never trusted: ignored with a warning, rewritten.
  const buf = fs.readFileSync(file);
  buf[buf.length - 10] ^= 0xff;
  fs.writeFileSync(file, buf);
  const { warnings, onWarn } = collect();
  const fourth = await loadSplits({ ...c, size: 5 }, ['train'], { cacheDir, onWarn });
  assert.equal(fourth.fromCache, false);
  assert.match(warnings.join('\n'), /ignoring the damaged data cache .*checksum mismatch/);
  fs.writeFileSync(file, buf.subarray(0, 20)); // truncated
  assert.equal((await loadSplits({ ...c, size: 5 }, ['train'], { cacheDir, onWarn })).fromCache, false);
  assert.equal((await loadSplits({ ...c, size: 5 }, ['train'], { cacheDir, onWarn })).fromCache, true);
});

test('folder cache: writeDataCache stores already decoded splits (with their warnings) for later loads', async () => {
  const root = await labelledFolder(['x', 'y'], 2);
  fs.writeFileSync(path.join(root, 'y', 'broken.png'), 'nope');
  const c = cfg({ dataset: 'folder', path: root, validation: 1 });
  const quiet = collect();
  const loaded = await loadSplits(c, ['train', 'val'], { onWarn: quiet.onWarn });
  const dir = path.join(tmp(), 'later-run');
  const files = writeDataCache(loaded, dir);
  assert.deepEqual(files, [cacheFile(dir, 'train')]);
  const { warnings, onWarn } = collect();
  const again = await loadSplits(c, ['train', 'val'], { cacheDir: dir, onWarn });
  assert.equal(again.fromCache, true);
  assert.deepEqual(again.val.images, loaded.val.images);
  assert.deepEqual(warnings, quiet.warnings, 'the skipped-files warning is repeated from the cache');
  // Other data sets have nothing to cache.
  assert.deepEqual(writeDataCache({ cacheable: [] }, dir), []);
});

test('folder: data.testPath is the test split, labelled by the training folder\'s class names', async () => {
  const trainRoot = await labelledFolder(['cat', 'dog', 'eel'], 2);
  const testRoot = tmp();
  await solid(path.join(testRoot, 'eel', 'e.png'), 6, 6, [1]);
  await solid(path.join(testRoot, 'dog', 'd.png'), 6, 6, [2]);
  const cacheDir = tmp();
  const c = cfg({ dataset: 'folder', path: trainRoot, testPath: testRoot });
  const s = await loadSplits(c, ['test'], { cacheDir });
  assert.equal(s.test.n, 2);
  assert.deepEqual(s.test.classes, ['cat', 'dog', 'eel']);
  const byValue = new Map([...Array(2).keys()].map((i) => [Math.round(s.test.images[i * 36] * 255), s.test.classes![s.test.labels![i]]]));
  assert.deepEqual(Object.fromEntries(byValue), { 1: 'eel', 2: 'dog' });
  assert.ok(fs.existsSync(cacheFile(cacheDir, 'test')));
  assert.equal((await loadSplits(c, ['test'], { cacheDir })).fromCache, true);

  await solid(path.join(testRoot, 'fox', 'f.png'), 6, 6, [3]);
  await assert.rejects(loadSplits(c, ['test']), isVaeError(/sub-folder 'fox' .* is not a class of the training folder \(cat, dog, eel\)/));
  fs.rmSync(path.join(testRoot, 'fox'), { recursive: true });
  await solid(path.join(testRoot, 'dog', 'big.png'), 9, 9, [3]);
  await assert.rejects(loadSplits(c, ['test']), isVaeError(/different sizes/));
  fs.rmSync(path.join(testRoot, 'dog'), { recursive: true });
  await solid(path.join(testRoot, 'eel', 'e.png'), 8, 8, [1]);
  await assert.rejects(loadSplits(c, ['train', 'test']), isVaeError(/test images are 8x8x1 but the training images are 6x6x1/, /data\.size/));
  assert.deepEqual((await loadSplits({ ...c, size: 5 }, ['train', 'test'])).test.shape, [5, 5, 1]);
});

test('idx and folder without data.testPath have no test split', async () => {
  const root = await labelledFolder(['a'], 2);
  await assert.rejects(loadSplits(cfg({ dataset: 'folder', path: root }), ['test']), isVaeError(/this run's data set .* has no test split/, /set data\.testPath, or use --split val/));
  await assert.rejects(loadSplits(cfg({ dataset: 'idx', path: path.join(root, 'x') }), ['train', 'test']), isVaeError(/has no test split/, /data\.testPath.*--split val/));
});

function idx(dims: number[], data: Uint8Array | number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

test('idx: 3-dim greyscale and 4-dim RGB files round-trip, with labels and a test pair', async () => {
  const dir = tmp();
  const grey = Uint8Array.from({ length: 5 * 2 * 3 }, (_, i) => i * 8);
  fs.writeFileSync(path.join(dir, 'train-images'), idx([5, 2, 3], grey));
  fs.writeFileSync(path.join(dir, 'train-labels'), idx([5], [0, 1, 2, 3, 4]));
  const rgb = Uint8Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => 255 - i);
  fs.writeFileSync(path.join(dir, 'test-images'), idx([2, 2, 2, 3], rgb));
  const c = cfg({ dataset: 'idx', path: path.join(dir, 'train-images'), labels: path.join(dir, 'train-labels'), testPath: path.join(dir, 'test-images'), validation: 2 });
  const s = await loadSplits({ ...c, testPath: path.join(dir, 'train-images') }, ['train', 'val', 'test']);
  assert.deepEqual(s.train.shape, [2, 3, 1]);
  assert.equal(s.train.n, 3);
  assert.equal(s.val.n, 2);
  assert.deepEqual([...s.val.labels!], [3, 4]);
  assert.equal(s.train.images[7], Math.fround(56 / 255));
  assert.equal(s.test.labels, null);
  const t = (await loadSplits(c, ['test'])).test;
  assert.deepEqual(t.shape, [2, 2, 3]);
  assert.equal(t.n, 2);
  assert.equal(t.images[2], Math.fround(253 / 255)); // first pixel's blue, channels last
  await assert.rejects(loadSplits(c, ['train', 'test']), isVaeError(/test images are 2x2x3 but the training images are 2x3x1/));
});

test('idx: a missing file, a non-IDX file, a label count mismatch and 4 channels are clear errors', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'images'), idx([3, 2, 2], new Uint8Array(12)));
  fs.writeFileSync(path.join(dir, 'labels'), idx([2], [1, 2]));
  await solid(path.join(dir, 'picture.png'), 2, 2, [9]);
  fs.writeFileSync(path.join(dir, 'rgba'), idx([1, 2, 2, 4], new Uint8Array(16)));
  const load = (over: Record<string, unknown>) => loadSplits(cfg({ dataset: 'idx', path: path.join(dir, 'images'), ...over }), ['train']);
  await assert.rejects(load({ path: path.join(dir, 'nope') }), isVaeError(/IDX file '.*nope' not found/, /relative to the config file/));
  await assert.rejects(load({ path: path.join(dir, 'picture.png') }), isVaeError(/picture\.png: not an IDX file \(bad magic number/, /data\.dataset 'folder'/));
  await assert.rejects(load({ labels: path.join(dir, 'labels') }), isVaeError(/has 2 labels but images has 3 images/));
  await assert.rejects(load({ path: path.join(dir, 'labels') }), isVaeError(/expected an IDX image file with 3 dimensions .* got 1/, /label file/));
  await assert.rejects(load({ path: path.join(dir, 'rgba') }), isVaeError(/4 channels; only 1 \(greyscale\) or 3 \(RGB\)/));
});

test('fashion-mnist: 60,000 train / 10,000 test of 28x28 in [0, 1], classes interleaved and named', async () => {
  const s = await loadSplits(cfg({ dataset: 'fashion-mnist', validation: 5000 }));
  assert.equal(s.train.n + s.val.n, 60_000);
  assert.equal(s.val.n, 5000);
  assert.equal(s.test.n, 10_000);
  assert.deepEqual(s.test.shape, [28, 28, 1]);
  assert.deepEqual(s.train.classes, FASHION_CLASSES);
  assert.equal(FASHION_CLASSES[9], 'Ankle boot');
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of s.test.images) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.equal(lo, 0);
  assert.equal(hi, 1);
  // Every class equally often in the validation split and in the test split.
  for (const set of [s.val, s.test]) {
    const counts = new Array(10).fill(0);
    for (const l of set.labels!) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(set.n / 10));
  }
});

test('configs/folder-example.json loads the shipped shapes folder', async () => {
  const { config } = loadConfig({ config: path.join(import.meta.dirname, '..', '..', 'configs', 'folder-example.json') });
  const s = await loadSplits(config.data, ['train', 'val']);
  assert.equal(s.train.n, 54);
  assert.equal(s.val.n, 6);
  assert.deepEqual(s.train.shape, [16, 16, 1]);
  assert.deepEqual(s.train.classes, ['circle', 'square', 'triangle']);
  assert.equal(s.train.labels!.length, 54);
});
