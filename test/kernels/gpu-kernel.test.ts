import { describe, expect, it } from 'vitest';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { createLayerKernel } from '../../functions/kernels/backends.ts';
import { GpuLayerKernel } from '../../functions/kernels/gpu-kernel.ts';

describe('gpu.js backend', () => {
  it('reports the mode that actually ran', () => {
    const kernel = new GpuLayerKernel(64);
    expect(kernel.name).toMatch(/^gpu\.js \((gpu|cpu|webasm|webgl|webgl2|headlessgl|webgpu)\)$/);
    expect(kernel.name).toBe(`gpu.js (${kernel.mode})`);
    kernel.destroy();
  });

  it.each(['cpu', undefined] as const)('matches the TypeScript kernel on a generated network (mode %s)', (gpuMode) => {
    const network = generateRadixNetwork({ neurons: 1024, layers: 12, seed: 8 });
    const inputs = generateInputs({ neurons: 1024, samples: 120, seed: 8 });
    const reference = inferSerial(network, inputs);
    const gpu = inferSerial(network, inputs, { kernel: createLayerKernel(network.neurons, { backend: 'gpu.js', gpuMode }) });
    expect(reference.categories.length).toBeGreaterThan(0);
    expect(gpu.categories).toEqual(reference.categories);
    expect([...gpu.activations.rowStart]).toEqual([...reference.activations.rowStart]);
    expect([...gpu.activations.columnIndex]).toEqual([...reference.activations.columnIndex]);
    // Same summation order, but gpu.js's GPU and webasm modes accumulate in float32 (measured:
    // 4e-6 relative after 12 layers); the stated tolerance is 1e-4 relative.
    let worst = 0;
    reference.activations.value.forEach((v, i) => { worst = Math.max(worst, Math.abs(gpu.activations.value[i] - v) / Math.max(1, Math.abs(v))); });
    expect(worst).toBeLessThan(1e-4);
  });

  it('refuses an unknown backend by name', () => {
    expect(() => createLayerKernel(8, { backend: 'cuda' as never })).toThrow('field backend: unknown kernel backend "cuda" (choose typescript or gpu.js)');
  });
});
