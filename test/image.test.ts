import { describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { parseElfFile, sectionContents, sectionNamed } from '../src/elf/reader.js';
import { writeElf } from '../src/elf/writer.js';
import { imageChecks, imageChecksOk, imageTables, TABLES_SECTION, type PrebuiltSymbols } from '../src/verify/image.js';
import { parseElf } from '../src/elf/reader.js';
import { ERA_GOLDEN_LAYOUTS } from './support/era-golden-layouts.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { readZephyrFixture, zephyrFixtureBuilds } from './support/zephyr-fixtures.js';
import { fromDescription, withSymbolValue, zephyrBuild, type ZephyrBuild } from './support/zephyr-image.js';
import { withSectionField } from './support/elf-patch.js';
import type { SymbolKernel } from '../src/elf/kernel.js';

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const prebuiltOf = (build: ZephyrBuild): PrebuiltSymbols => ({ source: 'prebuilt.elf', ...parseElf(build.prebuilt, 'prebuilt.elf') });
const imageOf = (bytes: Uint8Array) => imageTables(parseElfFile(bytes, 'zephyr.elf'));

/** Every kernel shape the project has a symbol map for: the seed's golden layouts, each era's, the five real builds. */
function allKernels(): { name: string; kernel: SymbolKernel; maps: readonly string[] }[] {
  const out: { name: string; kernel: SymbolKernel; maps: readonly string[] }[] = [];
  for (const [name, k] of Object.entries(GOLDEN_LAYOUTS)) out.push({ name: `seed/${name}`, kernel: fromDescription(k), maps: [] });
  for (const [era, layouts] of Object.entries(ERA_GOLDEN_LAYOUTS)) {
    for (const [name, layout] of Object.entries(layouts)) {
      out.push({ name: `${era}/${name}`, kernel: layout.kernel, maps: layout.args?.filter((_, i, all) => all[i - 1] === '--map') ?? [] });
    }
  }
  for (const build of zephyrFixtureBuilds()) {
    const f = readZephyrFixture(build);
    out.push({ name: `zephyr/${build}`, kernel: f.kernel, maps: f.args.filter((_, i, all) => all[i - 1] === '--map') });
  }
  return out;
}

describe('the ELF writer\'s content sections, read back by the reader', () => {
  it('writes a section at its address with its bytes, and symbols defined in it', () => {
    const contents = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    for (const elfClass of [32, 64] as const) {
      const bytes = writeElf({ elfClass, symbols: [{ name: 'a', value: 0x123456n, section: 'pagetables' }, { name: 'b', value: 7n }], sections: [{ name: 'pagetables', addr: 0x123120n, contents }] });
      const file = parseElfFile(bytes, 'x.elf');
      const section = sectionNamed(file, 'pagetables');
      expect(section.addr).toBe(0x123120n);
      expect(section.size).toBe(5000n);
      // Offset congruent to the address modulo a page, as a linker lays an image out.
      expect(section.offset % 4096n).toBe(0x120n);
      expect(same(sectionContents(file, section), contents)).toBe(true);
      expect(file.symbols.get('a')).toBe(0x123456n);
      expect(file.sections.map((s) => s.name)).toEqual(['', '.symtab', '.strtab', '.shstrtab', 'pagetables']);
    }
  });

  it('writes no content section unless asked: the symbol-only ELF keeps its four sections', () => {
    const file = parseElfFile(writeElf({ elfClass: 32, symbols: [{ name: 'x', value: 1n }] }), 'x.elf');
    expect(file.sections).toHaveLength(4);
  });

  it('refuses a symbol in a section it does not write, and a section past the class\'s addresses', () => {
    expect(() => writeElf({ elfClass: 32, symbols: [{ name: 'x', value: 1n, section: 'nope' }] })).toThrow(/no section named nope/);
    expect(() => writeElf({ elfClass: 32, symbols: [], sections: [{ name: 's', addr: 0xfffff000n, contents: new Uint8Array(0x1001) }] })).toThrow(/do not fit ELF32/);
  });
});

describe('section reading is strict and bounded', () => {
  const base = writeElf({ elfClass: 64, symbols: [{ name: 'x', value: 1n }], sections: [{ name: 'pagetables', addr: 0x100000n, contents: new Uint8Array(64) }] });
  const problem = (bytes: Uint8Array): string => {
    try {
      const file = parseElfFile(bytes, 'bad.elf');
      sectionContents(file, sectionNamed(file, 'pagetables'));
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      return (err as Error).message;
    }
    return 'accepted';
  };

  it('reads the intact file', () => expect(problem(base)).toBe('accepted'));
  it('a section whose bytes end past the file', () => {
    expect(problem(withSectionField(base, 4, 'sh_size', BigInt(base.length)))).toMatch(/^bad\.elf: section pagetables \(4\) out of bounds/);
  });
  it('a section at the file\'s very end is fine; one byte more is not', () => {
    const offset = Number(parseElfFile(base, 'b').sections[4]!.offset);
    expect(problem(withSectionField(base, 4, 'sh_size', BigInt(base.length - offset)))).toBe('accepted');
    expect(problem(withSectionField(base, 4, 'sh_size', BigInt(base.length - offset + 1)))).toMatch(/out of bounds/);
  });
  it('e_shstrndx past the sections, or naming a section that is not a string table', () => {
    const e64 = (v: number) => { const c = base.slice(); new DataView(c.buffer).setUint16(62, v, true); return c; };
    expect(problem(e64(9))).toMatch(/section name table 9 \(e_shstrndx\) is past the 5 sections/);
    expect(problem(e64(1))).toMatch(/has type 2, not SHT_STRTAB/);
    expect(problem(e64(0))).toMatch(/no section names: e_shstrndx is 0/);
  });
  it('a name offset outside the name table', () => {
    expect(problem(withSectionField(base, 4, 'sh_name', 10_000))).toMatch(/section 4: name offset 10000 is outside the section name table/);
  });
  it('a name table not ending with NUL', () => {
    const file = parseElfFile(base, 'b');
    const names = file.sections[3]!;
    expect(problem(withSectionField(base, 3, 'sh_size', names.size - 1n))).toMatch(/does not end with a NUL/);
  });
  it('SHT_NOBITS has no bytes to read', () => {
    expect(problem(withSectionField(base, 4, 'sh_type', 8))).toMatch(/is SHT_NOBITS/);
  });
  it('two sections of the name are ambiguous; none is missing', () => {
    const two = writeElf({ elfClass: 32, symbols: [], sections: [{ name: 'pagetables', addr: 0n, contents: new Uint8Array(4) }, { name: 'pagetables2', addr: 0x1000n, contents: new Uint8Array(4) }] });
    const renamed = withSectionField(two, 5, 'sh_name', readNameOffset(two, 4));
    expect(problem(renamed)).toMatch(/2 sections are named pagetables \(sections 4, 5\)/);
    expect(() => sectionNamed(parseElfFile(writeElf({ elfClass: 32, symbols: [] }), 'n.elf'), 'pagetables')).toThrow(/^n\.elf: no section named pagetables$/);
  });
  it('the symbols read as before: readElf ignores section names entirely', () => {
    // A broken name table does not stop the symbol reader, which never needed it.
    const broken = withSectionField(base, 4, 'sh_name', 10_000);
    expect(parseElf(broken, 'b').symbols.get('x')).toBe(1n);
  });
});

function readNameOffset(bytes: Uint8Array, index: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const shoff = view.getUint32(32, true);
  return view.getUint32(shoff + index * 40, true);
}

describe('tables from a final image, for every mode and era', () => {
  for (const { name, kernel, maps } of allKernels()) {
    it(`${name}: the section's tables, mode, era and physical base as the generator placed them; every image check passes`, () => {
      const build = zephyrBuild(kernel, { maps });
      const image = imageOf(build.image);
      expect(image.era).toBe(build.era);
      expect(image.mode).toBe(build.mode);
      expect(same(image.tables, build.tables)).toBe(true);
      expect(image.padding.byteLength).toBe(0x1a0);
      // The era's placement rule, independently of the generator's, lands on the same physical address.
      expect(image.tablesPhys).toBe(build.tablesPhys);
      const checks = imageChecks(image, prebuiltOf(build));
      expect(checks.flatMap((c) => c.problems)).toEqual([]);
      expect(imageChecksOk(checks)).toBe(true);
    });
  }

  it('places v2.6 tables by the virtual-to-physical offset (linked at 0x40000000, loaded at 1 MiB)', () => {
    const build = zephyrBuild(readZephyrFixture('2021-v2.6.0-qemu_x86_virt-hello_world').kernel);
    const image = imageOf(build.image);
    expect(image.tablesVirt).toBe(0x40004000n);
    expect(image.tablesPhys).toBe(0x104000n);
  });
});

describe('the checks only an image can fail', () => {
  const kernels = {
    seed: fromDescription(GOLDEN_LAYOUTS['pae-dual-across-1gib']!),
    'v2.6': readZephyrFixture('2021-v2.6.0-qemu_x86_64-hello_world-extramap').kernel,
    'v2.4': readZephyrFixture('2020-v2.4.0-qemu_x86-hello_world').kernel,
  };
  const maps = { seed: [], 'v2.6': ['0xe0000000,0x3000,WD', '0xe0200000,0x200000,LW'], 'v2.4': [] };
  for (const [era, kernel] of Object.entries(kernels) as [keyof typeof kernels, SymbolKernel][]) {
    const build = zephyrBuild(kernel, { maps: maps[era] });
    const problems = (image: Uint8Array, prebuilt: Uint8Array = build.prebuilt) =>
      imageChecks(imageOf(image), { source: 'prebuilt.elf', ...parseElf(prebuilt, 'prebuilt.elf') }).flatMap((c) => c.problems);

    it(`${era}: a z_x86_kernel_ptables off by one table names the symbol and both addresses; one at the right place passes`, () => {
      expect(problems(build.image)).toEqual([]);
      const wrong = withSymbolValue(build.image, 'z_x86_kernel_ptables', build.topLevel - 4096n);
      const found = problems(wrong);
      expect(found.some((p) => p.startsWith(`z_x86_kernel_ptables is 0x${(build.topLevel - 4096n).toString(16)}, but the top-level table is at 0x${build.topLevel.toString(16)}`))).toBe(true);
    });

    it(`${era}: a section truncated by a table: the tables no longer end where objcopy's symbols and the placeholder say`, () => {
      const size = BigInt(0x1a0 + build.tables.length - 4096);
      const truncated = withSectionField(build.image, 4, 'sh_size', size);
      const found = problems(truncated);
      expect(found).toContain(`_binary_pagetables_bin_end is 0x${(build.tablesVirt + BigInt(build.tables.length)).toString(16)}, but the pagetables section's end is 0x${(build.tablesVirt + BigInt(build.tables.length) - 4096n).toString(16)}`);
      expect(found.some((p) => p.startsWith(`${build.placeholder} in prebuilt.elf is ${build.tables.length} bytes, but the tables in zephyr.elf:pagetables are ${build.tables.length - 4096} bytes`))).toBe(true);
      // The kernel's CR3 symbol now points past the block's new top level.
      expect(found.some((p) => p.startsWith('z_x86_kernel_ptables is '))).toBe(true);
    });

    it(`${era}: a placeholder moved by a page in the prebuilt names it and both addresses`, () => {
      const moved = withSymbolValue(build.prebuilt, build.placeholder, build.tablesVirt + 4096n);
      expect(problems(build.image, moved)).toEqual([
        `${build.placeholder} in prebuilt.elf is at 0x${(build.tablesVirt + 4096n).toString(16)}, but z_x86_pagetables_start in zephyr.elf is 0x${build.tablesVirt.toString(16)}`,
      ]);
    });

    it(`${era}: a layout symbol that moved between the passes is named with both values`, () => {
      const moved = withSymbolValue(build.prebuilt, 'CONFIG_SRAM_SIZE', (kernel.symbols.CONFIG_SRAM_SIZE ?? 0n) + 4n);
      expect(problems(build.image, moved)).toEqual([
        `CONFIG_SRAM_SIZE is 0x${((kernel.symbols.CONFIG_SRAM_SIZE ?? 0n) + 4n).toString(16)} in prebuilt.elf but 0x${(kernel.symbols.CONFIG_SRAM_SIZE ?? 0n).toString(16)} in zephyr.elf`,
      ]);
    });

    it(`${era}: non-zero padding before z_x86_pagetables_start is named`, () => {
      const padded = build.image.slice();
      const file = parseElfFile(padded, 'zephyr.elf');
      const at = Number(sectionNamed(file, TABLES_SECTION).offset) + 0x10;
      padded[at] = 0xff;
      expect(problems(padded)).toEqual([`the padding before z_x86_pagetables_start is not zero: byte 0x${(build.sectionAddr + 0x10n).toString(16)} is 0xff (tables placed below z_x86_pagetables_start?)`]);
    });
  }

  it('without a prebuilt the placeholder check says it was skipped, and fails nothing', () => {
    const build = zephyrBuild(kernels.seed);
    const checks = imageChecks(imageOf(build.image));
    expect(checks[2]!.skipped).toMatch(/no prebuilt ELF/);
    expect(imageChecksOk(checks)).toBe(true);
  });

  it('z_x86_pagetables_start outside the section is bad input: the tables cannot be located', () => {
    const build = zephyrBuild(kernels.seed);
    const off = withSymbolValue(build.image, 'z_x86_pagetables_start', build.sectionAddr - 0x1000n);
    expect(() => imageOf(off)).toThrow(/^zephyr\.elf: z_x86_pagetables_start 0x[0-9a-f]+ is outside the pagetables section/);
  });

  it('an image without a pagetables section is bad input naming it', () => {
    const elf = writeElf({ elfClass: 32, symbols: [{ name: 'CONFIG_SRAM_BASE_ADDRESS', value: 0n }, { name: 'CONFIG_KERNEL_VM_BASE', value: 0n }] });
    expect(() => imageOf(elf)).toThrow(/^zephyr\.elf: no section named pagetables$/);
  });

  it('readElf of an image still gives the symbols alone', () => {
    const build = zephyrBuild(kernels.seed);
    expect(parseElf(build.image, 'i').symbols.get('z_x86_kernel_ptables')).toBe(build.topLevel);
  });
});
