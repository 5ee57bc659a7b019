/** Kernels for the QEMU engine's tests, and finding entries by the frame they point at. */
import type { KernelDescription } from '../../src/elf/kernel.js';
import type { EngineInput, MappedRange } from '../../src/verify/model.js';
import { ENGINE_LAYOUTS, entryBytes, frameMask, readEntry, region } from './engine-layouts.js';

/** One layout per mode and kind of mapping the engine has to host. */
export const QEMU_LAYOUTS: Readonly<Record<string, KernelDescription>> = {
  ...ENGINE_LAYOUTS,
  '32bit-identity-perms': {
    mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 1024n, pagetablesStart: 0x1f0000n, regionPermissions: true,
    regions: { _image_text: region(0x100000n, 0x8000n), _image_rodata: region(0x108000n, 0x4000n) },
  },
  'pae-dual-perms': {
    mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 2048n, kernelVmBase: 0x80100000n, pagetablesStart: 0x802f0000n,
    regionPermissions: true,
    regions: { _image_text: region(0x80100000n, 0x10000n), _image_rodata: region(0x110000n, 0x4000n) },
  },
};

/**
 * Byte offsets in the tables of the present entries whose frame is `phys`:
 * the leaf entries of a page no table lives in, or the entries that point at
 * a table.
 */
export function entriesPointingAt(input: EngineInput, phys: bigint): number[] {
  const size = entryBytes(input.mode);
  const mask = frameMask(input.mode);
  const offsets: number[] = [];
  for (let offset = 0; offset + size <= input.tables.byteLength; offset += size) {
    const entry = readEntry(input, offset);
    if ((entry & 1n) !== 0n && (entry & mask) === phys) offsets.push(offset);
  }
  return offsets;
}

/** Every virtual page the expected translation maps to `phys` (its identity and dual aliases). */
export function aliasesOf(expected: readonly MappedRange[], phys: bigint): bigint[] {
  return expected.filter((r) => phys >= r.phys && phys < r.phys + r.size).map((r) => r.virt + (phys - r.phys));
}

/** Offset of the page-directory entry above the leaf that maps `phys` (the P|RW|US entry pointing at its page table). */
export function directoryEntryAbove(input: EngineInput, phys: bigint): number {
  const [pte] = entriesPointingAt(input, phys);
  const pageTable = input.tablesPhys + BigInt(Math.floor(pte! / 4096) * 4096);
  // The page table is RAM too, so a leaf (P|RW|XD) maps it as well; the directory entry is the one with U/S.
  const [pde, more] = entriesPointingAt(input, pageTable).filter((o) => (input.tables[o]! & 4) !== 0);
  if (pde === undefined || more !== undefined) throw new Error('expected one directory entry');
  return pde;
}
