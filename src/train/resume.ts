/**
 * What may change when a run is resumed. Continuing exactly needs the same model, data, seed,
 * optimiser and schedule settings; only how long to train, how often to report, and when to
 * stop may change. (The cosine schedule depends on train.epochs, so there even that is fixed.)
 */
import { VaeError } from '../errors.js';
import { applySets, loadConfig, validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';

export const SAFE_ON_RESUME = new Set([
  'train.epochs',
  'train.logEvery',
  'train.checkpointMinutes',
  'train.patience',
  'train.minDelta',
  'train.skipNonFinite',
  'train.previewSamples',
  'description',
  '$schema',
]);

/** The keys that may change when resuming a run with this config. */
export function safeKeys(stored: Config): Set<string> {
  const safe = new Set(SAFE_ON_RESUME);
  if (stored.train.lrSchedule === 'cosine') safe.delete('train.epochs');
  return safe;
}

function flatten(obj: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) for (const [kk, vv] of flatten(v, prefix ? `${prefix}.${k}` : k)) out.set(kk, vv);
  } else if (prefix) {
    out.set(prefix, JSON.stringify(obj));
  }
  return out;
}

/** Keys whose values differ, with both values as JSON. */
export function diffConfigs(a: Config, b: Config): { key: string; from: string; to: string }[] {
  const fa = flatten(a);
  const fb = flatten(b);
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  return keys.filter((k) => fa.get(k) !== fb.get(k)).map((k) => ({ key: k, from: fa.get(k) ?? 'unset', to: fb.get(k) ?? 'unset' }));
}

/**
 * The config to resume with: the run's own, with --set overrides (or a --config file) on top,
 * refused if anything but the safe keys changed.
 */
export function resumeConfig(stored: Config, opts: { config?: string; set?: readonly string[] }, runDir: string): Config {
  const next = opts.config
    ? loadConfig({ config: opts.config, set: opts.set }).config
    : validateConfig(applySets(JSON.parse(JSON.stringify(stored)), opts.set ?? []), `${runDir}/config.json with --set`);
  const safe = safeKeys(stored);
  const unsafe = diffConfigs(stored, next).filter((d) => !safe.has(d.key));
  if (unsafe.length) {
    const cosine = stored.train.lrSchedule === 'cosine' && unsafe.some((d) => d.key === 'train.epochs');
    const list = [...safe].filter((k) => k.startsWith('train.'));
    throw new VaeError(`cannot resume ${runDir} with a changed config: ${unsafe.map((d) => `${d.key} ${d.from} -> ${d.to}`).join(', ')}`, {
      hint: `${cosine ? 'the cosine schedule is laid out over train.epochs, so it cannot grow; ' : ''}only ${list.slice(0, -1).join(', ')} and ${list[list.length - 1]} may change on resume; start a new run for the rest`,
    });
  }
  return next;
}
