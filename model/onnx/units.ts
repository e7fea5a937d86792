// Layer units: the pieces a dense model can be cut into for AMPS-Inf stages. A cut is a position
// in the topological order of the compute nodes; the tensors crossing it are the activations made
// before it and read at or after it (the graph output counts as read at the end). A cut is valid
// when exactly one activation crosses it: that one tensor is all a stage hands to the next. In a
// residual or inception block the skip or the branches keep two or more tensors alive, so valid
// cuts fall only at block boundaries. The units are the segments between consecutive valid cuts.
// Parameters (initializers, Constant and Identity-of-parameter nodes) are data, not activations:
// they never cross a cut; each segment that reads one carries its own copy.

import type { OnnxGraph, OnnxNode, TensorInfo } from './graph.ts';

export interface LayerUnit {
  /** 1-based, in order. */
  readonly index: number;
  /**
   * Readable and unique, from the node names: the module path common to its nodes ("layer1.0" for
   * a residual block, "features.0.0" for one convolution), else "first..last"; a repeat gets "#2".
   */
  readonly name: string;
  /** Its first and last compute node, as indexes into graph.nodes (the parameter nodes it reads may sit elsewhere). */
  readonly firstNode: number;
  readonly lastNode: number;
  /** Operator of each of its compute nodes, in order. */
  readonly opTypes: readonly string[];
  readonly flops: number;
  /** Bytes of the distinct initializers its nodes read (what a stage holding it must carry). */
  readonly paramBytes: number;
  /** The one tensor crossing the cut before it. */
  readonly input: TensorInfo;
  /** The one tensor crossing the cut after it. */
  readonly output: TensorInfo;
  /** The largest set of activations alive at once while it runs (its inputs, outputs and what waits between). */
  readonly peakActivationBytes: number;
}

/** The compute nodes of a graph (parameter nodes aside), in topological order. */
export function computeNodes(graph: OnnxGraph): OnnxNode[] {
  return graph.nodes.filter((n) => !n.isParameter);
}

/**
 * The module path of a node as dotted atoms, from PyTorch's scoped names: "/layer1/layer1.0/conv1/Conv"
 * is module layer1.0.conv1 (a Sequential child's scope repeats its parent's: "layer1" then "layer1.0").
 * The last scope is the operator and is dropped. Other names are kept whole.
 */
export function modulePath(node: OnnxNode): string[] {
  if (!node.name.startsWith('/')) return [node.name];
  const scopes = node.name.split('/').filter((s) => s !== '');
  if (scopes.length > 1) scopes.pop();
  const components: string[] = [];
  for (const scope of scopes) {
    const last = components.length - 1;
    if (last >= 0 && scope.startsWith(`${components[last]}.`)) components[last] = scope;
    else components.push(scope);
  }
  return components.flatMap((c) => c.split('.'));
}

/** Where each activation is made and last read, as positions among the compute nodes. */
function tensorSpans(graph: OnnxGraph, compute: readonly OnnxNode[]) {
  const made = new Map<string, number>([[graph.input.name, -1]]);
  const lastRead = new Map<string, number>();
  compute.forEach((node, position) => {
    for (const input of node.inputs) if (graph.tensors.has(input)) lastRead.set(input, position);
    for (const output of node.outputs) made.set(output, position);
  });
  lastRead.set(graph.output.name, compute.length);
  return { made, lastRead };
}

/** The layer units of a graph, in order; a graph with no valid cut inside is one unit. */
export function layerUnits(graph: OnnxGraph): LayerUnit[] {
  const compute = computeNodes(graph);
  const count = compute.length;
  const { made, lastRead } = tensorSpans(graph, compute);

  // crossing[c]: the activations crossing cut c (before compute node c), from the spans made < c <= lastRead.
  const crossingCount = new Int32Array(count + 2);
  const crossingBytes = new Float64Array(count + 2);
  const alive: { tensor: TensorInfo; from: number; to: number }[] = [];
  for (const [name, position] of made) {
    const last = lastRead.get(name);
    if (last === undefined || last <= position) continue; // never read: crosses no cut
    const tensor = graph.tensors.get(name)!;
    alive.push({ tensor, from: position + 1, to: last });
    crossingCount[position + 1] += 1;
    crossingCount[last + 1] -= 1;
    crossingBytes[position + 1] += tensor.bytes;
    crossingBytes[last + 1] -= tensor.bytes;
  }
  const cuts: { position: number; tensor: TensorInfo }[] = [];
  const liveBytes = new Float64Array(count + 1);
  let running = 0;
  let runningBytes = 0;
  for (let c = 0; c <= count; c++) {
    running += crossingCount[c];
    runningBytes += crossingBytes[c];
    liveBytes[c] = runningBytes;
    if (running === 1) cuts.push({ position: c, tensor: alive.find((a) => a.from <= c && c <= a.to)!.tensor });
  }

  const paths = compute.map(modulePath);
  const units: LayerUnit[] = [];
  for (let k = 0; k + 1 < cuts.length; k++) {
    const start = cuts[k].position;
    const end = cuts[k + 1].position; // exclusive
    const nodes = compute.slice(start, end);
    // Live while node j runs: what crosses cut j (made before, read at j or later) plus what j writes.
    let peak = 0;
    for (let j = start; j < end; j++) peak = Math.max(peak, liveBytes[j] + compute[j].outputBytes);
    units.push({
      index: k + 1,
      name: unitName(paths, start, end),
      firstNode: nodes[0].index,
      lastNode: nodes[nodes.length - 1].index,
      opTypes: nodes.map((n) => n.opType),
      flops: nodes.reduce((a, n) => a + n.flops, 0),
      paramBytes: segmentParamBytes(graph, nodes),
      input: cuts[k].tensor,
      output: cuts[k + 1].tensor,
      peakActivationBytes: peak,
    });
  }
  return uniqueNames(units);
}

/** The module path common to the nodes start..end-1, else "first..last" (the one node's path for one node). */
function unitName(paths: readonly string[][], start: number, end: number): string {
  const mine = paths.slice(start, end);
  let prefix = mine[0];
  for (const p of mine) {
    let i = 0;
    while (i < prefix.length && i < p.length && prefix[i] === p[i]) i++;
    prefix = prefix.slice(0, i);
  }
  if (prefix.length > 0) return prefix.join('.');
  return `${mine[0].join('.')}..${mine[mine.length - 1].join('.')}`;
}

/** Names made unique in order: a repeated name gets "#2", "#3". */
function uniqueNames(units: LayerUnit[]): LayerUnit[] {
  const seen = new Map<string, number>();
  return units.map((u) => {
    const times = (seen.get(u.name) ?? 0) + 1;
    seen.set(u.name, times);
    return times === 1 ? u : { ...u, name: `${u.name}#${times}` };
  });
}

/** Bytes of the distinct initializers the nodes read, through Identity aliases. */
export function segmentParamBytes(graph: OnnxGraph, nodes: readonly OnnxNode[]): number {
  return segmentParameters(graph, nodes).initializers.reduce((a, name) => a + graph.initializers.get(name)!.bytes, 0);
}

/**
 * The parameter nodes the given compute nodes read, transitively (in graph order), and the
 * initializers all of them read (in file order): what a sub-model of these nodes must carry.
 */
export function segmentParameters(graph: OnnxGraph, nodes: readonly OnnxNode[]): { parameterNodes: OnnxNode[]; initializers: string[] } {
  const maker = new Map<string, OnnxNode>();
  for (const n of graph.nodes) if (n.isParameter) for (const o of n.outputs) maker.set(o, n);
  const parameterNodes = new Set<OnnxNode>();
  const initializers = new Set<string>();
  const visit = (tensor: string) => {
    if (graph.initializers.has(tensor)) { initializers.add(tensor); return; }
    const m = maker.get(tensor);
    if (m && !parameterNodes.has(m)) {
      parameterNodes.add(m);
      for (const i of m.inputs) visit(i);
    }
  };
  for (const n of nodes) for (const i of n.inputs) visit(i);
  return {
    parameterNodes: [...parameterNodes].sort((a, b) => a.index - b.index),
    initializers: [...graph.initializers.keys()].filter((name) => initializers.has(name)),
  };
}
