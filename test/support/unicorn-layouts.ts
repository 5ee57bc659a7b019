/** Kernels and table surgery for the Unicorn engine's tests. */
import type { KernelDescription } from '../../src/elf/kernel.js';
import type { EngineInput, MappedRange } from '../../src/verify/model.js';
import { PAGING_MODE_RECORDS, topTablePhys } from '../../src/verify/paging-modes.js';
import { ENGINE_LAYOUTS, entryBytes, frameMask, readEntry } from './engine-layouts.js';

/** The engines' shared layouts, and a dual window without permission regions. */
export const UNICORN_LAYOUTS = {
  ...ENGINE_LAYOUTS,
  'pae-dual': { mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 2048n, kernelVmBase: 0x80100000n, pagetablesStart: 0x802f0000n },
} satisfies Record<string, KernelDescription>;

export type UnicornLayoutName = keyof typeof UNICORN_LAYOUTS;

/** Byte offset, in the table block, of the leaf entry that translates `virt` (4 KiB pages only, as the generator makes). */
export function leafEntryOffset(input: EngineInput, virt: bigint): number {
  const levels = PAGING_MODE_RECORDS[input.mode].levels;
  const size = entryBytes(input.mode);
  let table = topTablePhys(input.mode, input.tablesPhys, input.tables.byteLength);
  for (const [depth, level] of levels.entries()) {
    const index = (virt >> BigInt(level.shift)) & BigInt(level.entries - 1);
    const offset = Number(table - input.tablesPhys + index * BigInt(size));
    if (depth === levels.length - 1) return offset;
    const entry = readEntry(input, offset);
    if ((entry & 1n) === 0n) throw new Error(`0x${virt.toString(16)} has no page table`);
    table = entry & frameMask(input.mode);
  }
  throw new Error('unreachable');
}

/** The input with the entry at `offset` replaced. */
export function withEntry(input: EngineInput, offset: number, value: bigint): EngineInput {
  const tables = input.tables.slice();
  const view = new DataView(tables.buffer);
  if (input.mode === '32bit') view.setUint32(offset, Number(value), true);
  else view.setBigUint64(offset, value, true);
  return { ...input, tables };
}

/** Where `virt` goes according to the ranges: physical address and permissions, or null when unmapped. */
export function translationAt(ranges: readonly MappedRange[], virt: bigint): Omit<MappedRange, 'virt' | 'size'> | null {
  const r = ranges.find((range) => virt >= range.virt && virt < range.virt + range.size);
  return r ? { phys: r.phys + (virt - r.virt), writable: r.writable, user: r.user, executable: r.executable } : null;
}
