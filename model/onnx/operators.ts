// The ONNX operators stepinfer can plan with: for each, the shapes of its outputs from the shapes
// of its inputs and attributes (ONNX operator specification, opset 17), and its cost in FLOPs.
//
// FLOPs convention: Conv and Gemm count 2 per multiply-add (bias additions are not counted, as in
// the usual "GMAC x 2" figures: ResNet-50 is 4.1 GMAC at 224x224); element-wise operators (Relu,
// Clip, Add) count 1 per output element; pooling counts 1 per window element read per output
// (kernel area per output, the input size for GlobalAveragePool); pure data movement (Flatten,
// Concat, Identity) counts 0. A node of any other operator is refused by the reader, since a plan
// that silently costs it at 0 would be wrong.

import { int64, type AttributeProto, type NodeProto } from './proto.ts';

/** What the reader needs to know about one node: its output shapes and its cost. */
export interface OperatorResult {
  readonly outputs: readonly (readonly number[])[];
  readonly flops: number;
}

/** Shapes of the node's inputs in order; undefined for an omitted optional input (empty name). */
type InputShapes = readonly (readonly number[] | undefined)[];

type Fail = (message: string) => never;

interface Operator {
  /** Inputs it needs at least and may have at most. */
  readonly inputs: readonly [min: number, max: number];
  infer(node: NodeProto, inputs: InputShapes, fail: Fail): OperatorResult;
}

/** Elements of a tensor of these dims (1 for a scalar). */
export const elements = (dims: readonly number[]): number => dims.reduce((a, d) => a * d, 1);

function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute as AttributeProto[]).find((a) => a.name === name);
}

function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? int64(a.i) : fallback;
}

function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a ? a.ints.map((v) => int64(v)) : undefined;
}

function stringAttribute(node: NodeProto, name: string, fallback: string): string {
  const a = attribute(node, name);
  return a ? new TextDecoder().decode(a.s) : fallback;
}

function need(shape: readonly number[] | undefined, what: string, fail: Fail): readonly number[] {
  if (shape === undefined) fail(`its ${what} input is missing`);
  return shape;
}

/** Output size along one spatial axis of a convolution or pooling window (ONNX Conv/MaxPool "Outputs"). */
function windowOutputSize(
  size: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number,
  autoPad: string, ceilMode: boolean, fail: Fail,
): number {
  const span = dilation * (kernel - 1) + 1;
  let out: number;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out = Math.ceil(size / stride);
  else if (autoPad === 'VALID') out = Math.floor((size - span) / stride) + 1;
  else if (autoPad === 'NOTSET') {
    const room = size + padBegin + padEnd - span;
    out = (ceilMode ? Math.ceil(room / stride) : Math.floor(room / stride)) + 1;
    // With ceil_mode the last window must start inside the input or its left padding (ONNX 1.16
    // spec, as PyTorch and onnxruntime compute it).
    if (ceilMode && (out - 1) * stride >= size + padBegin) out -= 1;
  } else fail(`auto_pad is "${autoPad}"; it must be NOTSET, SAME_UPPER, SAME_LOWER or VALID`);
  if (!(out >= 1)) fail(`its window (kernel ${kernel}, dilation ${dilation}) does not fit an input of size ${size} with padding ${padBegin}+${padEnd}`);
  return out;
}

/** The spatial window attributes shared by Conv, MaxPool and AveragePool, checked against the rank. */
function windowAttributes(node: NodeProto, spatial: number, kernel: readonly number[], fail: Fail) {
  const strides = intsAttribute(node, 'strides') ?? new Array<number>(spatial).fill(1);
  const dilations = intsAttribute(node, 'dilations') ?? new Array<number>(spatial).fill(1);
  const pads = intsAttribute(node, 'pads') ?? new Array<number>(2 * spatial).fill(0);
  const autoPad = stringAttribute(node, 'auto_pad', 'NOTSET');
  if (kernel.length !== spatial) fail(`kernel_shape has ${kernel.length} values for ${spatial} spatial axes`);
  if (strides.length !== spatial) fail(`strides has ${strides.length} values for ${spatial} spatial axes`);
  if (dilations.length !== spatial) fail(`dilations has ${dilations.length} values for ${spatial} spatial axes`);
  if (pads.length !== 2 * spatial) fail(`pads has ${pads.length} values for ${spatial} spatial axes (it needs ${2 * spatial})`);
  for (const [name, values, min] of [['kernel_shape', kernel, 1], ['strides', strides, 1], ['dilations', dilations, 1], ['pads', pads, 0]] as const) {
    if (values.some((v) => !Number.isInteger(v) || v < min)) fail(`${name} is [${values.join(', ')}]; each must be an integer >= ${min}`);
  }
  return { strides, dilations, pads, autoPad };
}

function windowOutput(node: NodeProto, x: readonly number[], kernel: readonly number[], ceilMode: boolean, fail: Fail): number[] {
  const spatial = x.length - 2;
  const { strides, dilations, pads, autoPad } = windowAttributes(node, spatial, kernel, fail);
  const out: number[] = [];
  for (let i = 0; i < spatial; i++) {
    out.push(windowOutputSize(x[2 + i], kernel[i], strides[i], dilations[i], pads[i], pads[spatial + i], autoPad, ceilMode, fail));
  }
  return out;
}

function spatialInput(x: readonly number[], fail: Fail): void {
  if (x.length < 3) fail(`its input has shape [${x.join(', ')}]; it needs [N, C, spatial...]`);
}

const conv: Operator = {
  inputs: [2, 3],
  infer(node, inputs, fail) {
    const x = need(inputs[0], 'X', fail);
    const w = need(inputs[1], 'W', fail);
    spatialInput(x, fail);
    if (w.length !== x.length) fail(`its weight has shape [${w.join(', ')}], of another rank than its input [${x.join(', ')}]`);
    const group = intAttribute(node, 'group', 1);
    const [outChannels, channelsPerGroup] = w;
    if (!(group >= 1) || x[1] !== channelsPerGroup * group || outChannels % group !== 0) {
      fail(`input channels ${x[1]}, weight [${w.join(', ')}] and group ${group} do not agree`);
    }
    const kernel = intsAttribute(node, 'kernel_shape') ?? w.slice(2);
    if (kernel.some((k, i) => k !== w[2 + i])) fail(`kernel_shape [${kernel.join(', ')}] differs from its weight's [${w.slice(2).join(', ')}]`);
    const b = inputs[2];
    if (b !== undefined && (b.length !== 1 || b[0] !== outChannels)) fail(`its bias has shape [${b.join(', ')}]; it needs [${outChannels}]`);
    const out = [x[0], outChannels, ...windowOutput(node, x, kernel, false, fail)];
    return { outputs: [out], flops: 2 * elements(out) * channelsPerGroup * elements(kernel) };
  },
};

function pool(kind: 'MaxPool' | 'AveragePool'): Operator {
  return {
    inputs: [1, 1],
    infer(node, inputs, fail) {
      const x = need(inputs[0], 'X', fail);
      spatialInput(x, fail);
      if (kind === 'MaxPool' && node.output.length > 1 && node.output[1] !== '') fail('its Indices output is not supported');
      const kernel = intsAttribute(node, 'kernel_shape');
      if (kernel === undefined) return fail('it has no kernel_shape');
      const out = [x[0], x[1], ...windowOutput(node, x, kernel, intAttribute(node, 'ceil_mode', 0) !== 0, fail)];
      return { outputs: [out], flops: elements(out) * elements(kernel) };
    },
  };
}

const globalAveragePool: Operator = {
  inputs: [1, 1],
  infer(_node, inputs, fail) {
    const x = need(inputs[0], 'X', fail);
    spatialInput(x, fail);
    return { outputs: [[x[0], x[1], ...x.slice(2).map(() => 1)]], flops: elements(x) };
  },
};

/** Relu, Clip: the output has the input's shape, one operation per element. */
function elementWise(maxInputs: number): Operator {
  return {
    inputs: [1, maxInputs],
    infer(_node, inputs, fail) {
      const x = need(inputs[0], 'X', fail);
      return { outputs: [x], flops: elements(x) };
    },
  };
}

const identity: Operator = {
  inputs: [1, 1],
  infer(_node, inputs, fail) {
    return { outputs: [need(inputs[0], 'input', fail)], flops: 0 };
  },
};

/** Multidirectional (numpy) broadcasting, as Add applies it. */
const add: Operator = {
  inputs: [2, 2],
  infer(_node, inputs, fail) {
    const a = need(inputs[0], 'A', fail);
    const b = need(inputs[1], 'B', fail);
    const rank = Math.max(a.length, b.length);
    const out: number[] = [];
    for (let i = 0; i < rank; i++) {
      const da = a[a.length - rank + i] ?? 1;
      const db = b[b.length - rank + i] ?? 1;
      if (da !== db && da !== 1 && db !== 1) fail(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
      out.push(da === 1 ? db : da);
    }
    return { outputs: [out], flops: elements(out) };
  },
};

const concat: Operator = {
  inputs: [1, Infinity],
  infer(node, inputs, fail) {
    const shapes = inputs.map((s, i) => need(s, `${i + 1}.`, fail));
    const rank = shapes[0].length;
    const axisAttribute = attribute(node, 'axis');
    if (!axisAttribute) return fail('it has no axis');
    const axis = int64(axisAttribute.i);
    if (!(axis >= -rank && axis < rank)) fail(`axis ${axis} is out of range for rank ${rank}`);
    const a = axis < 0 ? axis + rank : axis;
    const out = [...shapes[0]];
    for (const s of shapes.slice(1)) {
      if (s.length !== rank || s.some((d, i) => i !== a && d !== shapes[0][i])) {
        fail(`inputs [${shapes[0].join(', ')}] and [${s.join(', ')}] cannot be concatenated on axis ${a}`);
      }
      out[a] += s[a];
    }
    return { outputs: [out], flops: 0 };
  },
};

const flatten: Operator = {
  inputs: [1, 1],
  infer(node, inputs, fail) {
    const x = need(inputs[0], 'input', fail);
    const axis = intAttribute(node, 'axis', 1);
    if (!(axis >= -x.length && axis <= x.length)) fail(`axis ${axis} is out of range for rank ${x.length}`);
    const a = axis < 0 ? axis + x.length : axis;
    return { outputs: [[elements(x.slice(0, a)), elements(x.slice(a))]], flops: 0 };
  },
};

const gemm: Operator = {
  inputs: [2, 3],
  infer(node, inputs, fail) {
    const a = need(inputs[0], 'A', fail);
    const b = need(inputs[1], 'B', fail);
    if (a.length !== 2 || b.length !== 2) fail(`A [${a.join(', ')}] and B [${b.join(', ')}] must be matrices`);
    const [m, k] = intAttribute(node, 'transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
    const [kb, n] = intAttribute(node, 'transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
    if (k !== kb) fail(`A [${a.join(', ')}] and B [${b.join(', ')}] do not multiply (transA ${intAttribute(node, 'transA', 0)}, transB ${intAttribute(node, 'transB', 0)})`);
    const c = inputs[2];
    if (c !== undefined) {
      const ok = c.length <= 2 && [m, n].slice(2 - c.length).every((d, i) => c[i] === d || c[i] === 1);
      if (!ok) fail(`C [${c.join(', ')}] does not broadcast to [${m}, ${n}]`);
    }
    return { outputs: [[m, n]], flops: 2 * m * n * k };
  },
};

/** Constant: the shape of its value; it reads nothing and costs nothing (a parameter). */
const constant: Operator = {
  inputs: [0, 0],
  infer(node, _inputs, fail) {
    const value = attribute(node, 'value');
    if (value?.t) return { outputs: [(value.t.dims ?? []).map((d) => int64(d))], flops: 0 };
    if (attribute(node, 'value_float') || attribute(node, 'value_int')) return { outputs: [[]], flops: 0 };
    const list = attribute(node, 'value_floats') ?? attribute(node, 'value_ints');
    if (list) return { outputs: [[list.floats.length + list.ints.length]], flops: 0 };
    return fail('its value is not a tensor, a float(s) or an int(s) attribute');
  },
};

const OPERATORS: ReadonlyMap<string, Operator> = new Map([
  ['Conv', conv],
  ['Relu', elementWise(1)],
  ['Clip', elementWise(3)],
  ['MaxPool', pool('MaxPool')],
  ['AveragePool', pool('AveragePool')],
  ['GlobalAveragePool', globalAveragePool],
  ['Flatten', flatten],
  ['Gemm', gemm],
  ['Add', add],
  ['Concat', concat],
  ['Identity', identity],
  ['Constant', constant],
]);

/** The operators the reader knows, for error messages. */
export const SUPPORTED_OPERATORS: readonly string[] = [...OPERATORS.keys()];

/** The operator of a node, or undefined when stepinfer cannot cost it (another operator, or another domain). */
export function operatorOf(node: NodeProto): Operator | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  return OPERATORS.get(node.opType);
}
