import type { Command } from 'commander';
import { probeBackends } from '../backend/index.js';
import { cpuEngineLine } from '../train/cpu-engine-task.js';
import { renderTable } from '../ui/table.js';
import { makeLog, showDawnLog, writeStdout } from './options.js';

export function registerBackends(program: Command): void {
  program
    .command('backends')
    .description('list every compute backend, whether it loads here, and why not')
    .option('--json', 'print JSON on stdout')
    .option('-v, --verbose', "also show what the drivers said while probing (Dawn's Vulkan messages)")
    .action(async (opts: { json?: boolean; verbose?: boolean }) => {
      const rows = await probeBackends();
      showDawnLog(makeLog(opts));
      if (opts.json) {
        await writeStdout(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stderr.write(
        `${renderTable(['backend', 'loads', 'device, or why not'], rows.map((r) => [r.name, r.ok ? 'yes' : 'no', r.ok ? r.device ?? '' : `${r.reason}${r.hint ? ` (${r.hint})` : ''}`]))}\n`,
      );
      process.stderr.write(`${await cpuEngineLine()}\n`);
    });
}
