/** Kernels, engine inputs and table surgery for the Unicorn engine's tests. */
import { generateTables } from '../../src/generate.js';
import { kernelSymbolMap, type KernelDescription, type Region } from '../../src/kernel.js';
import type { EngineInput, MappedRange, PagingMode } from '../../verify/model.js';
import { specFromSymbols } from '../../verify/spec.js';

const region = (start: bigint, size: bigint): Region => ({ start, size });
export const HIGH_HALF = 0xffff800000000000n;

/** Identity, dual-window and high-half layouts in the three modes, with and without permission regions. */
export const UNICORN_LAYOUTS = {
  '32bit-identity': { mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 1024n, pagetablesStart: 0x1f0000n },
  '32bit-dual-perms': {
    mode: '32bit', sramBase: 0x400000n, sramSizeKiB: 2048n, kernelVmBase: 0xc0400000n, pagetablesStart: 0xc05f0000n,
    regionPermissions: true,
    regions: { _image_text: region(0xc0400000n, 0x10000n), _image_rodata: region(0x410000n, 0x4000n) },
  },
  'pae-identity-perms': {
    mode: 'pae', sramBase: 0x200000n, sramSizeKiB: 1024n, pagetablesStart: 0x2f0000n, regionPermissions: true,
    regions: { _image_text: region(0x200000n, 0x8000n), _image_rodata: region(0x208000n, 0x4000n) },
  },
  'pae-dual': { mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 2048n, kernelVmBase: 0x80100000n, pagetablesStart: 0x802f0000n },
  'ia32e-identity': { mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 1024n, pagetablesStart: 0x1f0000n },
  'ia32e-identity-perms': {
    mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 2048n, pagetablesStart: 0x2f0000n, regionPermissions: true,
    regions: {
      _image_text: region(0x100000n, 0x10000n), _image_rodata: region(0x110000n, 0x4000n),
      _locore: region(0x114000n, 0x1000n), _lorodata: region(0x115000n, 0x1000n),
    },
  },
  'ia32e-high-half-perms': {
    mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 2048n, kernelVmBase: HIGH_HALF + 0x100000n,
    pagetablesStart: HIGH_HALF + 0x2f0000n, regionPermissions: true,
    regions: {
      _image_text: region(HIGH_HALF + 0x100000n, 0x10000n), _image_rodata: region(HIGH_HALF + 0x110000n, 0x4000n),
      _locore: region(0x114000n, 0x1000n), _lorodata: region(0x115000n, 0x1000n),
    },
  },
} satisfies Record<string, KernelDescription>;

export type UnicornLayoutName = keyof typeof UNICORN_LAYOUTS;

export const symbolsOf = kernelSymbolMap;

/** The generator's tables for the kernel and the spec's translation: what the verifier hands an engine. */
export function engineInput(kernel: KernelDescription): EngineInput {
  const symbols = symbolsOf(kernel);
  const spec = specFromSymbols(symbols);
  if (!spec.valid) throw new Error(`test layout refused: ${spec.reasons.join('; ')}`);
  const tables = generateTables(symbols);
  return { mode: spec.mode, tables: tables.bytes, tablesPhys: tables.tablesPhys, expected: spec.expected };
}

/** Index shifts per level, top first, and the size of the top-level table. */
const WALK: Record<PagingMode, { shifts: number[]; entryBytes: 4 | 8; topBytes: number }> = {
  '32bit': { shifts: [22, 12], entryBytes: 4, topBytes: 4096 },
  pae: { shifts: [30, 21, 12], entryBytes: 8, topBytes: 32 },
  ia32e: { shifts: [39, 30, 21, 12], entryBytes: 8, topBytes: 4096 },
};

/** Byte offset, in the table block, of the leaf entry that translates `virt` (4 KiB pages only, as the generator makes). */
export function leafEntryOffset(input: EngineInput, virt: bigint): number {
  const walk = WALK[input.mode];
  const view = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
  const frameMask = walk.entryBytes === 4 ? 0xfffff000n : 0x000ffffffffff000n;
  let table = input.tablesPhys + BigInt(input.tables.byteLength - walk.topBytes);
  for (const [level, shift] of walk.shifts.entries()) {
    const indexBits = level === 0 && input.mode === 'pae' ? 2n : walk.entryBytes === 4 ? 10n : 9n;
    const index = (virt >> BigInt(shift)) & ((1n << indexBits) - 1n);
    const offset = Number(table - input.tablesPhys + index * BigInt(walk.entryBytes));
    if (level === walk.shifts.length - 1) return offset;
    const entry = walk.entryBytes === 4 ? BigInt(view.getUint32(offset, true)) : view.getBigUint64(offset, true);
    if ((entry & 1n) === 0n) throw new Error(`0x${virt.toString(16)} has no page table`);
    table = entry & frameMask;
  }
  throw new Error('unreachable');
}

/** The input with bit `bit` of the entry at `offset` flipped. */
export function withEntryBit(input: EngineInput, offset: number, bit: number): EngineInput {
  const tables = input.tables.slice();
  tables[offset + (bit >> 3)]! ^= 1 << (bit & 7);
  return { ...input, tables };
}

/** The input with the entry at `offset` replaced. */
export function withEntry(input: EngineInput, offset: number, value: bigint): EngineInput {
  const tables = input.tables.slice();
  const view = new DataView(tables.buffer);
  if (input.mode === '32bit') view.setUint32(offset, Number(value), true);
  else view.setBigUint64(offset, value, true);
  return { ...input, tables };
}

export function readEntry(input: EngineInput, offset: number): bigint {
  const view = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
  return input.mode === '32bit' ? BigInt(view.getUint32(offset, true)) : view.getBigUint64(offset, true);
}

/** Where `virt` goes according to the ranges: physical address and permissions, or null when unmapped. */
export function translationAt(ranges: readonly MappedRange[], virt: bigint): Omit<MappedRange, 'virt' | 'size'> | null {
  const r = ranges.find((range) => virt >= range.virt && virt < range.virt + range.size);
  return r ? { phys: r.phys + (virt - r.virt), writable: r.writable, user: r.user, executable: r.executable } : null;
}
