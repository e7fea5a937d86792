// FSD-Inference's launch tree: every worker is started exactly once, each by its parent, ids in
// depth-first preorder derived from the parent's id, branch index and subtree size alone.
import { describe, expect, it } from 'vitest';
import { launchTreeChildren, launchTreeSize, treeShapes } from '../../planner/launch-tree.ts';

/** Every (worker, parent, depth) the tree starts, walking it from the coordinator. */
function walk(shape: { branchingFactor: number; levels: number }) {
  const started: { worker: number; parent: number | null; depth: number }[] = [];
  const visit = (parent: number | null, depth: number) => {
    for (const child of launchTreeChildren(shape, parent, depth)) {
      started.push({ worker: child.worker, parent, depth: child.depth });
      visit(child.worker, child.depth);
    }
  };
  visit(null, 0);
  return started;
}

describe('launch tree', () => {
  it('numbers 2^3 in preorder: roots 0 and 7, their children 1, 4 and 8, 11', () => {
    const shape = { branchingFactor: 2, levels: 3 };
    expect(launchTreeChildren(shape, null, 0)).toEqual([{ worker: 0, depth: 1 }, { worker: 7, depth: 1 }]);
    expect(launchTreeChildren(shape, 0, 1)).toEqual([{ worker: 1, depth: 2 }, { worker: 4, depth: 2 }]);
    expect(launchTreeChildren(shape, 7, 1)).toEqual([{ worker: 8, depth: 2 }, { worker: 11, depth: 2 }]);
    expect(launchTreeChildren(shape, 11, 2)).toEqual([{ worker: 12, depth: 3 }, { worker: 13, depth: 3 }]);
    expect(launchTreeChildren(shape, 13, 3)).toEqual([]);
    // Preorder: the walk visits 0, 1, 2, 3, ... in order.
    expect(walk(shape).map((s) => s.worker)).toEqual(Array.from({ length: 14 }, (_, i) => i));
  });

  it('starts every worker exactly once for every shape of 8, 14, 30, 62 and 1 workers', () => {
    for (const p of [1, 8, 14, 30, 62]) {
      for (const shape of treeShapes(p)) {
        const ids = walk(shape).map((s) => s.worker).sort((a, b) => a - b);
        expect(ids, `${shape.branchingFactor}^${shape.levels}`).toEqual(Array.from({ length: launchTreeSize(shape) }, (_, i) => i));
      }
    }
  });

  it('flat FSD launch (8^1): the coordinator starts all eight', () => {
    expect(launchTreeChildren({ branchingFactor: 8, levels: 1 }, null, 0).map((c) => c.worker)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
