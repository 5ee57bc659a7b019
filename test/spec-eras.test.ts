import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generateForEra } from '../src/gen/generate.js';
import { symbolKernelMaps } from '../src/elf/kernel.js';
import { InputError } from '../src/core/errors.js';
import { checkTables } from '../src/verify/check.js';
import { kernelSpec, REFUSAL_RULES, type RefusalRule } from '../src/verify/spec.js';
import { eraLayoutArbitrary, type ReleasedEra } from '../src/fuzz/arbitraries.js';
import type { EraFuzzLayout } from '../src/fuzz/layout.js';
import { PAGING_MODES } from '../src/verify/model.js';

const ERAS: readonly ReleasedEra[] = ['v2.4', 'v2.5', 'v2.6', '2025'];
const LONG = process.env['X86PT_LONG_FUZZ'] === '1';
const PER_ERA = LONG ? 20000 : 1500;

type Generated = { ok: true; bytes: Uint8Array; tableCount: number } | { ok: false; message: string };

function generate(layout: EraFuzzLayout, sizes?: Map<string, bigint>): Generated {
  const maps = symbolKernelMaps(layout.kernel);
  try {
    const t = generateForEra({ symbols: maps.symbols, sizes: sizes ?? maps.sizes }, { era: layout.era, maps: layout.maps });
    return { ok: true, bytes: t.bytes, tableCount: t.tableCount };
  } catch (err) {
    if (err instanceof InputError) return { ok: false, message: err.message };
    throw err;
  }
}

const specOf = (layout: EraFuzzLayout, sizes?: Map<string, bigint>) => {
  const maps = symbolKernelMaps(layout.kernel);
  return kernelSpec({ symbols: maps.symbols, sizes: sizes ?? maps.sizes, era: layout.era, maps: layout.maps });
};

/** The generator and the spec agree on one layout: both refuse, or both accept and the tables do exactly what the spec says. */
async function agree(layout: EraFuzzLayout, sizes?: Map<string, bigint>): Promise<{ accepted: boolean; rule?: RefusalRule }> {
  const spec = specOf(layout, sizes);
  const generated = generate(layout, sizes);
  const where = `${layout.era} ${layout.mode} [${layout.features.join(', ')}] ${JSON.stringify(layout.kernel.symbols, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))} ${layout.maps.join(' ')}`;
  if (!spec.valid) {
    expect(generated.ok, `spec refuses (${spec.reasons[0]}) but the generator wrote tables: ${where}`).toBe(false);
    return { accepted: false, rule: spec.rules[0]! };
  }
  expect(generated.ok, `spec accepts but the generator refuses (${generated.ok ? '' : generated.message}): ${where}`).toBe(true);
  if (!generated.ok) return { accepted: false };
  expect(generated.tableCount, `table count: ${where}`).toBe(spec.tableCount);
  const { symbols } = symbolKernelMaps(layout.kernel);
  const result = await checkTables({ symbols, sizes: sizes ?? symbolKernelMaps(layout.kernel).sizes, era: layout.era, maps: layout.maps, tables: generated.bytes });
  expect({ mismatches: result.mismatches.slice(0, 2), violations: result.violations.slice(0, 2), block: result.blockProblems }, where)
    .toEqual({ mismatches: [], violations: [], block: [] });
  return { accepted: true };
}

describe('generator and spec agree on random layouts of every era', () => {
  for (const era of ERAS) {
    it(`${era}: ${PER_ERA} layouts in every mode, accepted and refused alike, each accepted one also with a fitting and a wrong placeholder`, async () => {
      const layouts = fc.sample(eraLayoutArbitrary({ eras: [era], modes: PAGING_MODES }), { numRuns: PER_ERA, seed: 2024 + ERAS.indexOf(era) });
      let accepted = 0;
      const rules = new Map<string, number>();
      for (const layout of layouts) {
        const answer = await agree(layout);
        if (answer.accepted) {
          accepted++;
          if (era === 'v2.6' || era === '2025') {
            // The placeholder of exactly the tables' size is accepted; a page more or less is refused by both.
            const spec = specOf(layout);
            if (!spec.valid) throw new Error('accepted layout lost its spec');
            const placeholder = { ...layout, kernel: { ...layout.kernel, symbols: { ...layout.kernel.symbols, dummy_pagetables: layout.kernel.symbols['z_x86_pagetables_start']! } } };
            for (const [bytes, ok] of [[spec.tableBytes, true], [spec.tableBytes + 4096n, false], [spec.tableBytes - 4096n, false]] as const) {
              if (bytes <= 0n) continue;
              const sizes = new Map(symbolKernelMaps(layout.kernel).sizes);
              sizes.set('dummy_pagetables', bytes);
              const again = await agree(placeholder, sizes);
              expect(again.accepted).toBe(ok);
              // Sizing the hint needs CONFIG_MMU_PAGE_SIZE: without it the mismatch is a missing symbol.
              if (!ok) expect(again.rule).toBe('CONFIG_MMU_PAGE_SIZE' in layout.kernel.symbols ? 'placeholder-size-mismatch' : 'symbol-missing');
            }
          }
        } else if (answer.rule) {
          rules.set(answer.rule, (rules.get(answer.rule) ?? 0) + 1);
        }
      }
      // Both sides of the policy are exercised: a fair share accepted, several rules refused.
      expect(accepted).toBeGreaterThan(PER_ERA / 10);
      expect(PER_ERA - accepted).toBeGreaterThan(PER_ERA / 10);
      expect(rules.size).toBeGreaterThanOrEqual(era === 'v2.4' ? 3 : 5);
      for (const rule of rules.keys()) expect(REFUSAL_RULES).toContain(rule);
    }, 120_000);
  }
});

/** A v2.6 PAE kernel linked at 0x40000000 and loaded at 1 MiB: the image's pages and a 2 MiB boot identity page. */
const BASE_26: Record<string, bigint> = {
  CONFIG_X86_PAE: 1n, CONFIG_SRAM_BASE_ADDRESS: 0n, CONFIG_SRAM_SIZE: 4096n, CONFIG_KERNEL_VM_BASE: 0x40000000n, CONFIG_KERNEL_VM_SIZE: 0x400000n,
  CONFIG_KERNEL_VM_OFFSET: 0n, CONFIG_SRAM_OFFSET: 0x100000n, CONFIG_MMU_PAGE_SIZE: 0x1000n, z_mapped_start: 0x40000000n, z_mapped_size: 0x10000n,
  z_x86_pagetables_start: 0x40004000n,
};

interface EraCase {
  readonly rule: RefusalRule;
  readonly era?: ReleasedEra;
  readonly set?: Record<string, bigint>;
  readonly drop?: readonly string[];
  readonly maps?: readonly string[];
  readonly sizes?: Record<string, bigint>;
}

const ERA_CASES: readonly EraCase[] = [
  { rule: 'symbol-missing', drop: ['CONFIG_KERNEL_VM_OFFSET'] },
  { rule: 'not-page-aligned', set: { z_mapped_size: 0x10800n } },
  { rule: 'tables-phys-invalid', set: { z_x86_pagetables_start: 0x40004800n } },
  { rule: 'vm-window-misaligned', set: { CONFIG_KERNEL_VM_BASE: 0x40001000n, z_mapped_start: 0x40001000n } },
  { rule: 'image-exceeds-vm-window', set: { z_mapped_size: 0x400000n } },
  { rule: 'mapped-twice', set: { CONFIG_XIP: 1n, CONFIG_FLASH_BASE_ADDRESS: 0x40000000n, CONFIG_FLASH_SIZE: 4n } },
  { rule: 'flash-overlaps-image', set: { CONFIG_XIP: 1n, CONFIG_FLASH_BASE_ADDRESS: 0x10f000n, CONFIG_FLASH_SIZE: 8n } },
  { rule: 'walks-into-large-page', set: { CONFIG_XIP: 1n, CONFIG_FLASH_BASE_ADDRESS: 0x180000n, CONFIG_FLASH_SIZE: 4n } },
  { rule: 'map-overlaps-mapped', maps: ['0x800000,0x1000,W,4000f000'] },
  // The image loaded at 0x40200000, inside its own window: the boot identity page would replace the window's page table.
  { rule: 'large-page-over-table', set: { CONFIG_SRAM_BASE_ADDRESS: 0x40200000n, CONFIG_SRAM_OFFSET: 0n } },
  { rule: 'address-beyond-reach', maps: ['0xfffff000,0x2000,W'] },
  { rule: 'region-unmapped', set: { CONFIG_SRAM_REGION_PERMISSIONS: 1n, _image_text_start: 0x40010000n, _image_text_size: 0x1000n } },
  { rule: 'placeholder-size-mismatch', set: { dummy_pagetables: 0x40004000n }, sizes: { dummy_pagetables: 0x1000n } },
  { rule: 'map-option-invalid', maps: ['4k,0x1000'] },
  { rule: 'map-not-an-option', era: 'v2.5', set: { z_mapped_start: 0x100000n, CONFIG_KERNEL_VM_BASE: 0n, z_x86_pagetables_start: 0x110000n }, maps: ['0xe0000000,0x1000'] },
];

describe('the NULL page of an identity mapping: no table is walked for it', () => {
  // Locore identity-mapped at [first, end), outside the kernel VM window (0x400000-0xc00000); the image is mapped there.
  const locore = (era: ReleasedEra, first: bigint, end: bigint): EraFuzzLayout => ({
    era, mode: 'ia32e', maps: [], features: [],
    kernel: { elfClass: 64, symbols: {
      CONFIG_X86_64: 1n, CONFIG_SRAM_BASE_ADDRESS: 0x400000n, CONFIG_SRAM_SIZE: 4096n, CONFIG_KERNEL_VM_BASE: 0x400000n, CONFIG_KERNEL_VM_SIZE: 0x800000n,
      z_mapped_start: 0x400000n, z_mapped_size: 0x10000n, z_x86_pagetables_start: 0x410000n, _locore_start: first, _lodata_end: end,
      ...(era === 'v2.5' ? {} : { CONFIG_KERNEL_VM_OFFSET: 0n, [era === '2025' ? '__text_region_start' : '_image_text_start']: 0x400000n }),
      ...(era === '2025' ? { CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT: 1n } : {}),
    } },
  });
  for (const era of ['v2.5', 'v2.6', '2025'] as const) {
    it(`${era}: locore of page 0 alone adds no table and no translation; with a second page it adds that page's tables`, async () => {
      const alone = specOf(locore(era, 0n, 0x1000n));
      const empty = specOf(locore(era, 0x1000n, 0x1000n));
      const two = specOf(locore(era, 0n, 0x2000n));
      if (!alone.valid || !empty.valid || !two.valid) throw new Error('refused');
      expect(alone.tableCount).toBe(empty.tableCount);
      expect(alone.expected).toEqual(empty.expected);
      // PML4, PDPT, PD and the window's 4 page tables; the second page adds the page table of 0-2 MiB.
      expect(alone.tableCount).toBe(7);
      expect(two.tableCount).toBe(8);
      expect(two.expected[0]).toMatchObject({ virt: 0x1000n, phys: 0x1000n, size: 0x1000n });
      for (const l of [locore(era, 0n, 0x1000n), locore(era, 0n, 0x2000n)]) expect(await agree(l)).toEqual({ accepted: true });
    });
  }
});

describe('the era refusal rules, each on a layout one step from an accepted one', () => {
  const kernelOf = (c: EraCase) => {
    const symbols = { ...BASE_26, ...c.set };
    for (const name of c.drop ?? []) delete symbols[name];
    return { elfClass: 32 as const, symbols, sizes: c.sizes ?? {} };
  };
  const layoutOf = (c: EraCase): EraFuzzLayout => ({ era: c.era ?? 'v2.6', mode: 'pae', kernel: kernelOf(c), maps: c.maps ?? [], features: [] });

  it('the base layout is accepted by both and verifies: image at its link address, boot identity page, 2 MiB to spare in the window', async () => {
    const base: EraFuzzLayout = { era: 'v2.6', mode: 'pae', kernel: { elfClass: 32, symbols: BASE_26 }, maps: [], features: [] };
    expect(await agree(base)).toEqual({ accepted: true });
    const spec = specOf(base);
    if (!spec.valid) throw new Error('refused');
    expect(spec.tablesPhys).toBe(0x104000n);
    expect(spec.expected).toEqual([
      { virt: 0n, phys: 0n, size: 0x200000n, writable: true, user: false, executable: true },
      { virt: 0x40000000n, phys: 0x100000n, size: 0x10000n, writable: true, user: false, executable: true },
    ]);
    // PDPT, PD for 0-1 GiB (the boot page), PD and both page tables of the 4 MiB window.
    expect(spec.tableCount).toBe(5);
  });

  it('every era rule has a case', () => {
    const eraOnly = REFUSAL_RULES.filter((r) => !['identity-beyond-reach', 'ram-empty', 'xip-with-dual-window', 'dual-bases-misaligned', 'dual-window-beyond-reach',
      'dual-window-overlaps-identity', 'flash-overlaps-ram', 'tables-beyond-cr3-reach'].includes(r));
    expect(new Set(ERA_CASES.map((c) => c.rule))).toEqual(new Set(eraOnly));
  });

  for (const c of ERA_CASES) {
    it(`${c.rule}: the spec refuses by that rule, and the generator refuses too`, async () => {
      const spec = specOf(layoutOf(c));
      expect(spec.valid ? [] : spec.rules).toEqual([c.rule]);
      expect(await agree(layoutOf(c))).toEqual({ accepted: false, rule: c.rule });
    });
  }

  it('tables-beyond-cr3-reach: a block straddling 4 GiB is refused by the spec (the generator checks only its first table)', () => {
    const edge = (start: bigint) => specOf({ era: 'v2.6', mode: 'pae', kernel: { elfClass: 32, symbols: { ...BASE_26, z_x86_pagetables_start: start } }, maps: [], features: [] });
    // The block is 4 pages and 32 bytes; physical = virtual - 0x3ff00000.
    const fits = edge(0xfffff000n - 4n * 4096n + 0x3ff00000n);
    expect(fits.valid).toBe(true);
    const past = edge(0xfffff000n - 3n * 4096n + 0x3ff00000n);
    expect(past.valid ? [] : past.rules).toEqual(['tables-beyond-cr3-reach']);
  });

  it('a --map boundary: right after the image is accepted, a page into it refused; large pages need whole page-directory entries', async () => {
    const map = (m: string): EraFuzzLayout => ({ era: 'v2.6', mode: 'pae', kernel: { elfClass: 32, symbols: BASE_26 }, maps: [m], features: [] });
    expect(await agree(map('0x800000,0x1000,W,40010000'))).toEqual({ accepted: true });
    expect(await agree(map('0x800000,0x1000,W,4000f000'))).toEqual({ accepted: false, rule: 'map-overlaps-mapped' });
    expect(await agree(map('0x800000,0x200000,L,80000000'))).toEqual({ accepted: true });
    expect(await agree(map('0x801000,0x200000,L,80000000'))).toEqual({ accepted: false, rule: 'not-page-aligned' });
    const spec = specOf(map('0x800000,0x200000,LU,80000000'));
    expect(spec.valid && spec.expected.find((r) => r.virt === 0x80000000n)).toEqual({ virt: 0x80000000n, phys: 0x800000n, size: 0x200000n, writable: false, user: true, executable: false });
  });

  it('2025 demand paging: the image not present, boot text present; the text region, written later without P, hides the rest of the boot section', () => {
    const symbols = { ...BASE_26, CONFIG_SRAM_REGION_PERMISSIONS: 1n, CONFIG_LINKER_USE_BOOT_SECTION: 1n, lnkr_boot_start: 0x40000000n, lnkr_boot_end: 0x40002000n,
      lnkr_boot_text_start: 0x40000000n, lnkr_boot_text_end: 0x40001000n, __text_region_start: 0x40000000n, __text_region_end: 0x40004000n };
    const lazy = specOf({ era: '2025', mode: 'pae', kernel: { elfClass: 32, symbols }, maps: [], features: [] });
    expect(lazy.valid && lazy.expected.filter((r) => r.virt >= 0x40000000n)).toEqual([
      { virt: 0x40000000n, phys: 0x100000n, size: 0x1000n, writable: false, user: true, executable: true },
    ]);
    // Without the text region over it, the boot section's second page stays present (read-write, no-exec).
    const narrow = specOf({ era: '2025', mode: 'pae', kernel: { elfClass: 32, symbols: { ...symbols, __text_region_end: 0x40001000n } }, maps: [], features: [] });
    expect(narrow.valid && narrow.expected.filter((r) => r.virt >= 0x40000000n)).toEqual([
      { virt: 0x40000000n, phys: 0x100000n, size: 0x1000n, writable: false, user: true, executable: true },
      { virt: 0x40001000n, phys: 0x101000n, size: 0x1000n, writable: true, user: false, executable: false },
    ]);
    const present = specOf({ era: '2025', mode: 'pae', kernel: { elfClass: 32, symbols: { ...symbols, CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT: 1n } }, maps: [], features: [] });
    expect(present.valid && present.expected.filter((r) => r.virt >= 0x40000000n).reduce((n, r) => n + r.size, 0n)).toBe(0x10000n);
  });
});
