import { describe, expect, it } from 'vitest';
import { kernelRegions, layoutSymbolChanges, rangeLabels, symbolChangeLine, windowName } from '../src/verify/regions.js';
import type { MappedRange } from '../src/verify/model.js';
import { SMALL_LAYOUTS, symbolsOf } from './support/verify-kernels.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { specFromSymbols } from '../src/verify/spec.js';

const rw: Omit<MappedRange, 'virt' | 'phys' | 'size'> = { writable: true, user: false, executable: false };
const at = (virt: bigint, phys: bigint, size: bigint): MappedRange => ({ virt, phys, size, ...rw });

describe('region labels from the kernel\'s symbol map', () => {
  // PAE, RAM 0x100000 + 64 KiB dual-mapped at 0xc0100000: text named by its dual-window address, rodata by its identity one.
  const dual = kernelRegions(symbolsOf(SMALL_LAYOUTS['pae-dual-perms']!));

  it('reads regions as physical spans, whichever alias the symbol names', () => {
    expect(dual.dualOffset).toBe(0xc0000000n);
    expect(dual.regions.map((r) => [r.name, r.phys, r.size])).toEqual([
      ['text', 0x100000n, 0x4000n], ['rodata', 0x104000n, 0x2000n], ['RAM', 0x100000n, 0x10000n],
    ]);
  });

  it('labels both aliases of the same memory alike', () => {
    expect(rangeLabels(dual, at(0x100000n, 0x100000n, 0x4000n))).toEqual(['text']);
    expect(rangeLabels(dual, at(0xc0100000n, 0x100000n, 0x4000n))).toEqual(['text']);
    expect(rangeLabels(dual, at(0xc0104000n, 0x104000n, 0x2000n))).toEqual(['rodata']);
  });

  it('a boundary on each side: a range ending where text starts is not text, one starting on text\'s last page is', () => {
    expect(rangeLabels(dual, at(0xff000n, 0xff000n, 0x1000n))).toEqual(['outside RAM']);
    expect(rangeLabels(dual, at(0x103000n, 0x103000n, 0x1000n))).toEqual(['text']);
    expect(rangeLabels(dual, at(0x104000n, 0x104000n, 0x1000n))).toEqual(['rodata']);
    expect(rangeLabels(dual, at(0x106000n, 0x106000n, 0x1000n))).toEqual(['RAM']);
    expect(rangeLabels(dual, at(0x110000n, 0x110000n, 0x1000n))).toEqual(['outside RAM']);
  });

  it('a range over several regions names each, and RAM when some of it is outside them', () => {
    expect(rangeLabels(dual, at(0x100000n, 0x100000n, 0x6000n))).toEqual(['text', 'rodata']);
    expect(rangeLabels(dual, at(0x100000n, 0x100000n, 0x10000n))).toEqual(['text', 'rodata', 'RAM']);
  });

  it('labels every range the spec expects, in every small layout, with a known region', () => {
    for (const [name, kernel] of Object.entries(SMALL_LAYOUTS)) {
      const symbols = symbolsOf(kernel);
      const spec = specFromSymbols(symbols);
      if (!spec.valid) throw new Error(`${name} refused`);
      const regions = kernelRegions(symbols);
      for (const r of spec.expected) expect(rangeLabels(regions, r), `${name} ${r.virt}`).not.toContain('outside RAM');
    }
  });

  it('names locore, lorodata, gcov and XIP flash', () => {
    const kpti = kernelRegions(symbolsOf(SMALL_LAYOUTS['ia32e-identity-kpti']!));
    expect(kpti.regions.map((r) => r.name)).toEqual(['text', 'rodata', 'gcov', 'locore', 'lorodata', 'RAM']);
    const xip = kernelRegions(symbolsOf(GOLDEN_LAYOUTS['32bit-xip']!));
    expect(xip.regions.map((r) => r.name)).toEqual(['text', 'rodata', 'RAM', 'XIP flash']);
    expect(rangeLabels(xip, at(0x1040000n, 0x1040000n, 0x1000n))).toEqual(['XIP flash']);
    expect(rangeLabels(xip, at(0x1000000n, 0x1000000n, 0x40000n))).toEqual(['text', 'rodata']);
  });

  it('names the window a range is in by its offset', () => {
    expect(windowName(at(0x100000n, 0x100000n, 0x1000n), 'pae', 0xc0000000n)).toBe('identity');
    expect(windowName(at(0xc0100000n, 0x100000n, 0x1000n), 'pae', 0xc0000000n)).toBe('dual window');
    expect(windowName(at(0xffff800000100000n, 0x100000n, 0x1000n), 'ia32e', 0xffff800000000000n)).toBe('high-half window');
    expect(windowName(at(0x500000n, 0x100000n, 0x1000n), 'pae', 0xc0000000n)).toBe('offset 0x400000');
    expect(windowName(at(0x100000n, 0x500000n, 0x1000n), 'pae', null)).toBe('offset -0x400000');
  });
});

describe('layout symbol changes between two kernels', () => {
  const base = SMALL_LAYOUTS['pae-dual-perms']!;

  it('a region growing: one line, old and new value', () => {
    const grown = { ...base, regions: { ...base.regions, _image_rodata: { start: 0x104000n, size: 0x4000n } } };
    const changes = layoutSymbolChanges(symbolsOf(base), symbolsOf(grown));
    expect(changes.map(symbolChangeLine)).toEqual(['_image_rodata_size 0x2000 -> 0x4000']);
  });

  it('options by presence, sizes in KiB, and nothing for symbols the layout does not read', () => {
    const before = symbolsOf(base);
    const after = new Map(before);
    after.set('CONFIG_SRAM_SIZE', 128n);
    after.delete('CONFIG_SRAM_REGION_PERMISSIONS');
    after.set('CONFIG_XIP', 1n);
    after.set('z_arm_unrelated', 5n);
    expect(layoutSymbolChanges(before, after).map(symbolChangeLine)).toEqual([
      'CONFIG_SRAM_SIZE 64 KiB -> 128 KiB', 'CONFIG_SRAM_REGION_PERMISSIONS set -> unset', 'CONFIG_XIP unset -> set',
    ]);
    // An option's value does not matter to the policy, only its presence.
    const flagValue = new Map(before);
    flagValue.set('CONFIG_X86_PAE', 7n);
    expect(layoutSymbolChanges(before, flagValue)).toEqual([]);
  });
});
