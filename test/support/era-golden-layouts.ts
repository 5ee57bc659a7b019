import type { SymbolKernel } from '../../src/elf/kernel.js';
import type { ZephyrEra } from '../../src/elf/zephyr-era.js';

/** A kernel of one era and the script arguments beyond -k/-o, whose tables the era's script built correctly. */
export interface EraGoldenLayout {
  readonly kernel: SymbolKernel;
  readonly args?: readonly string[];
  /** What the layout exercises. */
  readonly covers: string;
}

type Syms = Record<string, bigint>;
const on = (...names: string[]): Syms => Object.fromEntries(names.map((n) => [n, 1n]));
const region = (name: string, start: bigint, size: bigint): Syms => ({ [`${name}_start`]: start, [`${name}_size`]: size, [`${name}_end`]: start + size });
const regionEnd = (name: string, start: bigint, end: bigint): Syms => ({ [`${name}_start`]: start, [`${name}_end`]: end });
const k32 = (symbols: Syms, sizes?: Syms): SymbolKernel => ({ elfClass: 32, symbols, ...(sizes ? { sizes } : {}) });
const k64 = (symbols: Syms, sizes?: Syms): SymbolKernel => ({ elfClass: 64, symbols: { CONFIG_X86_64: 1n, ...symbols }, ...(sizes ? { sizes } : {}) });
const ram = (base: bigint, kib: bigint): Syms => ({ CONFIG_SRAM_BASE_ADDRESS: base, CONFIG_SRAM_SIZE: kib });
const v26Common = (vmBase: bigint, vmSize: bigint, vmOffset: bigint, sramOffset: bigint): Syms => ({
  CONFIG_KERNEL_VM_BASE: vmBase, CONFIG_KERNEL_VM_SIZE: vmSize, CONFIG_KERNEL_VM_OFFSET: vmOffset, CONFIG_SRAM_OFFSET: sramOffset, CONFIG_MMU_PAGE_SIZE: 0x1000n,
});

/**
 * Layouts per era, one or more per feature. The tables each era's own script
 * wrote for them are committed in test/golden/gen/<era>/ (test/support/make-golden.ts).
 */
export const ERA_GOLDEN_LAYOUTS: Readonly<Record<Exclude<ZephyrEra, 'seed'>, Readonly<Record<string, EraGoldenLayout>>>> = {
  'v2.4': {
    'pae-identity-perms': {
      covers: 'PAE, RAM at 0 (NULL page left out), text and rodata permissions, no CONFIG_KERNEL_VM_BASE',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0n, 16384n), z_x86_pagetables_start: 0x200000n, CONFIG_KERNEL_VM_SIZE: 0xc0000000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS'), ...region('_image_text', 0x100000n, 0x3000n), ...region('_image_rodata', 0x103000n, 0x1000n) }),
    },
    '32bit-xip-gdbstub': {
      covers: '32-bit paging, XIP flash, CONFIG_GDBSTUB leaves text writable',
      kernel: k32({ ...ram(0x400000n, 2048n), z_x86_pagetables_start: 0x500000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_XIP', 'CONFIG_GDBSTUB'), CONFIG_FLASH_BASE_ADDRESS: 0x1000000n, CONFIG_FLASH_SIZE: 1024n, ...region('_image_text', 0x1000000n, 0x30000n), ...region('_image_rodata', 0x1030000n, 0x10000n) }),
    },
    'ia32e-locore-kpti-gcov': {
      covers: 'IA-32e, locore and lorodata with KPTI, gcov for user mode',
      kernel: k64({ ...ram(0n, 4096n), z_x86_pagetables_start: 0x124000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_X86_KPTI', 'CONFIG_COVERAGE_GCOV', 'CONFIG_USERSPACE'), ...region('_image_text', 0x100000n, 0x3000n), ...region('_image_rodata', 0x103000n, 0x1000n), ...region('__gcov_bss', 0x104000n, 0x2000n), ...region('_locore', 0x8000n, 0x1000n), ...region('_lorodata', 0x9000n, 0x2000n) }),
    },
    '32bit-no-perms': {
      covers: 'no region permissions: every page P RW, nothing else read',
      kernel: k32({ ...ram(0x100000n, 8192n), z_x86_pagetables_start: 0x180000n }),
    },
    'pae-null-page-only-ram': {
      covers: 'RAM of page 0 alone: the script drops page 0 before walking, so RAM creates no table; XIP flash creates the rest',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0n, 4n), z_x86_pagetables_start: 0x200000n, ...on('CONFIG_XIP'), CONFIG_FLASH_BASE_ADDRESS: 0x1000000n, CONFIG_FLASH_SIZE: 64n }),
    },
    '32bit-null-page-only-flash': {
      covers: 'XIP flash of page 0 alone: no page table for it, region permissions on RAM',
      kernel: k32({ ...ram(0x400000n, 1024n), z_x86_pagetables_start: 0x500000n, ...on('CONFIG_XIP', 'CONFIG_SRAM_REGION_PERMISSIONS'), CONFIG_FLASH_BASE_ADDRESS: 0n, CONFIG_FLASH_SIZE: 4n, ...region('_image_text', 0x400000n, 0x2000n), ...region('_image_rodata', 0x402000n, 0x1000n) }),
    },
  },
  'v2.5': {
    'pae-image-window': {
      covers: 'the image (z_mapped_*) mapped, the whole 8 MiB VM window reserved (empty tables), bits 9-11 mirrored',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0n, 4096n), CONFIG_KERNEL_VM_BASE: 0n, CONFIG_KERNEL_VM_SIZE: 0x800000n, z_mapped_start: 0x100000n, z_mapped_size: 0x20000n, z_x86_pagetables_start: 0x110000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_GDBSTUB'), ...region('_image_text', 0x100000n, 0x4000n), ...region('_image_rodata', 0x104000n, 0x2000n) }),
    },
    '32bit-all-ram': {
      covers: 'CONFIG_ARCH_MAPS_ALL_RAM in 32-bit paging, a 16 MiB window, no permissions',
      kernel: k32({ ...ram(0n, 8192n), CONFIG_KERNEL_VM_BASE: 0n, CONFIG_KERNEL_VM_SIZE: 0x1000000n, z_mapped_start: 0x100000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x120000n, ...on('CONFIG_ARCH_MAPS_ALL_RAM') }),
    },
    'ia32e-locore-kpti-gcov': {
      covers: 'IA-32e, locore mapped from _locore_start to _lodata_end, KPTI, gcov',
      kernel: k64({ ...ram(0n, 4096n), CONFIG_KERNEL_VM_BASE: 0n, CONFIG_KERNEL_VM_SIZE: 0x800000n, z_mapped_start: 0x100000n, z_mapped_size: 0x30000n, z_x86_pagetables_start: 0x124000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_X86_KPTI', 'CONFIG_COVERAGE_GCOV', 'CONFIG_USERSPACE'), ...region('_image_text', 0x100000n, 0x3000n), ...region('_image_rodata', 0x103000n, 0x1000n), ...region('__gcov_bss', 0x104000n, 0x1000n), ...region('_locore', 0x8000n, 0x1000n), ...region('_lorodata', 0x9000n, 0x2000n), _lodata_end: 0xd000n }),
    },
    'pae-xip': {
      covers: 'XIP flash outside the VM window',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0x400000n, 2048n), CONFIG_KERNEL_VM_BASE: 0x400000n, CONFIG_KERNEL_VM_SIZE: 0x400000n, z_mapped_start: 0x400000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x410000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_XIP'), CONFIG_FLASH_BASE_ADDRESS: 0x1000000n, CONFIG_FLASH_SIZE: 256n, ...region('_image_text', 0x1000000n, 0x20000n), ...region('_image_rodata', 0x1020000n, 0x8000n) }),
    },
    'ia32e-null-page-only-locore': {
      covers: 'locore of page 0 alone (_locore_start 0, _lodata_end 0x1000), outside the VM window: no tables for it',
      kernel: k64({ ...ram(0x400000n, 4096n), CONFIG_KERNEL_VM_BASE: 0x400000n, CONFIG_KERNEL_VM_SIZE: 0x800000n, z_mapped_start: 0x400000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x410000n, _locore_start: 0n, _lodata_end: 0x1000n }),
    },
    'pae-null-page-only-flash': {
      covers: 'XIP flash of page 0 alone in PAE: no page directory or page table for it',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0x400000n, 4096n), CONFIG_KERNEL_VM_BASE: 0x400000n, CONFIG_KERNEL_VM_SIZE: 0x800000n, z_mapped_start: 0x400000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x410000n, ...on('CONFIG_XIP'), CONFIG_FLASH_BASE_ADDRESS: 0n, CONFIG_FLASH_SIZE: 4n }),
    },
  },
  'v2.6': {
    'pae-offset-placeholder': {
      covers: 'SRAM and VM offsets cancelling out, the placeholder dummy_pagetables matching',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0n, 4096n), ...v26Common(0n, 0x800000n, 0x100000n, 0x100000n), z_mapped_start: 0x100000n, z_mapped_size: 0xe000n, z_x86_pagetables_start: 0x108000n, dummy_pagetables: 0x108000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS'), ...region('_image_text', 0x100000n, 0x4000n), ...region('_image_rodata', 0x104000n, 0x1000n) }, { dummy_pagetables: 20512n }),
    },
    'pae-virt-boot-pinned': {
      covers: 'linked at 0x40000000, loaded at 0x100000: tables placed by the offset, large-page boot identity map, boot and pinned sections',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0n, 4096n), ...v26Common(0x40000000n, 0x400000n, 0n, 0x100000n), z_mapped_start: 0x40000000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x40004000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_LINKER_USE_BOOT_SECTION', 'CONFIG_LINKER_USE_PINNED_SECTION'), ...region('lnkr_boot', 0x40000000n, 0x1000n), ...region('lnkr_boot_text', 0x40000000n, 0x1000n), ...region('lnkr_boot_rodata', 0x40001000n, 0n), ...region('lnkr_pinned', 0x40001000n, 0x8000n), ...region('lnkr_pinned_text', 0x40001000n, 0x1000n), ...region('lnkr_pinned_rodata', 0x40002000n, 0x1000n), ...region('_image_text', 0x40009000n, 0x3000n), ...region('_image_rodata', 0x4000c000n, 0x1000n) }),
    },
    'ia32e-maps': {
      covers: '--map: 4 KiB W D, large-page L W and L X U at a virtual address, repeated, hex with and without 0x, underscores, spaces',
      args: ['--map', '0xe0000000,0x3000,WD', '--map', 'e0200000,200000,LW', '--map', '0X1_0000_0000, 0x400000 ,LXU,80000000', '--map', '0xfec00000,0x1000'],
      kernel: k64({ ...ram(0n, 4096n), ...v26Common(0n, 0x800000n, 0x100000n, 0x100000n), z_mapped_start: 0x100000n, z_mapped_size: 0x1e000n, z_x86_pagetables_start: 0x115000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_X86_KPTI', 'CONFIG_GDBSTUB'), ...region('_image_text', 0x100000n, 0x4000n), ...region('_image_rodata', 0x104000n, 0x1000n), ...region('_locore', 0x1000n, 0x1000n), ...region('_lorodata', 0x2000n, 0x2000n), _lodata_end: 0x9000n }),
    },
    '32bit-virt-large-pages': {
      covers: '32-bit paging linked at 0x80000000: 4 MiB boot identity pages, regions by _end only, --map L in 32-bit paging',
      args: ['--map', '0xfe000000,0x400000,LWD'],
      kernel: k32({ ...ram(0x400000n, 4096n), ...v26Common(0x80000000n, 0x800000n, 0n, 0n), z_mapped_start: 0x80000000n, z_mapped_size: 0x20000n, z_x86_pagetables_start: 0x80010000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS'), ...regionEnd('_image_text', 0x80000000n, 0x80008000n), ...regionEnd('_image_rodata', 0x80008000n, 0x8000c000n) }),
    },
    'pae-all-ram-xip-gcov': {
      covers: 'CONFIG_ARCH_MAPS_ALL_RAM with XIP flash and gcov, no CONFIG_SRAM_OFFSET',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0n, 2048n), CONFIG_KERNEL_VM_BASE: 0n, CONFIG_KERNEL_VM_SIZE: 0x400000n, CONFIG_KERNEL_VM_OFFSET: 0n, z_mapped_start: 0x100000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x110000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_ARCH_MAPS_ALL_RAM', 'CONFIG_XIP', 'CONFIG_COVERAGE_GCOV', 'CONFIG_USERSPACE'), CONFIG_FLASH_BASE_ADDRESS: 0x1000000n, CONFIG_FLASH_SIZE: 128n, ...region('_image_text', 0x1000000n, 0x10000n), ...region('_image_rodata', 0x1010000n, 0x8000n), ...region('__gcov_bss', 0x100000n, 0x1000n) }),
    },
    '32bit-null-page-only-pinned': {
      covers: 'a pinned section of page 0 alone, identity (no virtual offset): no page table for it',
      kernel: k32({ ...ram(0x400000n, 4096n), ...v26Common(0x400000n, 0x400000n, 0n, 0n), z_mapped_start: 0x400000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x410000n, ...region('_image_text', 0x400000n, 0x1000n), ...on('CONFIG_LINKER_USE_PINNED_SECTION'), ...region('lnkr_pinned', 0n, 0x1000n) }),
    },
    'ia32e-null-page-only-locore': {
      covers: 'locore of page 0 alone outside the VM window: no tables for it',
      kernel: k64({ ...ram(0x400000n, 4096n), ...v26Common(0x400000n, 0x800000n, 0n, 0n), z_mapped_start: 0x400000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x410000n, ...region('_image_text', 0x400000n, 0x1000n), _locore_start: 0n, _lodata_end: 0x1000n }),
    },
  },
  '2025': {
    'ia32e-present-at-boot': {
      covers: 'the 2025 contract as make-modern-elf.sh builds it: generic sections present at boot, locore, __text_region/__rodata_region, a fitting placeholder',
      kernel: k64({ ...ram(0x200000n, 2048n), ...v26Common(0x200000n, 0x200000n, 0n, 0n), ...on('CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT', 'CONFIG_SRAM_REGION_PERMISSIONS'), z_mapped_start: 0x200000n, z_mapped_size: 0x100000n, z_x86_pagetables_start: 0x2f0000n, dummy_pagetables: 0x2f0000n, _locore_start: 0x1000n, _lodata_end: 0x8000n, ...region('__text_region', 0x200000n, 0x40000n), ...region('__rodata_region', 0x240000n, 0x10000n), ...region('_locore', 0x1000n, 0x2000n), ...region('_lorodata', 0x3000n, 0x1000n) }, { dummy_pagetables: 20480n }),
    },
    'pae-demand-paging-virt': {
      covers: 'generic sections not present at boot, linked at 0x40000000 and loaded at 0x100000, boot and pinned sections present, regions by _end, an absent region (lnkr_boot_rodata) skipped',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0n, 4096n), ...v26Common(0x40000000n, 0x400000n, 0n, 0x100000n), z_mapped_start: 0x40000000n, z_mapped_size: 0x20000n, z_x86_pagetables_start: 0x40004000n, ...on('CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_LINKER_USE_BOOT_SECTION', 'CONFIG_LINKER_USE_PINNED_SECTION'), ...regionEnd('lnkr_boot', 0x40000000n, 0x40001000n), ...regionEnd('lnkr_boot_text', 0x40000000n, 0x40001000n), ...regionEnd('lnkr_pinned', 0x40001000n, 0x40009000n), ...regionEnd('lnkr_pinned_text', 0x40001000n, 0x40002000n), ...regionEnd('lnkr_pinned_rodata', 0x40002000n, 0x40003000n), ...regionEnd('__text_region', 0x40009000n, 0x4000c000n), ...regionEnd('__rodata_region', 0x4000c000n, 0x4000d000n) }),
    },
    'ia32e-shadow-stack-maps': {
      covers: 'CET shadow stacks (P D XD), --map with decimal, octal and binary numbers (virtual always hex), cache-disabled and large pages, KPTI, GDB stub',
      args: ['--map', '3758096384,12288,WD', '--map', '0o34010000000,0b1000000000000000000000,LWU', '--map', '0x100000000,0x1000,X,c0000000'],
      kernel: k64({ ...ram(0n, 8192n), ...v26Common(0n, 0x800000n, 0x100000n, 0x100000n), ...on('CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT', 'CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_HW_SHADOW_STACK', 'CONFIG_X86_KPTI', 'CONFIG_GDBSTUB'), z_mapped_start: 0x100000n, z_mapped_size: 0x40000n, z_x86_pagetables_start: 0x130000n, _locore_start: 0x1000n, _lodata_end: 0x9000n, ...region('__text_region', 0x100000n, 0x10000n), ...region('__rodata_region', 0x110000n, 0x8000n), ...region('__x86shadowstack', 0x120000n, 0x4000n), ...region('_locore', 0x1000n, 0x1000n), ...region('_lorodata', 0x2000n, 0x1000n) }),
    },
    '32bit-all-ram-xip': {
      covers: '32-bit paging, all RAM mapped, XIP flash, no CONFIG_SRAM_OFFSET',
      kernel: k32({ ...ram(0n, 4096n), CONFIG_KERNEL_VM_BASE: 0n, CONFIG_KERNEL_VM_SIZE: 0x800000n, CONFIG_KERNEL_VM_OFFSET: 0n, ...on('CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT', 'CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_ARCH_MAPS_ALL_RAM', 'CONFIG_XIP'), CONFIG_FLASH_BASE_ADDRESS: 0x1000000n, CONFIG_FLASH_SIZE: 64n, z_mapped_start: 0x100000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x110000n, ...region('__text_region', 0x1000000n, 0x8000n), ...region('__rodata_region', 0x1008000n, 0x4000n) }),
    },
    'pae-null-page-only-demand-image': {
      covers: 'demand paging with the image at virtual 0 written as an identity map: page 0 dropped, no tables for it; the boot identity map elsewhere',
      kernel: k32({ CONFIG_X86_PAE: 1n, ...ram(0x10000000n, 4096n), ...v26Common(0x400000n, 0x400000n, 0n, 0n), z_mapped_start: 0n, z_mapped_size: 0x1000n, z_x86_pagetables_start: 0x410000n, ...region('__text_region', 0x400000n, 0n) }),
    },
    'ia32e-null-page-only-locore': {
      covers: 'locore of page 0 alone outside the VM window: no tables for it',
      kernel: k64({ ...ram(0x400000n, 4096n), ...v26Common(0x400000n, 0x800000n, 0n, 0n), ...on('CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT'), z_mapped_start: 0x400000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x410000n, ...region('__text_region', 0x400000n, 0x1000n), _locore_start: 0n, _lodata_end: 0x1000n }),
    },
  },
};
