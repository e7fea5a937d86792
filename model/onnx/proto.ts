// The ONNX protobuf classes (onnx-proto 8: the ONNX 1.10 .proto files compiled by protobufjs) and
// the few conversions every ONNX module needs: int64 fields arrive as Long objects or numbers, and
// attributes are looked up by name with their ONNX defaults.

import onnxProto from 'onnx-proto';
import type { onnx as OnnxNamespace } from 'onnx-proto';

/** The message classes (`onnx.ModelProto.decode`, `.encode`, `.create`). */
export const onnx = onnxProto.onnx;
export type ModelProto = OnnxNamespace.ModelProto;
export type GraphProto = OnnxNamespace.GraphProto;
export type NodeProto = OnnxNamespace.NodeProto;
export type TensorProto = OnnxNamespace.TensorProto;
export type ValueInfoProto = OnnxNamespace.ValueInfoProto;
export type AttributeProto = OnnxNamespace.AttributeProto;

/** An int64 as protobufjs decodes it: a number, or a Long when the value needs more than 32 bits' care. */
export type Int64 = number | { toNumber(): number };

/** An int64 field as a number; every size in our models is far below 2^53, so this is exact. */
export function int64(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** The element types whose size we know, in bytes (TensorProto.DataType). */
const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  1: 4, // FLOAT
  2: 1, // UINT8
  3: 1, // INT8
  4: 2, // UINT16
  5: 2, // INT16
  6: 4, // INT32
  7: 8, // INT64
  9: 1, // BOOL
  10: 2, // FLOAT16
  11: 8, // DOUBLE
  12: 4, // UINT32
  13: 8, // UINT64
  16: 2, // BFLOAT16
};

/** Bytes per element of a tensor data type, or undefined for strings, complex and unknown types. */
export function elementBytes(dataType: number): number | undefined {
  return ELEMENT_BYTES[dataType];
}

export const FLOAT32 = 1;

/**
 * A decoded graph's lists as the classes protobufjs decodes them into (every repeated field
 * present, nested messages as class instances); the .d.ts types them by the optional-field
 * interfaces, so they are viewed as the classes once, here.
 */
export interface DecodedGraph {
  readonly name: string;
  readonly node: NodeProto[];
  readonly initializer: TensorProto[];
  readonly input: ValueInfoProto[];
  readonly output: ValueInfoProto[];
}

export function decodedGraph(graph: GraphProto | OnnxNamespace.IGraphProto): DecodedGraph {
  return graph as unknown as DecodedGraph;
}
