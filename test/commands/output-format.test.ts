/**
 * Output files are what their names say, through the real binary on the small fixture run:
 * the --out extension decides the format, a name a command cannot write or one that
 * contradicts --format is refused naming what it can write, and stdout stays PNG (GIF for an
 * animation asked for by --format).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { runVae } from '../support/bin.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/run-v1', import.meta.url));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-formats-'));
const vae = (args: string[], input?: string) => runVae([...args, '--run', FIXTURE, '--backend', 'cpu', '--quiet'], { cwd: work, input });
const formatOf = async (file: string) => (await sharp(path.join(work, file), { animated: true }).metadata());

test('the --out extension decides the picture format', async () => {
  const cases: [string[], string, string][] = [
    [['sample', '--n', '4', '--out', 'grid.jpg'], 'grid.jpg', 'jpeg'],
    [['sample', '--n', '4', '--out', 'grid.JPEG'], 'grid.JPEG', 'jpeg'],
    [['sample', '--n', '4', '--out', 'grid.webp'], 'grid.webp', 'webp'],
    [['sample', '--n', '4', '--out', 'grid.png'], 'grid.png', 'png'],
    [['sample', '--traverse', '--dims', '0,1', '--out', 'walk.gif'], 'walk.gif', 'gif'],
    [['sample', '--traverse', '--dims', '0,1', '--out', 'walk.jpg'], 'walk.jpg', 'jpeg'],
    [['reconstruct', '--split', 'test', '--limit', '4', '--out', 'recon.webp'], 'recon.webp', 'webp'],
    [['encode', '--split', 'test', '--limit', '20', '--plot', 'plot.jpg', '--out', 'latents.jsonl'], 'plot.jpg', 'jpeg'],
  ];
  for (const [args, file, format] of cases) {
    const r = vae(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    const meta = await formatOf(file);
    assert.equal(meta.format, format, args.join(' '));
    if (file === 'walk.gif') assert.equal(meta.pages, 11, 'an animation of the 11 sweep values');
  }
  const d = vae(['decode', '--out', 'decoded.webp'], '[0,0,0,0,0,0,0,0]\n');
  assert.equal(d.code, 0, d.stderr);
  assert.equal((await formatOf('decoded.webp')).format, 'webp');
  const csv = vae(['encode', '--split', 'test', '--limit', '2', '--out', 'latents.csv']);
  assert.equal(csv.code, 0, csv.stderr);
  assert.match(fs.readFileSync(path.join(work, 'latents.csv'), 'utf8'), /^id,label,mu0,/);
});

test('stdout stays PNG, or GIF for an animation', async () => {
  const png = vae(['sample', '--n', '4']);
  assert.equal(png.code, 0, png.stderr);
  assert.equal((await sharp(png.stdout).metadata()).format, 'png');
  const gif = vae(['sample', '--traverse', '--dims', '0', '--format', 'gif']);
  assert.equal(gif.code, 0, gif.stderr);
  assert.equal((await sharp(gif.stdout).metadata()).format, 'gif');
});

test('a name a command cannot write, or one that contradicts --format, is refused and nothing is written', () => {
  const cases: [string[], RegExp][] = [
    [['sample', '--out', 'grid.bmp'], /^vae: cannot write grid\.bmp: vae sample writes \.png, \.jpg\/\.jpeg or \.webp \(name the file with one of those; a \.gif or \.webp animates a --traverse\)\n$/],
    [['sample', '--out', 'grid.gif'], /^vae: cannot write grid\.gif: vae sample writes \.png, \.jpg\/\.jpeg or \.webp/],
    [['sample', '--traverse', '--format', 'gif', '--out', 'walk.png'], /^vae: --out walk\.png is a \.png name, but --format is gif \(name the file walk\.gif, or leave out --format\)\n$/],
    [['reconstruct', '--split', 'test', '--out', 'recon.gif'], /^vae: cannot write recon\.gif: vae reconstruct writes \.png, \.jpg\/\.jpeg or \.webp/],
    [['decode', '--out', 'grid.tiff'], /^vae: cannot write grid\.tiff: vae decode writes/],
    [['encode', '--split', 'test', '--plot', 'plot.svg'], /^vae: cannot write plot\.svg: --plot writes \.png, \.jpg\/\.jpeg or \.webp/],
    [['encode', '--split', 'test', '--format', 'jsonl', '--out', 'other.csv'], /^vae: --out other\.csv is a \.csv name, but --format is jsonl \(name the file other\.jsonl, or leave out --format\)/],
  ];
  for (const [args, message] of cases) {
    const r = vae(args, '[0,0,0,0,0,0,0,0]\n');
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout.length, 0);
    const out = args[args.indexOf(args.includes('--plot') ? '--plot' : '--out') + 1];
    assert.ok(!fs.existsSync(path.join(work, out)), `${out} must not be written`);
  }
});
