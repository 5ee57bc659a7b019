import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateForEra, DEFAULT_MAX_TABLES_BYTES } from '../src/gen/generate.js';
import { symbolKernelElf, symbolKernelMaps, kernelSymbolMap, type SymbolKernel } from '../src/elf/kernel.js';
import { detectZephyrEra, ZEPHYR_ERAS, type ZephyrEra } from '../src/elf/zephyr-era.js';
import { parsePythonInt } from '../src/gen/map-option.js';
import { InputError } from '../src/core/errors.js';
import { ERA_GOLDEN_LAYOUTS } from './support/era-golden-layouts.js';
import { GOLDEN_DIR } from './support/golden.js';
import { readZephyrFixture, zephyrFixtureBuilds } from './support/zephyr-fixtures.js';
import { withDeviations } from './support/era-deviations.js';
import { scratchDir, writeScratch, x86pt } from './support/cli.js';
import { linkKernel } from './support/gnu.js';

type Era = Exclude<ZephyrEra, 'seed'>;
const numbersOf = (era: ZephyrEra): 'auto' | 'hex' => (era === '2025' ? 'auto' : 'hex');
const modeOf = (k: SymbolKernel) => ('CONFIG_X86_64' in k.symbols ? 'ia32e' : 'CONFIG_X86_PAE' in k.symbols ? 'pae' : '32bit');
const gen = (kernel: SymbolKernel, options: { era?: ZephyrEra; compat?: boolean; maps?: readonly string[]; maxTablesBytes?: number } = {}) =>
  generateForEra(symbolKernelMaps(kernel), options);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const golden = (era: string, name: string) => new Uint8Array(readFileSync(join(GOLDEN_DIR, era, `${name}.bin`)));

describe('era golden vectors, each made by that era\'s own script', () => {
  for (const [era, layouts] of Object.entries(ERA_GOLDEN_LAYOUTS) as [Era, typeof ERA_GOLDEN_LAYOUTS[Era]][]) {
    for (const [name, layout] of Object.entries(layouts)) {
      const maps = layout.args?.filter((_, i, all) => all[i - 1] === '--map') ?? [];
      it(`${era}/${name}: told apart as ${era}`, () => {
        expect(detectZephyrEra(symbolKernelMaps(layout.kernel).symbols).era).toBe(era);
      });
      it(`${era}/${name}: --compat is byte-identical (${layout.covers})`, () => {
        expect(same(gen(layout.kernel, { compat: true, maps }).bytes, golden(era, name))).toBe(true);
      });
      it(`${era}/${name}: default differs only by the documented deviations`, () => {
        const tables = gen(layout.kernel, { maps });
        const expected = withDeviations(golden(era, name), modeOf(layout.kernel), tables.tablesPhys, maps, numbersOf(era));
        expect(same(tables.bytes, expected)).toBe(true);
        // Where a deviation applies the output really differs from the script's.
        const applies = modeOf(layout.kernel) === 'pae' || modeOf(layout.kernel) === 'ia32e' && maps.some((m) => /,[^,]*L[^,X]*(,|$)/.test(m) && !/,[^,]*X/.test(m.split(',')[2] ?? ''));
        expect(same(tables.bytes, golden(era, name))).toBe(!applies);
      });
    }
  }

  it('covers every committed era golden file', () => {
    for (const era of Object.keys(ERA_GOLDEN_LAYOUTS) as Era[]) {
      const files = readdirSync(join(GOLDEN_DIR, era)).map((f) => f.replace(/\.bin$/, '')).sort();
      expect(files).toEqual(Object.keys(ERA_GOLDEN_LAYOUTS[era]).sort());
    }
  });
});

describe('real Zephyr builds, as symbol fixtures rebuilt by the project\'s ELF writer', () => {
  const builds = zephyrFixtureBuilds();
  it('has the five builds, one of each shipped contract they cover', () => {
    expect(builds).toHaveLength(5);
    expect(new Set(builds.map((b) => readZephyrFixture(b).era))).toEqual(new Set(['seed', 'v2.4', 'v2.6']));
  });
  for (const build of builds) {
    const fixture = readZephyrFixture(build);
    const maps = fixture.args.filter((_, i, all) => all[i - 1] === '--map');
    const expected = new Uint8Array(readFileSync(join(GOLDEN_DIR, 'zephyr', `${build}.bin`)));
    it(`${build}: told apart as ${fixture.era}, --compat gives the script's bytes`, () => {
      const tables = gen(fixture.kernel, { compat: true, maps });
      expect(tables.era).toBe(fixture.era);
      expect(same(tables.bytes, expected)).toBe(true);
    });
    it(`${build}: default output differs only by the documented deviations`, () => {
      const tables = gen(fixture.kernel, { maps });
      expect(same(tables.bytes, withDeviations(expected, modeOf(fixture.kernel), tables.tablesPhys, maps))).toBe(true);
    });
    it(`${build}: the CLI with the build's own arguments writes the same bytes`, async () => {
      const dir = scratchDir();
      const elf = writeScratch(dir, 'k.elf', symbolKernelElf(fixture.kernel));
      const out = join(dir, 'o.bin');
      const result = await x86pt(['--kernel', elf, '--output', out, '--compat', ...fixture.args]);
      expect(result.exitCode).toBe(0);
      expect(same(new Uint8Array(readFileSync(out)), expected)).toBe(true);
    });
  }
});

describe('telling the era from the symbols', () => {
  const v26 = ERA_GOLDEN_LAYOUTS['v2.6']['pae-offset-placeholder']!.kernel;
  const without = (k: SymbolKernel, ...names: string[]): Map<string, bigint> => {
    const m = symbolKernelMaps(k).symbols;
    for (const n of names) m.delete(n);
    return m;
  };

  it('the seed: CONFIG_KERNEL_VM_BASE without z_mapped_start', () => {
    const d = detectZephyrEra(kernelSymbolMap({ mode: 'pae', sramBase: 0n, sramSizeKiB: 4096n, pagetablesStart: 0x200000n }));
    expect(d).toEqual({ era: 'seed', decidedBy: ['-z_mapped_start', '+CONFIG_KERNEL_VM_BASE'] });
  });
  it('v2.5 and v2.6 by CONFIG_KERNEL_VM_OFFSET; v2.6 and 2025 by their region names', () => {
    expect(detectZephyrEra(without(v26, 'CONFIG_KERNEL_VM_OFFSET')).era).toBe('v2.5');
    const modern = without(v26, '_image_text_start');
    modern.set('__text_region_start', 0x100000n);
    expect(detectZephyrEra(modern)).toEqual({ era: '2025', decidedBy: ['+z_mapped_start', '+CONFIG_KERNEL_VM_OFFSET', '+__text_region_start'] });
  });
  it('refuses a kernel that fits two eras, naming the symbols', () => {
    const both = symbolKernelMaps(v26).symbols;
    both.set('__text_region_start', 0x100000n);
    expect(() => detectZephyrEra(both)).toThrow(/ambiguous Zephyr era: both __text_region_start .* and _image_text_start/);
    expect(() => detectZephyrEra(without(v26, '_image_text_start'))).toThrow(/ambiguous Zephyr era: .*neither _image_text_start .* nor __text_region_start/);
  });
  it('refuses a kernel that fits none, naming the symbols', () => {
    expect(() => detectZephyrEra(without(v26, 'CONFIG_KERNEL_VM_BASE'))).toThrow(/fits no Zephyr era: z_mapped_start .* without CONFIG_KERNEL_VM_BASE/);
    expect(() => detectZephyrEra(without(v26, 'CONFIG_SRAM_BASE_ADDRESS'))).toThrow(/fits no Zephyr era: no CONFIG_SRAM_BASE_ADDRESS/);
  });
  it('--zephyr overrides: a v2.6 kernel read as v2.5 reserves the same window but has no boot identity map', () => {
    const virt = ERA_GOLDEN_LAYOUTS['v2.6']['pae-virt-boot-pinned']!.kernel;
    expect(gen(virt, { era: 'v2.6' }).era).toBe('v2.6');
    expect(() => gen(virt, { era: 'v2.4' })).toThrow(/region _image_text 0x40009000-0x4000c000: page 0x40009000 is not mapped/);
  });
});

describe('--map numbers as each era reads them', () => {
  it('v2.6: int(text, 16): prefix optional, underscores, spaces, sign', () => {
    expect(parsePythonInt('0x1_000', 'hex')).toBe(0x1000n);
    expect(parsePythonInt(' e0000000 ', 'hex')).toBe(0xe0000000n);
    expect(parsePythonInt('0X_ff', 'hex')).toBe(0xffn);
    expect(parsePythonInt('-10', 'hex')).toBe(-16n);
    for (const bad of ['', '0x', '_1', '1__0', '1_', 'g', '0o7']) expect(parsePythonInt(bad, 'hex')).toBeUndefined();
  });
  it('2025: int(text, 0): decimal, 0x, 0o, 0b; no leading zeros', () => {
    expect(parsePythonInt('4096', 'auto')).toBe(4096n);
    expect(parsePythonInt('0o17', 'auto')).toBe(15n);
    expect(parsePythonInt('0b101', 'auto')).toBe(5n);
    expect(parsePythonInt('0x10', 'auto')).toBe(16n);
    expect(parsePythonInt('0_0', 'auto')).toBe(0n);
    for (const bad of ['010', 'e0000000', '1__0', '0x']) expect(parsePythonInt(bad, 'auto')).toBeUndefined();
  });
  it('the virtual address is hex in 2025 too', () => {
    // Without the placeholder: the extra mapping needs more tables than it holds.
    const k = { ...ERA_GOLDEN_LAYOUTS['2025']['ia32e-present-at-boot']!.kernel, sizes: {} };
    const a = gen(k, { maps: ['0x40000000,0x1000,W,80000000'] }).bytes;
    const b = gen(k, { maps: ['0x40000000,0x1000,W,0x80000000'] }).bytes;
    expect(same(a, b)).toBe(true);
    expect(() => gen(k, { maps: ['0x40000000,0x1000,W,0o1'] })).toThrow(/virtual address '0o1' is not a hexadecimal number/);
  });
});

interface EraRefusal {
  readonly why: string;
  readonly era: Era;
  readonly kernel: SymbolKernel;
  readonly maps?: readonly string[];
  readonly message: RegExp;
}

const layout = (era: Era, name: string) => ERA_GOLDEN_LAYOUTS[era][name]!.kernel;
const edit = (k: SymbolKernel, changes: Record<string, bigint | undefined>, sizes?: Record<string, bigint>): SymbolKernel => {
  const symbols: Record<string, bigint> = { ...k.symbols };
  for (const [n, v] of Object.entries(changes)) {
    if (v === undefined) delete symbols[n];
    else symbols[n] = v;
  }
  return { ...k, symbols, ...(sizes ? { sizes: { ...k.sizes, ...sizes } } : {}) };
};
const v24 = layout('v2.4', 'pae-identity-perms');
const v25 = layout('v2.5', 'pae-image-window');
const v26 = layout('v2.6', 'pae-offset-placeholder');
const v26x = layout('v2.6', 'ia32e-maps');
const v26virt = layout('v2.6', 'pae-virt-boot-pinned');
const m25 = layout('2025', 'ia32e-present-at-boot');

const ERA_REFUSALS: EraRefusal[] = [
  // Every era: a missing symbol is a KeyError in the script.
  { why: 'v2.4: missing region symbol (KeyError)', era: 'v2.4', kernel: edit(v24, { _image_rodata_size: undefined }), message: /missing required symbol _image_rodata_size/ },
  { why: 'v2.4: a region in a mapped table but past RAM (the script maps it to physical 0)', era: 'v2.4', kernel: edit(v24, { CONFIG_SRAM_SIZE: 1024n, _image_text_start: 0x100000n }), message: /region _image_text 0x100000-0x103000: page 0x100000 is not mapped/ },
  { why: 'v2.4: XIP flash overlapping RAM with other physical pages', era: 'v2.4', kernel: edit(layout('v2.4', '32bit-xip-gdbstub'), { CONFIG_FLASH_BASE_ADDRESS: 0x500000n }), message: /XIP flash 0x500000-0x600000 overlaps the image 0x400000-0x600000/ },
  { why: 'v2.4: RAM beyond 4 GiB in PAE (indices wrap)', era: 'v2.4', kernel: edit(v24, { CONFIG_SRAM_BASE_ADDRESS: 0xfff00000n }), message: /RAM: virtual 0xfff00000-0x100f00000 leaves the addresses pae paging can translate/ },
  { why: 'v2.5: VM window not on a page-directory boundary', era: 'v2.5', kernel: edit(v25, { CONFIG_KERNEL_VM_BASE: 0x100000n }), message: /misaligned virtual address space, 0x100000 is not a multiple of 0x200000/ },
  { why: 'v2.5: image not smaller than the VM window', era: 'v2.5', kernel: edit(v25, { CONFIG_KERNEL_VM_SIZE: 0x20000n }), message: /CONFIG_KERNEL_VM_SIZE 0x20000 is too small/ },
  { why: 'v2.5: a 2020-style sign-extended VM size (the script would loop over 2^64 bytes)', era: 'v2.5', kernel: edit(layout('v2.5', 'ia32e-locore-kpti-gcov'), { CONFIG_KERNEL_VM_SIZE: 0xffffffffc0000000n }), message: /leaves the addresses ia32e paging can translate/ },
  { why: 'v2.5: locore ending before it starts', era: 'v2.5', kernel: edit(layout('v2.5', 'ia32e-locore-kpti-gcov'), { _lodata_end: 0x1000n }), message: /locore .* ends before it starts/ },
  { why: 'v2.6: placeholder too small, with the CONFIG_X86_EXTRA_PAGE_TABLE_PAGES hint', era: 'v2.6', kernel: edit(v26, { CONFIG_X86_EXTRA_PAGE_TABLE_PAGES: 1n }, { dummy_pagetables: 16416n }), message: /dummy_pagetables reserves 16416 bytes but the tables take 20512 \(too small\): set CONFIG_X86_EXTRA_PAGE_TABLE_PAGES=2/ },
  { why: 'v2.6: placeholder too big for any CONFIG_X86_EXTRA_PAGE_TABLE_PAGES (the script proposes a negative one)', era: 'v2.6', kernel: edit(v26, {}, { dummy_pagetables: 28704n }), message: /too big even with CONFIG_X86_EXTRA_PAGE_TABLE_PAGES=0 \(it would have to be -2\)/ },
  { why: 'v2.6: placeholder size check without CONFIG_MMU_PAGE_SIZE (KeyError)', era: 'v2.6', kernel: edit(v26, { CONFIG_MMU_PAGE_SIZE: undefined }, { dummy_pagetables: 4096n }), message: /missing required symbol CONFIG_MMU_PAGE_SIZE/ },
  { why: 'v2.6: a --map overlapping the image (the script\'s is_mapped never fires: KeyError)', era: 'v2.6', kernel: v26x, maps: ['0x100000,0x1000,W'], message: /--map 0x100000,0x1000,W: region 0x100000 \(4096\) is already mapped at 0x100000/ },
  { why: 'v2.6: two overlapping --map regions', era: 'v2.6', kernel: v26x, maps: ['0xe0000000,0x3000,W', '0xe0002000,0x1000'], message: /--map 0xe0002000,0x1000: region 0xe0002000 .* already mapped/ },
  { why: 'v2.6: a large --map over the VM window\'s reserved page table (the script orphans it)', era: 'v2.6', kernel: v26x, maps: ['0x600000,0x200000,LW'], message: /already mapped at 0x600000/ },
  { why: 'v2.6: a --map with too few fields', era: 'v2.6', kernel: v26x, maps: ['0xe0000000'], message: /--map 0xe0000000: needs at least/ },
  { why: 'v2.6: a --map with unknown flags', era: 'v2.6', kernel: v26x, maps: ['0xe0000000,0x1000,RW'], message: /unrecognized flags 'RW'/ },
  { why: 'v2.6: a --map number Python cannot read (ValueError)', era: 'v2.6', kernel: v26x, maps: ['0xe0000000,4k'], message: /size '4k' is not a hexadecimal number/ },
  { why: 'v2.6: a negative --map address', era: 'v2.6', kernel: v26x, maps: ['-0x1000,0x1000'], message: /physical address -0x1000 is negative/ },
  { why: 'v2.6: a large --map not 2 MiB aligned', era: 'v2.6', kernel: v26x, maps: ['0xe0100000,0x200000,L'], message: /base 0xe0100000 is not 2 MiB aligned/ },
  { why: 'v2.6: the boot identity map landing on the VM window (its large pages would replace the image\'s page tables)', era: 'v2.6', kernel: edit(v26virt, { CONFIG_KERNEL_VM_BASE: 0x200000n, z_mapped_start: 0x200000n, CONFIG_SRAM_OFFSET: 0x300000n, z_x86_pagetables_start: 0x204000n, lnkr_boot_start: 0x200000n, lnkr_boot_end: 0x201000n, lnkr_boot_text_start: 0x200000n, lnkr_pinned_start: 0x201000n, lnkr_pinned_end: 0x209000n, lnkr_pinned_text_start: 0x201000n, lnkr_pinned_rodata_start: 0x202000n, _image_text_start: 0x209000n, _image_rodata_start: 0x20c000n }), message: /a large page at 0x200000 would replace the page table of 0x200000-0x400000/ },
  { why: 'v2.6: tables placed below physical 0 by the offset', era: 'v2.6', kernel: edit(v26virt, { z_x86_pagetables_start: 0x3fe00000n }), message: /z_x86_pagetables_start is at physical -0x/ },
  { why: 'v2.6: offsets putting the image below physical 0', era: 'v2.6', kernel: edit(v26virt, { CONFIG_SRAM_OFFSET: 0n, CONFIG_KERNEL_VM_OFFSET: 0x100000n, z_x86_pagetables_start: 0x40104000n }), message: /the kernel image: negative address -0x100000/ },
  { why: 'v2.6: a PAE --map above 4 GiB (the PDPT index wraps to 0)', era: 'v2.6', kernel: v26, maps: ['0x100000000,0x1000,W'], message: /virtual 0x100000000-0x100001000 leaves the addresses pae paging can translate/ },
  { why: 'v2.6: an IA-32e --map beyond 52-bit physical addresses (the address field truncates)', era: 'v2.6', kernel: v26x, maps: ['0x10000000000000,0x1000,W,e0000000'], message: /physical 0x10000000000000-0x10000000001000 ends above 0x10000000000000/ },
  { why: 'v2.6: a section with _start but no _end (KeyError)', era: 'v2.6', kernel: edit(v26virt, { lnkr_boot_end: undefined }), message: /missing required symbol lnkr_boot_end/ },
  { why: 'v2.6: a region with _start but neither _size nor _end (KeyError)', era: 'v2.6', kernel: edit(v26, { _image_rodata_size: undefined, _image_rodata_end: undefined }), message: /region _image_rodata: _image_rodata_start is defined but neither/ },
  { why: '2025: a region outside the image inside the reserved window (the script maps it to physical 0)', era: '2025', kernel: edit(m25, { __rodata_region_start: 0x380000n }), message: /region __rodata_region 0x380000-0x390000: page 0x380000 is not mapped/ },
  { why: '2025: locore inside the boot identity map\'s large page (the script walks into it: KeyError)', era: '2025', kernel: edit(m25, { CONFIG_SRAM_BASE_ADDRESS: 0n, CONFIG_SRAM_OFFSET: 0x100000n }), message: /locore \(_locore_start to _lodata_end\): 0x1000 lies in a large page \(0x0-0x200000\)/ },
  { why: '2025: --map overlapping locore', era: '2025', kernel: m25, maps: ['0x1000,0x1000'], message: /already mapped at 0x1000/ },
  { why: '2025: --map number with a leading zero (int(text, 0) refuses it)', era: '2025', kernel: m25, maps: ['010,0x1000'], message: /physical address '010' is not a Python integer/ },
];

/** Identity mappings of page 0 and what follows it, per era: [first, end) is what the kernel asks for. */
const NULL_PAGE_CASES: readonly { era: Era; what: string; kernel: (first: bigint, end: bigint) => SymbolKernel }[] = [
  { era: 'v2.4', what: 'XIP flash', kernel: (first, end) => edit(layout('v2.4', '32bit-null-page-only-flash'), { CONFIG_FLASH_BASE_ADDRESS: first, CONFIG_FLASH_SIZE: (end - first) / 1024n }) },
  ...(['v2.5', 'v2.6', '2025'] as const).map((era) => ({
    era, what: 'locore', kernel: (first: bigint, end: bigint) => edit(layout(era, 'ia32e-null-page-only-locore'), { _locore_start: first, _lodata_end: end }),
  })),
];

describe('the NULL page of an identity mapping: dropped before any table is made', () => {
  for (const c of NULL_PAGE_CASES) {
    it(`${c.era}: ${c.what} of page 0 alone makes no table, as if it were empty; one more page makes that page's tables`, () => {
      for (const compat of [false, true]) {
        const alone = gen(c.kernel(0n, 0x1000n), { compat });
        const empty = gen(c.kernel(0x1000n, 0x1000n), { compat });
        expect(same(alone.bytes, empty.bytes)).toBe(true);
        const two = gen(c.kernel(0n, 0x2000n), { compat });
        const second = gen(c.kernel(0x1000n, 0x2000n), { compat });
        expect(same(two.bytes, second.bytes)).toBe(true);
        expect(two.tableCount).toBeGreaterThan(alone.tableCount);
      }
    });
  }
});

describe('refusals per era: exit 2 where the script mis-builds or crashes', () => {
  for (const r of ERA_REFUSALS) {
    it(r.why, () => {
      for (const compat of [false, true]) {
        let thrown: unknown;
        try {
          gen(r.kernel, { era: r.era, compat, ...(r.maps ? { maps: r.maps } : {}) });
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(InputError);
        expect((thrown as Error).message).toMatch(r.message);
        expect((thrown as Error).message).not.toContain('\n');
      }
    });
  }

  it('a fitting placeholder passes, one page off fails on each side', () => {
    expect(gen(v26).bytes.length).toBe(20512);
    expect(() => gen(edit(v26, {}, { dummy_pagetables: 20512n + 4096n }))).toThrow(/too big/);
    expect(() => gen(edit(v26, {}, { dummy_pagetables: 20512n - 4096n }))).toThrow(/too small\): set CONFIG_X86_EXTRA_PAGE_TABLE_PAGES=1/);
  });

  it('--map is no option of the eras before v2.6', () => {
    for (const era of ['v2.4', 'v2.5'] as const) {
      expect(() => gen(layout(era, Object.keys(ERA_GOLDEN_LAYOUTS[era])[0]!), { maps: ['0xe0000000,0x1000'] })).toThrow(new RegExp(`--map is not an option of the ${era.replace('.', '\\.')} gen_mmu.py`));
    }
  });

  it('the tables-size limit holds for every era, and --max-tables-size raises it', () => {
    const big = edit(v25, { CONFIG_KERNEL_VM_SIZE: 0x40000000n });
    expect(() => gen(big, { maxTablesBytes: 64 * 4096 })).toThrow(/--max-tables-size/);
    expect(gen(big, { maxTablesBytes: DEFAULT_MAX_TABLES_BYTES }).tableCount).toBeGreaterThan(512);
  });
});

describe('x86pt gen with era kernels', () => {
  const dir = scratchDir();
  const kernelOf = (era: Era, name: string) => writeScratch(dir, `${era}-${name}.elf`, symbolKernelElf(layout(era, name)));

  it('-v names the era and the deciding symbols; --zephyr says it was chosen', async () => {
    const elf = kernelOf('v2.5', 'pae-image-window');
    const told = await x86pt(['-v', '-k', elf, '-o', join(dir, 'a.bin')]);
    expect(told.exitCode).toBe(0);
    expect(told.stdout).toMatch(/Zephyr era v2\.5: .* \(from \+z_mapped_start -CONFIG_KERNEL_VM_OFFSET\)/);
    const chosen = await x86pt(['gen', '-v', '--zephyr', 'v2.5', '-k', elf, '-o', join(dir, 'b.bin')]);
    expect(chosen.stdout).toMatch(/Zephyr era v2\.5: .* \(chosen with --zephyr\)/);
    expect((await x86pt(['gen', '--zephyr', 'v9', '-k', elf, '-o', join(dir, 'c.bin')])).stderr).toMatch(/--zephyr v9: not an era; one of seed, v2\.4, v2\.5, v2\.6, 2025/);
    expect(ZEPHYR_ERAS).toHaveLength(5);
  });

  it('an ambiguous kernel exits 2 with one line naming the symbols, nothing written', async () => {
    const k = edit(v26, { _image_text_start: undefined, _image_text_size: undefined, _image_text_end: undefined });
    const out = join(dir, 'ambiguous.bin');
    const result = await x86pt(['-k', writeScratch(dir, 'ambiguous.elf', symbolKernelElf(k)), '-o', out]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/ambiguous Zephyr era: .*_image_text_start.*__text_region_start/);
    expect(existsSync(out)).toBe(false);
  });

  it('-vv traces every entry in the eras that count -v; VERBOSE means one -v, as in the scripts', async () => {
    const elf = kernelOf('v2.6', 'ia32e-maps');
    const args = ['-k', elf, '-o', join(dir, 'vv.bin'), ...ERA_GOLDEN_LAYOUTS['v2.6']['ia32e-maps']!.args!];
    const one = await x86pt(['-v', ...args]);
    const two = await x86pt(['-vv', ...args]);
    const env = await x86pt(['-vv', ...args], { VERBOSE: '1' });
    expect(two.stdout).toMatch(/PT: map 0x100000 -> 0x100000/);
    expect(one.stdout).not.toMatch(/PT: map/);
    expect(env.stdout).toBe(one.stdout);
    const old = await x86pt(['-vv', '-k', kernelOf('v2.4', '32bit-no-perms'), '-o', join(dir, 'old.bin')]);
    expect(old.exitCode).toBe(0);
    expect(old.stdout).not.toMatch(/PT: map/);
  });

  it('long options by unique prefix, as argparse takes them, except in 2025 (allow_abbrev=False)', async () => {
    const v26elf = kernelOf('v2.6', 'ia32e-maps');
    const out = join(dir, 'abbrev.bin');
    const ok = await x86pt(['--ker', v26elf, '--out', out, '--compat', '--ma', '0xe0000000,0x3000,WD', '--ma=e0200000,200000,LW', '--ma', '0X1_0000_0000, 0x400000 ,LXU,80000000', '--m', '0xfec00000,0x1000']);
    expect(ok.exitCode).toBe(0);
    expect(same(new Uint8Array(readFileSync(out)), golden('v2.6', 'ia32e-maps'))).toBe(true);
    const out25 = join(dir, 'abbrev25.bin');
    const refused = await x86pt(['--ker', kernelOf('2025', 'ia32e-present-at-boot'), '--output', out25]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/unrecognized arguments: --ker \(the 2025 gen_mmu.py takes long options in full\)/);
    expect(existsSync(out25)).toBe(false);
  });

  it('reads era kernels linked by GNU ld (--defsym) like a Zephyr build', async () => {
    for (const [era, name] of [['2025', 'ia32e-shadow-stack-maps'], ['v2.6', 'pae-virt-boot-pinned'], ['v2.5', 'ia32e-locore-kpti-gcov']] as const) {
      const l = ERA_GOLDEN_LAYOUTS[era][name]!;
      const symbols = Object.entries(l.kernel.symbols).map(([n, value]) => ({ name: n, value }));
      const elf = await linkKernel(l.kernel.elfClass, symbols, dir);
      const out = join(dir, `${era}-${name}-ld.bin`);
      const result = await x86pt(['-k', elf, '-o', out, '--compat', ...(l.args ?? [])]);
      expect(result.exitCode).toBe(0);
      expect(same(new Uint8Array(readFileSync(out)), golden(era, name))).toBe(true);
    }
  });

  it('a bad --map exits 2 with one line and leaves the output untouched', async () => {
    const out = join(dir, 'kept.bin');
    writeFileSync(out, 'previous');
    const result = await x86pt(['-k', kernelOf('v2.6', 'ia32e-maps'), '-o', out, '--map', '0xe0000000,0x1000,Q']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(out, 'utf8')).toBe('previous');
  });
});
