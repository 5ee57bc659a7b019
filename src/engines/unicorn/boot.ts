/**
 * Puts the emulated CPU into a paging mode the way the kernel's early boot
 * does: flat segments from a GDT, then CR4 (PSE or PAE), IA32_EFER.NXE,
 * CR3, and CR0.PG with CR0.WP so that supervisor writes honour read-only
 * pages. Long mode (IA-32e) comes from Unicorn's 64-bit mode, which starts
 * with IA32_EFER.LME set; setting CR0.PG then activates it.
 */
import type { PagingMode } from '../../verify/model.js';
import type { Unicorn } from './binding.js';
import { X86_REG } from './constants.js';
import { SELECTOR } from './harness.js';
import { CR0_PG, CR0_WP, CR4_PAE, CR4_PSE, EFER_NXE, MSR_EFER, PF_FETCH } from './x86.js';

export interface ModeBoot {
  readonly width: 32 | 64;
  readonly cr4: bigint;
  readonly efer: bigint;
  /** Error-code bits a fetch fault carries: I/D is reported only with PAE paging and NXE. */
  readonly fetchFaultBits: number;
}

export const MODE_BOOT: Readonly<Record<PagingMode, ModeBoot>> = {
  '32bit': { width: 32, cr4: CR4_PSE, efer: 0n, fetchFaultBits: 0 },
  pae: { width: 32, cr4: CR4_PAE, efer: EFER_NXE, fetchFaultBits: PF_FETCH },
  ia32e: { width: 64, cr4: CR4_PAE, efer: EFER_NXE, fetchFaultBits: PF_FETCH },
};

const EFER_LMA = 1n << 10n;

export interface BootSettings {
  readonly topTable: bigint;
  /** The GDT's physical address (used before paging) and virtual address (used by IRET afterwards). */
  readonly gdtPhys: bigint;
  readonly gdtVirt: bigint;
  readonly gdtLimit: number;
  /** rsp/esp: where the interrupt-return frames are. */
  readonly stack: bigint;
}

export function bootPaging(uc: Unicorn, mode: PagingMode, settings: BootSettings): void {
  const boot = MODE_BOOT[mode];
  // Segments load while paging is off, so the GDT is read at its physical address.
  uc.writeDescriptorTableRegister(X86_REG.GDTR, settings.gdtPhys, settings.gdtLimit);
  uc.writeRegister(X86_REG.CS, BigInt(SELECTOR.kernelCode));
  uc.writeRegister(X86_REG.SS, BigInt(SELECTOR.kernelData));
  // User data segments in DS and ES stay valid after IRET to CPL 3 (IRET nulls those more privileged than the new CPL).
  uc.writeRegister(X86_REG.DS, BigInt(SELECTOR.userData));
  uc.writeRegister(X86_REG.ES, BigInt(SELECTOR.userData));
  uc.writeDescriptorTableRegister(X86_REG.GDTR, settings.gdtVirt, settings.gdtLimit);

  enablePaging(uc, mode, settings.topTable);
  uc.writeRegister(boot.width === 64 ? X86_REG.RSP : X86_REG.ESP, settings.stack);
}

/**
 * Turns paging on with the top-level table at `topTable`, in the segments the
 * CPU has (a new machine's flat CPL 0 ones when nothing is to run).
 */
export function enablePaging(uc: Unicorn, mode: PagingMode, topTable: bigint): void {
  const boot = MODE_BOOT[mode];
  uc.writeRegister(X86_REG.CR4, uc.readRegister(X86_REG.CR4) | boot.cr4);
  if (boot.efer !== 0n) uc.writeMsr(MSR_EFER, uc.readMsr(MSR_EFER) | boot.efer);
  uc.writeRegister(X86_REG.CR3, topTable);
  uc.writeRegister(X86_REG.CR0, uc.readRegister(X86_REG.CR0) | CR0_PG | CR0_WP);

  const cr0 = uc.readRegister(X86_REG.CR0);
  const efer = uc.readMsr(MSR_EFER);
  if ((cr0 & (CR0_PG | CR0_WP)) !== (CR0_PG | CR0_WP) || (efer & boot.efer) !== boot.efer || (mode === 'ia32e' && (efer & EFER_LMA) === 0n)) {
    throw new Error(`unicorn: the CPU did not enter ${mode} paging (CR0 0x${cr0.toString(16)}, IA32_EFER 0x${efer.toString(16)})`);
  }
}
