/**
 * Connected-component labelling of a binary mask (two-pass union-find), shared by the
 * region metrics (AUPRO) and the mask-to-region stage.
 */

export type Connectivity = 4 | 8;

export interface ComponentLabels {
  /** 0 = background, 1..count = component id, row-major. */
  labels: Int32Array;
  count: number;
  width: number;
  height: number;
}

/** Root of i in a union-find forest, compressing the path on the way. */
export function find(parent: Int32Array, i: number): number {
  let root = i;
  while (parent[root] !== root) root = parent[root] as number;
  // Path compression keeps later finds near O(1) on long snake-like defects.
  while (parent[i] !== root) {
    const next = parent[i] as number;
    parent[i] = root;
    i = next;
  }
  return root;
}

function union(parent: Int32Array, a: number, b: number): number {
  const ra = find(parent, a);
  const rb = find(parent, b);
  if (ra === rb) return ra;
  if (ra < rb) {
    parent[rb] = ra;
    return ra;
  }
  parent[ra] = rb;
  return rb;
}

/**
 * `label` (0: none yet) merged with neighbour label `n` (0: background). A plain function, not a
 * closure per pixel: masks of a defective part have tens of thousands of foreground pixels, and
 * a closure each was most of what the line allocated on Node-RED's thread (young-generation
 * garbage collections every few images).
 */
function merge(parent: Int32Array, label: number, n: number): number {
  if (n === 0) return label;
  return label === 0 ? find(parent, n) : union(parent, label, n);
}

const INITIAL_FOREST = 1024;

function grown(parent: Int32Array, most: number): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(Math.min(most, parent.length * 2));
  bigger.set(parent);
  return bigger;
}

/** `isSet(i)` tells whether pixel i (row-major) is foreground. */
export function labelComponents(width: number, height: number, isSet: (index: number) => boolean, connectivity: Connectivity = 8): ComponentLabels {
  const labels = new Int32Array(width * height);
  // Provisional labels start at 1; parent[0] is unused. Grown as labels are made: a part's mask
  // is mostly background, and a forest the size of the image was a megabyte a verdict to collect.
  const most = width * height + 1;
  let parent = new Int32Array(Math.min(most, INITIAL_FOREST));
  let next = 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!isSet(i)) continue;
      let label = 0;
      if (x > 0) label = merge(parent, label, labels[i - 1] as number);
      if (y > 0) {
        label = merge(parent, label, labels[i - width] as number);
        if (connectivity === 8) {
          if (x > 0) label = merge(parent, label, labels[i - width - 1] as number);
          if (x < width - 1) label = merge(parent, label, labels[i - width + 1] as number);
        }
      }
      if (label === 0) {
        if (next === parent.length) parent = grown(parent, most);
        label = next++;
        parent[label] = label;
      }
      labels[i] = label;
    }
  }
  // Second pass: compact roots to 1..count in raster order of first appearance.
  const compact = new Int32Array(next);
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] as number;
    if (l === 0) continue;
    const root = find(parent, l);
    if (compact[root] === 0) compact[root] = ++count;
    labels[i] = compact[root] as number;
  }
  return { labels, count, width, height };
}

/** Components of a mask where any non-zero value is foreground. */
export function labelMask(mask: ArrayLike<number>, width: number, height: number, connectivity: Connectivity = 8): ComponentLabels {
  return labelComponents(width, height, (i) => (mask[i] as number) !== 0, connectivity);
}
