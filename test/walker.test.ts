import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createWalker, walkTables, tableBlockProblem } from '../src/verify/walker.js';
import type { WalkOptions } from '../src/verify/model.js';
import type { PagingMode } from '../src/verify/model.js';
import { InputError } from '../src/core/errors.js';
import { naiveMerge, naiveWalk } from './support/verify-naive-walk.js';
import { P, PS, RW, TableBlockBuilder, US, XD } from './support/verify-tables.js';
import { range } from './support/verify-ranges.js';

describe('known answers: 32-bit paging', () => {
  const t = new TableBlockBuilder('32bit', 0x10000n, 2);
  const [pt, pt2, pd] = [0, 1, t.top];
  t.set(pd, 0, t.tableAddr(pt) | P | RW | US);
  t.set(pt, 1, 0x5000n | P | RW);
  t.set(pt, 2, 0x6000n | P | US);
  t.set(pt, 3, 0x7000n | P | US);
  t.set(pd, 1, 0xc00000n | P | RW | PS); // 4 MiB page
  t.set(pd, 2, 0x400000n | (3n << 13n) | P | PS); // PSE-36: physical 0x3_0040_0000
  t.set(pd, 3, t.tableAddr(pt2) | P | RW); // supervisor-only directory entry
  t.set(pt2, 0, 0x9000n | P | RW | US);
  t.set(pd, 4, 0x400000n | (1n << 21n) | P | PS); // bit 21 reserved in a 4 MiB PDE
  t.set(pd, 5, 0x40000000n | P | RW | US); // page table outside the block
  t.set(pd, 1023, t.tableAddr(pt2) | P | RW | US);
  const block = { mode: '32bit' as const, tables: t.bytes, tablesPhys: t.base };

  it('maps 4 KiB and 4 MiB pages with combined permissions, as maximal ranges', () => {
    expect(walkTables(block).ranges).toEqual([
      range(0x1000n, 0x5000n, 0x1000n, 'wx'),
      range(0x2000n, 0x6000n, 0x2000n, 'ux'),
      range(0x400000n, 0xc00000n, 0x400000n, 'wx'),
      range(0x800000n, 0x300400000n, 0x400000n, 'x'),
      range(0xc00000n, 0x9000n, 0x1000n, 'wx'),
      range(0xffc00000n, 0x9000n, 0x1000n, 'wux'),
    ]);
  });

  it('flags the reserved bit and the pointer outside the block, naming entry and consequence', () => {
    const { violations } = walkTables(block);
    expect(violations.map((v) => [v.level, v.path, v.entryAddr])).toEqual([
      ['PDE', [4], 0x12010n],
      ['PDE', [5], 0x12014n],
    ]);
    expect(violations[0]!.message).toMatch(/reserved bit 21 .*#PF with RSVD/);
    expect(violations[1]!.message).toMatch(/0x40000000 outside the tables given \[0x10000, 0x13000\)/);
  });

  it('ignores PS without CR4.PSE: the entries then point at page tables', () => {
    const { ranges, violations } = walkTables(block, { pse: false });
    expect(ranges.map((r) => r.virt)).toEqual([0x1000n, 0x2000n, 0xc00000n, 0xffc00000n]);
    expect(violations.map((v) => v.path[0])).toEqual([1, 2, 4, 5]);
  });

  it('PSE-36 address bits at or above MAXPHYADDR are reserved', () => {
    const { ranges, violations } = walkTables(block, { maxPhysAddr: 33 });
    expect(ranges.some((r) => r.virt === 0x800000n)).toBe(false);
    expect(violations.find((v) => v.path[0] === 2)?.message).toMatch(/address bit 33 at or above MAXPHYADDR = 33/);
  });

  it('looks up single addresses', () => {
    const walker = createWalker(block);
    expect(walker.lookup(0x1234n)).toEqual({ phys: 0x5234n, writable: true, user: false, executable: true });
    expect(walker.lookup(0x800abcn)).toEqual({ phys: 0x300400abcn, writable: false, user: false, executable: true });
    expect(walker.lookup(0xffc00fffn)).toEqual({ phys: 0x9fffn, writable: true, user: true, executable: true });
    expect(walker.lookup(0n)).toBeNull();
    expect(walker.lookup(0x1400000n)).toBeNull(); // PDE 5 points outside
    expect(walker.lookup(0x1000000n)).toBeNull(); // PDE 4 has a reserved bit
    expect(walker.lookup(0x100000000n)).toBeNull(); // beyond 32-bit linear addresses
  });
});

describe('known answers: PAE paging', () => {
  const build = (pdpte0: bigint) => {
    const t = new TableBlockBuilder('pae', 0x20000n, 2);
    const [pt, pd, pdpt] = [0, 1, t.top];
    t.set(pdpt, 0, t.tableAddr(pd) | pdpte0);
    t.set(pdpt, 3, t.tableAddr(pd) | P); // the same directory again at 3 GiB
    t.set(pd, 0, t.tableAddr(pt) | P | RW | US);
    t.set(pt, 0, 0x100000n | P | RW | XD);
    t.set(pt, 1, 0x101000n | P | RW | XD);
    t.set(pt, 2, 0x102000n | P | RW | US);
    t.set(pt, 3, 0x103000n | P | (1n << 52n)); // 62:MAXPHYADDR reserved in PAE
    t.set(pd, 1, 0x40000000n | P | US | PS);
    t.set(pd, 2, 0x40200000n | P | US | PS | (1n << 13n)); // 20:13 reserved in a 2 MiB PDE
    t.set(pd, 3, 0x100000000n | P | RW | PS | XD); // a 2 MiB page above 4 GiB
    return { mode: 'pae' as const, tables: t.bytes, tablesPhys: t.base };
  };
  const lowHalf = [
    range(0n, 0x100000n, 0x2000n, 'w'),
    range(0x2000n, 0x102000n, 0x1000n, 'wux'),
    range(0x200000n, 0x40000000n, 0x200000n, 'ux'),
    range(0x600000n, 0x100000000n, 0x200000n, 'w'),
  ];

  it('walks the 32-byte PDPT at the end; a PDPTE carries no permissions', () => {
    const { ranges, violations } = walkTables(build(P));
    expect(ranges).toEqual([...lowHalf, ...lowHalf.map((r) => ({ ...r, virt: r.virt + 0xc0000000n }))]);
    // Each bad entry once, though two PDPTEs reach it.
    expect(violations.map((v) => [v.level, v.path, v.entryAddr])).toEqual([
      ['PTE', [0, 0, 3], 0x20018n],
      ['PDE', [0, 2], 0x21010n],
    ]);
    expect(violations[0]!.message).toMatch(/reserved bit 52 .*MAXPHYADDR = 52/);
  });

  it('a PDPTE with R/W or U/S set is a #GP at MOV to CR3, and translates nothing', () => {
    const { ranges, violations } = walkTables(build(P | RW | US));
    expect(ranges).toEqual(lowHalf.map((r) => ({ ...r, virt: r.virt + 0xc0000000n })));
    expect(violations[0]).toMatchObject({ level: 'PDPTE', path: [0], entryAddr: 0x22000n });
    expect(violations[0]!.message).toMatch(/reserved bits 1-2 .*#GP\(0\)/);
  });

  it('with NXE off, XD is a reserved bit', () => {
    const { ranges, violations } = walkTables(build(P), { nxe: false });
    expect(ranges.map((r) => r.virt)).toEqual([0x2000n, 0x200000n, 0xc0002000n, 0xc0200000n]);
    expect(violations.filter((v) => /XD with IA32_EFER.NXE = 0/.test(v.message)).map((v) => v.entryAddr))
      .toEqual([0x20000n, 0x20008n, 0x21018n]);
  });

  it('looks up single addresses', () => {
    const walker = createWalker(build(P));
    expect(walker.lookup(0xc0200010n)).toEqual({ phys: 0x40000010n, writable: false, user: true, executable: true });
    expect(walker.lookup(0x7ff000n)).toEqual({ phys: 0x1001ff000n, writable: true, user: false, executable: false });
    expect(walker.lookup(0x40000000n)).toBeNull();
  });
});

describe('known answers: IA-32e paging', () => {
  const build = () => {
    const t = new TableBlockBuilder('ia32e', 0x100000n, 3);
    const [pt, pd, pdpt, pml4] = [0, 1, 2, t.top];
    t.set(pml4, 0, t.tableAddr(pdpt) | P | RW | US);
    t.set(pml4, 511, t.tableAddr(pdpt) | P | RW | US);
    t.set(pdpt, 0, t.tableAddr(pd) | P | RW | US);
    t.set(pdpt, 1, 0x80000000n | P | RW | US | PS); // 1 GiB page
    t.set(pd, 0, t.tableAddr(pt) | P | RW | US);
    t.set(pd, 1, t.tableAddr(pt) | P | RW); // same page table, supervisor only
    t.set(pt, 5, 0x7000n | P | RW | US | XD);
    t.set(pt, 6, 0x8000n | P | US | (1n << 52n)); // bits 62:52 are ignored in IA-32e
    t.set(pml4, 1, t.tableAddr(pdpt) | P | RW | US | PS); // PS is reserved in a PML4E
    t.set(pml4, 2, 0x5000n | P | RW | US); // outside the block
    return t;
  };
  const t = build();
  const block = { mode: 'ia32e' as const, tables: t.bytes, tablesPhys: t.base };
  // PDE 0 and PDE 1 lead to the same page table, PDE 1 without the user bit; then the 1 GiB page.
  const viaPde0 = [range(0x5000n, 0x7000n, 0x1000n, 'wu'), range(0x6000n, 0x8000n, 0x1000n, 'ux')];
  const viaPde1 = [range(0x205000n, 0x7000n, 0x1000n, 'w'), range(0x206000n, 0x8000n, 0x1000n, 'x')];
  const low = [...viaPde0, ...viaPde1, range(0x40000000n, 0x80000000n, 0x40000000n, 'wux')];

  it('maps both canonical halves, 1 GiB pages included', () => {
    expect(walkTables(block).ranges).toEqual([...low, ...low.map((r) => ({ ...r, virt: r.virt + 0xffffff8000000000n }))]);
  });

  it('flags PS in a PML4E and a pointer outside the block', () => {
    const { violations } = walkTables(block);
    expect(violations.map((v) => [v.level, v.path, v.entryAddr])).toEqual([['PML4E', [1], 0x103008n], ['PML4E', [2], 0x103010n]]);
    expect(violations[0]!.message).toMatch(/reserved bit 7 set \(PS is reserved in a PML4E\)/);
  });

  it('with a smaller MAXPHYADDR, address bits above it are reserved', () => {
    const big = build().set(2, 2, (1n << 36n) | P | RW | US | PS); // a 1 GiB page at 64 GiB
    const wide = walkTables({ ...block, tables: big.bytes });
    expect(wide.ranges).toContainEqual(range(0x80000000n, 1n << 36n, 0x40000000n, 'wux'));
    const narrow = walkTables({ ...block, tables: big.bytes }, { maxPhysAddr: 36 });
    expect(narrow.ranges.some((r) => r.virt === 0x80000000n)).toBe(false);
    expect(narrow.violations.find((v) => v.level === 'PDPTE')).toMatchObject({ path: [0, 2], entryAddr: 0x102010n });
  });

  it('looks up canonical addresses only', () => {
    const walker = createWalker(block);
    expect(walker.lookup(0xffffff8000005123n)).toEqual({ phys: 0x7123n, writable: true, user: true, executable: false });
    expect(walker.lookup(0x40012345n)).toEqual({ phys: 0x80012345n, writable: true, user: true, executable: true });
    expect(walker.lookup(0x800000005000n)).toBeNull(); // bit 47 set without sign extension
    expect(walker.lookup(0xffff000000005000n)).toBeNull();
    expect(walker.translatePage(0x5)).toBe(0x7 * 8 + 1 + 2);
    expect(walker.translatePage(-1)).toBe(-1);
  });

  it('names the top-level table when CR3 cannot reach it', () => {
    const high = walkTables({ mode: 'pae', tables: new Uint8Array(32), tablesPhys: 0x100000000n });
    expect(high.violations).toEqual([expect.objectContaining({ level: 'CR3', entryAddr: 0x100000000n })]);
  });
});

describe('block shape', () => {
  it('accepts whole tables only, the PAE top level being 32 bytes', () => {
    expect(tableBlockProblem('ia32e', 8192)).toBeNull();
    expect(tableBlockProblem('pae', 4096 + 32)).toBeNull();
    expect(tableBlockProblem('pae', 32)).toBeNull();
    expect(tableBlockProblem('ia32e', 4100)).toMatch(/not a whole number/);
    expect(tableBlockProblem('pae', 4096)).toMatch(/4096 \* n \+ 32/);
    expect(tableBlockProblem('32bit', 0)).toMatch(/too small/);
  });

  it('refuses a misaligned base and a bad MAXPHYADDR as input errors', () => {
    expect(() => createWalker({ mode: '32bit', tables: new Uint8Array(4096), tablesPhys: 0x800n })).toThrow(InputError);
    expect(() => createWalker({ mode: '32bit', tables: new Uint8Array(4096), tablesPhys: 0n }, { maxPhysAddr: 60 })).toThrow(/MAXPHYADDR/);
  });
});

/**
 * Random table blocks: lower table j serves level 1 + j mod (depth - 1), and
 * entries mostly point at tables of the next level or map pages (large ones
 * where PS allows), with some pointing outside the block or setting stray bits.
 */
function randomBlock(mode: PagingMode) {
  const depth = mode === '32bit' ? 2 : mode === 'pae' ? 3 : 4;
  const entries = mode === '32bit' ? 1024 : 512;
  const topIndices = mode === 'pae' ? [0, 1, 2, 3] : [0, 1, 2, entries / 2 - 1, entries / 2, entries - 1];
  return fc.record({
    base: fc.constantFrom(0n, 0x1000n, 0x7ff00000n, 0x3_0000_0000n),
    lowerTables: fc.integer({ min: 0, max: 6 }),
    writes: fc.array(fc.record({
      table: fc.nat(),
      index: fc.oneof(fc.nat({ max: entries - 1 }), fc.nat({ max: 3 })),
      topIndex: fc.constantFrom(...topIndices),
      kind: fc.constantFrom('table', 'table', 'table', 'leaf', 'leaf', 'large', 'outside', 'empty'),
      target: fc.nat(),
      // Large pages need their low address bits clear: mostly give aligned frames.
      frame: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 24n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }),
        fc.bigInt({ min: 0n, max: 1n << 16n }).map((f) => f << 18n)),
      rw: fc.boolean(),
      us: fc.boolean(),
      xd: fc.boolean(),
      stray: fc.option(fc.integer({ min: 1, max: 63 }), { freq: 8 }),
    }), { minLength: 10, maxLength: 80 }),
    spine: fc.array(fc.record({ parent: fc.nat(), index: fc.nat({ max: entries - 1 }), topIndex: fc.constantFrom(...topIndices) }), { minLength: 6, maxLength: 6 }),
  }).map(({ base, lowerTables, writes, spine }) => {
    const t = new TableBlockBuilder(mode, base, lowerTables);
    const levelOf = (table: number): number => (table === t.top ? 0 : 1 + (table % (depth - 1)));
    // Link every lower table from some table one level up, so deep walks happen.
    for (let j = 0; j < lowerTables; j++) {
      const parents = [t.top, ...Array.from({ length: lowerTables }, (_, k) => k)].filter((k) => levelOf(k) === levelOf(j) - 1);
      const parent = parents[spine[j]!.parent % parents.length]!;
      const flags = mode === 'pae' && parent === t.top ? P : P | RW | US;
      t.set(parent, parent === t.top ? spine[j]!.topIndex : spine[j]!.index, t.tableAddr(j) | flags);
    }
    for (const w of writes) {
      const table = w.table % (lowerTables + 1);
      const level = levelOf(table);
      const index = table === t.top ? w.topIndex : w.index;
      const pdpteOfPae = mode === 'pae' && level === 0;
      let value = P | (w.rw && !pdpteOfPae ? RW : 0n) | (w.us && !pdpteOfPae ? US : 0n);
      const children = Array.from({ length: lowerTables }, (_, j) => j).filter((j) => levelOf(j) === level + 1);
      const frame = (w.frame << 12n) & (mode === '32bit' ? 0xfffff000n : 0xffffffffff000n);
      if (w.kind === 'empty') value = 0n;
      else if (w.kind === 'outside') value |= base + BigInt(lowerTables + 1 + (w.target % 3)) * 4096n;
      else if (level === depth - 1 || (w.kind === 'table' && children.length === 0)) value |= frame;
      else if (w.kind === 'table') value |= t.tableAddr(children[w.target % children.length]!);
      else value |= frame | (w.kind === 'large' ? PS : 0n);
      if (mode !== '32bit' && w.xd && !pdpteOfPae) value |= XD;
      if (w.stray !== null && (mode !== '32bit' || w.stray < 32)) value |= 1n << BigInt(w.stray);
      t.set(table, index, value);
    }
    return t;
  });
}

const OPTIONS: WalkOptions[] = [{}, { nxe: false }, { maxPhysAddr: 36 }, { pse: false }, { maxPhysAddr: 40, nxe: false }];

describe('the walker agrees with a naive per-entry bigint walk', () => {
  for (const mode of ['32bit', 'pae', 'ia32e'] as const) {
    it(`${mode}: ranges, violations and lookups on random blocks`, () => {
      fc.assert(fc.property(randomBlock(mode), fc.constantFrom(...OPTIONS), fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 20 }),
        (t, options, probes) => {
          const block = { mode, tables: t.bytes, tablesPhys: t.base };
          const naive = naiveWalk(mode, t.bytes, t.base, options);
          const walker = createWalker(block, options);
          const result = walker.walk();
          expect(result.ranges).toEqual(naiveMerge(naive.leaves));

          expect(new Set(result.violations.filter((v) => v.level !== 'CR3').map((v) => v.entryAddr))).toEqual(naive.badEntries);
          // Lookups: inside each leaf (first, last, middle byte) and at random addresses.
          const points = [...probes];
          for (const leaf of naive.leaves.slice(0, 30)) points.push(leaf.virt, leaf.virt + leaf.size - 1n, leaf.virt + leaf.size / 2n + 0x123n);
          for (const virt of points) {
            const leaf = naive.leaves.find((l) => virt >= l.virt && virt < l.virt + l.size);
            const expected = leaf ? { phys: leaf.phys + (virt - leaf.virt), writable: leaf.writable, user: leaf.user, executable: leaf.executable } : null;
            expect(walker.lookup(virt)).toEqual(expected);
          }
        }), { numRuns: 300 });
    });
  }
});

describe('boundaries, a test on each side', () => {
  const cr3Violations = (mode: PagingMode, tablesPhys: bigint, lowerTables: number, options: WalkOptions = {}) => {
    const t = new TableBlockBuilder(mode, tablesPhys, lowerTables);
    return walkTables({ mode, tables: t.bytes, tablesPhys }, options).violations.filter((v) => v.level === 'CR3');
  };

  it('CR3 reaches a top-level table ending exactly at 4 GiB, not one a page further (32-bit)', () => {
    expect(cr3Violations('32bit', (1n << 32n) - 0x2000n, 1)).toEqual([]);
    expect(cr3Violations('32bit', (1n << 32n) - 0x1000n, 0)).toEqual([]);
    expect(cr3Violations('32bit', (1n << 32n) - 0x1000n, 1)).toEqual([expect.objectContaining({ level: 'CR3', entryAddr: 0x100000000n })]);
    expect(cr3Violations('32bit', 1n << 32n, 1)).toEqual([expect.objectContaining({ level: 'CR3', entryAddr: 0x100001000n })]);
    expect(cr3Violations('32bit', 1n << 32n, 0)[0]!.message).toMatch(/top-level table at 0x100000000 lies beyond 0x100000000/);
  });

  it('CR3 reaches a top-level table ending exactly at MAXPHYADDR, not one a page further (IA-32e)', () => {
    expect(cr3Violations('ia32e', (1n << 40n) - 0x1000n, 0, { maxPhysAddr: 40 })).toEqual([]);
    expect(cr3Violations('ia32e', 1n << 40n, 0, { maxPhysAddr: 40 })).toHaveLength(1);
    expect(cr3Violations('ia32e', (1n << 52n) - 0x2000n, 1)).toEqual([]);
    expect(cr3Violations('ia32e', (1n << 52n) - 0x1000n, 1)).toHaveLength(1);
  });

  it('CR3 reaches PAE\'s 32-byte table in the last page below 4 GiB, not a page further', () => {
    expect(cr3Violations('pae', (1n << 32n) - 0x1000n, 0)).toEqual([]);
    expect(cr3Violations('pae', 1n << 32n, 0)).toHaveLength(1);
  });

  it('follows pointers to the first and the last page of the block, not a page before or past it', () => {
    const t = new TableBlockBuilder('32bit', 0x10000n, 2);
    t.set(0, 0, 0x5000n | P | RW);
    t.set(t.top, 0, t.tableAddr(0) | P | RW); // the first page
    t.set(t.top, 1, (t.base - 0x1000n) | P | RW); // a page before
    t.set(t.top, 2, t.tableAddr(t.top) | P | RW); // the last page: the directory read as a page table
    t.set(t.top, 3, (t.tableAddr(t.top) + 0x1000n) | P | RW); // a page past
    const block = { mode: '32bit' as const, tables: t.bytes, tablesPhys: t.base };
    const { violations } = walkTables(block);
    expect(violations.map((v) => [v.level, v.path])).toEqual([['PDE', [1]], ['PDE', [3]]]);
    const walker = createWalker(block);
    expect(walker.lookup(0x0n)?.phys).toBe(0x5000n);
    expect(walker.lookup(0x800000n)?.phys).toBe(t.tableAddr(0)); // PDE 2 -> the directory's entry 0 as a PTE
    expect(walker.lookup(0x400000n)).toBeNull();
    expect(walker.lookup(0xc00000n)).toBeNull();
  });

  it('takes address bit MAXPHYADDR - 1, reserves bit MAXPHYADDR', () => {
    const t = new TableBlockBuilder('ia32e', 0x100000n, 3);
    t.set(t.top, 0, t.tableAddr(2) | P | RW);
    t.set(2, 0, t.tableAddr(1) | P | RW);
    t.set(1, 0, t.tableAddr(0) | P | RW);
    t.set(0, 0, (1n << 35n) | P | RW);
    t.set(0, 1, (1n << 36n) | P | RW);
    const block = { mode: 'ia32e' as const, tables: t.bytes, tablesPhys: t.base };
    const walker = createWalker(block, { maxPhysAddr: 36 });
    expect(walker.lookup(0x0n)?.phys).toBe(1n << 35n);
    expect(walker.lookup(0x1000n)).toBeNull();
    expect(walker.walk().violations.map((v) => [v.level, v.path])).toEqual([['PTE', [0, 0, 0, 1]]]);
  });

  it('forms the last address of each canonical half, not the first one past it', () => {
    const t = new TableBlockBuilder('ia32e', 0x100000n, 1);
    t.set(t.top, 255, t.tableAddr(0) | P | RW);
    t.set(t.top, 256, t.tableAddr(0) | P | RW);
    t.set(0, 0, 0x40000000n | P | RW | PS);
    t.set(0, 511, 0x80000000n | P | RW | PS);
    const walker = createWalker({ mode: 'ia32e', tables: t.bytes, tablesPhys: t.base });
    expect(walker.lookup(0x7fffffffffffn)?.phys).toBe(0xbfffffffn);
    expect(walker.lookup(0x800000000000n)).toBeNull();
    expect(walker.lookup(0xffff800000000000n)?.phys).toBe(0x40000000n);
    expect(walker.lookup(0xffff7fffffffffffn)).toBeNull();
    expect(walker.lookup(0xffffffffffffffffn)).toBeNull(); // entry 511 is empty
  });

  it('takes a tables base up to the last page below 2^64, not 2^64', () => {
    expect(() => createWalker({ mode: 'ia32e', tables: new Uint8Array(4096), tablesPhys: (1n << 64n) - 0x1000n })).not.toThrow();
    expect(() => createWalker({ mode: 'ia32e', tables: new Uint8Array(4096), tablesPhys: 1n << 64n })).toThrow(InputError);
  });
});

describe('one traversal, many consumers', () => {
  it('drives a visitor over leaves, rejected entries and pointers outside, in linear-address order', () => {
    const t = new TableBlockBuilder('32bit', 0x10000n, 1);
    t.set(t.top, 0, t.tableAddr(0) | P | RW | US);
    t.set(0, 1, 0x5000n | P | RW);
    t.set(0, 2, 0x6000n | P | US);
    t.set(t.top, 1, 0xc00000n | P | RW | PS);
    t.set(t.top, 2, 0x400000n | (1n << 21n) | P | PS); // reserved bit 21
    t.set(t.top, 3, 0x40000000n | P); // a table outside the block
    const seen: string[] = [];
    createWalker({ mode: '32bit', tables: t.bytes, tablesPhys: t.base }).traverse({
      leaf: (vpn, ppn, pages, access) => seen.push(`leaf ${vpn.toString(16)}->${ppn.toString(16)} x${pages} ${access}`),
      reserved: (depth, path, word) => seen.push(`reserved ${depth} ${path.slice(0, depth + 1).join('/')} @${word * 4}`),
      outside: (depth, path, _word, target) => seen.push(`outside ${depth} ${path.slice(0, depth + 1).join('/')} ${target.toString(16)}`),
    });
    expect(seen).toEqual([
      'leaf 1->5 x1 5',
      'leaf 2->6 x1 6',
      'leaf 400->c00 x1024 5',
      'reserved 0 2 @4104',
      'outside 0 3 40000000',
    ]);
  });
});
