/** Kernels for the verifier's tests: their symbols, and the project generator's tables for them. */
import { generateTables, type GeneratedTables } from '../../src/gen/generate.js';
import { kernelSymbolMap, type KernelDescription } from '../../src/elf/kernel.js';
import { textRodataPerms } from './kernel-regions.js';
import { dualKernel, identityKernel } from './kernel-windows.js';

export const symbolsOf = kernelSymbolMap;

export const generate = (kernel: KernelDescription, compat = false): GeneratedTables =>
  generateTables(symbolsOf(kernel), { compat });

/** Small layouts, one per feature, in every mode: identity, dual window, permissions, XIP. */
export const SMALL_LAYOUTS: Readonly<Record<string, KernelDescription>> = {
  '32bit-identity-perms': identityKernel('32bit', [0x100000n, 64n], 0x200000n, textRodataPerms([0x100000n, 0x4000n], [0x104000n, 0x2000n])),
  '32bit-dual-perms': dualKernel('32bit', [0x3ff000n, 64n], 0xc03ff000n, 0xc0500000n, textRodataPerms([0xc03ff000n, 0x3000n], [0x402000n, 0x2000n])),
  '32bit-xip-null-page': identityKernel('32bit', [0x100000n, 32n], 0x200000n, { xip: { flashBase: 0n, flashSizeKiB: 32n }, ...textRodataPerms([0n, 0x4000n], [0x4000n, 0x2000n]) }),
  'pae-identity-perms': identityKernel('pae', [0x1ff000n, 64n], 0x300000n, textRodataPerms([0x1ff000n, 0x4000n], [0x203000n, 0x2000n])),
  'pae-dual-perms': dualKernel('pae', [0x100000n, 64n], 0xc0100000n, 0xc0200000n, textRodataPerms([0xc0100000n, 0x4000n], [0x104000n, 0x2000n])),
  'ia32e-identity-kpti': identityKernel('ia32e', [0x100000n, 64n], 0x200000n, {
    kpti: true, userspace: true, coverageGcov: true,
    ...textRodataPerms([0x104000n, 0x4000n], [0x108000n, 0x2000n], { __gcov_bss: [0x10a000n, 0x1000n], _locore: [0x100000n, 0x2000n], _lorodata: [0x102000n, 0x2000n] }),
  }),
  'ia32e-dual-high-half': dualKernel('ia32e', [0x100000n, 64n], 0xffff800000100000n, 0xffff800000200000n,
    textRodataPerms([0xffff800000100000n, 0x4000n], [0x104000n, 0x2000n], { _locore: [0xffff800000106000n, 0x1000n], _lorodata: [0x107000n, 0x1000n] })),
};
