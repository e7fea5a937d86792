import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
const mod = process.argv[2]; const n = Number(process.argv[3] ?? 1); const mode = process.argv[4] ?? '';
let path = mod;
if (mode.includes('bundle')) {
  const t0 = performance.now();
  await build({ entryPoints: [mod], bundle: true, platform: 'node', format: 'esm', target: 'node24', outfile: '/tmp/perf/bundle/worker.mjs', logLevel: 'error', minify: mode.includes('min'),
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } });
  console.log('esbuild ms', (performance.now() - t0).toFixed(0));
  path = '/tmp/perf/bundle/worker.mjs';
}
const cache = mode.includes('cache') ? "import { enableCompileCache } from 'node:module'; enableCompileCache('/tmp/perf/ccache');" : '';
const src = `${cache} import { parentPort } from 'node:worker_threads'; const t=performance.now(); const c0=process.threadCpuUsage(); await import(${JSON.stringify(path)}); const c=process.threadCpuUsage(c0); parentPort.postMessage({ms: performance.now()-t, cpu:(c.user+c.system)/1000});`;
const t0 = performance.now(); const p0 = process.cpuUsage();
const res = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => { const w = new Worker(src, { eval: true }); w.once('message', (m) => { resolve(m); w.terminate(); }); w.once('error', reject); })));
const p = process.cpuUsage(p0);
console.log('wall ms', (performance.now() - t0).toFixed(0), 'process cpu ms', ((p.user+p.system)/1000).toFixed(0), res.map((r) => `${r.ms.toFixed(0)}/${r.cpu.toFixed(0)}`).join(' '));
