/**
 * The Unicorn engine against the generator's tables: it must observe exactly
 * what the spec asks where the tables are right, and see every leaf-entry
 * change where they are not.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { compareRanges } from '../src/verify/compare.js';
import { coalesceRanges } from '../src/verify/ranges.js';
import { createUnicornEngine } from '../src/engines/unicorn/engine.js';
import type { Engine, EngineInput, EngineReport, MappedRange, VirtSpan } from '../src/verify/model.js';
import { UNICORN_EXPECTED_VERSION } from '../src/engines/unicorn/library.js';
import { probeTables } from '../src/engines/unicorn/prober.js';
import { walkTables } from '../src/verify/walker.js';
import { HIGH_HALF, engineInput, readEntry, withEntryBit } from './support/engine-layouts.js';
import { UNICORN_LAYOUTS, leafEntryOffset, translationAt, withEntry, type UnicornLayoutName } from './support/unicorn-layouts.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createUnicornEngine();
});

const inputs = new Map<UnicornLayoutName, EngineInput>();
const inputOf = (name: UnicornLayoutName): EngineInput => {
  let input = inputs.get(name);
  if (!input) {
    input = engineInput(UNICORN_LAYOUTS[name]);
    inputs.set(name, input);
  }
  return input;
};

const PAGE = 0x1000n;
const covered = (coverage: EngineReport['coverage'], virt: bigint): boolean =>
  coverage === 'all' || coverage.some((s) => virt >= s.virt && virt < s.virt + s.size);

/** The ranges cut down to the covered spans. */
function within(ranges: readonly MappedRange[], coverage: readonly VirtSpan[]): MappedRange[] {
  const out: MappedRange[] = [];
  for (const r of ranges) {
    for (const s of coverage) {
      const start = r.virt > s.virt ? r.virt : s.virt;
      const end = r.virt + r.size < s.virt + s.size ? r.virt + r.size : s.virt + s.size;
      if (start < end) out.push({ ...r, virt: start, phys: r.phys + (start - r.virt), size: end - start });
    }
  }
  return coalesceRanges(out);
}

describe('the unicorn engine on correct tables', () => {
  for (const name of Object.keys(UNICORN_LAYOUTS) as UnicornLayoutName[]) {
    it(`${name}: sees the spec's translation on every expected page and nothing on the pages around`, async () => {
      const input = inputOf(name);
      const report = await engine.run(input);
      expect(report.engine).toBe('unicorn');
      expect(report.version).toBe(UNICORN_EXPECTED_VERSION);
      expect(report.violations).toEqual([]);
      if (report.coverage === 'all') throw new Error('a probing engine lists its coverage');
      for (const r of input.expected) {
        expect(covered(report.coverage, r.virt)).toBe(true);
        expect(covered(report.coverage, r.virt + r.size - PAGE)).toBe(true);
        const after = r.virt + r.size;
        if (after < 1n << 32n || input.mode === 'ia32e') expect(covered(report.coverage, after)).toBe(true);
      }
      expect(compareRanges(input.expected, report.actual, report.coverage)).toEqual([]);
      // The SDM walker reads the same bytes another way: over the probed pages it must agree exactly.
      expect(report.actual).toEqual(within(walkTables(input).ranges, report.coverage));
    });
  }

  it('observes permissions page by page: text r-x user, rodata r-- user, data rw- kernel (32-bit paging: no XD)', async () => {
    const pae = await engine.run(inputOf('pae-identity-perms'));
    expect(translationAt(pae.actual, 0x200000n)).toEqual({ phys: 0x200000n, writable: false, user: true, executable: true });
    expect(translationAt(pae.actual, 0x208000n)).toEqual({ phys: 0x208000n, writable: false, user: true, executable: false });
    expect(translationAt(pae.actual, 0x20c000n)).toEqual({ phys: 0x20c000n, writable: true, user: false, executable: false });
    expect(translationAt(pae.actual, 0x1ff000n)).toBeNull();
    expect(translationAt(pae.actual, 0x300000n)).toBeNull();

    const dual = await engine.run(inputOf('32bit-dual-perms'));
    // The text region is given by its dual-window address; both aliases share the leaf, so both are read-only.
    expect(translationAt(dual.actual, 0xc0400000n)).toEqual({ phys: 0x400000n, writable: false, user: true, executable: true });
    expect(translationAt(dual.actual, 0x400000n)).toEqual({ phys: 0x400000n, writable: false, user: true, executable: true });
    expect(translationAt(dual.actual, 0xc0410000n)).toEqual({ phys: 0x410000n, writable: false, user: true, executable: true });
    expect(translationAt(dual.actual, 0xc0414000n)).toEqual({ phys: 0x414000n, writable: true, user: false, executable: true });

    const high = await engine.run(inputOf('ia32e-high-half-perms'));
    expect(translationAt(high.actual, HIGH_HALF + 0x100000n)).toEqual({ phys: 0x100000n, writable: false, user: true, executable: true });
    expect(translationAt(high.actual, 0x114000n)).toEqual({ phys: 0x114000n, writable: false, user: false, executable: true });
    expect(translationAt(high.actual, 0x115000n)).toEqual({ phys: 0x115000n, writable: false, user: false, executable: false });
  });

  it('tests the user bit from CPL 3 when the layout has user code, and with CR4.SMAP at CPL 0 when it has none', () => {
    const perms = probeTables(inputOf('ia32e-identity-perms'));
    expect(perms.userAccess).toBe('cpl3');
    expect(perms.userPage).not.toBeNull();
    const plain = probeTables(inputOf('ia32e-identity'));
    expect(plain.userAccess).toBe('smap');
    expect(plain.userPage).toBeNull();
  });

  it('starts every check afresh on its reused emulator: a check in between changes nothing for the next', async () => {
    const input = inputOf('pae-identity-perms');
    const first = await engine.run(input);
    const other = withEntryBit(inputOf('pae-dual'), leafEntryOffset(inputOf('pae-dual'), 0x200000n), 1);
    expect((await engine.run(other)).actual).not.toEqual(first.actual);
    expect(await engine.run(input)).toEqual(first);
  });

  it('reads the right physical page through a dual-window address whose identical physical address holds nothing', async () => {
    // 0xc0400000 is RAM's dual alias; physical 0xc0400000 is no memory the spec maps. Were the
    // emulator to translate virtual = physical, the probe would reach that address and report it.
    const input = inputOf('32bit-dual-perms');
    expect(input.expected.some((r) => 0xc0400000n >= r.phys && 0xc0400000n < r.phys + r.size)).toBe(false);
    const report = await engine.run(input);
    expect(translationAt(report.actual, 0xc0400000n)?.phys).toBe(0x400000n);
    expect(translationAt(report.actual, 0xc05ff000n)?.phys).toBe(0x5ff000n);
  });
});

/** A page of each kind per layout: user text and kernel data. */
const MUTATED_PAGES: Partial<Record<UnicornLayoutName, readonly bigint[]>> = {
  '32bit-dual-perms': [0xc0401000n, 0x415000n],
  'pae-identity-perms': [0x201000n, 0x20d000n],
  'ia32e-identity': [0x101000n],
  'ia32e-high-half-perms': [HIGH_HALF + 0x101000n, 0x120000n],
};

const LEAF_BITS = [
  { name: 'present', bit: 0 },
  { name: 'writable', bit: 1 },
  { name: 'user', bit: 2 },
  { name: 'execute-disable', bit: 63 },
  { name: 'frame bit 12', bit: 12 },
] as const;

describe('the unicorn engine on mutated leaf entries', () => {
  for (const [name, pages] of Object.entries(MUTATED_PAGES) as [UnicornLayoutName, bigint[]][]) {
    for (const virt of pages) {
      for (const { name: what, bit } of LEAF_BITS) {
        const input = inputOf(name);
        if (bit === 63 && input.mode === '32bit') continue;
        it(`${name}: flipping ${what} of the leaf for 0x${virt.toString(16)} changes exactly what it should there`, async () => {
          const before = translationAt(input.expected, virt);
          expect(before).not.toBeNull();
          const mutant = withEntryBit(input, leafEntryOffset(input, virt), bit);
          const report = await engine.run(mutant);
          const after = translationAt(report.actual, virt);
          const b = before!;
          const expected =
            bit === 0 ? null
            : bit === 1 ? { ...b, writable: !b.writable }
            : bit === 2 ? { ...b, user: !b.user }
            : bit === 63 ? { ...b, executable: !b.executable }
            : { ...b, phys: b.phys ^ 0x1000n };
          expect(after).toEqual(expected);
          const mismatches = compareRanges(input.expected, report.actual, report.coverage);
          expect(mismatches.some((m) => virt >= m.virt && virt < m.virt + m.size)).toBe(true);
        });
      }
    }
  }

  it('agrees with the SDM walker, over the probed pages, on random single-bit flips of leaf and upper entries', async () => {
    // A fixed-seed sample: leaf flags, ignored bits (accessed, dirty, PAT, global, available) and frame
    // bits below the emulated MAXPHYADDR, and flag bits of entries at every level.
    let seed = 0x2545f491;
    const pick = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % n;
    };
    for (const name of Object.keys(UNICORN_LAYOUTS) as UnicornLayoutName[]) {
      const input = inputOf(name);
      const wide = input.mode !== '32bit';
      const pages = input.expected.flatMap((r) => Array.from({ length: Number(r.size / PAGE) }, (_, i) => r.virt + BigInt(i) * PAGE));
      const leafBits = [0, 1, 2, 5, 6, 7, 8, 9, 12, 13, 17, 21, 26, 31, ...(wide ? [34, 39, 63] : [])];
      const entryBytes = wide ? 8 : 4;
      const present: number[] = [];
      for (let offset = 0; offset + entryBytes <= input.tables.byteLength; offset += entryBytes) {
        if ((readEntry(input, offset) & 1n) === 1n) present.push(offset);
      }
      const flagBits = [0, 1, 2, ...(wide ? [63] : [])];
      for (let trial = 0; trial < 12; trial++) {
        const mutant =
          trial % 2 === 0
            ? withEntryBit(input, leafEntryOffset(input, pages[pick(pages.length)]!), leafBits[pick(leafBits.length)]!)
            : withEntryBit(input, present[pick(present.length)]!, flagBits[pick(flagBits.length)]!);
        const report = await engine.run(mutant);
        expect(compareRanges(walkTables(mutant).ranges, report.actual, report.coverage), `${name}, trial ${trial}`).toEqual([]);
      }
    }
  });

  it('runs its routine from another page when the first executable page is broken', async () => {
    const input = inputOf('pae-identity-perms');
    const first = input.expected.find((r) => r.executable)!.virt;
    const healthy = probeTables(input);
    expect(healthy.kernelPage).toBe(first);
    const mutant = withEntryBit(input, leafEntryOffset(input, first), 0);
    const result = probeTables(mutant);
    expect(result.kernelPage).not.toBe(first);
    expect(translationAt(result.actual, first)).toBeNull();
    expect(translationAt(result.actual, first + PAGE)).toEqual(translationAt(input.expected, first + PAGE));
  });

  it('follows a frame far outside the planned memory and reports where it led', async () => {
    const input = inputOf('ia32e-identity-perms');
    const virt = 0x180000n;
    const mutant = withEntryBit(input, leafEntryOffset(input, virt), 28);
    const report = await engine.run(mutant);
    expect(translationAt(report.actual, virt)).toEqual({ ...translationAt(input.expected, virt)!, phys: virt + (1n << 28n) });
  });

  it('recognises a page that leads into the tables themselves, and tests its execute permission without running it', async () => {
    const input = inputOf('ia32e-identity');
    const virt = 0x108000n;
    const offset = leafEntryOffset(input, virt);
    const tablePage = input.tablesPhys;
    const mutant = withEntry(input, offset, (readEntry(input, offset) & ~0x000ffffffffff000n) | tablePage);
    const report = await engine.run(mutant);
    expect(translationAt(report.actual, virt)).toEqual({ ...translationAt(input.expected, virt)!, phys: tablePage });
    // The same again, execute-disabled: the fetch must now fault.
    const noExec = withEntryBit(mutant, offset, 63);
    const refused = await engine.run(noExec);
    expect(translationAt(refused.actual, virt)).toEqual({ ...translationAt(input.expected, virt)!, phys: tablePage, executable: false });
  });

  it('reports a leaf with a reserved bit set (above the emulated MAXPHYADDR of 40) as unmapped: the read faults with RSVD', async () => {
    const input = inputOf('ia32e-identity-perms');
    const virt = 0x130000n;
    const report = await engine.run(withEntryBit(input, leafEntryOffset(input, virt), 45));
    expect(translationAt(report.actual, virt)).toBeNull();
    expect(translationAt(report.actual, virt + PAGE)).toEqual(translationAt(input.expected, virt + PAGE));
  });

  it('sees a page mapped just outside a range', async () => {
    const input = inputOf('32bit-identity');
    const outside = 0x200000n; // RAM is [0x100000, 0x200000)
    const offset = leafEntryOffset(input, outside);
    expect(readEntry(input, offset)).toBe(0n);
    const report = await engine.run(withEntry(input, offset, outside | 3n));
    expect(translationAt(report.actual, outside)).toEqual({ phys: outside, writable: true, user: false, executable: true });
    const mismatches = compareRanges(input.expected, report.actual, report.coverage);
    expect(mismatches).toEqual([{ virt: outside, size: PAGE, expected: null, actual: { phys: outside, writable: true, user: false, executable: true } }]);
  });

  it('refuses a layout whose memory it cannot back under the full plan, rather than exhaust the host', async () => {
    const input = inputOf('ia32e-identity');
    const huge = { ...input, expected: [...input.expected, { virt: 1n << 40n, phys: 1n << 33n, size: 2n << 30n, writable: true, user: false, executable: true }] };
    const full = await createUnicornEngine({ probe: { plan: 'all' } });
    await expect(full.run(huge)).rejects.toThrow(InputError);
    await expect(full.run(huge)).rejects.toThrow(/needs 2\d{3} MiB, more than its limit of 1024 MiB/);
  });

  it('refuses physical memory beyond its CPU\'s 40-bit MAXPHYADDR instead of reporting it unmapped', async () => {
    const input = inputOf('ia32e-identity');
    const flash = { virt: 1n << 40n, phys: 1n << 40n, size: 0x10000n, writable: false, user: false, executable: true };
    await expect(engine.run({ ...input, expected: [...input.expected, flash] })).rejects.toThrow(/MAXPHYADDR of 40 bits; .* up to 0x10000010000, beyond 0x10000000000/);
    const below = { ...flash, virt: (1n << 40n) - 0x10000n, phys: (1n << 40n) - 0x10000n };
    const report = await engine.run({ ...input, expected: [...input.expected, below] });
    expect(compareRanges([...input.expected, below], report.actual, report.coverage).filter((m) => m.virt >= below.virt && m.virt < below.virt + below.size)).toEqual([{ virt: below.virt, size: below.size, expected: translationAt([below], below.virt), actual: null }]);
  });

  it('probes by the MMU\'s translations a layout with no page its routine could run from, and sees the text the tables leave executable', async () => {
    const input = inputOf('pae-identity-perms');
    const noExec = { ...input, expected: input.expected.map((r) => ({ ...r, executable: false })) };
    expect(probeTables(noExec).method).toBe('translate');
    const report = await engine.run(noExec);
    const text = input.expected.find((r) => r.executable)!;
    const mismatches = compareRanges(noExec.expected, report.actual, report.coverage);
    expect(mismatches.length).toBeGreaterThan(0);
    expect(mismatches.every((m) => m.virt >= text.virt && m.virt + m.size <= text.virt + text.size)).toBe(true);
    expect(mismatches.every((m) => m.actual?.executable === true && m.expected?.executable === false)).toBe(true);
  });
});
