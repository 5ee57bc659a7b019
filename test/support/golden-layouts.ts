import type { KernelDescription } from '../../src/elf/kernel.js';
import { textRodataPerms } from './kernel-regions.js';
import { dualKernel, identityKernel } from './kernel-windows.js';

/**
 * Layouts the reference generator handles correctly, one per feature. Their
 * tables, as the reference wrote them, are committed in test/golden/gen/
 * (test/support/make-golden.ts regenerates them given the reference script).
 */
export const GOLDEN_LAYOUTS: Readonly<Record<string, KernelDescription>> = {
  '32bit-identity': identityKernel('32bit', [0x100000n, 4096n], 0x180000n),
  '32bit-null-page-perms': identityKernel('32bit', [0n, 8192n], 0x200000n, textRodataPerms([0n, 0x40000n], [0x40000n, 0x10000n])),
  '32bit-dual-perms': dualKernel('32bit', [0x100000n, 8192n], 0xc0100000n, 0xc0200000n, textRodataPerms([0xc0100000n, 0x20000n], [0x120000n, 0x8000n])),
  '32bit-xip': identityKernel('32bit', [0x400000n, 2048n], 0x500000n, { xip: { flashBase: 0x1000000n, flashSizeKiB: 1024n }, ...textRodataPerms([0x1000000n, 0x30000n], [0x1030000n, 0x10000n]) }),
  'pae-identity-perms': identityKernel('pae', [0x100000n, 16384n], 0x300000n, textRodataPerms([0x100000n, 0x80000n], [0x180000n, 0x40000n])),
  'pae-dual-across-1gib': dualKernel('pae', [0x3fe00000n, 8192n], 0xbfe00000n, 0xbfe80000n, textRodataPerms([0xbfe00000n, 0x10000n], [0x3fe10000n, 0x10000n])),
  'pae-null-page': identityKernel('pae', [0n, 4096n], 0x100000n),
  // RAM of page 0 alone: the NULL page is dropped before any table is made, so RAM makes none; flash makes the rest.
  'pae-null-page-only-xip': identityKernel('pae', [0n, 4n], 0x200000n, { xip: { flashBase: 0x1000000n, flashSizeKiB: 64n } }),
  'ia32e-identity-kpti': identityKernel('ia32e', [0x100000n, 16384n], 0x400000n, {
    kpti: true,
    ...textRodataPerms([0x110000n, 0x40000n], [0x150000n, 0x20000n], { _locore: [0x100000n, 0x8000n], _lorodata: [0x108000n, 0x8000n] }),
  }),
  'ia32e-locore-no-kpti-gcov': identityKernel('ia32e', [0x1000000n, 4096n], 0x1200000n, {
    userspace: true, coverageGcov: true,
    ...textRodataPerms([0x1010000n, 0x20000n], [0x1030000n, 0x10000n], { __gcov_bss: [0x1040000n, 0x4000n], _locore: [0x1000000n, 0x4000n], _lorodata: [0x1004000n, 0x4000n] }),
  }),
  'ia32e-high-half': dualKernel('ia32e', [0x100000n, 8192n], 0xffff800000100000n, 0xffff800000300000n,
    textRodataPerms([0xffff800000100000n, 0x40000n], [0xffff800000140000n, 0x10000n], { _locore: [0x180000n, 0x2000n], _lorodata: [0xffff800000182000n, 0x2000n] })),
  'ia32e-across-512gib': identityKernel('ia32e', [0x7fffe00000n, 4096n], 0x10000n),
  'ia32e-overlapping-regions': identityKernel('ia32e', [0x200000n, 2n * 1024n], 0x300000n,
    textRodataPerms([0x200000n, 0x20000n], [0x210000n, 0x20000n], { _locore: [0x218000n, 0x1000n], _lorodata: [0x200000n, 0n] })),
};
