import { it, expect } from 'vitest';
import { generateRadixNetwork, generateInputs } from '../../model/generate.ts';
import { testPlan } from '../../test/helpers/plans.ts';
import { runDistributedLocally } from '../../workflows/local/distributed-run.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
it('smoke', async () => {
  const net = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 3 });
  const inputs = generateInputs({ neurons: 1024, samples: 300, seed: 5 } as any);
  const plan = await testPlan(net, { workers: 4, channel: 'queue', rows: 300, groups: 2 });
  console.log(plan.shape, plan.workflow.stages.map(s => [s.firstLayer, s.lastLayer, s.channel, s.launch.kind]));
  const r = await runDistributedLocally(plan, net, inputs, { logSink: (f, s, l) => { if (s === 'stderr' || l.includes('ERROR')) console.log(f, l); }, onPhase: (p) => console.log(p) });
  const serial = inferSerial(net, inputs);
  for (const st of r.stages) for (const w of st.workers) console.log(w.worker, w.endMs - w.startMs, w.shardCached, w.layers.map(l => `${l.layer}:${Math.round(l.computeMs)}/${Math.round(l.sendMs)}/${Math.round(l.waitMs)} r${l.counters.receives}`).join(' '));
  console.log(r.phasesMs, r.categories.length, serial.categories?.length);
  expect(r.categories).toEqual(serial.categories);
}, 120000);
