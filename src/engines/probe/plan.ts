/**
 * Which virtual pages a probing engine probes, as segments of consecutive
 * pages with one expectation each: the page just before and just after each
 * expected range (where nothing should be mapped) when the mode can form its
 * address, and inside each range either every page (the full plan) or, for
 * large layouts, the pages where table bugs live (the sampled plan): the
 * range's first and last pages, every page where a 2 MiB, 4 MiB, 1 GiB or
 * 512 GiB boundary falls (the page starting there and the one before it:
 * where one table or large page ends and the next begins), and a number of
 * pages drawn from a seeded generator, so a plan is reproducible from its seed.
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

/** Every page of every range, or the sampled pages. */
export type ProbePlanKind = 'all' | 'sampled';

/** How to choose: `auto` (the default) samples layouts mapping more than `sampleAbovePages` pages. */
export type ProbePlanChoice = ProbePlanKind | 'auto';

export interface ProbePlanOptions {
  readonly plan?: ProbePlanChoice;
  /** The sampled plan's random pages come from this seed (default 1). */
  readonly seed?: number;
  /** Random pages drawn in each expected range by the sampled plan (default 64). */
  readonly randomPages?: number;
  /** `auto` samples when the expected ranges hold more pages than this (default 16384: 64 MiB). */
  readonly sampleAbovePages?: number;
}

export const DEFAULT_PROBE_SEED = 1;
export const DEFAULT_RANDOM_PAGES = 64;
export const DEFAULT_SAMPLE_ABOVE_PAGES = 16384;

/** Pages per 2 MiB, 4 MiB, 1 GiB and 512 GiB: where a table, a large page or a top-level entry ends. */
export const BOUNDARY_PAGES: readonly number[] = [512, 1024, 262144, 134217728];

export interface ProbePlan {
  readonly kind: ProbePlanKind;
  /** The seed the random pages came from (the sampled plan). */
  readonly seed: number;
  /** Pages the full plan would probe: `pageCount / fullPageCount` is the fraction probed. */
  readonly fullPageCount: number;
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

/** A 32-bit generator (mulberry32): small, fast, and the same on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RangePages {
  readonly vpn: number;
  readonly count: number;
  readonly ppn: number;
}

/** The offsets (page indexes inside the range) the sampled plan probes, ascending, distinct. */
export function sampledOffsets(range: RangePages, randomPages: number, random: () => number): number[] {
  const picked = new Set<number>();
  const add = (offset: number): void => {
    if (offset >= 0 && offset < range.count) picked.add(offset);
  };
  add(0);
  add(range.count - 1);
  for (const step of BOUNDARY_PAGES) {
    // The first boundary after the range's first page, then every `step` pages.
    for (let vpn = Math.ceil((range.vpn + 1) / step) * step; vpn < range.vpn + range.count; vpn += step) {
      add(vpn - range.vpn - 1);
      add(vpn - range.vpn);
    }
  }
  for (let i = 0; i < randomPages; i++) add(Math.floor(random() * range.count));
  return [...picked].sort((a, b) => a - b);
}

export function planProbes(mode: PagingMode, expected: readonly MappedRange[], options: ProbePlanOptions = {}): ProbePlan {
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
  const mappedPages = mapped.reduce((n, r) => n + r.count, 0);
  const choice = options.plan ?? 'auto';
  const kind: ProbePlanKind = choice === 'auto' ? (mappedPages > (options.sampleAbovePages ?? DEFAULT_SAMPLE_ABOVE_PAGES) ? 'sampled' : 'all') : choice;
  const seed = options.seed ?? DEFAULT_PROBE_SEED;
  const inRanges: { vpn: number; count: number; expectedPpn: number | null }[] = [];
  if (kind === 'all') {
    for (const r of mapped) inRanges.push({ vpn: r.vpn, count: r.count, expectedPpn: r.ppn });
  } else {
    // One generator for the whole plan, ranges in virtual order: the same seed gives the same pages.
    const random = seededRandom(seed);
    for (const r of mapped) {
      const offsets = sampledOffsets(r, options.randomPages ?? DEFAULT_RANDOM_PAGES, random);
      for (let i = 0; i < offsets.length; ) {
        let j = i + 1;
        while (j < offsets.length && offsets[j] === offsets[j - 1]! + 1) j++;
        inRanges.push({ vpn: r.vpn + offsets[i]!, count: j - i, expectedPpn: r.ppn + offsets[i]! });
        i = j;
      }
    }
  }
  const raw = [...inRanges, ...[...outside].map((vpn) => ({ vpn, count: 1, expectedPpn: null }))].sort((a, b) => a.vpn - b.vpn);

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
  return { kind, seed, fullPageCount: mappedPages + outside.size, segments, pageCount: index, coverage };
}
