/** Sets of addresses as sorted, disjoint, half-open bigint intervals. */

export interface Interval {
  readonly start: bigint;
  readonly end: bigint;
}

const byStart = (a: Interval, b: Interval): number => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);

/** Sorts and merges overlapping or touching intervals; drops empty ones. */
export function normalize(intervals: Iterable<Interval>): Interval[] {
  const sorted = [...intervals].filter((i) => i.end > i.start).sort(byStart);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) {
      if (i.end > last.end) out[out.length - 1] = { start: last.start, end: i.end };
    } else {
      out.push(i);
    }
  }
  return out;
}

/** `from` without anything in `remove` (both normalized). */
export function subtract(from: readonly Interval[], remove: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const i of from) {
    let start = i.start;
    while (j < remove.length && remove[j]!.end <= start) j++;
    let k = j;
    while (k < remove.length && remove[k]!.start < i.end) {
      const r = remove[k]!;
      if (r.start > start) out.push({ start, end: r.start });
      if (r.end > start) start = r.end;
      k++;
    }
    if (start < i.end) out.push({ start, end: i.end });
  }
  return out;
}

/** The parts of `a` also in `b` (both normalized). */
export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const start = a[i]!.start > b[j]!.start ? a[i]!.start : b[j]!.start;
    const end = a[i]!.end < b[j]!.end ? a[i]!.end : b[j]!.end;
    if (start < end) out.push({ start, end });
    if (a[i]!.end < b[j]!.end) i++;
    else j++;
  }
  return out;
}

/** The lowest start of `size` bytes, aligned to `align`, lying inside one interval of `within`. */
export function firstFit(within: readonly Interval[], size: bigint, align: bigint): bigint | null {
  for (const i of within) {
    const start = ((i.start + align - 1n) / align) * align;
    if (start + size <= i.end) return start;
  }
  return null;
}
