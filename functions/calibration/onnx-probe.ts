// A fresh Node.js process's view of onnxruntime-node, for the dense calibration (onnx-units.ts runs
// this file as a child): how long importing it takes and how much resident memory it adds, then
// how much a session of one model adds (per byte of the file) and how much one run adds beyond
// the session. Measured in a process of its own so that nothing else is resident or cached in it.
// Usage: node onnx-probe.ts <model.onnx> <input dims as JSON>; prints one JSON line.

import { readFileSync } from 'node:fs';

export interface ProbeResult {
  readonly importSeconds: number;
  readonly runtimeResidentBytes: number;
  readonly sessionCreateSeconds: number;
  readonly sessionResidentBytes: number;
  readonly runResidentBytes: number;
  readonly modelBytes: number;
}

async function probe(file: string, dims: number[]): Promise<ProbeResult> {
  const rss = () => process.memoryUsage().rss;
  const bytes = readFileSync(file);
  const rss0 = rss();
  const t0 = performance.now();
  const ort = await import('onnxruntime-node');
  const importSeconds = (performance.now() - t0) / 1000;
  const rss1 = rss();
  // The handler's session options (its module imports onnxruntime-node, already loaded now).
  const { stageSessionOptions } = await import('../dense/onnx-session.ts');
  const rss1b = rss();
  const t1 = performance.now();
  const session = await ort.InferenceSession.create(bytes, stageSessionOptions(1));
  const sessionCreateSeconds = (performance.now() - t1) / 1000;
  const rss2 = rss();
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
  const rss3 = rss();
  await session.release();
  return {
    importSeconds,
    runtimeResidentBytes: Math.max(0, rss1 - rss0),
    sessionCreateSeconds,
    sessionResidentBytes: Math.max(0, rss2 - rss1b),
    runResidentBytes: Math.max(0, rss3 - rss2),
    modelBytes: bytes.length,
  };
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const [file, dims] = process.argv.slice(2);
  probe(file, JSON.parse(dims) as number[]).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: Error) => { process.stderr.write(`${error.message}\n`); process.exitCode = 1; },
  );
}
