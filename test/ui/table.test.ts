/**
 * Tables fit the terminal: at 80 columns no line is longer (headers wrap, text columns narrow),
 * and they are plain aligned text without box characters; through the real binary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVae } from '../support/bin.js';
import { renderTable, streamingTable } from '../../src/ui/table.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/run-v1', import.meta.url));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-tables-'));
const BOX = /[│┌┐└┘─┬┴┼├┤]/;

function assertFits(text: string, width: number, what: string): void {
  for (const line of text.split('\n')) assert.ok(line.length <= width, `${what}: a line of ${line.length} columns: '${line}'`);
  assert.doesNotMatch(text, BOX, `${what}: plain text, no box drawing`);
}

test('renderTable narrows text columns and wraps headers to the width; numbers stay whole and right-aligned', () => {
  process.env.COLUMNS = '40';
  try {
    const text = renderTable(['name', 'a long header', 'why'], [['cpu', '-103.25', 'a fairly long explanation that has to wrap inside its cell'], ['wasm', '7', 'short']]);
    assertFits(text, 40, 'renderTable');
    assert.match(text, /-103\.25/);
    assert.match(text, /^wasm +7 +short$/m);
    const t = streamingTable(['epoch', 'train ELBO', 'val recon'], [5, 8, 8]);
    assertFits(`${t.header()}\n${t.row([1, '-103.25', '-99.10'])}`, 40, 'streamingTable');
  } finally {
    delete process.env.COLUMNS;
  }
});

test('vae backends, vae eval and the training table fit 80 columns', () => {
  const env = { COLUMNS: '80' };
  const b = runVae(['backends'], { cwd: work, env });
  assert.equal(b.code, 0, b.stderr);
  assertFits(b.stderr, 80, 'vae backends');
  assert.match(b.stderr, /^cpu +yes +CPU/m);
  fs.cpSync(FIXTURE, path.join(work, 'fx'), { recursive: true });
  const e = runVae(['eval', '--run', 'fx', '--samples', '5', '--limit', '50', '--per-dim', '--backend', 'cpu'], { cwd: work, env });
  assert.equal(e.code, 0, e.stderr);
  assertFits(e.stderr, 80, 'vae eval');
  // beta != 1 adds the weighted KL column: the widest usual training table.
  const tr = runVae(['train', '--backend', 'cpu', '--set', 'data.limit=256', '--set', 'data.validation=100', '--set', 'model.hidden=[8]', '--set', 'train.epochs=1', '--set', 'train.beta=2', '--out', 'r'], { cwd: work, env });
  assert.equal(tr.code, 0, tr.stderr);
  const lines = tr.stderr.split('\n');
  const dashes = lines.findIndex((l) => /^-+( -+)+$/.test(l));
  const table = [...lines.slice(dashes - 2, dashes + 1), ...lines.filter((l) => /^ +1 +-\d/.test(l))].join('\n');
  assert.match(table, /weighted/);
  assertFits(table, 80, 'vae train');
});

test("Dawn's own log lines only under --verbose; a missing GPU is one readable line", () => {
  const quiet = runVae(['backends'], { cwd: work });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.doesNotMatch(quiet.stderr, /Warning: |BackendVk|\.cpp:/);
  const verbose = runVae(['backends', '--verbose'], { cwd: work });
  assert.equal(verbose.code, 0, verbose.stderr);
  if (/^webgpu +no +Dawn found no WebGPU adapter/m.test(verbose.stderr)) {
    // Here Dawn found nothing: what it said while looking is shown, indented, with --verbose only.
    assert.match(verbose.stderr, /^Dawn \(webgpu\) said while looking for an adapter:\n {2}\S/m);
    const r = runVae(['sample', '--backend', 'webgpu', '--run', FIXTURE, '--out', 'w.png'], { cwd: work });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^vae: backend 'webgpu' is unavailable: Dawn found no WebGPU adapter \(.*\)\n$/);
  }
});
