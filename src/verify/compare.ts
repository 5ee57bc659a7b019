/**
 * Expected against actual translations, as a sweep over range boundaries
 * (never page by page): the pages that differ, grouped into runs that differ
 * the same way.
 */
import type { MappedRange, VirtSpan } from './model.js';
import { sameAccess, type Translation } from './ranges.js';

/**
 * A run of virtual pages whose expected and actual translations differ, and
 * differ the same way throughout: each side is either unmapped over the whole
 * run or maps it contiguously with one set of permissions. `expected` and
 * `actual` describe the run's first page.
 */
export interface Mismatch {
  readonly virt: bigint;
  readonly size: bigint;
  readonly expected: Translation | null;
  readonly actual: Translation | null;
}

/** How a mismatch differs, for reports. */
export type MismatchKind = 'missing' | 'unexpected' | 'target' | 'permissions' | 'target and permissions';

export function mismatchKind(m: Mismatch): MismatchKind {
  if (!m.actual) return 'missing';
  if (!m.expected) return 'unexpected';
  const target = m.expected.phys !== m.actual.phys;
  const perms = !sameAccess(m.expected, m.actual);
  return target && perms ? 'target and permissions' : target ? 'target' : 'permissions';
}

const byVirt = (a: { virt: bigint }, b: { virt: bigint }): number => (a.virt < b.virt ? -1 : a.virt > b.virt ? 1 : 0);
const END = 1n << 64n;

/** The translation a range gives at `virt` (inside it). */
const at = (r: MappedRange, virt: bigint): Translation => ({
  phys: r.phys + (virt - r.virt),
  writable: r.writable,
  user: r.user,
  executable: r.executable,
});

const same = (a: Translation | null, b: Translation | null): boolean =>
  a === null || b === null ? a === b : a.phys === b.phys && sameAccess(a, b);

/** Whether `next`, starting `offset` bytes after `prev`, continues it (same side unmapped, or contiguous with equal permissions). */
const continues = (prev: Translation | null, next: Translation | null, offset: bigint): boolean =>
  prev === null || next === null ? prev === next : prev.phys + offset === next.phys && sameAccess(prev, next);

/**
 * The mismatches between two translations over the covered spans ('all': the
 * whole 64-bit space). Ranges in each list must not overlap.
 */
export function compareRanges(
  expected: readonly MappedRange[],
  actual: readonly MappedRange[],
  coverage: readonly VirtSpan[] | 'all' = 'all',
): Mismatch[] {
  const exp = [...expected].sort(byVirt);
  const act = [...actual].sort(byVirt);
  const spans = coverage === 'all' ? [{ virt: 0n, size: END }] : [...coverage].sort(byVirt);
  const out: Mismatch[] = [];
  let i = 0;
  let j = 0;

  const emit = (virt: bigint, size: bigint, e: Translation | null, a: Translation | null): void => {
    const last = out[out.length - 1];
    if (last && last.virt + last.size === virt && continues(last.expected, e, last.size) && continues(last.actual, a, last.size)) {
      out[out.length - 1] = { ...last, size: last.size + size };
    } else {
      out.push({ virt, size, expected: e, actual: a });
    }
  };

  for (const cov of spans) {
    const stop = cov.virt + cov.size;
    let pos = cov.virt;
    // Ranges are sorted and disjoint, but coverage spans may overlap or be unsorted by end: rewind when needed.
    while (i > 0 && exp[i - 1]!.virt + exp[i - 1]!.size > pos) i--;
    while (j > 0 && act[j - 1]!.virt + act[j - 1]!.size > pos) j--;
    while (pos < stop) {
      while (i < exp.length && exp[i]!.virt + exp[i]!.size <= pos) i++;
      while (j < act.length && act[j]!.virt + act[j]!.size <= pos) j++;
      const e = exp[i];
      const a = act[j];
      const eHere = e !== undefined && e.virt <= pos;
      const aHere = a !== undefined && a.virt <= pos;
      let next = stop;
      if (e) next = eHere ? min(next, e.virt + e.size) : min(next, e.virt);
      if (a) next = aHere ? min(next, a.virt + a.size) : min(next, a.virt);
      const te = eHere ? at(e, pos) : null;
      const ta = aHere ? at(a, pos) : null;
      if (!same(te, ta)) emit(pos, next - pos, te, ta);
      pos = next;
    }
  }
  return out;
}

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
