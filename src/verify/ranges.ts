/** Helpers over translation ranges (bigint, whole 4 KiB pages). */
import type { Access, MappedRange } from './model.js';

/** Where one virtual address goes: the physical address and the effective permissions. */
export interface Translation extends Access {
  readonly phys: bigint;
}

export const sameAccess = (a: Access, b: Access): boolean =>
  a.writable === b.writable && a.user === b.user && a.executable === b.executable;

/**
 * Sorts ranges by virtual address and joins neighbours that continue each
 * other (next virtual page, next physical page, equal permissions), giving
 * the maximal ranges every report uses. Ranges must not overlap.
 */
export function coalesceRanges(ranges: readonly MappedRange[]): MappedRange[] {
  const sorted = [...ranges].filter((r) => r.size > 0n).sort((a, b) => (a.virt < b.virt ? -1 : a.virt > b.virt ? 1 : 0));
  const out: MappedRange[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && last.virt + last.size === range.virt && last.phys + last.size === range.phys && sameAccess(last, range)) {
      out[out.length - 1] = { ...last, size: last.size + range.size };
    } else {
      out.push(range);
    }
  }
  return out;
}

/** Total bytes the ranges map. */
export const mappedBytes = (ranges: readonly MappedRange[]): bigint => ranges.reduce((sum, r) => sum + r.size, 0n);

/** Permissions as ptdump shows them: 'rwx user', 'r-- kernel'. */
export const describeAccess = (a: Access): string =>
  `r${a.writable ? 'w' : '-'}${a.executable ? 'x' : '-'} ${a.user ? 'user' : 'kernel'}`;
