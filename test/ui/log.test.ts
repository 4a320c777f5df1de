/**
 * formatDuration, as the progress lines and ETAs show durations: seconds with a decimal below
 * 10 s, then minutes and zero-padded seconds, then hours and minutes; a value is rounded once,
 * so no field ever reads 60.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration } from '../../src/ui/log.js';

test('durations read as a person writes them', () => {
  const cases: [number, string][] = [
    [0, '0.0s'],
    [4.26, '4.3s'],
    [9.96, '10s'],
    [42.4, '42s'],
    [59.4, '59s'],
    [59.6, '1m00s'],
    [61, '1m01s'],
    [179.6, '3m00s'],
    [3599.6, '1h00m'],
    [3600, '1h00m'],
    [7199, '2h00m'],
    [7230, '2h01m'],
  ];
  for (const [sec, text] of cases) assert.equal(formatDuration(sec), text, `${sec} s`);
  assert.equal(formatDuration(NaN), '?');
  assert.equal(formatDuration(Infinity), '?');
});
