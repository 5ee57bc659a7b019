/** Kernels for the QEMU engine's tests and bench: the generator's tables and the spec's translation for each. */
import { generateTables } from '../../src/generate.js';
import { kernelSymbolMap, type KernelDescription, type Region } from '../../src/kernel.js';
import type { EngineInput, MappedRange } from '../../verify/model.js';
import { specFromSymbols } from '../../verify/spec.js';

const region = (start: bigint, size: bigint): Region => ({ start, size });
const HIGH_HALF = 0xffff800000000000n;

/** One layout per mode and kind of mapping the engine has to host. */
export const QEMU_LAYOUTS: Readonly<Record<string, KernelDescription>> = {
  '32bit-identity': { mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 1024n, pagetablesStart: 0x1f0000n },
  '32bit-identity-perms': {
    mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 1024n, pagetablesStart: 0x1f0000n, regionPermissions: true,
    regions: { _image_text: region(0x100000n, 0x8000n), _image_rodata: region(0x108000n, 0x4000n) },
  },
  '32bit-dual-perms': {
    mode: '32bit', sramBase: 0x400000n, sramSizeKiB: 2048n, kernelVmBase: 0xc0400000n, pagetablesStart: 0xc05f0000n,
    regionPermissions: true,
    regions: { _image_text: region(0xc0400000n, 0x10000n), _image_rodata: region(0x410000n, 0x4000n) },
  },
  'pae-identity-perms': {
    mode: 'pae', sramBase: 0x200000n, sramSizeKiB: 1024n, pagetablesStart: 0x2f0000n, regionPermissions: true,
    regions: { _image_text: region(0x200000n, 0x8000n), _image_rodata: region(0x208000n, 0x4000n) },
  },
  'pae-dual-perms': {
    mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 2048n, kernelVmBase: 0x80100000n, pagetablesStart: 0x802f0000n,
    regionPermissions: true,
    regions: { _image_text: region(0x80100000n, 0x10000n), _image_rodata: region(0x110000n, 0x4000n) },
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
};

/** 64 MiB of IA-32e RAM with text, rodata and locore regions: the bench's full-check layout. */
export const QEMU_64MIB_LAYOUT: KernelDescription = {
  mode: 'ia32e', sramBase: 0x1000000n, sramSizeKiB: 64n * 1024n, pagetablesStart: 0x4f00000n, regionPermissions: true,
  regions: {
    _image_text: region(0x1000000n, 0x200000n), _image_rodata: region(0x1200000n, 0x100000n),
    _locore: region(0x1300000n, 0x1000n), _lorodata: region(0x1301000n, 0x1000n),
  },
};

export const symbolsOf = kernelSymbolMap;

/** What an engine gets for the kernel: the generator's tables and the spec's expected translation. */
export function engineInput(kernel: KernelDescription): EngineInput {
  const symbols = symbolsOf(kernel);
  const spec = specFromSymbols(symbols);
  if (!spec.valid) throw new Error(`test layout refused: ${spec.reasons.join('; ')}`);
  const tables = generateTables(symbols);
  return { mode: spec.mode, tables: tables.bytes, tablesPhys: tables.tablesPhys, expected: spec.expected };
}

const entryBytes = (input: EngineInput): number => (input.mode === '32bit' ? 4 : 8);

/**
 * Byte offsets in the tables of the present entries whose frame is `phys`:
 * the leaf entries of a page no table lives in, or the entries that point at
 * a table.
 */
export function entriesPointingAt(input: EngineInput, phys: bigint): number[] {
  const size = entryBytes(input);
  const view = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
  const frameMask = size === 4 ? 0xfffff000n : 0x000ffffffffff000n;
  const offsets: number[] = [];
  for (let offset = 0; offset + size <= input.tables.byteLength; offset += size) {
    const entry = size === 4 ? BigInt(view.getUint32(offset, true)) : view.getBigUint64(offset, true);
    if ((entry & 1n) !== 0n && (entry & frameMask) === phys) offsets.push(offset);
  }
  return offsets;
}

/** The input with one bit of the entry at `offset` flipped. */
export function withEntryBit(input: EngineInput, offset: number, bit: number): EngineInput {
  const tables = input.tables.slice();
  tables[offset + (bit >> 3)] = tables[offset + (bit >> 3)]! ^ (1 << (bit & 7));
  return { ...input, tables };
}

/** Every virtual page the expected translation maps to `phys` (its identity and dual aliases). */
export function aliasesOf(expected: readonly MappedRange[], phys: bigint): bigint[] {
  return expected.filter((r) => phys >= r.phys && phys < r.phys + r.size).map((r) => r.virt + (phys - r.phys));
}
