import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lerpPath, slerpPath, project2d } from '../../src/model/latent.js';
import { parseLatents } from '../../src/data/latents.js';
import { VaeError } from '../../src/errors.js';

test('interpolation paths start and end exactly at the endpoints', () => {
  const a = [1, -2, 0.5];
  const b = [-0.3, 4, 2];
  for (const path of [lerpPath(a, b, 7), slerpPath(a, b, 7)]) {
    assert.equal(path.length, 7);
    assert.deepEqual(path[0], a);
    assert.deepEqual(path[6], b);
  }
  assert.deepEqual(lerpPath(a, b, 3)[1], [0.35, 1, 1.25]);
});

test('slerp moves along the great circle with linearly interpolated norm', () => {
  const a = [2, 0];
  const b = [0, 1];
  const mid = slerpPath(a, b, 3)[1];
  // halfway in angle (45 degrees), norm halfway between 2 and 1
  assert.ok(Math.abs(Math.atan2(mid[1], mid[0]) - Math.PI / 4) < 1e-12);
  assert.ok(Math.abs(Math.hypot(mid[0], mid[1]) - 1.5) < 1e-12);
  // parallel vectors and zero vectors fall back to linear interpolation
  assert.deepEqual(slerpPath([1, 1], [2, 2], 3)[1], [1.5, 1.5]);
  assert.deepEqual(slerpPath([0, 0], [2, 2], 3)[1], [1, 1]);
});

test('2-D projection: coordinates for J <= 2, principal components for J > 2', () => {
  assert.deepEqual(project2d(new Float32Array([1, 2, 3, 4]), 2, 2).points, [[1, 2], [3, 4]]);
  // points spread along (1, 1, 0) much more than along (0, 0, 1): PC1 recovers it
  const n = 200;
  const x = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    const t = (i - (n - 1) / 2) / 10; // centred, never 0
    x.set([t, t, ((i % 7) - 3) * 0.1], i * 3);
  }
  const { points, axes } = project2d(x, n, 3);
  assert.equal(axes[0], 'principal component 1');
  const ratio = points.map(([p], i) => p / ((i - (n - 1) / 2) / 10));
  // PC1 is (1, 1, 0)/sqrt(2) up to the third coordinate's weak correlation with t: tolerance 1e-3
  assert.ok(ratio.every((r) => Math.abs(Math.abs(r) - Math.SQRT2) < 1e-3), String(ratio.slice(0, 3)));
});

function err(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VaeError);
    return e.message;
  }
  assert.fail('expected an error');
}

test('latents: JSONL (z preferred to mu), CSV with a header, bare arrays and bare numbers', () => {
  const jsonl = parseLatents('{"id":"a","mu":[1,2],"z":[3,4]}\n\n{"id":"b","mu":[5,6]}\n', 2);
  assert.deepEqual(jsonl.ids, ['a', 'b']);
  assert.deepEqual([...jsonl.values], [3, 4, 5, 6]);
  const csv = parseLatents('id,label,mu0,mu1,logvar0,logvar1\nx,7,1,2,-1,-1\ny,,3,4,-1,-1\n', 2);
  assert.deepEqual(csv.ids, ['x', 'y']);
  assert.deepEqual([...csv.values], [1, 2, 3, 4]);
  assert.deepEqual([...parseLatents('[1,2]\n[3,4]', 2).values], [1, 2, 3, 4]);
  assert.deepEqual([...parseLatents('1 2\n3,4\n', 2).values], [1, 2, 3, 4]);
});

test('latents: malformed lines and wrong sizes are reported with their line numbers', () => {
  assert.match(err(() => parseLatents('{"mu":[1,2]}\n{"mu":[1,2]\n', 2, 'in.jsonl')), /^in\.jsonl:2: not valid JSON/);
  assert.match(err(() => parseLatents('{"mu":[1,2]}\n{"mu":[1,2,3]}\n', 2, 'in')), /^in:2: latent has 3 numbers, but this run's model expects J = 2/);
  assert.match(err(() => parseLatents('{"id":1}', 2, 'in')), /^in:1: expected an object with 'z' or 'mu'/);
  assert.match(err(() => parseLatents('{"mu":[1,"x"]}', 2, 'in')), /^in:1: entry 1 is "x"/);
  assert.match(err(() => parseLatents('mu0,mu1\n1,2\n3\n', 2, 'in.csv')), /^in\.csv:3: 1 fields, but the header has 2/);
  assert.match(err(() => parseLatents('mu0,mu1\n1,abc\n', 2, 'in.csv')), /^in\.csv:2: 'abc' is not a number/);
  assert.match(err(() => parseLatents('a,b\n1,2\n', 2, 'in.csv')), /^in\.csv:1: CSV header has no z0.. or mu0.. columns/);
  assert.match(err(() => parseLatents('\n\n', 2, 'stdin')), /stdin has no latents/);
});
