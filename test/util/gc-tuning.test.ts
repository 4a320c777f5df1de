import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { GC_FLAGS } from '../../src/util/gc-tuning.js';

// v8.setFlagsFromString ignores a flag it does not know; the command line refuses one, so this
// fails when a Node release renames or drops a flag the trainer relies on.
test('the garbage-collector flags are ones this Node knows', () => {
  const r = spawnSync(process.execPath, [...GC_FLAGS, '-e', '0'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
});
