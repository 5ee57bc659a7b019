/** Kernels for the verifier's tests: their symbols, and the project generator's tables for them. */
import { generateTables, type GeneratedTables } from '../../src/gen/generate.js';
import { kernelSymbolMap, type KernelDescription } from '../../src/elf/kernel.js';

export const symbolsOf = kernelSymbolMap;

export const generate = (kernel: KernelDescription, compat = false): GeneratedTables =>
  generateTables(symbolsOf(kernel), { compat });

/** Small layouts, one per feature, in every mode: identity, dual window, permissions, XIP. */
export const SMALL_LAYOUTS: Readonly<Record<string, KernelDescription>> = {
  '32bit-identity-perms': {
    mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n, regionPermissions: true,
    regions: { _image_text: { start: 0x100000n, size: 0x4000n }, _image_rodata: { start: 0x104000n, size: 0x2000n } },
  },
  '32bit-dual-perms': {
    mode: '32bit', sramBase: 0x3ff000n, sramSizeKiB: 64n, kernelVmBase: 0xc03ff000n, pagetablesStart: 0xc0500000n,
    regionPermissions: true,
    regions: { _image_text: { start: 0xc03ff000n, size: 0x3000n }, _image_rodata: { start: 0x402000n, size: 0x2000n } },
  },
  '32bit-xip-null-page': {
    mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 32n, pagetablesStart: 0x200000n, regionPermissions: true,
    xip: { flashBase: 0n, flashSizeKiB: 32n },
    regions: { _image_text: { start: 0n, size: 0x4000n }, _image_rodata: { start: 0x4000n, size: 0x2000n } },
  },
  'pae-identity-perms': {
    mode: 'pae', sramBase: 0x1ff000n, sramSizeKiB: 64n, pagetablesStart: 0x300000n, regionPermissions: true,
    regions: { _image_text: { start: 0x1ff000n, size: 0x4000n }, _image_rodata: { start: 0x203000n, size: 0x2000n } },
  },
  'pae-dual-perms': {
    mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 64n, kernelVmBase: 0xc0100000n, pagetablesStart: 0xc0200000n,
    regionPermissions: true,
    regions: { _image_text: { start: 0xc0100000n, size: 0x4000n }, _image_rodata: { start: 0x104000n, size: 0x2000n } },
  },
  'ia32e-identity-kpti': {
    mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n, regionPermissions: true, kpti: true,
    userspace: true, coverageGcov: true,
    regions: {
      _image_text: { start: 0x104000n, size: 0x4000n }, _image_rodata: { start: 0x108000n, size: 0x2000n },
      __gcov_bss: { start: 0x10a000n, size: 0x1000n }, _locore: { start: 0x100000n, size: 0x2000n }, _lorodata: { start: 0x102000n, size: 0x2000n },
    },
  },
  'ia32e-dual-high-half': {
    mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 64n, kernelVmBase: 0xffff800000100000n, pagetablesStart: 0xffff800000200000n,
    regionPermissions: true,
    regions: {
      _image_text: { start: 0xffff800000100000n, size: 0x4000n }, _image_rodata: { start: 0x104000n, size: 0x2000n },
      _locore: { start: 0xffff800000106000n, size: 0x1000n }, _lorodata: { start: 0x107000n, size: 0x1000n },
    },
  },
};
