#!/usr/bin/env node
// Thin launcher: the program lives in dist/ (built from src/ by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('vae: the program is not built (no dist/cli.js); run `npm install` or `npm run build` in its folder\n');
  process.exit(1);
}
// When the reader of stdout goes away (`vae encode ... | head`), stop quietly, as Unix tools do.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
