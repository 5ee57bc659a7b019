/** Binary search over sorted, disjoint half-open spans. */

/** The item whose [start, end) holds `at`, or null; `items` sorted by start, disjoint. */
export function containing<T>(items: readonly T[], at: bigint, start: (item: T) => bigint, end: (item: T) => bigint): T | null {
  let lo = 0;
  let hi = items.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const item = items[mid]!;
    if (at < start(item)) hi = mid - 1;
    else if (at >= end(item)) lo = mid + 1;
    else return item;
  }
  return null;
}
