/**
 * The live progress line fits the terminal: at 80 columns and less the least important fields
 * go first, the most important is cut only as a last resort; on a pseudo-terminal (util-linux
 * `script`) `vae train`'s live line never runs past the edge, at 80 and 40 columns and after a
 * resize to 30.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fitLine, type Field } from '../../src/ui/line.js';
import { BIN } from '../support/bin.js';

// vae train's line, ranked as src/train/train-vae.ts ranks it
const TRAIN: Field[] = [
  { text: 'epoch 3/10', rank: 0 },
  { text: 'step 215/430', rank: 1 },
  { text: 'loss 104.87', rank: 2 },
  { text: '(recon -80.12, KL 24.75)', rank: 6 },
  { text: '5523 ex/s', rank: 5 },
  { text: 'ETA epoch 5.2s', rank: 3 },
  { text: 'all 1m18s', rank: 4, join: ', ' },
];

test('the line builder at 80, 60, 40 and 20 columns: fields dropped least important first, in their order', () => {
  const full = 'epoch 3/10  step 215/430  loss 104.87  (recon -80.12, KL 24.75)  5523 ex/s  ETA epoch 5.2s, all 1m18s';
  assert.equal(fitLine(TRAIN, Infinity), full);
  assert.equal(fitLine(TRAIN, full.length), full);
  const at: Record<number, string> = {
    80: 'epoch 3/10  step 215/430  loss 104.87  5523 ex/s  ETA epoch 5.2s, all 1m18s',
    60: 'epoch 3/10  step 215/430  loss 104.87  ETA epoch 5.2s',
    40: 'epoch 3/10  step 215/430  loss 104.87',
    20: 'epoch 3/10',
  };
  for (const [width, line] of Object.entries(at)) {
    const got = fitLine(TRAIN, Number(width));
    assert.equal(got, line, `at ${width}`);
    assert.ok(got.length <= Number(width));
  }
  // every width from 0 to the full line: never wider, and never an empty line while a field fits
  for (let w = 0; w <= full.length + 2; w++) {
    const got = fitLine(TRAIN, w);
    assert.ok(got.length <= w, `${w}: ${got}`);
    if (w >= 'epoch 3/10'.length) assert.match(got, /^epoch 3\/10/);
  }
});

test('the line builder cuts the most important field only when it alone is too wide', () => {
  assert.equal(fitLine(TRAIN, 7), 'epoch …');
  assert.equal(fitLine([{ text: 'loading data', rank: 0 }], 8), 'loading…');
  assert.equal(fitLine([{ text: 'loading data', rank: 0 }], 1), 'l');
  assert.equal(fitLine([{ text: 'x', rank: 0 }], 0), '');
  // ties: the later of two equal ranks goes first
  assert.equal(fitLine([{ text: 'aaaa', rank: 1 }, { text: 'bbbb', rank: 1 }, { text: 'cc', rank: 0 }], 10), 'aaaa  cc');
});

const hasScript = spawnSync('script', ['--version']).status === 0;

/** The environment of a person at a terminal: ora draws a spinner only where CI is unset, so a CI runner's CI=true is dropped. */
function terminalEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', COLUMNS: '' };
  delete env.CI;
  return env;
}

/** The live line's renderings in a terminal transcript: each spinner frame (a braille character) up to the next line break or carriage return. */
function liveLines(transcript: string): string[] {
  // colours are dropped; any other escape sequence (clear the line, move the cursor) ends what was drawn before it
  return transcript
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|[\r\n]/)
    .flatMap((seg) => seg.split(/(?=[\u2800-\u28ff] )/))
    .filter((seg) => /^[\u2800-\u28ff] /.test(seg));
}

test('vae train on a pseudo-terminal: the live line fits at 80 and 40 columns, and follows a resize to 30', { skip: hasScript ? false : 'util-linux `script` is not installed (it provides the pseudo-terminal)', timeout: 120_000 }, async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-width-'));
  const args = ['train', '--backend', 'cpu', '--set', 'data.limit=1600', '--set', 'data.validation=100', '--set', 'model.hidden=[64]', '--set', 'model.latentDim=4', '--set', 'train.batchSize=8', '--set', 'train.epochs=2', '--set', 'train.logEvery=1'];
  const quoted = (a: string[]) => a.map((x) => `'${x.replace(/'/g, "'\\''")}'`).join(' ');
  const run = (cols: number, resizeTo: number | null, out: string) =>
    new Promise<string>((resolve) => {
      const log = path.join(work, `${out}.log`);
      // A background stty changes the terminal's size part-way: the kernel tells vae with SIGWINCH.
      const resize = resizeTo ? `(sleep 4; stty cols ${resizeTo} < /dev/tty) & ` : '';
      const child = spawn('script', ['-qfec', `stty cols ${cols} rows 40; ${resize}exec ${quoted([process.execPath, BIN, ...args, '--out', out])}`, log], {
        cwd: work,
        stdio: ['pipe', 'ignore', 'ignore'],
        env: terminalEnv(),
      });
      child.on('exit', () => resolve(fs.readFileSync(log, 'utf8')));
    });
  for (const [cols, resizeTo] of [
    [80, null],
    [40, 30],
  ] as const) {
    const transcript = await run(cols, resizeTo, `run${cols}`);
    const lines = liveLines(transcript);
    const progress = lines.filter((l) => /epoch \d\/2/.test(l));
    assert.ok(progress.length > 5, `live progress lines at ${cols} columns:\n${transcript.slice(-2000)}`);
    const last = resizeTo ?? cols;
    for (const l of lines) assert.ok(l.length <= cols, `${l.length} > ${cols}: '${l}'`);
    const widest = Math.max(...progress.map((l) => l.length));
    process.stderr.write(`# ${cols} columns${resizeTo ? `, then ${resizeTo}` : ''}: ${progress.length} progress lines, the widest ${widest}; the last: '${progress[progress.length - 1]}'\n`);
    if (resizeTo) {
      assert.ok(progress.slice(-3).every((l) => l.length <= last), `after the resize to ${last}: ${progress.slice(-3).join(' | ')}`);
      assert.ok(progress.some((l) => l.length > last), 'wider lines before the resize');
    }
    assert.match(progress[0], /^. epoch 1\/2  step \d+\/\d+/);
  }
});

test('a live line that does not change is laid out again when the terminal is resized', { skip: hasScript ? false : 'util-linux `script` is not installed (it provides the pseudo-terminal)', timeout: 60_000 }, async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-resize-'));
  const log = path.join(work, 'pty.log');
  const logModule = new URL('../../dist/ui/log.js', import.meta.url).href;
  // One status, shown for 3 s without an update (as during a long validation); the terminal narrows from 60 to 30 after 1 s.
  const script = `const { Log } = await import('${logModule}'); const log = new Log(); log.status(${JSON.stringify(TRAIN)}); setTimeout(() => log.stopStatus(), 3000);`;
  const command = `stty cols 60 rows 20; (sleep 1; stty cols 30 < /dev/tty) & exec '${process.execPath}' --input-type=module -e "${script.replace(/"/g, '\\"')}"`;
  await new Promise((resolve) => spawn('script', ['-qfec', command, log], { cwd: work, stdio: ['pipe', 'ignore', 'ignore'], env: terminalEnv() }).on('exit', resolve));
  const lines = liveLines(fs.readFileSync(log, 'utf8'));
  assert.ok(lines.length > 3, fs.readFileSync(log, 'utf8'));
  assert.equal(lines[0], '⠋ epoch 3/10  step 215/430  loss 104.87  ETA epoch 5.2s');
  assert.equal(lines[lines.length - 1].slice(2), 'epoch 3/10  step 215/430');
});
