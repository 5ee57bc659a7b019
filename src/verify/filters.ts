/**
 * Narrowing a report to what a reader asks about: a virtual window
 * (`--range A-B`, from A up to but not including B) and permissions
 * (`--only wx,user,...`, every word must hold). Ranges are cut at the
 * window's edges; what lies outside is not shown.
 */
import type { Access, MappedRange, PagingMode, Violation, VirtSpan } from './model.js';
import type { Mismatch } from './compare.js';
import type { Translation } from './ranges.js';
import { PAGING_MODE_RECORDS, topEntryVirt } from './paging-modes.js';

/** The permission words of `--only`. */
export const ONLY_WORDS = ['wx', 'user', 'writable', 'exec'] as const;
export type OnlyWord = (typeof ONLY_WORDS)[number];

/** What a report keeps: a virtual window [virt, virt + size), and permission words that must all hold. */
export interface EntryFilter {
  readonly window?: VirtSpan;
  readonly only?: readonly OnlyWord[];
}

const HOLDS: Readonly<Record<OnlyWord, (a: Access) => boolean>> = {
  wx: (a) => a.writable && a.executable,
  user: (a) => a.user,
  writable: (a) => a.writable,
  exec: (a) => a.executable,
};

/** Whether the permissions meet every word. */
export const accessMatches = (a: Access, only: readonly OnlyWord[]): boolean => only.every((w) => HOLDS[w](a));

/** Whether [virt, virt + size) meets the window (always without one). */
export const spanInWindow = (virt: bigint, size: bigint, window: VirtSpan | undefined): boolean =>
  window === undefined || (virt < window.virt + window.size && virt + size > window.virt);

/** Whether the filter asks for anything. */
export const isFiltering = (f: EntryFilter): boolean => f.window !== undefined || (f.only !== undefined && f.only.length > 0);

/** The part of `r` inside the window, its physical start moved along; null when none is. */
function cut<R extends MappedRange>(r: R, window: VirtSpan | undefined): R | null {
  if (window === undefined) return r;
  const start = r.virt > window.virt ? r.virt : window.virt;
  const endR = r.virt + r.size;
  const endW = window.virt + window.size;
  const end = endR < endW ? endR : endW;
  if (end <= start) return null;
  if (start === r.virt && end === endR) return r;
  return { ...r, virt: start, phys: r.phys + (start - r.virt), size: end - start };
}

/** The ranges the filter keeps, cut at the window's edges. */
export function filterRanges<R extends MappedRange>(ranges: readonly R[], f: EntryFilter): R[] {
  if (!isFiltering(f)) return [...ranges];
  const only = f.only ?? [];
  const out: R[] = [];
  for (const r of ranges) {
    if (!accessMatches(r, only)) continue;
    const part = cut(r, f.window);
    if (part) out.push(part);
  }
  return out;
}

/**
 * Mismatches (or a diff's changes) the filter keeps, cut at the window: a
 * permission word holds when it holds on either side.
 */
export function filterMismatches(mismatches: readonly Mismatch[], f: EntryFilter): Mismatch[] {
  if (!isFiltering(f)) return [...mismatches];
  const only = f.only ?? [];
  const holds = (t: Translation | null): boolean => t !== null && accessMatches(t, only);
  const out: Mismatch[] = [];
  for (const m of mismatches) {
    if (!holds(m.expected) && !holds(m.actual)) continue;
    const part = cut({ ...m, phys: 0n, writable: false, user: false, executable: false }, f.window);
    if (!part) continue;
    const moved = part.virt - m.virt;
    const shift = (t: Translation | null): Translation | null => t && { ...t, phys: t.phys + moved };
    out.push({ ...m, virt: part.virt, size: part.size, expected: shift(m.expected), actual: shift(m.actual) });
  }
  return out;
}

/** The virtual span the entry a violation names controls (the whole space for CR3). */
export function violationSpan(mode: PagingMode, v: Violation): VirtSpan | null {
  const levels = PAGING_MODE_RECORDS[mode].levels;
  if (v.path.length === 0 || v.path.length > levels.length) return null;
  let virt = topEntryVirt(mode, v.path[0]!);
  for (let l = 1; l < v.path.length; l++) virt += BigInt(v.path[l]!) << BigInt(levels[l]!.shift);
  return { virt, size: 1n << BigInt(levels[v.path.length - 1]!.shift) };
}

/**
 * Violations inside the window: an entry's when the span it controls meets
 * the window, the CR3 one always. Permission words do not apply (an entry
 * in violation translates nothing).
 */
export function filterViolations(mode: PagingMode, violations: readonly Violation[], f: EntryFilter): Violation[] {
  if (f.window === undefined) return [...violations];
  return violations.filter((v) => {
    const span = violationSpan(mode, v);
    return span === null || spanInWindow(span.virt, span.size, f.window);
  });
}

/** The filter in words, for a report's head: 'in 0x1000-0x2000, only writable, user'. */
export function describeFilter(f: EntryFilter): string {
  const parts: string[] = [];
  if (f.window) parts.push(`in 0x${f.window.virt.toString(16)}-0x${(f.window.virt + f.window.size).toString(16)}`);
  if (f.only && f.only.length > 0) parts.push(`only ${f.only.join(', ')}`);
  return parts.join(', ');
}
