import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareRanges, mismatchKind, type Mismatch } from '../src/verify/compare.js';
import type { MappedRange } from '../src/verify/model.js';
import type { Translation } from '../src/verify/ranges.js';
import { range as rangeWith, translation } from './support/verify-ranges.js';

/** Read-write supervisor data unless the letters say otherwise. */
const range = (virt: bigint, phys: bigint, size: bigint, perms = 'w'): MappedRange => rangeWith(virt, phys, size, perms);
const at = (phys: bigint, perms = 'w'): Translation => translation(phys, perms);

describe('compareRanges', () => {
  const expected = [range(0x1000n, 0x101000n, 0x8000n)];

  it('finds nothing when the translations agree, however they are cut', () => {
    const split = [range(0x1000n, 0x101000n, 0x3000n), range(0x4000n, 0x104000n, 0x5000n)];
    expect(compareRanges(expected, split)).toEqual([]);
  });

  it('one mismatch for a run shifted by one offset, covering just those pages', () => {
    const actual = [range(0x1000n, 0x101000n, 0x2000n), range(0x3000n, 0x203000n, 0x3000n), range(0x6000n, 0x106000n, 0x3000n)];
    const found = compareRanges(expected, actual);
    expect(found).toEqual([{ virt: 0x3000n, size: 0x3000n, expected: at(0x103000n), actual: at(0x203000n) }]);
    expect(mismatchKind(found[0]!)).toBe('target');
  });

  it('separate mismatches where the pages differ differently', () => {
    const actual = [
      range(0x1000n, 0x101000n, 0x2000n),
      range(0x3000n, 0x203000n, 0x1000n), // shifted by 0x100000
      range(0x4000n, 0x304000n, 0x1000n), // shifted by 0x200000
      range(0x5000n, 0x105000n, 0x1000n, ''), // read-only
      range(0x6000n, 0x106000n, 0x3000n),
    ];
    expect(compareRanges(expected, actual).map((m) => [m.virt, m.size, mismatchKind(m)])).toEqual([
      [0x3000n, 0x1000n, 'target'], [0x4000n, 0x1000n, 'target'], [0x5000n, 0x1000n, 'permissions'],
    ]);
  });

  it('a permission change across two expected ranges that are not contiguous physically is two mismatches', () => {
    const exp = [range(0x1000n, 0x1000n, 0x2000n), range(0x3000n, 0x9000n, 0x2000n)];
    const act = exp.map((r) => ({ ...r, writable: false }));
    expect(compareRanges(exp, act).map((m) => [m.virt, m.size])).toEqual([[0x1000n, 0x2000n], [0x3000n, 0x2000n]]);
  });

  it('missing and unexpected pages', () => {
    const actual = [range(0x3000n, 0x103000n, 0x6000n), range(0x20000n, 0x5000n, 0x1000n, 'x')];
    const found = compareRanges(expected, actual);
    expect(found).toEqual([
      { virt: 0x1000n, size: 0x2000n, expected: at(0x101000n), actual: null },
      { virt: 0x20000n, size: 0x1000n, expected: null, actual: at(0x5000n, 'x') },
    ]);
    expect(found.map(mismatchKind)).toEqual(['missing', 'unexpected']);
  });

  it('compares only over the coverage given', () => {
    const actual: MappedRange[] = [];
    expect(compareRanges(expected, actual, [{ virt: 0x2000n, size: 0x1000n }, { virt: 0x7000n, size: 0x10000n }])).toEqual([
      { virt: 0x2000n, size: 0x1000n, expected: at(0x102000n), actual: null },
      { virt: 0x7000n, size: 0x2000n, expected: at(0x107000n), actual: null },
    ]);
    expect(compareRanges(expected, actual, [])).toEqual([]);
  });

  it('reaches the top of the 64-bit space', () => {
    const top = [range(0xfffffffffffff000n, 0x1000n, 0x1000n)];
    expect(compareRanges(top, [])).toEqual([{ virt: 0xfffffffffffff000n, size: 0x1000n, expected: at(0x1000n), actual: null }]);
  });
});

/** Random range lists over a small space: 64 pages, a few physical targets, random permissions. */
const ranges = fc.array(fc.record({
  start: fc.nat({ max: 63 }), length: fc.integer({ min: 1, max: 12 }), phys: fc.nat({ max: 40 }), perms: fc.constantFrom('', 'w', 'wx', 'u'),
}), { maxLength: 10 }).map((list) => {
  // Keep them disjoint: later ones give way to earlier ones.
  const taken = new Set<number>();
  const out: MappedRange[] = [];
  for (const r of list) {
    for (let p = r.start; p < Math.min(64, r.start + r.length); p++) {
      if (taken.has(p)) continue;
      taken.add(p);
      out.push(range(BigInt(p) * 4096n, BigInt(r.phys + p - r.start) * 4096n, 4096n, r.perms));
    }
  }
  return out;
});

const pageMap = (list: readonly MappedRange[]): Map<bigint, Translation> => {
  const map = new Map<bigint, Translation>();
  for (const r of list) for (let off = 0n; off < r.size; off += 4096n) map.set(r.virt + off, at(r.phys + off, `${r.writable ? 'w' : ''}${r.user ? 'u' : ''}${r.executable ? 'x' : ''}`));
  return map;
};
const sameTranslation = (a: Translation | undefined | null, b: Translation | undefined | null): boolean =>
  (a ?? null) === null || (b ?? null) === null ? (a ?? null) === (b ?? null)
    : a!.phys === b!.phys && a!.writable === b!.writable && a!.user === b!.user && a!.executable === b!.executable;
const shifted = (t: Translation | null, by: bigint): Translation | null => t && { ...t, phys: t.phys + by };

describe('compareRanges against a page-by-page comparison', () => {
  it('covers exactly the differing pages, each mismatch uniform, neighbours not joinable', () => {
    fc.assert(fc.property(ranges, ranges, (exp, act) => {
      const e = pageMap(exp);
      const a = pageMap(act);
      const found: Mismatch[] = compareRanges(exp, act);
      const covered = new Set<bigint>();
      for (const m of found) {
        for (let off = 0n; off < m.size; off += 4096n) {
          const page = m.virt + off;
          covered.add(page);
          // Every page of the run differs in the same way as its first page.
          expect(sameTranslation(e.get(page), shifted(m.expected, off))).toBe(true);
          expect(sameTranslation(a.get(page), shifted(m.actual, off))).toBe(true);
        }
      }
      const differing = [...new Set([...e.keys(), ...a.keys()])].filter((p) => !sameTranslation(e.get(p), a.get(p)));
      expect([...covered].sort()).toEqual(differing.sort());
      for (let i = 1; i < found.length; i++) {
        const prev = found[i - 1]!;
        const next = found[i]!;
        const joinable = prev.virt + prev.size === next.virt
          && sameTranslation(shifted(prev.expected, prev.size), next.expected) && sameTranslation(shifted(prev.actual, prev.size), next.actual);
        expect(joinable).toBe(false);
      }
    }), { numRuns: 500 });
  });
});
