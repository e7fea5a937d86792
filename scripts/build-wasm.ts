// Assembles functions/kernels/*.wat into the .wasm files committed beside them (the Lambda
// bundle and the runtime then need no assembler). test/kernels/wasm-build.test.ts checks that the
// committed binaries match their sources.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtFactory from 'wabt';

export async function assembleWat(path: string): Promise<Uint8Array> {
  const wabt = await wabtFactory();
  const module = wabt.parseWat(path, readFileSync(path, 'utf8'), { simd: true });
  module.validate();
  const { buffer } = module.toBinary({ log: false, write_debug_names: false });
  module.destroy();
  return buffer;
}

export const KERNEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'functions', 'kernels');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const name of readdirSync(KERNEL_DIR).filter((f) => f.endsWith('.wat'))) {
    const bytes = await assembleWat(join(KERNEL_DIR, name));
    writeFileSync(join(KERNEL_DIR, name.replace(/\.wat$/, '.wasm')), bytes);
    console.log(`assembled ${name}: ${bytes.length} bytes`);
  }
}
