/** Kernels both emulator engines' tests run, and reading and changing entries of what an engine is handed. */
import type { KernelDescription, Region } from '../../src/elf/kernel.js';
import type { EngineInput, PagingMode } from '../../src/verify/model.js';
import { flipBit } from './verify-tables.js';

export { engineInput, IA32E_64MIB_LAYOUT } from '../../scripts/bench/engine-layouts.js';

export const region = (start: bigint, size: bigint): Region => ({ start, size });
export const HIGH_HALF = 0xffff800000000000n;

/** Identity, dual-window and high-half layouts in the three modes, with and without permission regions. */
export const ENGINE_LAYOUTS = {
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

export const entryBytes = (mode: PagingMode): 4 | 8 => (mode === '32bit' ? 4 : 8);

/** The bits of an entry that hold a physical address. */
export const frameMask = (mode: PagingMode): bigint => (mode === '32bit' ? 0xfffff000n : 0x000ffffffffff000n);

/** The entry at byte `offset` of the tables. */
export function readEntry(input: EngineInput, offset: number): bigint {
  const view = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
  return entryBytes(input.mode) === 4 ? BigInt(view.getUint32(offset, true)) : view.getBigUint64(offset, true);
}

/** The input with bit `bit` of the entry at `offset` flipped. */
export function withEntryBit(input: EngineInput, offset: number, bit: number): EngineInput {
  return { ...input, tables: flipBit(input.tables, offset, bit) };
}
