#!/usr/bin/env node
// Runs the test suite: every test/**/*.test.ts (Node 20's `node --test` does not expand globs),
// or those under the paths given, e.g. `node scripts/test.mjs test/model test/cli.test.ts`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function find(p) {
  if (fs.statSync(p).isFile()) return p.endsWith('.test.ts') ? [p] : [];
  return fs.readdirSync(p, { withFileTypes: true })
    .filter((e) => e.name !== 'fixtures' && e.name !== 'node_modules')
    .flatMap((e) => find(path.join(p, e.name)));
}

const roots = process.argv.slice(2);
const files = (roots.length ? roots : ['test']).flatMap(find).sort();
if (!files.length) {
  console.error(`no test files under ${roots.join(' ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--import', 'tsx', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
