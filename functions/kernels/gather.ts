// The dense-gather step of the layer kernel, 8 activation rows ("lanes") at a time, behind one
// seam with two engines: plain TypeScript (the reference) and WebAssembly SIMD (gather-simd.wat).
// Both compute y[j * 8 + r] = sum over the inputs k of output j, ascending, of x[k * 8 + r] * w
// with float32 inputs and float64 products and sums, so they are bit-identical.

import { wasmBase64 } from './gather-simd.wasm.ts';
import type { SparseLayer } from '../../model/network.ts';
import { ShapeMismatchError } from '../../model/errors.ts';

export const GATHER_LANES = 8;

export interface LaneBuffers {
  /** Inputs, interleaved: lane r of input k at [k * 8 + r]. Zero between uses. */
  readonly x: Float32Array;
  /** Sums, interleaved: lane r of output j at [j * 8 + r]. */
  readonly y: Float64Array;
}

export interface GatherEngine {
  readonly name: string;
  /**
   * Makes `layer` the one `run` gathers through, as its arrays are now (call again after changing
   * them); returns lane buffers valid until the next prepare.
   */
  prepare(layer: SparseLayer): LaneBuffers;
  run(): void;
}

export class TypeScriptGather implements GatherEngine {
  readonly name = 'typescript';
  private readonly lanes: LaneBuffers;
  private layer: SparseLayer | undefined;

  constructor(neurons: number) {
    this.lanes = { x: new Float32Array(neurons * GATHER_LANES), y: new Float64Array(neurons * GATHER_LANES) };
  }

  prepare(layer: SparseLayer): LaneBuffers {
    this.layer = layer;
    return this.lanes;
  }

  /**
   * One index and weight load feed 8 independent multiply-adds held in registers (a single
   * running sum is bound by floating-point add latency).
   */
  run(): void {
    const { neurons: n, outputStart, inputIndex, weight } = this.layer!;
    const { x, y } = this.lanes;
    for (let j = 0; j < n; j++) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
      const end = outputStart[j + 1];
      for (let e = outputStart[j]; e < end; e++) {
        const b = inputIndex[e] << 3;
        const w = weight[e];
        s0 += x[b] * w; s1 += x[b + 1] * w; s2 += x[b + 2] * w; s3 += x[b + 3] * w;
        s4 += x[b + 4] * w; s5 += x[b + 5] * w; s6 += x[b + 6] * w; s7 += x[b + 7] * w;
      }
      const o = j << 3;
      y[o] = s0; y[o + 1] = s1; y[o + 2] = s2; y[o + 3] = s3;
      y[o + 4] = s4; y[o + 5] = s5; y[o + 6] = s6; y[o + 7] = s7;
    }
  }
}

const WASM_PAGE_BYTES = 65536;
const align16 = (n: number) => (n + 15) & ~15;
let simdModule: WebAssembly.Module | undefined;

/** The compiled gather-simd module, shared by all instances (compiling is synchronous and small). */
function loadSimdModule(): WebAssembly.Module {
  simdModule ??= new WebAssembly.Module(Buffer.from(wasmBase64, 'base64'));
  return simdModule;
}

/**
 * WebAssembly SIMD engine. Memory layout: x lanes, y lanes, then the current layer's outputStart,
 * inputIndex and weight, copied in by `prepare` (once per layer application, not per block).
 */
export class SimdGather implements GatherEngine {
  readonly name = 'wasm-simd';
  private readonly neurons: number;
  private readonly memory: WebAssembly.Memory;
  private readonly gather8: (n: number, outputStart: number, inputIndex: number, weight: number, x: number, y: number) => void;
  private readonly yOffset: number;
  private readonly layerOffset: number;
  private pointers = { outputStart: 0, inputIndex: 0, weight: 0 };
  private lanes: LaneBuffers;

  constructor(neurons: number) {
    this.neurons = neurons;
    this.yOffset = align16(neurons * GATHER_LANES * 4);
    this.layerOffset = this.yOffset + align16(neurons * GATHER_LANES * 8);
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(this.layerOffset / WASM_PAGE_BYTES) + 1 });
    const instance = new WebAssembly.Instance(loadSimdModule(), { env: { memory: this.memory } });
    this.gather8 = instance.exports.gather8 as unknown as SimdGather['gather8'];
    this.lanes = this.views();
  }

  private views(): LaneBuffers {
    return {
      x: new Float32Array(this.memory.buffer, 0, this.neurons * GATHER_LANES),
      y: new Float64Array(this.memory.buffer, this.yOffset, this.neurons * GATHER_LANES),
    };
  }

  prepare(layer: SparseLayer): LaneBuffers {
    if (layer.neurons !== this.neurons) throw new ShapeMismatchError(`gather engine for ${this.neurons} neurons got a ${layer.neurons}-neuron layer`);
    // Copied on every prepare, never cached by identity: a caller may refill or mutate the same arrays
    // between applications. The copy is one pass over the layer; the gather makes one per 8 dense rows.
    const nnz = layer.inputIndex.length;
    const outputStart = this.layerOffset;
    const inputIndex = outputStart + align16(4 * (this.neurons + 1));
    const weight = inputIndex + align16(4 * nnz);
    const needed = weight + align16(4 * nnz);
    if (needed > this.memory.buffer.byteLength) {
      // Growing detaches every view of the old buffer; the lane contents (zeros) are kept.
      this.memory.grow(Math.ceil((needed - this.memory.buffer.byteLength) / WASM_PAGE_BYTES));
      this.lanes = this.views();
    }
    const buffer = this.memory.buffer;
    new Uint32Array(buffer, outputStart, this.neurons + 1).set(layer.outputStart.subarray(0, this.neurons + 1));
    new Uint32Array(buffer, inputIndex, nnz).set(layer.inputIndex);
    new Float32Array(buffer, weight, nnz).set(layer.weight);
    this.pointers = { outputStart, inputIndex, weight };
    return this.lanes;
  }

  run(): void {
    const p = this.pointers;
    this.gather8(this.neurons, p.outputStart, p.inputIndex, p.weight, 0, this.yOffset);
  }
}

export const GATHER_ENGINES = ['wasm-simd', 'typescript'] as const;
export type GatherEngineName = (typeof GATHER_ENGINES)[number];

export function createGatherEngine(name: GatherEngineName, neurons: number): GatherEngine {
  return name === 'wasm-simd' ? new SimdGather(neurons) : new TypeScriptGather(neurons);
}
