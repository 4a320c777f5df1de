/**
 * The IDX file format (LeCun's MNIST files): a 4-byte magic number 0x0000 <type> <ndims>,
 * then ndims big-endian uint32 sizes, then the data. We read unsigned-byte files (type 0x08):
 * images have 3 dims (n, rows, cols) or 4 (n, rows, cols, channels), labels 1 dim (n).
 * Gzipped files are accepted too.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { VaeError } from '../errors.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(buf: Uint8Array, where: string): IdxArray {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  if (buf.length < 4) throw new VaeError(`${where}: not an IDX file (only ${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new VaeError(`${where}: not an IDX file (bad magic number 0x${Buffer.from(buf.subarray(0, 4)).toString('hex')})`, {
      hint: "IDX files start with 00 00 08 <ndims>; for a folder of PNG/JPEG/WebP images use data.dataset 'folder'",
    });
  }
  const type = buf[2];
  const ndims = buf[3];
  if (type !== 0x08) throw new VaeError(`${where}: IDX element type 0x${type.toString(16)} is not unsigned bytes (0x08)`);
  if (ndims < 1 || ndims > 4) throw new VaeError(`${where}: IDX file claims ${ndims} dimensions`);
  const header = 4 + 4 * ndims;
  if (buf.length < header) throw new VaeError(`${where}: IDX header is truncated`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== header + count) {
    throw new VaeError(
      `${where}: IDX file is ${buf.length} bytes but its header (${dims.join('x')}) needs ${header + count}`,
      { hint: buf.length < header + count ? 'the file is truncated; reinstall it' : 'the file has trailing bytes' },
    );
  }
  return { dims, data: buf.subarray(header) };
}

export function readIdx(file: string): IdxArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new VaeError(`IDX file '${file}' not found`, { hint: "check the path; relative paths in a config file are relative to the config file's folder" });
    if (code === 'EISDIR') throw new VaeError(`IDX file '${file}' is a folder, not a file`, { hint: "for a folder of images use data.dataset 'folder'" });
    throw new VaeError(`cannot read IDX file '${file}': ${code ?? (err as Error).message}`);
  }
  return parseIdx(buf, file);
}
