/** Kernels and table surgery for the Unicorn engine's tests. */
import type { KernelDescription } from '../../src/elf/kernel.js';
import type { EngineInput, MappedRange, PagingMode } from '../../src/verify/model.js';
import { ENGINE_LAYOUTS, entryBytes, frameMask, readEntry } from './engine-layouts.js';

/** The engines' shared layouts, and a dual window without permission regions. */
export const UNICORN_LAYOUTS = {
  ...ENGINE_LAYOUTS,
  'pae-dual': { mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 2048n, kernelVmBase: 0x80100000n, pagetablesStart: 0x802f0000n },
} satisfies Record<string, KernelDescription>;

export type UnicornLayoutName = keyof typeof UNICORN_LAYOUTS;

/** Index shifts per level, top first, and the size of the top-level table. */
const WALK: Record<PagingMode, { shifts: number[]; topBytes: number }> = {
  '32bit': { shifts: [22, 12], topBytes: 4096 },
  pae: { shifts: [30, 21, 12], topBytes: 32 },
  ia32e: { shifts: [39, 30, 21, 12], topBytes: 4096 },
};

/** Byte offset, in the table block, of the leaf entry that translates `virt` (4 KiB pages only, as the generator makes). */
export function leafEntryOffset(input: EngineInput, virt: bigint): number {
  const walk = WALK[input.mode];
  const size = entryBytes(input.mode);
  let table = input.tablesPhys + BigInt(input.tables.byteLength - walk.topBytes);
  for (const [level, shift] of walk.shifts.entries()) {
    const indexBits = level === 0 && input.mode === 'pae' ? 2n : size === 4 ? 10n : 9n;
    const index = (virt >> BigInt(shift)) & ((1n << indexBits) - 1n);
    const offset = Number(table - input.tablesPhys + index * BigInt(size));
    if (level === walk.shifts.length - 1) return offset;
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
