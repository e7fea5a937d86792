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

/** Workers in the subtree of a node at `depth` (1 = a root): 1 + b + ... + b^(levels - depth). */
function subtreeSize(shape: LaunchTreeShape, depth: number): number {
  return 1 + launchTreeSize({ branchingFactor: shape.branchingFactor, levels: shape.levels - depth });
}

/**
 * The workers `parent` invokes (null: the coordinator, which invokes the roots), numbered in
 * depth-first preorder as FSD-Inference numbers them: child k of a node at depth d is
 * parent + 1 + k * (size of a subtree at depth d + 1); the roots are k * (size of a root's subtree).
 * `parentDepth` is the parent's depth (0 for the coordinator).
 */
export function launchTreeChildren(shape: LaunchTreeShape, parent: number | null, parentDepth: number): { worker: number; depth: number }[] {
  const depth = parentDepth + 1;
  if (depth > shape.levels) return [];
  const size = subtreeSize(shape, depth);
  const first = parent === null ? 0 : parent + 1;
  return Array.from({ length: shape.branchingFactor }, (_, k) => ({ worker: first + k * size, depth }));
}
