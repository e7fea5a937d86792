// The 'hypergraph' scheme on networks whose hypergraph exceeds the pin budget: the map is
// optimized on an evenly spaced layer sample, then candidates are ranked by exact volume over all
// layers. Exercised cheaply with a small budget on a generated 1024 x 24 network.

import { describe, expect, it } from 'vitest';
import { UsageError } from '../../model/errors.ts';
import { generateRadixNetwork } from '../../model/generate.ts';
import { communicationVolume, partitionNetwork } from '../../planner/partition/index.ts';
import { randomMap, sharedPartition } from '../../planner/partition/baseline.ts';
import { hypergraphPinBound, sampleLayers } from '../../planner/partition/shared.ts';
import { sharedMapRowSends } from '../../planner/partition/volume.ts';

describe('hypergraph on a layer sample', () => {
  const net = generateRadixNetwork({ neurons: 1024, layers: 24, seed: 3 });
  const pins = hypergraphPinBound(net); // 24 x (32768 + 1024)
  const pinBudget = Math.floor(pins / 4.5); // room for 5 of the 24 layers

  it('samples evenly spaced layers, always the first, and every layer under the budget', () => {
    expect(pins).toBe(24 * (32 * 1024 + 1024));
    expect(sampleLayers(net, pinBudget)).toEqual([0, 4, 9, 14, 19]);
    expect(sampleLayers(net, pins)).toEqual(Array.from({ length: 24 }, (_, l) => l));
    expect(sampleLayers(net, 1)).toEqual([0]);
  });

  it('is never worse than cyclic or block over all layers, reports the sample and the exact volume, and is deterministic', () => {
    for (const p of [8, 12]) {
      const a = partitionNetwork(net, p, 'hypergraph', { seed: 2, pinBudget });
      const b = partitionNetwork(net, p, 'hypergraph', { seed: 2, pinBudget });
      expect(a.maps).toHaveLength(25);
      expect(a.sampledLayers).toEqual([1, 5, 10, 15, 20]);
      expect(a.note).toMatch(/optimized on 5 of 24 layers/);
      expect(Array.from(b.maps[0].owner)).toEqual(Array.from(a.maps[0].owner));
      const volume = communicationVolume(net, a);
      expect(volume.layers).toHaveLength(24);
      expect(a.note).toContain(`(${volume.totalRowSends} row-sends)`);
      for (const baseline of ['cyclic', 'block'] as const) {
        expect(volume.totalRowSends).toBeLessThanOrEqual(communicationVolume(net, partitionNetwork(net, p, baseline)).totalRowSends);
      }
      expect(volume.maxImbalance).toBeLessThanOrEqual(Math.max(0.03, Math.ceil(1024 / p) / (1024 / p) - 1) + 1e-9);
    }
  });

  it('partitions whole networks under the budget as before (no sample reported)', () => {
    const whole = partitionNetwork(net, 8, 'hypergraph', { seed: 2 });
    expect(whole.sampledLayers).toBeUndefined();
    expect(whole.note).toBeUndefined();
  });

  it('refuses hypergraph-layered over its pin limit, naming the size and suggesting hypergraph', () => {
    expect(() => partitionNetwork(net, 8, 'hypergraph-layered', { pinBudget, layeredPinLimit: pinBudget })).toThrow(UsageError);
    expect(() => partitionNetwork(net, 8, 'hypergraph-layered', { pinBudget, layeredPinLimit: pinBudget })).toThrow(/1024 x 24 network.*0\.8 M pins.*'hypergraph'/);
    expect(() => partitionNetwork(net, 8, 'hypergraph', { pinBudget: 0 })).toThrow(/field pinBudget/);
    expect(() => partitionNetwork(net, 8, 'hypergraph-layered', { layeredPinLimit: -1 })).toThrow(/field layeredPinLimit/);
  });

  it('runs hypergraph-layered between the budget and the limit from the sampled shared map', () => {
    const cyclic = communicationVolume(net, partitionNetwork(net, 8, 'cyclic')).totalRowSends;
    const layered = partitionNetwork(net, 8, 'hypergraph-layered', { pinBudget });
    expect(layered.sampledLayers).toEqual([1, 5, 10, 15, 20]);
    expect(layered.note).toMatch(/^starting map optimized on 5 of 24 layers/);
    const volume = communicationVolume(net, layered);
    expect(volume.totalRowSends).toBeLessThanOrEqual(cyclic);
    expect(volume.maxImbalance).toBeLessThanOrEqual(0.03);
  });

  it('sharedMapRowSends equals communicationVolume on a shared map, and stops early past a bound', () => {
    const map = randomMap(1024, 8, 4);
    const exact = communicationVolume(net, sharedPartition(map, 24, 'random')).totalRowSends;
    expect(sharedMapRowSends(net, map.owner, 8)).toBe(exact);
    const partial = sharedMapRowSends(net, map.owner, 8, 10);
    expect(partial).toBeGreaterThan(10);
    expect(partial).toBeLessThan(exact);
  });
});
