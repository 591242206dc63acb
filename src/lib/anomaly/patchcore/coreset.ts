/**
 * Greedy k-center coreset selection (PatchCore): repeatedly take the point farthest from every
 * point taken so far. The result is the same as the textbook O(N·K·d) loop, but each step only
 * visits the clusters the new center can actually change: a point p, now at distance r(p) from
 * its nearest center c, can only move to the new center z if |z - c| < 2 r(p) (triangle
 * inequality). Distances are computed with early exit once they pass the pruning bound, so late
 * steps, where clusters are small and far apart, cost little.
 */

export interface CoresetResult {
  /** Row indices of the selected points, in selection order. */
  indices: Int32Array;
  /** Coverage radius after each selection (distance of the farthest point to its center). */
  radii: Float32Array;
}

/** Squared distance between row a of `x` and row b of `y`, stopping early once above `limit`. */
function distance2(x: Float32Array, a: number, y: Float32Array, b: number, dim: number, limit: number): number {
  let s = 0;
  const ao = a * dim;
  const bo = b * dim;
  let c = 0;
  // Check the bound every 16 dimensions: often enough to cut most work, rarely enough to be cheap.
  for (; c + 16 <= dim; c += 16) {
    for (let j = c; j < c + 16; j++) {
      const d = (x[ao + j] as number) - (y[bo + j] as number);
      s += d * d;
    }
    if (s > limit) return s;
  }
  for (; c < dim; c++) {
    const d = (x[ao + c] as number) - (y[bo + c] as number);
    s += d * d;
  }
  return s;
}

/**
 * Selects `k` of the `count` rows of `points` (row-major, `dim` columns), starting from
 * `start`. Distances are Euclidean in the given space (typically a random projection).
 */
export function greedyCoreset(points: Float32Array, count: number, dim: number, k: number, start = 0): CoresetResult {
  const target = Math.min(k, count);
  const indices = new Int32Array(target);
  const radii = new Float32Array(target);
  if (target === 0) return { indices, radii };
  const centers = new Float32Array(target * dim);
  const assign = new Int32Array(count);
  const dist = new Float32Array(count); // distance to the assigned center
  const members: Int32Array[] = [];
  const memberCount = new Int32Array(target);
  const radius = new Float64Array(target); // max dist among a cluster's members
  const farthest = new Int32Array(target); // that member

  const addCenter = (t: number, point: number): void => {
    indices[t] = point;
    centers.set(points.subarray(point * dim, point * dim + dim), t * dim);
  };

  addCenter(0, start);
  {
    const all = new Int32Array(count);
    let best = -1;
    let bestIndex = start;
    for (let p = 0; p < count; p++) {
      const d = Math.sqrt(distance2(points, p, centers, 0, dim, Number.POSITIVE_INFINITY));
      dist[p] = d;
      all[p] = p;
      if (d > best) {
        best = d;
        bestIndex = p;
      }
    }
    members.push(all);
    memberCount[0] = count;
    radius[0] = best;
    farthest[0] = bestIndex;
  }

  const moved = new Int32Array(count);
  for (let t = 1; t < target; t++) {
    let from = 0;
    for (let j = 1; j < t; j++) if ((radius[j] as number) > (radius[from] as number)) from = j;
    radii[t - 1] = radius[from] as number;
    const point = farthest[from] as number;
    addCenter(t, point);

    let movedCount = 0;
    for (let j = 0; j < t; j++) {
      const r = radius[j] as number;
      if (r === 0) continue;
      const bound = 4 * r * r; // (2r)²
      const centerDistance2 = distance2(centers, t, centers, j, dim, bound);
      if (centerDistance2 >= bound) continue;
      // Rescan cluster j: move the points closer to the new center, recompute its radius.
      const list = members[j] as Int32Array;
      const n = memberCount[j] as number;
      let kept = 0;
      let newRadius = 0;
      let newFarthest = -1;
      for (let m = 0; m < n; m++) {
        const p = list[m] as number;
        const dp = dist[p] as number;
        const d2 = distance2(points, p, centers, t, dim, dp * dp);
        if (d2 < dp * dp) {
          dist[p] = Math.sqrt(d2);
          assign[p] = t;
          moved[movedCount++] = p;
        } else {
          list[kept++] = p;
          if (dp > newRadius) {
            newRadius = dp;
            newFarthest = p;
          }
        }
      }
      memberCount[j] = kept;
      radius[j] = newRadius;
      farthest[j] = newFarthest;
    }
    const own = moved.slice(0, movedCount);
    let r = 0;
    let f = point;
    for (const p of own) {
      if ((dist[p] as number) > r) {
        r = dist[p] as number;
        f = p;
      }
    }
    members.push(own);
    memberCount[t] = movedCount;
    radius[t] = r;
    farthest[t] = f;
  }
  let last = 0;
  for (let j = 0; j < target; j++) last = Math.max(last, radius[j] as number);
  radii[target - 1] = last;
  return { indices, radii };
}
