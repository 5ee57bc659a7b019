/**
 * Where a probing engine runs its own code: a page the layout maps
 * executable, as the kernel runs its text, outside the pages the engine may
 * not overwrite (the tables). Candidates come from the spec; whether the
 * tables really let code run there is the engine's question (`accept`), so
 * a broken page is passed over for the next one.
 */
import type { MappedRange } from '../../verify/model.js';
import { normalize, type Interval } from './intervals.js';
import { PAGE, pageAddress, pageNumber } from './pages.js';
import { containing } from './search.js';

/** A page code can run from: where it runs (virtual) and where its bytes are (physical). */
export interface CodePage {
  readonly virt: bigint;
  readonly phys: bigint;
}

export interface CodePageQuery {
  /** The expected ranges the code may run from (executable ones, or user-executable ones). */
  readonly runsFrom: (range: MappedRange) => boolean;
  /** Physical memory the code page may not lie in. */
  readonly avoid: readonly Interval[];
  /**
   * Physical pages must also be mapped by ranges that pass this test (e.g.
   * identity-mapped executable, for code that turns paging on where it runs).
   */
  readonly physAlso?: (range: MappedRange) => boolean;
  /** The most candidates offered, spread evenly over all pages the ranges hold. */
  readonly limit: number;
}

const within = (intervals: readonly Interval[], phys: bigint): boolean => containing(intervals, phys, (i) => i.start, (i) => i.end) !== null;

/** The candidate pages, in the ranges' order, at most `query.limit` of them. */
export function codePageCandidates(expected: readonly MappedRange[], query: CodePageQuery): CodePage[] {
  const ranges = expected.filter(query.runsFrom);
  const avoid = normalize(query.avoid);
  const also = query.physAlso ? normalize(expected.filter(query.physAlso).map((r) => ({ start: r.phys, end: r.phys + r.size }))) : null;
  const total = ranges.reduce((n, r) => n + Number(r.size / PAGE), 0);
  const step = Math.max(1, Math.floor(total / query.limit));
  const out: CodePage[] = [];
  let index = 0;
  for (const r of ranges) {
    const count = Number(r.size / PAGE);
    // Pages are sampled by their index among all pages, so a long range does not crowd out the rest.
    let i = index % step === 0 ? 0 : step - (index % step);
    for (; i < count && out.length < query.limit; i += step) {
      const phys = pageAddress(pageNumber(r.phys) + i);
      if (within(avoid, phys) || (also && !within(also, phys))) continue;
      out.push({ virt: pageAddress(pageNumber(r.virt) + i), phys });
    }
    index += count;
    if (out.length >= query.limit) break;
  }
  return out;
}

/** The first candidate `accept` takes, or null; `tried` collects every candidate offered. */
export function chooseCodePage(
  expected: readonly MappedRange[],
  query: CodePageQuery,
  accept: (page: CodePage) => boolean,
  tried: CodePage[] = [],
): CodePage | null {
  for (const page of codePageCandidates(expected, query)) {
    tried.push(page);
    if (accept(page)) return page;
  }
  return null;
}
