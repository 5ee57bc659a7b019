import { kernelSymbolMap, type KernelDescription, type PagingModeName, type SymbolKernel } from '../../src/elf/kernel.js';
import type { ZephyrEra } from '../../src/elf/zephyr-era.js';

/** A fully mapped layout of `sizeMiB` of RAM from physical 0, tables at 1 MiB, every region permission set. */
export function benchKernel(mode: PagingModeName, sizeMiB: bigint): KernelDescription {
  return {
    mode,
    sramBase: 0n,
    sramSizeKiB: sizeMiB * 1024n,
    pagetablesStart: 0x100000n,
    regionPermissions: true,
    regions: {
      _image_text: { start: 0x200000n, size: 0x200000n },
      _image_rodata: { start: 0x400000n, size: 0x100000n },
      _locore: { start: 0x1000n, size: 0x1000n },
      _lorodata: { start: 0x2000n, size: 0x1000n },
    },
  };
}

export const benchKernelSymbols = (mode: PagingModeName, sizeMiB: bigint): Map<string, bigint> =>
  kernelSymbolMap(benchKernel(mode, sizeMiB));

/**
 * A large kernel of a Zephyr era (IA-32e): an image of `sizeMiB` at 1 MiB in
 * a VM window twice its size, locore, text and rodata; for v2.6 and 2025 also
 * a large-page --map. Returns the kernel and the script arguments beyond -k/-o.
 */
export function eraBenchKernel(era: Exclude<ZephyrEra, 'seed'>, sizeMiB: bigint): { kernel: SymbolKernel; args: string[] } {
  const size = sizeMiB << 20n;
  const symbols: Record<string, bigint> = {
    CONFIG_X86_64: 1n, CONFIG_SRAM_BASE_ADDRESS: 0n, CONFIG_SRAM_SIZE: (size * 2n) >> 10n, z_x86_pagetables_start: size * 2n,
    CONFIG_SRAM_REGION_PERMISSIONS: 1n, _locore_start: 0x1000n, _locore_size: 0x1000n, _lorodata_start: 0x2000n, _lorodata_size: 0x1000n, _lodata_end: 0x8000n,
  };
  const text = era === '2025' ? '__text_region' : '_image_text';
  const rodata = era === '2025' ? '__rodata_region' : '_image_rodata';
  Object.assign(symbols, { [`${text}_start`]: 0x200000n, [`${text}_size`]: 0x200000n, [`${rodata}_start`]: 0x400000n, [`${rodata}_size`]: 0x100000n });
  if (era !== 'v2.4') {
    Object.assign(symbols, { CONFIG_KERNEL_VM_BASE: 0n, CONFIG_KERNEL_VM_SIZE: size * 2n, z_mapped_start: 0x100000n, z_mapped_size: size });
  }
  if (era === 'v2.4') symbols.CONFIG_SRAM_SIZE = size >> 10n;
  if (era === 'v2.6' || era === '2025') {
    Object.assign(symbols, { CONFIG_KERNEL_VM_OFFSET: 0x100000n, CONFIG_SRAM_OFFSET: 0x100000n, CONFIG_MMU_PAGE_SIZE: 0x1000n });
    if (era === '2025') symbols.CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT = 1n;
  }
  const args = era === 'v2.6' || era === '2025' ? ['--map', `0x${(size * 4n).toString(16)},0x200000,LW`] : [];
  return { kernel: { elfClass: 64, symbols }, args };
}
