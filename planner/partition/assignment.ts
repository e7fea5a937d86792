// Minimum-cost perfect assignment (the Hungarian method with potentials, O(n^3)). Used to rename
// the parts of one layer's map against the previous layer's: a renaming of every map from layer
// l on changes the volume of layer l alone, and that change is a sum over (old part, new part)
// pairs, so the best renaming per layer is exactly an assignment problem.

/**
 * cost is n x n, row-major: cost[r * n + c]. Returns assignedColumn[r] for every row, minimizing
 * the sum of cost[r * n + assignedColumn[r]].
 */
export function minCostAssignment(cost: Float64Array, n: number): Int32Array {
  const inf = Number.POSITIVE_INFINITY;
  // 1-based arrays as in the classical formulation; column 0 is the virtual start.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const rowOfColumn = new Int32Array(n + 1);
  const way = new Int32Array(n + 1);
  const minv = new Float64Array(n + 1);
  const used = new Uint8Array(n + 1);
  for (let i = 1; i <= n; i++) {
    rowOfColumn[0] = i;
    let j0 = 0;
    minv.fill(inf);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = rowOfColumn[j0];
      let delta = inf;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
        if (minv[j] < delta) { delta = minv[j]; j1 = j; }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) { u[rowOfColumn[j]] += delta; v[j] -= delta; } else minv[j] -= delta;
      }
      j0 = j1;
    } while (rowOfColumn[j0] !== 0);
    do {
      const j1 = way[j0];
      rowOfColumn[j0] = rowOfColumn[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const assignedColumn = new Int32Array(n);
  for (let j = 1; j <= n; j++) if (rowOfColumn[j] > 0) assignedColumn[rowOfColumn[j] - 1] = j - 1;
  return assignedColumn;
}
