// The part of the WebAssembly JS API that Node provides and we use. TypeScript ships these types
// only in its DOM and webworker libraries, which would also declare browser globals here.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
  }
  interface MemoryDescriptor { initial: number; maximum?: number; shared?: boolean }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer;
    grow(deltaPages: number): number;
  }
  type ExportValue = ((...args: number[]) => number | void) | Memory;
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, Memory | ((...args: number[]) => unknown)>>);
    readonly exports: Record<string, ExportValue>;
  }
}
type BufferSource = ArrayBufferView | ArrayBuffer;
