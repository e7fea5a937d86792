import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assembleWat, KERNEL_DIR } from '../../scripts/build-wasm.ts';

describe('committed WebAssembly kernels', () => {
  const sources = readdirSync(KERNEL_DIR).filter((f) => f.endsWith('.wat'));

  it('exist', () => expect(sources).toContain('gather-simd.wat'));

  it.each(sources)('%s matches its committed .wasm (run npm run build:wasm after editing)', async (name) => {
    const built = await assembleWat(join(KERNEL_DIR, name));
    expect(Buffer.from(built).equals(readFileSync(join(KERNEL_DIR, name.replace(/\.wat$/, '.wasm'))))).toBe(true);
  });
});
