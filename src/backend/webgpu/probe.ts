/**
 * Asking Dawn for an adapter in a child process first. Dawn writes its Vulkan loader's warnings
 * (with the path of the machine that built it) straight to file descriptor 2 from native code,
 * where JavaScript cannot filter them; on a machine without a GPU that is all it has to say.
 * The child's stderr is kept for --verbose, and a missing adapter becomes one readable line
 * without Dawn ever loading in this process. Costs one extra Node start and Dawn load (about
 * 0.3 s on a 2-core machine, nearly all of it Node starting; Dawn's load and adapter request take
 * about 25 ms) once per command that asks for webgpu.
 */
import { execFile } from 'node:child_process';

export interface ProbeResult {
  /** false: Dawn loaded and found no adapter; null: the probe could not tell (let the real load say why) */
  adapter: boolean | null;
  /** what Dawn printed on stderr in the child */
  log: string;
}

const CHILD = `
const dawn = await import(process.argv[1]);
const gpu = dawn.create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
process.stdout.write(JSON.stringify({ adapter: adapter !== null }));
process.exit(0);
`;

let probed: Promise<ProbeResult> | undefined;
let log = '';

/** What Dawn printed in the probe, if it ran (for --verbose). */
export function dawnProbeLog(): string {
  return log;
}

/** Whether Dawn finds an adapter here, asked in a child process (once per process). */
export function probeDawnAdapter(): Promise<ProbeResult> {
  probed ??= new Promise((resolve) => {
    let url: string;
    try {
      url = import.meta.resolve('webgpu');
    } catch {
      resolve({ adapter: null, log: '' });
      return;
    }
    execFile(process.execPath, ['--input-type=module', '-e', CHILD, url], { timeout: 60_000, env: process.env }, (err, stdout, stderr) => {
      let adapter: boolean | null = null;
      try {
        const r = JSON.parse(stdout) as { adapter?: unknown };
        if (!err && typeof r.adapter === 'boolean') adapter = r.adapter;
      } catch {
        /* the child failed: leave it to the real load to say why */
      }
      log = String(stderr).trim();
      resolve({ adapter, log });
    });
  });
  return probed;
}
