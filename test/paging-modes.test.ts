import { describe, expect, it } from 'vitest';
import {
  blockBytes, cr3Limit, hasCanonicalHalves, identityEnd, isLinearAddress, linearAddressDigits, linearSpans, pagesCanDenyExecute,
  reservedLowMask, topEntries, topEntryVirt, topTablePhys,
} from '../src/verify/paging-modes.js';

describe('facts derived from the SDM records', () => {
  it('forms linear addresses up to 4 GiB in 32-bit and PAE paging, and no further', () => {
    for (const mode of ['32bit', 'pae'] as const) {
      expect(isLinearAddress(mode, 0xffffffffn)).toBe(true);
      expect(isLinearAddress(mode, 0x100000000n)).toBe(false);
      expect(identityEnd(mode)).toBe(0x100000000n);
    }
  });

  it('forms exactly the two canonical halves in IA-32e', () => {
    expect(isLinearAddress('ia32e', 0x7fffffffffffn)).toBe(true);
    expect(isLinearAddress('ia32e', 0x800000000000n)).toBe(false);
    expect(isLinearAddress('ia32e', 0xffff7fffffffffffn)).toBe(false);
    expect(isLinearAddress('ia32e', 0xffff800000000000n)).toBe(true);
    expect(isLinearAddress('ia32e', 0xffffffffffffffffn)).toBe(true);
    expect(linearSpans('ia32e').reduce((n, s) => n + s.size, 0n)).toBe(1n << 48n);
    expect(identityEnd('ia32e')).toBe(1n << 47n);
  });

  it('starts top-level entries at their scope, sign-extended in the upper half', () => {
    expect(topEntryVirt('32bit', 1023)).toBe(0xffc00000n);
    expect(topEntryVirt('pae', 3)).toBe(0xc0000000n);
    expect(topEntryVirt('ia32e', 255)).toBe(0x7f8000000000n);
    expect(topEntryVirt('ia32e', 256)).toBe(0xffff800000000000n);
  });

  it('puts the top-level table last: a page, or PAE\'s 32 bytes', () => {
    expect(topTablePhys('pae', 0x400000n, blockBytes('pae', 3))).toBe(0x402000n);
    expect(blockBytes('pae', 3)).toBe(8192n + 32n);
    expect(topTablePhys('ia32e', 0x400000n, blockBytes('ia32e', 4))).toBe(0x403000n);
    expect(topTablePhys('32bit', 0x1000n, 4096)).toBe(0x1000n);
  });

  it('limits CR3 to 4 GiB in 32-bit and PAE paging, to MAXPHYADDR in IA-32e', () => {
    expect(cr3Limit('32bit')).toBe(1n << 32n);
    expect(cr3Limit('pae', 52)).toBe(1n << 32n);
    expect(cr3Limit('ia32e')).toBe(1n << 52n);
    expect(cr3Limit('ia32e', 40)).toBe(1n << 40n);
  });

  it('reserves bits 1-2 and 5-8 of a PAE PDPTE and PS of a PML4E', () => {
    expect(reservedLowMask('pae', 0)).toBe(0x1e6);
    expect(reservedLowMask('ia32e', 0)).toBe(0x80);
    expect(reservedLowMask('pae', 1)).toBe(0);
  });

  it('counts top-level entries: 1024, PAE\'s 4, 512', () => {
    expect([topEntries('32bit'), topEntries('pae'), topEntries('ia32e')]).toEqual([1024, 4, 512]);
  });

  it('splits only IA-32e linear addresses into canonical halves, written in 16 hex digits', () => {
    expect([hasCanonicalHalves('32bit'), hasCanonicalHalves('pae'), hasCanonicalHalves('ia32e')]).toEqual([false, false, true]);
    expect([linearAddressDigits('32bit'), linearAddressDigits('pae'), linearAddressDigits('ia32e')]).toEqual([8, 8, 16]);
  });

  it('lets pages deny execution with XD in PAE and IA-32e paging, not in 32-bit paging', () => {
    expect([pagesCanDenyExecute('32bit'), pagesCanDenyExecute('pae'), pagesCanDenyExecute('ia32e')]).toEqual([false, true, true]);
  });
});
