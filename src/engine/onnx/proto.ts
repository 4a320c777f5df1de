/**
 * The few parts of ONNX's protobuf schema (onnx.proto, IR version 8) that a training step's
 * graph needs, encoded by hand: a model with one graph of nodes, float32 and int64 constant
 * tensors, float32 inputs and outputs of fixed shapes, and float, int and ints attributes. No
 * parsing, no dependency: the engine only ever writes models.
 */

/** Field numbers, from onnx.proto. */
const F = {
  model: { irVersion: 1, producerName: 2, graph: 7, opsetImport: 8 },
  opset: { domain: 1, version: 2 },
  graph: { node: 1, name: 2, initializer: 5, input: 11, output: 12 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5 },
  attribute: { name: 1, f: 2, i: 3, ints: 8, type: 20 },
  tensor: { dims: 1, dataType: 2, name: 8, rawData: 9 },
  valueInfo: { name: 1, type: 2 },
  type: { tensorType: 1 },
  tensorType: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dim: { value: 1, param: 2 },
} as const;

/** TensorProto.DataType */
export const FLOAT = 1;
export const INT64 = 7;
/** AttributeProto.AttributeType */
const ATTR = { FLOAT: 1, INT: 2, INTS: 7 } as const;

/** A protobuf message being written: fields appended in order, length-delimited sub-messages. */
class Message {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  private varint(value: number | bigint): void {
    // negative int64s are ten bytes of two's complement
    let n = BigInt(value);
    if (n < 0n) n += 1n << 64n;
    const out: number[] = [];
    while (n >= 0x80n) {
      out.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    out.push(Number(n));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wireType: 0 | 2 | 5): void {
    this.varint((field << 3) | wireType);
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    this.push(new Uint8Array(new Float32Array([value]).buffer));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: Message): this {
    return this.bytes(field, value.encode());
  }

  encode(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

export type AttributeValue = number | { float: number } | number[];

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  /** an integer is an INT attribute, { float } a FLOAT one, an array INTS */
  attributes?: Record<string, AttributeValue>;
}

export interface ConstantSpec {
  name: string;
  dims: number[];
  type: typeof FLOAT | typeof INT64;
  values: ArrayLike<number>;
}

export interface ValueSpec {
  name: string;
  /** a number is a fixed size, a string a symbolic one (the batch) */
  dims: (number | string)[];
}

export interface ModelSpec {
  name: string;
  nodes: NodeSpec[];
  constants: ConstantSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  /** the default domain's opset */
  opset: number;
}

function attribute(name: string, value: AttributeValue): Message {
  const a = new Message().string(F.attribute.name, name);
  if (Array.isArray(value)) {
    for (const v of value) a.int(F.attribute.ints, v);
    return a.int(F.attribute.type, ATTR.INTS);
  }
  if (typeof value === 'object') return a.float(F.attribute.f, value.float).int(F.attribute.type, ATTR.FLOAT);
  if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not an integer (write { float: ${value} })`);
  return a.int(F.attribute.i, value).int(F.attribute.type, ATTR.INT);
}

function tensor(c: ConstantSpec): Message {
  const t = new Message();
  for (const d of c.dims) t.int(F.tensor.dims, d);
  t.int(F.tensor.dataType, c.type).string(F.tensor.name, c.name);
  const raw = c.type === FLOAT ? new Float32Array(Array.from(c.values)) : BigInt64Array.from(Array.from(c.values), (v) => BigInt(v));
  // raw_data is little-endian, as typed arrays are on every platform Node.js runs on
  return t.bytes(F.tensor.rawData, new Uint8Array(raw.buffer));
}

function valueInfo(v: ValueSpec): Message {
  const shape = new Message();
  for (const d of v.dims) shape.message(F.shape.dim, typeof d === 'number' ? new Message().int(F.dim.value, d) : new Message().string(F.dim.param, d));
  const tensorType = new Message().int(F.tensorType.elemType, FLOAT).message(F.tensorType.shape, shape);
  return new Message().string(F.valueInfo.name, v.name).message(F.valueInfo.type, new Message().message(F.type.tensorType, tensorType));
}

/** The serialised ModelProto, ready for an InferenceSession. */
export function encodeModel(m: ModelSpec): Uint8Array {
  const g = new Message();
  m.nodes.forEach((n, k) => {
    const node = new Message();
    for (const i of n.inputs) node.string(F.node.input, i);
    for (const o of n.outputs) node.string(F.node.output, o);
    node.string(F.node.name, `n${k}`).string(F.node.opType, n.op);
    for (const [name, value] of Object.entries(n.attributes ?? {})) node.message(F.node.attribute, attribute(name, value));
    g.message(F.graph.node, node);
  });
  g.string(F.graph.name, m.name);
  for (const c of m.constants) g.message(F.graph.initializer, tensor(c));
  for (const i of m.inputs) g.message(F.graph.input, valueInfo(i));
  for (const o of m.outputs) g.message(F.graph.output, valueInfo(o));
  return new Message()
    .int(F.model.irVersion, 8)
    .string(F.model.producerName, 'vae')
    .message(F.model.graph, g)
    .message(F.model.opsetImport, new Message().string(F.opset.domain, '').int(F.opset.version, m.opset))
    .encode();
}
