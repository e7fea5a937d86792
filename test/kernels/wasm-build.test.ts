import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assembleWat, KERNEL_DIR, wasmModulePath, wasmModuleSource } from '../../scripts/build-wasm.ts';

describe('committed WebAssembly kernels', () => {
  const sources = readdirSync(KERNEL_DIR).filter((f) => f.endsWith('.wat'));

  it('exist', () => expect(sources).toContain('layer-simd.wat'));

  it.each(sources)('%s matches its committed .wasm.ts module (run npm run build:wasm after editing)', async (name) => {
    const path = join(KERNEL_DIR, name);
    expect(readFileSync(wasmModulePath(path), 'utf8')).toBe(wasmModuleSource(name, await assembleWat(path)));
  });
});
