import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { exportRun } from '../export/export-run.js';
import { buildTestMap, type TestMap } from '../serve/test-map.js';
import type { LoadedRun } from '../run/run.js';
import { exploreRoutes } from '../serve/explore-routes.js';
import { serve, type Content } from '../serve/server.js';
import type { Log } from '../ui/log.js';
import { addBackendOption, addRunOptions, intArg, makeLog, openRun, writeStdout, type CommonOptions } from './options.js';
import { takeSignals } from '../ui/signals.js';

interface ExploreOptions extends CommonOptions {
  run?: string;
  best?: boolean;
  port: number;
  open?: boolean;
  limit: number;
}

/** Best effort: the system's way of opening a URL in the default browser. */
function openBrowser(url: string, log: Log): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => log.warn(`could not open a browser (${cmd} failed); open ${url} yourself`));
    child.unref();
  } catch {
    log.warn(`could not open a browser; open ${url} yourself`);
  }
}

export function registerExplore(program: Command): void {
  const cmd = program
    .command('explore')
    .description("a local web page for a run's latent space: sliders, prior samples, the test set's map, interpolation and your own images")
    .option('-p, --port <n>', 'port on 127.0.0.1 (0: any free port)', intArg('--port', 0, 65535), 8080)
    .option('--open', 'open the page in the default browser')
    .option('--limit <n>', 'test images to encode for the map', intArg('--limit', 1, 10_000), 2000)
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText(
      'after',
      [
        '',
        'The page runs the exported model in the browser with TensorFlow.js served from this package',
        '(no network needed). It prints its address on stdout; Ctrl-C stops it.',
        '',
        'Examples:',
        '  vae explore --open',
        '  vae explore --run runs/mnist-20250101-120000 --port 9000 --limit 5000',
        '',
      ].join('\n'),
    );
  addBackendOption(addRunOptions(cmd)).action(async (opts: ExploreOptions) => {
    const log = makeLog(opts);
    // Listen first, so that a taken port is said at once; the content is added when it is ready.
    const routes = new Map<string, Content>();
    const server = await serve(routes, opts.port);
    let dir: string;
    let run: LoadedRun;
    let map: TestMap;
    try {
      ({ dir, run } = await openRun(opts, log));
      const { files } = await exportRun(run, opts.best ? 'best' : 'last', ['encoder', 'decoder']);
      log.info(`encoding up to ${opts.limit} test images for the map...`);
      const built = await buildTestMap(run, opts.limit);
      map = built.map;
      for (const [urlPath, content] of exploreRoutes(files, map, built.images)) routes.set(urlPath, content);
    } catch (err) {
      await server.close();
      throw err;
    }
    log.info(`exploring ${dir} (epoch ${run.meta.epoch}, ${map.split} ELBO ${map.elbo.toFixed(2)} nats on ${map.n} images); Ctrl-C stops`);
    await writeStdout(`${server.url}\n`);
    if (opts.open) openBrowser(server.url, log);
    await new Promise<void>((resolve) => {
      // Ctrl-C or SIGTERM closes the server and ends the command normally (taken over from the
      // default, which exits with 130/143)
      const release = takeSignals(() => {
        release();
        void server.close().then(() => {
          log.info('stopped');
          resolve();
        });
      });
    });
  });
}
