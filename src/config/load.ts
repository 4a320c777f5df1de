/**
 * Loading a config: find the file, parse the JSON (with line and column on a syntax error),
 * apply --set overrides, validate. Precedence is written here once:
 *   defaults (schema.ts) < config file < --set section.key=value flags.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VaeError, suggest } from '../errors.js';
import { PATH_KEYS, SECTIONS, TOP_LEVEL_KEYS, configSchema, crossCheck, describeKey, type Config } from './schema.js';
import type { z } from 'zod';

/** The configs/ folder shipped with the package (src/config -> ../../configs, also from dist/). */
export const PACKAGE_CONFIGS = fileURLToPath(new URL('../../configs/', import.meta.url));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export interface LoadedConfig {
  config: Config;
  /** Where the file came from, or null when only defaults and flags were used. */
  file: string | null;
  /** A short name for run directories: the file's base name without .json, or 'default'. */
  name: string;
}

/** Shipped config names (without .json), for messages. */
export function shippedConfigs(): string[] {
  try {
    return fs
      .readdirSync(PACKAGE_CONFIGS)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.replace(/\.json$/, ''))
      .sort();
  } catch {
    return [];
  }
}

/**
 * Resolve a --config argument: a path relative to the working directory first; then, for a bare
 * name such as `mnist.json` or `mnist`, the configs/ folder shipped with the package.
 */
export function resolveConfigPath(arg: string, cwd = process.cwd()): string {
  const tried: string[] = [];
  const candidates = [path.resolve(cwd, arg)];
  if (!arg.endsWith('.json')) candidates.push(path.resolve(cwd, `${arg}.json`));
  const bare = !arg.includes('/') && !arg.includes(path.sep);
  if (bare) {
    candidates.push(path.join(PACKAGE_CONFIGS, arg));
    if (!arg.endsWith('.json')) candidates.push(path.join(PACKAGE_CONFIGS, `${arg}.json`));
  }
  for (const c of candidates) {
    tried.push(c);
    if (fs.existsSync(c)) {
      if (fs.statSync(c).isDirectory()) throw new VaeError(`config '${arg}' is a directory, not a JSON file`);
      return c;
    }
  }
  const shipped = shippedConfigs();
  const near = suggest(path.basename(arg).replace(/\.json$/, ''), shipped);
  throw new VaeError(`config file '${arg}' not found`, {
    hint: near
      ? `did you mean '${near}.json'?`
      : `shipped configs: ${shipped.map((s) => `${s}.json`).join(', ') || 'none'}; or give a path to your own JSON file`,
  });
}

/** Parse JSON text, turning a syntax error into 'file:line:column: message'. */
export function parseJsonText(text: string, where: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    const msg = (err as Error).message;
    let line: number | undefined;
    let col: number | undefined;
    const lc = /line (\d+) column (\d+)/.exec(msg);
    const pos = /position (\d+)/.exec(msg);
    if (lc) {
      line = Number(lc[1]);
      col = Number(lc[2]);
    } else if (pos) {
      const before = text.slice(0, Number(pos[1]));
      line = before.split('\n').length;
      col = before.length - before.lastIndexOf('\n');
    } else if (/Unexpected end of JSON input/.test(msg)) {
      const lines = text.split('\n');
      line = lines.length;
      col = lines[lines.length - 1].length + 1;
    }
    const reason = msg.replace(/^JSON\.parse: /, '').replace(/ in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '');
    const at = line !== undefined ? `${where}:${line}:${col}` : where;
    throw new VaeError(`${at}: invalid JSON: ${reason}`, { hint: 'fix the syntax at that line and column' });
  }
}

/** Parse one --set argument into a key path and a value. Values are JSON when they parse, else strings. */
export function parseSet(arg: string): { path: string[]; value: Json } {
  const eq = arg.indexOf('=');
  if (eq <= 0) {
    throw new VaeError(`--set expects section.key=value, got '${arg}'`, {
      hint: "for example --set train.epochs=5 or --set model.hidden='[512,256]'",
    });
  }
  const key = arg.slice(0, eq).trim();
  const raw = arg.slice(eq + 1).trim();
  const parts = key.split('.');
  if (parts.some((p) => p === '')) throw new VaeError(`--set key '${key}' is not of the form section.key`);
  let value: Json;
  try {
    value = JSON.parse(raw) as Json;
  } catch {
    value = raw;
  }
  return { path: parts, value };
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Overlay b on a (objects merge key by key, everything else replaces). Returns a new object. */
export function deepMerge(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as JsonObject, v) : v;
  }
  return out;
}

/** Apply --set overrides to a raw (unvalidated) config object. */
export function applySets(raw: JsonObject, sets: readonly string[]): JsonObject {
  let out = raw;
  for (const s of sets) {
    const { path: p, value } = parseSet(s);
    const overlay: JsonObject = {};
    let cur = overlay;
    for (let i = 0; i < p.length - 1; i++) {
      cur[p[i]] = {};
      cur = cur[p[i]] as JsonObject;
    }
    cur[p[p.length - 1]] = value;
    const section = out[p[0]];
    if (p.length > 1 && section !== undefined && !isObject(section)) {
      throw new VaeError(`--set ${p.join('.')}: '${p[0]}' is not a section`);
    }
    out = deepMerge(out, overlay);
  }
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(obj: unknown, p: readonly PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of p) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** Turn the first zod issue into one clear line naming the key, what it expects, and what it got. */
function issueToError(issue: z.core.$ZodIssue, raw: unknown, where: string): VaeError {
  const keyPath = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const full = [...keyPath, key].join('.');
    const candidates =
      keyPath.length === 0 ? TOP_LEVEL_KEYS : Object.keys(SECTIONS[keyPath[0] as keyof typeof SECTIONS]?.shape ?? {});
    const near = suggest(key, candidates);
    const prefix = keyPath.length ? `${keyPath.join('.')}.` : '';
    return new VaeError(`${where}: unknown key '${full}'`, {
      hint: near
        ? `did you mean '${prefix}${near}'?`
        : `valid keys${keyPath.length ? ` in '${keyPath.join('.')}'` : ''}: ${candidates.map((c) => prefix + c).join(', ')}`,
    });
  }
  const name = keyPath.join('.');
  const got = valueAt(raw, issue.path);
  const expected = describeKey(issue.path.filter((k): k is string | number => typeof k !== 'symbol')) ?? issue.message;
  if (keyPath.length === 1 && SECTIONS[keyPath[0] as keyof typeof SECTIONS]) {
    return new VaeError(`${where}: '${name}' must be an object of settings, got ${show(got)}`);
  }
  // Descriptions read "what it is (what it accepts)": say it as "'key' (what) must be <accepts>".
  const m = /^(.*) \(((?:an?|one|a number) [^()]*)\)(.*)$/.exec(expected);
  if (m) return new VaeError(`${where}: '${name}' (${m[1]}) must be ${m[2]}${m[3]}; got ${show(got)}`);
  return new VaeError(`${where}: '${name}' must be ${expected}; got ${show(got)}`);
}

/** A copy of a raw config with relative data paths (data.path, data.labels, ...) made absolute against `base`. */
export function resolvePaths(raw: JsonObject, base: string): JsonObject {
  const data = raw.data;
  if (!isObject(data)) return raw;
  const out: JsonObject = { ...data };
  for (const k of PATH_KEYS) {
    const v = out[k];
    if (typeof v === 'string' && v !== '') out[k] = path.resolve(base, v);
  }
  return { ...raw, data: out };
}

/** Validate a raw object against the schema, filling in defaults. */
export function validateConfig(raw: unknown, where = 'config'): Config {
  if (!isObject(raw)) throw new VaeError(`${where}: a config must be a JSON object, got ${show(raw)}`);
  const r = configSchema.safeParse(raw);
  if (!r.success) throw issueToError(r.error.issues[0], raw, where);
  const broken = crossCheck(r.data);
  if (broken) throw new VaeError(`${where}: ${broken.message}`, { hint: broken.hint });
  return r.data;
}

/** Load and resolve a config: file (optional) + --set flags over the defaults. */
export function loadConfig(opts: { config?: string; set?: readonly string[]; cwd?: string }): LoadedConfig {
  let raw: JsonObject = {};
  let file: string | null = null;
  if (opts.config) {
    file = resolveConfigPath(opts.config, opts.cwd);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new VaeError(`cannot read config '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const parsed = parseJsonText(text, opts.config);
    if (!isObject(parsed)) throw new VaeError(`${opts.config}: a config must be a JSON object, got ${show(parsed)}`);
    raw = parsed;
  }
  const fileWhere = opts.config ?? 'config';
  // Validate the file alone first so that its own mistakes are reported against the file.
  validateConfig(raw, fileWhere);
  // Paths written in a file are relative to that file (so a config and its data travel
  // together); paths given with --set are relative to the working directory.
  if (file) raw = resolvePaths(raw, path.dirname(file));
  const merged = resolvePaths(applySets(raw, opts.set ?? []), opts.cwd ?? process.cwd());
  const config = validateConfig(merged, opts.set?.length ? `${fileWhere} with --set` : fileWhere);
  const name = file ? path.basename(file).replace(/\.json$/, '') : 'default';
  return { config, file, name };
}
