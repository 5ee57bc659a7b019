import { kernelSymbolMap, type KernelDescription, type PagingModeName } from '../../src/elf/kernel.js';

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
