// Picks a layer kernel backend by name. The TypeScript kernel is the reference and the default
// (`npm run bench` measures both on the real benchmark).

import { UsageError } from '../../model/errors.ts';
import { SparseLayerKernel, type LayerKernel, type SparseKernelOptions } from './layer-kernel.ts';
import { GpuLayerKernel, type GpuMode } from './gpu-kernel.ts';

export const KERNEL_BACKENDS = ['typescript', 'gpu.js'] as const;
export type KernelBackend = (typeof KERNEL_BACKENDS)[number];

export interface KernelChoice extends SparseKernelOptions {
  readonly backend?: KernelBackend;
  /** gpu.js only: ask for a mode instead of gpu.js's own pick. */
  readonly gpuMode?: GpuMode;
}

export function createLayerKernel(neurons: number, choice: KernelChoice = {}): LayerKernel {
  const backend = choice.backend ?? 'typescript';
  switch (backend) {
    case 'typescript': return new SparseLayerKernel(neurons, choice);
    case 'gpu.js': return new GpuLayerKernel(neurons, choice.gpuMode);
    default: throw new UsageError(`unknown kernel backend "${backend}" (choose ${KERNEL_BACKENDS.join(' or ')})`, { field: 'backend' });
  }
}
