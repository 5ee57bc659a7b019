import { writeElf, type ElfSymbolDef } from './writer.js';

/** The paging modes by the names used on the command line and in reports. */
export type PagingModeName = '32bit' | 'pae' | 'ia32e';

/** A linker-script region: `NAME_start` and `NAME_size`. */
export interface Region {
  readonly start: bigint;
  readonly size: bigint;
}

/** The regions whose permissions CONFIG_SRAM_REGION_PERMISSIONS adjusts. */
export type RegionName = '_image_text' | '_image_rodata' | '__gcov_bss' | '_locore' | '_lorodata';

/**
 * What a Zephyr-like kernel ELF tells the generator, in the terms of its
 * Kconfig and linker script. Used to write sample and test kernels.
 */
export interface KernelDescription {
  readonly mode: PagingModeName;
  /** CONFIG_SRAM_BASE_ADDRESS */
  readonly sramBase: bigint;
  /** CONFIG_SRAM_SIZE, in KiB as Kconfig has it */
  readonly sramSizeKiB: bigint;
  /** CONFIG_KERNEL_VM_BASE; equal to sramBase (the default) for an identity-only kernel */
  readonly kernelVmBase?: bigint;
  /** z_x86_pagetables_start: where the linker put the tables, a virtual address */
  readonly pagetablesStart: bigint;
  /** CONFIG_SRAM_REGION_PERMISSIONS */
  readonly regionPermissions?: boolean;
  readonly regions?: Partial<Record<RegionName, Region>>;
  /** CONFIG_XIP with CONFIG_FLASH_BASE_ADDRESS and CONFIG_FLASH_SIZE (KiB) */
  readonly xip?: { readonly flashBase: bigint; readonly flashSizeKiB: bigint };
  readonly userspace?: boolean;
  readonly coverageGcov?: boolean;
  readonly kpti?: boolean;
}

/** The symbols such a kernel's ELF carries; a set Kconfig bool is a symbol of value 1. */
export function kernelSymbols(kernel: KernelDescription): ElfSymbolDef[] {
  const symbols: ElfSymbolDef[] = [];
  const define = (name: string, value: bigint) => symbols.push({ name, value });
  const flag = (name: string, set: boolean | undefined) => set && define(name, 1n);

  flag('CONFIG_X86_64', kernel.mode === 'ia32e');
  flag('CONFIG_X86_PAE', kernel.mode === 'pae');
  define('CONFIG_SRAM_BASE_ADDRESS', kernel.sramBase);
  define('CONFIG_SRAM_SIZE', kernel.sramSizeKiB);
  define('CONFIG_KERNEL_VM_BASE', kernel.kernelVmBase ?? kernel.sramBase);
  define('z_x86_pagetables_start', kernel.pagetablesStart);
  flag('CONFIG_SRAM_REGION_PERMISSIONS', kernel.regionPermissions);
  flag('CONFIG_USERSPACE', kernel.userspace);
  flag('CONFIG_COVERAGE_GCOV', kernel.coverageGcov);
  flag('CONFIG_X86_KPTI', kernel.kpti);
  if (kernel.xip) {
    define('CONFIG_XIP', 1n);
    define('CONFIG_FLASH_BASE_ADDRESS', kernel.xip.flashBase);
    define('CONFIG_FLASH_SIZE', kernel.xip.flashSizeKiB);
  }
  for (const [name, region] of Object.entries(kernel.regions ?? {})) {
    define(`${name}_start`, region.start);
    define(`${name}_size`, region.size);
  }
  return symbols;
}

/** The same symbols as the ELF reader returns them: name to value. */
export function kernelSymbolMap(kernel: KernelDescription): Map<string, bigint> {
  return new Map(kernelSymbols(kernel).map((s) => [s.name, s.value] as const));
}

/** The ELF class a kernel of this mode is built as. */
export function elfClassOf(mode: PagingModeName): 32 | 64 {
  return mode === 'ia32e' ? 64 : 32;
}

/** A complete kernel ELF for the description, as the project's ELF writer makes it. */
export function kernelElf(kernel: KernelDescription): Uint8Array {
  return writeElf({ elfClass: elfClassOf(kernel.mode), symbols: kernelSymbols(kernel) });
}

/**
 * A kernel of any Zephyr era, given as the symbols its ELF carries (as a
 * build's `nm` lists them) and the sizes of those that have one (the tables'
 * placeholder `dummy_pagetables`). Era kernels differ in which symbols they
 * have, not in their shape, so they are described by symbol.
 */
export interface SymbolKernel {
  readonly elfClass: 32 | 64;
  readonly symbols: Readonly<Record<string, bigint>>;
  readonly sizes?: Readonly<Record<string, bigint>>;
}

/** The symbol and size maps the ELF reader would return for such a kernel. */
export function symbolKernelMaps(kernel: SymbolKernel): { symbols: Map<string, bigint>; sizes: Map<string, bigint> } {
  const symbols = new Map(Object.entries(kernel.symbols));
  const sizes = new Map(Object.keys(kernel.symbols).map((name) => [name, kernel.sizes?.[name] ?? 0n] as const));
  return { symbols, sizes };
}

/** The kernel's ELF as the project's writer makes it. */
export function symbolKernelElf(kernel: SymbolKernel): Uint8Array {
  const symbols = Object.entries(kernel.symbols).map(([name, value]) => {
    const size = kernel.sizes?.[name];
    return size === undefined ? { name, value } : { name, value, size };
  });
  return writeElf({ elfClass: kernel.elfClass, symbols });
}
