/**
 * A small Unicorn machine with hand-made paging structures, for looking at
 * the emulator itself rather than at a layout's tables (finding where it
 * keeps the #PF error code, and the tests that it walks page tables at all):
 * 64-bit code gets 4-level paging, PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000;
 * 32-bit code gets PAE paging, PDPT 0x1000 -> PD 0x3000. The caller fills
 * in the page directory and its page tables.
 */
import { Unicorn } from './binding.js';
import { UC_CPU_X86_BROADWELL, X86_REG } from './constants.js';
import { CR0_PG, CR0_WP, CR4_PAE, EFER_NXE, MSR_EFER } from './x86.js';

/** Physical address of the page directory. */
export const SMALL_PAGE_DIRECTORY = 0x3000n;

/** A paging-structure entry as its 8 bytes. */
export function entryBytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
}

/** Opens a machine (a CPU model with SMAP) with `ramBytes` of RAM from 0 and the levels above the page directory. */
export function openSmallMachine(width: 32 | 64, ramBytes: bigint): Unicorn {
  const uc = Unicorn.open(width, { cpuModel: UC_CPU_X86_BROADWELL });
  uc.mapMemory(0n, ramBytes);
  if (width === 64) {
    uc.writeMemory(0x1000n, entryBytes(0x2000n | 7n));
    uc.writeMemory(0x2000n, entryBytes(SMALL_PAGE_DIRECTORY | 7n));
  } else {
    uc.writeMemory(0x1000n, entryBytes(SMALL_PAGE_DIRECTORY | 1n));
  }
  return uc;
}

/** Turns paging on: CR4.PAE, IA32_EFER.NXE, CR3, then CR0.PG with CR0.WP. */
export function enableSmallPaging(uc: Unicorn): void {
  uc.writeRegister(X86_REG.CR4, uc.readRegister(X86_REG.CR4) | CR4_PAE);
  uc.writeMsr(MSR_EFER, uc.readMsr(MSR_EFER) | EFER_NXE);
  uc.writeRegister(X86_REG.CR3, 0x1000n);
  uc.writeRegister(X86_REG.CR0, uc.readRegister(X86_REG.CR0) | CR0_PG | CR0_WP);
}
