/**
 * Taking from the wheel only what the binding needs: the two shared libraries and the 14 C API
 * headers that tfjs-node 4.22's binding includes (directly or through each other). The libraries
 * need no libpython.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { RuntimeFailure } from '../errors.js';

const LIBRARIES = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'];

const HEADERS = [
  'tensorflow/c/c_api.h',
  'tensorflow/c/c_api_macros.h',
  'tensorflow/c/eager/c_api.h',
  'tensorflow/c/tf_attrtype.h',
  'tensorflow/c/tf_buffer.h',
  'tensorflow/c/tf_datatype.h',
  'tensorflow/c/tf_status.h',
  'tensorflow/c/tf_tensor.h',
  'tensorflow/c/tf_tstring.h',
  'tensorflow/core/platform/ctstring.h',
  'tensorflow/core/platform/ctstring_internal.h',
  'tsl/platform/ctstring.h',
  'tsl/platform/ctstring_internal.h',
  'xla/tsl/c/tsl_status.h',
];

/** The names tfjs-node's build and loader look for, as links to the wheel's libraries. */
const LINKS: [string, string][] = [
  ['libtensorflow.so', 'libtensorflow_cc.so.2'],
  // its install script skips its own download when this file exists
  ['libtensorflow.so.2.9.1', 'libtensorflow_cc.so.2'],
  ['libtensorflow_framework.so', 'libtensorflow_framework.so.2'],
];

/** wheel member -> path under `out` */
function wanted(): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of LIBRARIES) m.set(`tensorflow/${l}`, path.join('lib', l));
  for (const h of HEADERS) m.set(`tensorflow/include/${h}`, path.join('include', h));
  return m;
}

/** Extract into `out` (lib/, include/); `onBytes` reports progress. */
export async function extractWheel(wheel: string, out: string, opts: { signal?: AbortSignal; onBytes?: (done: number) => void } = {}): Promise<void> {
  const want = wanted();
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(wheel, { lazyEntries: true, autoClose: true }, (err, z) => (err || !z ? reject(new RuntimeFailure(`cannot read ${wheel} as a wheel (zip): ${err?.message}`)) : resolve(z))),
  );
  const found = new Set<string>();
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      zip.close();
      reject(err);
    };
    zip.on('error', (err: Error) => fail(new RuntimeFailure(`cannot read ${wheel}: ${err.message}`)));
    zip.on('end', () => resolve());
    zip.on('entry', (entry: yauzl.Entry) => {
      const dest = want.get(entry.fileName);
      if (!dest) return zip.readEntry();
      if (opts.signal?.aborted) return fail(opts.signal.reason);
      const file = path.join(out, dest);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return fail(new RuntimeFailure(`cannot read ${entry.fileName} in ${wheel}: ${err?.message}`));
        stream.on('data', (c: Buffer) => {
          done += c.length;
          opts.onBytes?.(done);
        });
        pipeline(stream, fs.createWriteStream(file, { mode: 0o644 }), { signal: opts.signal }).then(() => {
          found.add(entry.fileName);
          zip.readEntry();
        }, fail);
      });
    });
    zip.readEntry();
  });
  const absent = [...want.keys()].filter((k) => !found.has(k));
  if (absent.length) throw new RuntimeFailure(`the wheel lacks ${absent.join(', ')}`, { hint: 'it is not the pinned TensorFlow wheel' });
  for (const [name, target] of LINKS) fs.symlinkSync(target, path.join(out, 'lib', name));
}
