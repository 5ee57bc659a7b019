/** Shorthand for the RAM and window part of a kernel description, shared by the layout tables. */
import type { KernelDescription } from '../../src/elf/kernel.js';

/** RAM as [base, size in KiB] (CONFIG_SRAM_BASE_ADDRESS, CONFIG_SRAM_SIZE). */
export type RamSpan = readonly [base: bigint, sizeKiB: bigint];

/** What a layout adds beyond its mode, RAM, virtual base and tables. */
type Extras = Omit<KernelDescription, 'mode' | 'sramBase' | 'sramSizeKiB' | 'kernelVmBase' | 'pagetablesStart'>;

/** A kernel linked where it runs (identity window only), its tables at `tables`. */
export const identityKernel = (mode: KernelDescription['mode'], ram: RamSpan, tables: bigint, extras: Extras = {}): KernelDescription =>
  ({ mode, sramBase: ram[0], sramSizeKiB: ram[1], pagetablesStart: tables, ...extras });

/** A kernel linked at `vmBase`, apart from the RAM it runs in: a virtual window beside the identity one. */
export const dualKernel = (mode: KernelDescription['mode'], ram: RamSpan, vmBase: bigint, tables: bigint, extras: Extras = {}): KernelDescription =>
  ({ mode, sramBase: ram[0], sramSizeKiB: ram[1], kernelVmBase: vmBase, pagetablesStart: tables, ...extras });
