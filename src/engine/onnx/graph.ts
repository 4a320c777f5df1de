/**
 * A small builder for ONNX graphs: each `op` appends a node and returns the name of its output,
 * so a graph reads like the maths it computes. Scalars and axis lists become shared constants.
 */
import { encodeModel, FLOAT, INT64, type AttributeValue, type ConstantSpec, type NodeSpec, type ValueSpec } from './proto.js';

/** The default domain's opset the engine writes (ONNX 1.12; onnxruntime has run it since 1.12). */
const OPSET = 17;

export class Graph {
  private readonly nodes: NodeSpec[] = [];
  private readonly constants: ConstantSpec[] = [];
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly shared = new Map<string, string>();
  private count = 0;

  /** A graph input of the given shape (float32); its name is returned. */
  input(name: string, dims: (number | string)[]): string {
    this.inputs.push({ name, dims });
    return name;
  }

  /**
   * Appends a node whose output is the graph output `name` (no copy: onnxruntime writes it
   * straight into a preallocated output); returns the name, for other nodes to read.
   */
  output(name: string, dims: (number | string)[], op: string, inputs: string[], attributes?: Record<string, AttributeValue>): string {
    this.nodes.push({ op, inputs, outputs: [name], attributes });
    this.outputs.push({ name, dims });
    return name;
  }

  /**
   * Makes the value `value` (a node's output) the graph output `name`, renaming it wherever it
   * is read, so that onnxruntime writes it straight into a preallocated output (no copy).
   */
  outputAs(value: string, name: string, dims: (number | string)[]): string {
    if (!value.startsWith('_') || this.constants.some((c) => c.name === value)) throw new Error(`${value} is not a node's output`);
    for (const node of this.nodes) {
      node.inputs = node.inputs.map((i) => (i === value ? name : i));
      node.outputs = node.outputs.map((o) => (o === value ? name : o));
    }
    this.outputs.push({ name, dims });
    return name;
  }

  /** Appends a node; returns its (first) output's name. */
  op(op: string, inputs: string[], attributes?: Record<string, AttributeValue>): string {
    const out = `_${this.count++}`; // inputs and outputs never start with _
    this.nodes.push({ op, inputs, outputs: [out], attributes });
    return out;
  }

  /** A float32 scalar constant (the same value gives the same name). */
  scalar(value: number): string {
    const key = `f${Math.fround(value)}`;
    let name = this.shared.get(key);
    if (!name) {
      name = `_c${this.shared.size}`;
      this.constants.push({ name, dims: [], type: FLOAT, values: [value] });
      this.shared.set(key, name);
    }
    return name;
  }

  /** An int64 vector constant, e.g. the axes of a ReduceSum. */
  ints(values: number[]): string {
    const key = `i${values.join(',')}`;
    let name = this.shared.get(key);
    if (!name) {
      name = `_c${this.shared.size}`;
      this.constants.push({ name, dims: [values.length], type: INT64, values });
      this.shared.set(key, name);
    }
    return name;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The model's bytes; constants no node reads are left out (onnxruntime would warn of each on stderr). */
  encode(name: string): Uint8Array {
    const read = new Set(this.nodes.flatMap((n) => n.inputs));
    const constants = this.constants.filter((c) => read.has(c.name));
    return encodeModel({ name, nodes: this.nodes, constants, inputs: this.inputs, outputs: this.outputs, opset: OPSET });
  }
}
