import { Worker } from 'node:worker_threads';
for (const mb of [256, 1024, 3008]) {
  await new Promise((res) => { const w = new Worker(`const v8 = require('node:v8'); const s = v8.getHeapSpaceStatistics().find(x => x.space_name==='new_space'); require('node:worker_threads').parentPort.postMessage({ newSpace: s.space_size, avail: s.space_available_size, limit: v8.getHeapStatistics().heap_size_limit })`, { eval: true, resourceLimits: { maxOldGenerationSizeMb: mb } }); w.once('message', (m) => { console.log(mb, JSON.stringify(m)); w.terminate(); res(); }); });
}
const v8 = await import('node:v8'); console.log('main', JSON.stringify(v8.getHeapSpaceStatistics().find(x => x.space_name==='new_space')), v8.getHeapStatistics().heap_size_limit);
