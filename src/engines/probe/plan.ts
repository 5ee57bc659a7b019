/**
 * Which virtual pages a probing engine probes: every page of every expected
 * range, and the page just before and just after each range (where nothing
 * should be mapped) when the mode can form its address, as segments of
 * consecutive pages with one expectation each.
 */
import type { MappedRange, PagingMode, VirtSpan } from '../../verify/model.js';
import { isLinearAddress } from '../../verify/paging-modes.js';
import { PAGE_SHIFT, pageAddress, pageNumber } from './pages.js';

/** Consecutive virtual pages probed together. */
export interface ProbeSegment {
  /** First virtual page number (virtual address >> 12; canonical upper-half addresses keep their high bits). */
  readonly vpn: number;
  readonly count: number;
  /** Physical page the first page should map to (the rest follow contiguously), or null when it should be unmapped. */
  readonly expectedPpn: number | null;
  /** Index of the segment's first page among all probed pages. */
  readonly firstIndex: number;
}

export interface ProbePlan {
  /** Sorted by virtual address, disjoint. */
  readonly segments: readonly ProbeSegment[];
  readonly pageCount: number;
  /** The probed pages as maximal virtual spans. */
  readonly coverage: readonly VirtSpan[];
}

/** Whether a virtual page number names a page whose address the mode can form. */
export function isLinearPage(mode: PagingMode, vpn: number): boolean {
  return Number.isInteger(vpn) && vpn >= 0 && isLinearAddress(mode, pageAddress(vpn));
}

export function planProbes(mode: PagingMode, expected: readonly MappedRange[]): ProbePlan {
  const mapped = expected
    .filter((r) => r.size > 0n)
    .map((r) => ({ vpn: pageNumber(r.virt), count: Number(r.size >> PAGE_SHIFT), ppn: pageNumber(r.phys) }))
    .sort((a, b) => a.vpn - b.vpn);
  const inside = (vpn: number): boolean => {
    // Binary search: the last range starting at or before vpn.
    let lo = 0;
    let hi = mapped.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (mapped[mid]!.vpn <= vpn) lo = mid + 1;
      else hi = mid - 1;
    }
    const r = mapped[hi];
    return r !== undefined && vpn < r.vpn + r.count;
  };
  const outside = new Set<number>();
  for (const r of mapped) {
    for (const vpn of [r.vpn - 1, r.vpn + r.count]) {
      if (isLinearPage(mode, vpn) && !inside(vpn)) outside.add(vpn);
    }
  }
  const raw = [
    ...mapped.map((r) => ({ vpn: r.vpn, count: r.count, expectedPpn: r.ppn as number | null })),
    ...[...outside].map((vpn) => ({ vpn, count: 1, expectedPpn: null })),
  ].sort((a, b) => a.vpn - b.vpn);

  const segments: ProbeSegment[] = [];
  const coverage: VirtSpan[] = [];
  let index = 0;
  for (const s of raw) {
    segments.push({ ...s, firstIndex: index });
    index += s.count;
    const last = coverage[coverage.length - 1];
    const virt = pageAddress(s.vpn);
    const size = BigInt(s.count) << PAGE_SHIFT;
    if (last && last.virt + last.size === virt) coverage[coverage.length - 1] = { virt: last.virt, size: last.size + size };
    else coverage.push({ virt, size });
  }
  return { segments, pageCount: index, coverage };
}
