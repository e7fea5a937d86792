// FSD-Inference's hierarchical launch: a coordinator invokes b roots, each of which invokes b
// children, for `levels` levels, so b + b^2 + ... + b^levels workers start in O(levels) rounds
// instead of one serial loop. The one place that knows the tree's arithmetic.

export interface LaunchTreeShape {
  readonly branchingFactor: number;
  readonly levels: number;
}

/** Workers a tree starts: b + b^2 + ... + b^levels. */
export function launchTreeSize(shape: LaunchTreeShape): number {
  let size = 0, power = 1;
  for (let level = 0; level < shape.levels; level++) {
    power *= shape.branchingFactor;
    size += power;
  }
  return size;
}

/** Every tree shape (b >= 2, levels >= 1) that starts exactly `workers` workers (b = 1 for one). */
export function treeShapes(workers: number): LaunchTreeShape[] {
  const out: LaunchTreeShape[] = [];
  for (let b = 2; b <= workers; b++) {
    for (let levels = 1; ; levels++) {
      const size = launchTreeSize({ branchingFactor: b, levels });
      if (size === workers) out.push({ branchingFactor: b, levels });
      if (size >= workers) break;
    }
  }
  if (workers === 1) out.push({ branchingFactor: 1, levels: 1 });
  return out;
}

/** "tree 4^3", the label of a launch in tables and plan alternatives. */
export function launchTreeLabel(shape: LaunchTreeShape): string {
  return `tree ${shape.branchingFactor}^${shape.levels}`;
}
