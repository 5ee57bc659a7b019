import { describe, expect, it } from 'vitest';
import { SEED_REFUSAL_RULES, specFromSymbols, tablePlacement, pagingModeOf, type RefusalRule } from '../src/verify/spec.js';
import type { KernelDescription } from '../src/elf/kernel.js';
import { InputError } from '../src/core/errors.js';
import { generateTables } from '../src/gen/generate.js';
import { symbolsOf } from './support/verify-kernels.js';
import { identityRange, range } from './support/verify-ranges.js';

const validSpec = (kernel: KernelDescription) => {
  const spec = specFromSymbols(symbolsOf(kernel));
  if (!spec.valid) throw new Error(`unexpected refusal: ${spec.reasons.join('; ')}`);
  return spec;
};

describe('the intended translation', () => {
  it('identity map without page 0, RAM read-write and executable without permissions', () => {
    const spec = validSpec({ mode: 'pae', sramBase: 0n, sramSizeKiB: 4096n, pagetablesStart: 0x100000n });
    expect(spec.mode).toBe('pae');
    expect(spec.dual).toBe(false);
    expect(spec.tablesPhys).toBe(0x100000n);
    expect(spec.expected).toEqual([identityRange(0x1000n, 0x3ff000n, 'wx')]);
    // PDPT + PD + 2 PTs (two 2 MiB spans), the 32-byte PDPT last.
    expect(spec.tableCount).toBe(4);
    expect(spec.tableBytes).toBe(3n * 4096n + 32n);
  });

  it('dual window with regions given at either address, one physical page one permission', () => {
    const spec = validSpec({
      mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 8192n, kernelVmBase: 0xc0100000n, pagetablesStart: 0xc0200000n,
      regionPermissions: true,
      regions: { _image_text: { start: 0xc0100000n, size: 0x20000n }, _image_rodata: { start: 0x120000n, size: 0x8000n } },
    });
    // 32-bit paging has no XD: text and rodata (both read-only, user) merge; the rest stays read-write.
    const low = [identityRange(0x100000n, 0x28000n, 'ux'), identityRange(0x128000n, 0x7d8000n, 'wx')];
    expect(spec.expected).toEqual([...low, ...low.map((r) => ({ ...r, virt: r.virt + 0xc0000000n }))]);
    expect(spec.tablesPhys).toBe(0x200000n);
    expect(spec.tableCount).toBe(1 + 3); // RAM spans three 4 MiB directory entries
  });

  it('later regions win; with permissions RAM is no-exec and flash read-only no-exec; page 0 of flash never mapped', () => {
    const spec = validSpec({
      mode: 'ia32e', sramBase: 0x200000n, sramSizeKiB: 64n, pagetablesStart: 0x300000n, regionPermissions: true,
      xip: { flashBase: 0n, flashSizeKiB: 16n },
      regions: {
        _image_text: { start: 0x0n, size: 0x3000n }, _image_rodata: { start: 0x200000n, size: 0x2000n },
        _locore: { start: 0x201000n, size: 0x2000n }, _lorodata: { start: 0x204000n, size: 0n },
      },
    });
    expect(spec.expected).toEqual([
      identityRange(0x1000n, 0x2000n, 'ux'),
      identityRange(0x3000n, 0x1000n, ''),
      identityRange(0x200000n, 0x1000n, 'u'),
      identityRange(0x201000n, 0x2000n, 'x'),
      identityRange(0x203000n, 0xd000n, 'w'),
    ]);
  });

  it('KPTI gives locore and lorodata the user bit; gcov needs USERSPACE too', () => {
    const kernel: KernelDescription = {
      mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n, regionPermissions: true, kpti: true,
      coverageGcov: true,
      regions: {
        _image_text: { start: 0x104000n, size: 0x1000n }, _image_rodata: { start: 0x105000n, size: 0x1000n },
        __gcov_bss: { start: 0x106000n, size: 0x1000n }, _locore: { start: 0x100000n, size: 0x1000n }, _lorodata: { start: 0x101000n, size: 0x1000n },
      },
    };
    const withoutUserspace = validSpec(kernel).expected;
    expect(withoutUserspace.slice(0, 3)).toEqual([
      identityRange(0x100000n, 0x1000n, 'ux'),
      identityRange(0x101000n, 0x1000n, 'u'),
      identityRange(0x102000n, 0x2000n, 'w'),
    ]);
    expect(withoutUserspace).toContainEqual(identityRange(0x106000n, 0xa000n, 'w'));
    expect(validSpec({ ...kernel, userspace: true }).expected).toContainEqual(identityRange(0x106000n, 0x1000n, 'wu'));
  });

  it('IA-32e high-half window: canonical addresses, page 0 mapped when dual', () => {
    const spec = validSpec({
      mode: 'ia32e', sramBase: 0n, sramSizeKiB: 2048n, kernelVmBase: 0xffff800000000000n, pagetablesStart: 0xffff800000100000n,
    });
    expect(spec.expected).toEqual([identityRange(0n, 0x200000n, 'wx'), range(0xffff800000000000n, 0n, 0x200000n, 'wx')]);
    expect(spec.tableCount).toBe(4);
  });

  it('places tables for dump without needing the whole layout', () => {
    const symbols = symbolsOf({ mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 1n, kernelVmBase: 0xffff800000100000n, pagetablesStart: 0xffff800000300000n });
    expect(tablePlacement(symbols, 'k.elf')).toEqual({ mode: 'ia32e', tablesPhys: 0x300000n });
    symbols.delete('z_x86_pagetables_start');
    expect(() => tablePlacement(symbols, 'k.elf')).toThrow(/k.elf: required symbol z_x86_pagetables_start is missing/);
    expect(pagingModeOf(new Map([['CONFIG_X86_PAE', 0n]]))).toBe('pae');
    const unaligned = symbolsOf({ mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 4n, pagetablesStart: 0x300800n });
    expect(() => tablePlacement(unaligned, 'k.elf')).toThrow(/^k\.elf: the tables' physical address 0x300800 .*not a 4 KiB aligned/);
  });
});

/** A layout the policy refuses, the rule it breaks and what the reason must name. */
interface RefusalCase {
  readonly name: string;
  readonly rule: RefusalRule;
  readonly kernel: KernelDescription;
  readonly mentions: readonly string[];
  /** Symbols to drop after writing the kernel's symbols. */
  readonly drop?: readonly string[];
}

const ram32: KernelDescription = { mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 1024n, pagetablesStart: 0x400000n };
const perms = (mode: KernelDescription['mode']): KernelDescription => ({
  ...ram32, mode, regionPermissions: true,
  regions: {
    _image_text: { start: 0x100000n, size: 0x1000n }, _image_rodata: { start: 0x101000n, size: 0x1000n },
    ...(mode === 'ia32e' ? { _locore: { start: 0x102000n, size: 0x1000n }, _lorodata: { start: 0x103000n, size: 0x1000n } } : {}),
  },
});

const REFUSALS: readonly RefusalCase[] = [
  { name: 'RAM size missing', rule: 'symbol-missing', kernel: ram32, drop: ['CONFIG_SRAM_SIZE'], mentions: ['CONFIG_SRAM_SIZE'] },
  { name: 'tables symbol missing', rule: 'symbol-missing', kernel: ram32, drop: ['z_x86_pagetables_start'], mentions: ['z_x86_pagetables_start'] },
  { name: 'rodata region missing', rule: 'symbol-missing', kernel: perms('pae'), drop: ['_image_rodata_size'], mentions: ['_image_rodata_size'] },
  { name: 'locore missing in IA-32e', rule: 'symbol-missing', kernel: perms('ia32e'), drop: ['_locore_start'], mentions: ['_locore_start'] },
  { name: 'flash size missing with XIP', rule: 'symbol-missing', kernel: { ...ram32, xip: { flashBase: 0x1000000n, flashSizeKiB: 4n } }, drop: ['CONFIG_FLASH_SIZE'], mentions: ['CONFIG_FLASH_SIZE'] },
  { name: 'RAM base unaligned', rule: 'not-page-aligned', kernel: { ...ram32, sramBase: 0x100800n }, mentions: ['CONFIG_SRAM_BASE_ADDRESS', '0x100800'] },
  { name: 'RAM size unaligned', rule: 'not-page-aligned', kernel: { ...ram32, sramSizeKiB: 6n }, mentions: ['CONFIG_SRAM_SIZE', '6 KiB'] },
  { name: 'flash base unaligned', rule: 'not-page-aligned', kernel: { ...ram32, xip: { flashBase: 0x1000200n, flashSizeKiB: 4n } }, mentions: ['CONFIG_FLASH_BASE_ADDRESS'] },
  { name: 'region start unaligned', rule: 'not-page-aligned', kernel: { ...perms('32bit'), regions: { ...perms('32bit').regions, _image_text: { start: 0x100010n, size: 0x1000n } } }, mentions: ['_image_text_start', '0x100010'] },
  { name: 'region size unaligned', rule: 'not-page-aligned', kernel: { ...perms('32bit'), regions: { ...perms('32bit').regions, _image_rodata: { start: 0x101000n, size: 0x800n } } }, mentions: ['_image_rodata_size'] },
  { name: 'tables unaligned', rule: 'tables-phys-invalid', kernel: { ...ram32, pagetablesStart: 0x400800n }, mentions: ['z_x86_pagetables_start', '0x400800'] },
  { name: 'tables below the window offset', rule: 'tables-phys-invalid', kernel: { ...ram32, sramBase: 0n, kernelVmBase: 0xc0000000n, pagetablesStart: 0x1000n }, mentions: ['negative', 'z_x86_pagetables_start'] },
  { name: 'no RAM', rule: 'ram-empty', kernel: { ...ram32, sramSizeKiB: 0n }, mentions: ['CONFIG_SRAM_SIZE'] },
  { name: 'XIP with a virtual base', rule: 'xip-with-dual-window', kernel: { ...ram32, kernelVmBase: 0xc0100000n, pagetablesStart: 0xc0400000n, xip: { flashBase: 0x1000000n, flashSizeKiB: 4n } }, mentions: ['CONFIG_XIP', '0xc0100000'] },
  { name: 'dual window misaligned', rule: 'dual-bases-misaligned', kernel: { ...ram32, kernelVmBase: 0xc0000000n, pagetablesStart: 0xc0300000n }, mentions: ['0xc0000000', '0x100000'] },
  { name: '32-bit RAM past 4 GiB', rule: 'identity-beyond-reach', kernel: { ...ram32, sramBase: 0xfff00000n, sramSizeKiB: 2048n, pagetablesStart: 0x400000n }, mentions: ['0xfff00000-0x100100000', '4 GiB'] },
  { name: 'PAE dual window past the last PDPTE', rule: 'dual-window-beyond-reach', kernel: { mode: 'pae', sramBase: 0n, sramSizeKiB: 1024n * 1024n + 4n, kernelVmBase: 0xc0000000n, pagetablesStart: 0xc1000000n }, mentions: ['0xc0000000-0x140000000'] },
  { name: 'IA-32e RAM past 2^47', rule: 'identity-beyond-reach', kernel: { mode: 'ia32e', sramBase: 0x7fffffe00000n, sramSizeKiB: 4096n, pagetablesStart: 0x100000n }, mentions: ['2^47'] },
  { name: 'IA-32e virtual base not canonical', rule: 'dual-window-beyond-reach', kernel: { mode: 'ia32e', sramBase: 0n, sramSizeKiB: 64n, kernelVmBase: 0x900000000000n, pagetablesStart: 0x900000100000n }, mentions: ['0x900000000000', 'canonical'] },
  { name: 'IA-32e high window past 2^64', rule: 'dual-window-beyond-reach', kernel: { mode: 'ia32e', sramBase: 0x7fffe00000n, sramSizeKiB: 4096n, kernelVmBase: 0xffffffffffe00000n, pagetablesStart: 0xffffffffffe00000n }, mentions: ['canonical half'] },
  { name: 'dual window over identity entries', rule: 'dual-window-overlaps-identity', kernel: { ...ram32, sramBase: 0n, sramSizeKiB: 8192n, kernelVmBase: 0x400000n, pagetablesStart: 0x800000n }, mentions: ['0x400000', 'top-level entries 1'] },
  { name: 'flash overlapping RAM', rule: 'flash-overlaps-ram', kernel: { ...ram32, xip: { flashBase: 0x180000n, flashSizeKiB: 1024n } }, mentions: ['0x180000-0x280000', '0x100000-0x200000'] },
  { name: 'region outside every mapping', rule: 'region-unmapped', kernel: { ...perms('pae'), regions: { ...perms('pae').regions, _image_text: { start: 0x1ff000n, size: 0x2000n } } }, mentions: ['_image_text', '0x200000'] },
  { name: 'region past 2^64', rule: 'region-unmapped', kernel: { ...perms('32bit'), regions: { ...perms('32bit').regions, _image_rodata: { start: 0xfffffffffffff000n, size: 0x2000n } } }, mentions: ['_image_rodata', '2^64'] },
  { name: '32-bit tables past 4 GiB', rule: 'tables-beyond-cr3-reach', kernel: { ...ram32, pagetablesStart: 0xfffff000n }, mentions: ['0xfffff000-0x100001000'] },
  { name: 'IA-32e tables past MAXPHYADDR', rule: 'tables-beyond-cr3-reach', kernel: { mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: (1n << 52n) - 0x1000n }, mentions: ['0xffffffffff000'] },
];

describe('refusals, one case or more per policy rule', () => {
  it('covers every rule', () => {
    expect(new Set(REFUSALS.map((c) => c.rule))).toEqual(new Set(SEED_REFUSAL_RULES));
  });

  for (const c of REFUSALS) {
    it(`rule ${c.rule}: ${c.name}`, () => {
      const symbols = symbolsOf(c.kernel);
      for (const name of c.drop ?? []) symbols.delete(name);
      const spec = specFromSymbols(symbols);
      expect(spec.valid).toBe(false);
      if (spec.valid) return;
      expect(spec.rules).toContain(c.rule);
      const reason = spec.reasons[spec.rules.indexOf(c.rule)]!;
      expect(reason).not.toContain('\n');
      for (const text of c.mentions) expect(reason).toContain(text);
      // The generator, written separately from the same policy, refuses it too.
      expect(() => generateTables(symbols)).toThrow(InputError);
    });
  }

  it('lists every missing symbol at once', () => {
    const spec = specFromSymbols(new Map([['CONFIG_X86_64', 1n], ['CONFIG_SRAM_REGION_PERMISSIONS', 1n]]));
    expect(spec.valid).toBe(false);
    if (spec.valid) return;
    expect(spec.rules.every((r) => r === 'symbol-missing')).toBe(true);
    expect(spec.reasons.join('\n')).toMatch(/CONFIG_SRAM_BASE_ADDRESS[^]*z_x86_pagetables_start[^]*_image_text_start[^]*_lorodata_size/);
  });
});

describe('boundaries, a test on each side', () => {
  const rulesOf = (kernel: KernelDescription): readonly RefusalRule[] => {
    const spec = specFromSymbols(symbolsOf(kernel));
    return spec.valid ? [] : spec.rules;
  };
  const small = (mode: KernelDescription['mode']): KernelDescription => ({ mode, sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n });

  for (const [mode, limit] of [['32bit', 1n << 32n], ['pae', 1n << 32n], ['ia32e', 1n << 52n]] as const) {
    it(`${mode}: a table block ending at CR3's reach ${limit === 1n << 32n ? '(4 GiB)' : '(2^52)'} is accepted, a page further refused`, () => {
      const { tableBytes } = validSpec(small(mode));
      // The highest page-aligned base whose block still ends at or below the limit (exactly at it where the block is whole pages).
      const edge = (limit - tableBytes) / 4096n * 4096n;
      const atEdge = { ...small(mode), pagetablesStart: edge };
      expect(validSpec(atEdge).tablesPhys + tableBytes <= limit).toBe(true);
      if (mode !== 'pae') expect(edge + tableBytes).toBe(limit);
      expect(() => generateTables(symbolsOf(atEdge))).not.toThrow();
      const past = { ...small(mode), pagetablesStart: edge + 4096n };
      expect(rulesOf(past)).toEqual(['tables-beyond-cr3-reach']);
      expect(() => generateTables(symbolsOf(past))).toThrow(InputError);
    });
  }

  it('RAM ending exactly at 4 GiB is accepted, a page further refused', () => {
    const kernel: KernelDescription = { mode: '32bit', sramBase: 0xfff00000n, sramSizeKiB: 1024n, pagetablesStart: 0x400000n };
    expect(validSpec(kernel).expected.at(-1)).toMatchObject({ virt: 0xfff00000n, size: 0x100000n });
    expect(rulesOf({ ...kernel, sramSizeKiB: 1028n })).toEqual(['identity-beyond-reach']);
  });

  it('XIP flash ending exactly at 4 GiB is accepted, a page further refused', () => {
    const kernel: KernelDescription = { ...ram32, xip: { flashBase: 0xfffff000n, flashSizeKiB: 4n } };
    expect(validSpec(kernel).expected.at(-1)).toMatchObject({ virt: 0xfffff000n, size: 0x1000n });
    expect(rulesOf({ ...kernel, xip: { flashBase: 0xfffff000n, flashSizeKiB: 8n } })).toEqual(['identity-beyond-reach']);
  });

  it('IA-32e RAM ending exactly at 2^47 is accepted, a page further refused', () => {
    const kernel: KernelDescription = { mode: 'ia32e', sramBase: (1n << 47n) - 0x200000n, sramSizeKiB: 2048n, pagetablesStart: 0x100000n };
    expect(validSpec(kernel).expected).toEqual([identityRange((1n << 47n) - 0x200000n, 0x200000n, 'wx')]);
    expect(rulesOf({ ...kernel, sramSizeKiB: 2052n })).toEqual(['identity-beyond-reach']);
  });

  it('a PAE dual window ending exactly at 4 GiB is accepted, one needing a 5th PDPTE refused', () => {
    const kernel: KernelDescription = { mode: 'pae', sramBase: 0n, sramSizeKiB: 1024n * 1024n, kernelVmBase: 0xc0000000n, pagetablesStart: 0xc0000000n };
    expect(validSpec(kernel).dual).toBe(true);
    expect(rulesOf({ ...kernel, sramSizeKiB: 1024n * 1024n + 4n })).toEqual(['dual-window-beyond-reach']);
  });

  it('an IA-32e high window ending exactly at 2^64 is accepted, one wrapping past it refused', () => {
    const kernel: KernelDescription = { mode: 'ia32e', sramBase: 0x7fffffe000n, sramSizeKiB: 8n, kernelVmBase: 0xffffffffffffe000n, pagetablesStart: 0xffffffffffffe000n };
    expect(validSpec(kernel).expected.at(-1)).toMatchObject({ virt: 0xffffffffffffe000n, size: 0x2000n });
    expect(rulesOf({ ...kernel, sramSizeKiB: 12n })).toEqual(['dual-window-beyond-reach']);
  });

  it('a dual window in the top-level entry right after the identity map\'s is accepted, in its last one refused', () => {
    const kernel: KernelDescription = { mode: '32bit', sramBase: 0n, sramSizeKiB: 8192n, kernelVmBase: 0x800000n, pagetablesStart: 0xc00000n };
    expect(validSpec(kernel).dual).toBe(true);
    expect(rulesOf({ ...kernel, kernelVmBase: 0x400000n, pagetablesStart: 0x800000n })).toEqual(['dual-window-overlaps-identity']);
  });

  it('XIP flash right after or right before RAM is accepted, a page into it refused', () => {
    const after: KernelDescription = { ...ram32, xip: { flashBase: 0x200000n, flashSizeKiB: 4n } };
    const before: KernelDescription = { ...ram32, xip: { flashBase: 0xff000n, flashSizeKiB: 4n } };
    expect(validSpec(after).expected.at(-1)).toMatchObject({ virt: 0x200000n, size: 0x1000n });
    expect(validSpec(before).expected[0]).toMatchObject({ virt: 0xff000n, size: 0x1000n });
    expect(rulesOf({ ...ram32, xip: { flashBase: 0x1ff000n, flashSizeKiB: 4n } })).toEqual(['flash-overlaps-ram']);
    expect(rulesOf({ ...ram32, xip: { flashBase: 0xff000n, flashSizeKiB: 8n } })).toEqual(['flash-overlaps-ram']);
  });

  it('a region ending at the end of RAM is accepted, a page further refused', () => {
    const withText = (size: bigint): KernelDescription => ({ ...perms('32bit'), regions: { ...perms('32bit').regions, _image_text: { start: 0x1ff000n, size } } });
    expect(validSpec(withText(0x1000n)).expected.at(-1)).toMatchObject({ virt: 0x1ff000n, writable: false });
    expect(rulesOf(withText(0x2000n))).toEqual(['region-unmapped']);
  });

  it('RAM ending exactly at a 2 MiB boundary needs no page table past it; a page further needs one more', () => {
    const kernel: KernelDescription = { mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 1024n, pagetablesStart: 0x400000n };
    expect(validSpec(kernel).tableCount).toBe(3); // PDPT, PD, one PT
    expect(validSpec({ ...kernel, sramSizeKiB: 1028n }).tableCount).toBe(4);
    // Starting exactly at a boundary: the page table below it is not needed.
    expect(validSpec({ ...kernel, sramBase: 0x200000n }).tableCount).toBe(3);
    expect(validSpec({ ...kernel, sramBase: 0x1ff000n }).tableCount).toBe(4);
  });
});
