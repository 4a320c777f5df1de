/**
 * Every picture-making command through the real binary, on a small trained run.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { spawnSync } from 'node:child_process';
import { BIN, runVae } from '../support/bin.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-pictures-'));
const J = 4;

const vae = (args: string[], input?: string | Buffer) => runVae(args, { cwd: work, input });

async function png(buf: Buffer | string) {
  const img = sharp(buf);
  const meta = await img.metadata();
  assert.equal(meta.format, 'png');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return { width: meta.width!, height: meta.height!, data, channels: info.channels };
}

/** Grid size in pixels for c columns and r rows of 28x28 tiles. */
const side = (tiles: number, pad = 2, scale = 1) => (tiles * 28 + (tiles + 1) * pad) * scale;

/** The 28x28 tile at (row, col) of a grid with 2 px padding, as bytes. */
function tile(img: { width: number; data: Buffer; channels: number }, row: number, col: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) out.push(img.data[((2 + row * 30 + y) * img.width + 2 + col * 30 + x) * img.channels]);
  return out;
}

before(() => {
  const r = vae(['train', '--config', 'mnist.json', '--quiet', '--set', 'data.limit=1024', '--set', 'data.validation=300', '--set', `model.latentDim=${J}`, '--set', 'model.hidden=[128]', '--set', 'train.epochs=2', '--out', 'run']);
  assert.equal(r.code, 0, r.stderr);
});

test('training writes curves.png with the per-epoch curves', async () => {
  const c = await png(path.join(work, 'run', 'curves.png'));
  assert.equal(c.width, 960);
  assert.equal(c.height, 300);
});

test('sample: --cols, --scale and --padding set the grid size; --temperature 0 gives n copies of the mean image', async () => {
  const r = vae(['sample', '--run', 'run', '--n', '10', '--cols', '5', '--scale', '3', '--padding', '1']);
  assert.equal(r.code, 0, r.stderr);
  const g = await png(r.stdout);
  assert.equal(g.width, side(5, 1, 3));
  assert.equal(g.height, side(2, 1, 3));
  const t0 = await png(vae(['sample', '--run', 'run', '--n', '4', '--cols', '4', '--temperature', '0']).stdout);
  for (let c = 1; c < 4; c++) assert.deepEqual(tile(t0, 0, c), tile(t0, 0, 0));
});

test('sample --sample draws binary images from the Bernoulli decoder; --mean gives greys', async () => {
  const s = await png(vae(['sample', '--run', 'run', '--n', '4', '--cols', '4', '--sample']).stdout);
  const px = new Set([0, 1, 2, 3].flatMap((c) => tile(s, 0, c)));
  assert.deepEqual([...px].sort((a, b) => a - b), [0, 255]);
  const m = await png(vae(['sample', '--run', 'run', '--n', '4', '--cols', '4', '--mean']).stdout);
  assert.ok(new Set(tile(m, 0, 0)).size > 2);
});

test('interpolation: one row per pair and method, endpoints equal the reconstructions', async () => {
  const r = vae(['sample', '--run', 'run', '--interpolate', '--from', 'test:3', '--to', 'test:7', '--steps', '6', '--method', 'both']);
  assert.equal(r.code, 0, r.stderr);
  const g = await png(r.stdout);
  assert.equal(g.width, side(6));
  assert.equal(g.height, side(2));
  const rec = await png(vae(['reconstruct', '--run', 'run', '--split', 'test', '--limit', '8']).stdout);
  // reconstruct: inputs in row 0, reconstructions in row 1
  for (const row of [0, 1]) {
    assert.deepEqual(tile(g, row, 0), tile(rec, 1, 3), 'first column = reconstruction of test:3');
    assert.deepEqual(tile(g, row, 5), tile(rec, 1, 7), 'last column = reconstruction of test:7');
  }
  const random = await png(vae(['sample', '--run', 'run', '--interpolate', '--pairs', '3', '--method', 'slerp']).stdout);
  assert.equal(random.height, side(3));
  assert.equal(random.width, side(10));
});

test('traversal: one row per latent dimension, 11 columns; --dims picks rows; gif and webp animate', async () => {
  const all = await png(vae(['sample', '--run', 'run', '--traverse']).stdout);
  assert.equal(all.height, side(J));
  assert.equal(all.width, side(11));
  const some = await png(vae(['sample', '--run', 'run', '--traverse', '--dims', '0,2', '--steps', '5', '--from', 'val:4']).stdout);
  assert.equal(some.height, side(2));
  assert.equal(some.width, side(5));
  for (const format of ['gif', 'webp']) {
    const r = vae(['sample', '--run', 'run', '--traverse', '--format', format]);
    assert.equal(r.code, 0, r.stderr);
    const meta = await sharp(r.stdout).metadata();
    assert.equal(meta.format, format);
    assert.equal(meta.pages, 11);
  }
  const bad = vae(['sample', '--run', 'run', '--traverse', '--dims', `0,${J}`]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, new RegExp(`--dims: ${J} is not a latent dimension \\(0 to ${J - 1}\\)`));
});

test('encode | decode round trip through the real binary', async () => {
  const enc = vae(['encode', '--run', 'run', '--split', 'test', '--limit', '6', '--sample']);
  assert.equal(enc.code, 0, enc.stderr);
  const lines = enc.stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  assert.deepEqual(Object.keys(lines[0]), ['id', 'label', 'mu', 'logvar', 'z']);
  assert.equal(lines[0].id, 'test:0');
  assert.equal(lines[0].label, 7);
  assert.equal(lines[0].mu.length, J);
  const dec = vae(['decode', '--run', 'run', '--cols', '3'], enc.stdout);
  assert.equal(dec.code, 0, dec.stderr);
  const g = await png(dec.stdout);
  assert.equal(g.width, side(3));
  assert.equal(g.height, side(2));
  const each = vae(['decode', '--run', 'run', '--each', 'each', '--in', '-'], enc.stdout);
  assert.equal(each.code, 0, each.stderr);
  assert.equal(fs.readdirSync(path.join(work, 'each')).length, 6);
  assert.equal((await png(path.join(work, 'each', '0.png'))).width, 28);
});

test('a reader that stops early (| head) ends the command quietly', () => {
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} encode --run run --split test --limit 3000 | head -n 1`;
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { cwd: work, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.equal(JSON.parse(r.stdout).id, 'test:0');
  assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /);
});

test('encode --format csv, --plot, and image files of any size or colour', async () => {
  await sharp({ create: { width: 50, height: 40, channels: 3, background: '#000000' } })
    .composite([{ input: Buffer.from('<svg width="50" height="40"><circle cx="25" cy="20" r="12" stroke="white" stroke-width="5" fill="none"/></svg>') }])
    .png()
    .toFile(path.join(work, 'ring.png'));
  await sharp({ create: { width: 28, height: 28, channels: 3, background: '#ffffff' } }).jpeg().toFile(path.join(work, 'white.jpg'));
  const r = vae(['encode', '--run', 'run', 'ring.png', 'white.jpg', '--format', 'csv', '--plot', 'plot.png']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.toString().trim().split('\n');
  assert.equal(rows[0], ['id', 'label', ...[0, 1, 2, 3].map((j) => `mu${j}`), ...[0, 1, 2, 3].map((j) => `logvar${j}`)].join(','));
  assert.equal(rows.length, 3);
  assert.match(rows[1], /^ring\.png,,/);
  const plot = await png(path.join(work, 'plot.png'));
  assert.equal(plot.width, 560);
  const csvDecode = vae(['decode', '--run', 'run', '--out', 'fromcsv.png'], r.stdout);
  assert.equal(csvDecode.code, 0, csvDecode.stderr);
  assert.equal((await png(path.join(work, 'fromcsv.png'))).width, side(2));
});

test('reconstruct: inputs above reconstructions', async () => {
  const r = vae(['reconstruct', '--run', 'run', '--split', 'val', '--limit', '5', '--cols', '5', '--scale', '2']);
  assert.equal(r.code, 0, r.stderr);
  const g = await png(r.stdout);
  assert.equal(g.width, side(5, 2, 2));
  assert.equal(g.height, side(2, 2, 2));
});

const BAD: [string, string[], string | undefined, RegExp][] = [
  ['an image that is not an image', ['encode', '--run', 'run', 'notes.txt'], undefined, /'notes.txt' is not an image that can be read/],
  ['a missing image', ['encode', '--run', 'run', 'nope.png'], undefined, /image 'nope.png' does not exist/],
  ['decode with the wrong latent size', ['decode', '--run', 'run'], '[1,2,3]\n', new RegExp(`stdin:1: latent has 3 numbers, but this run's model expects J = ${J}`)],
  ['decode of malformed JSONL', ['decode', '--run', 'run'], `{"mu":[0,0,0,0]}\n{"mu":[0,0,0,0]}\n{"mu": [0,\n`, /stdin:3: not valid JSON/],
  ['decode of a malformed CSV row', ['decode', '--run', 'run'], 'id,mu0,mu1,mu2,mu3\na,0,0,0,0\nb,0,0,x,0\n', /stdin:3: 'x' is not a number/],
  ['encode with no inputs', ['encode', '--run', 'run'], undefined, /no inputs: give image files, or --split/],
  ['an out-of-range data set index', ['sample', '--run', 'run', '--interpolate', '--from', 'test:10000', '--to', '1'], undefined, /test:10000 is out of range: the test split has 10000 images/],
  ['--format gif without --traverse', ['sample', '--run', 'run', '--format', 'gif'], undefined, /--format gif is for animated traversals/],
];

for (const [name, args, input, re] of BAD) {
  test(`bad input: ${name} -> one clear line, exit 2`, () => {
    fs.writeFileSync(path.join(work, 'notes.txt'), 'not an image');
    const r = vae(args, input);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('vae:')).length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout.length, 0);
  });
}
