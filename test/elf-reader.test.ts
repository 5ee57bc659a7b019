import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { ELF64_LAYOUT, SHT_DYNSYM, SHT_SUNW_LDYNSYM, SHT_SYMTAB, layoutOf } from '../src/elf/format.js';
import { parseElf, readElf } from '../src/elf/reader.js';
import { writeElf, type ElfSymbolDef } from '../src/elf/writer.js';
import { scratchDir, writeScratch } from './support/cli.js';
import { EDGE_VALUE_SYMBOLS } from './support/elf-symbols.js';
import { linkKernel, readelfSymbolTables } from './support/gnu.js';
import { pyelftoolsView, referenceSymbolMap } from './support/elf-pyelftools.js';
import {
  patched, readSectionHeaders, sectionBase, withHeaderField, withSectionField, withSectionTable, type SectionHeader,
} from './support/elf-patch.js';

const dir = scratchDir('x86pt-elf-reader-');
const CLASSES = [32, 64] as const;

/** What the reference's dict holds for these definitions: the null symbol, then each name's last value. */
function lastWins(symbols: readonly ElfSymbolDef[]): Map<string, bigint> {
  return new Map([['', 0n] as const, ...symbols.map((s) => [s.name, s.value] as const)]);
}

/** Runs `body`, which must throw; returns the error. */
function thrown(body: () => unknown): unknown {
  try {
    body();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, none was thrown');
}

/** The reader refuses `bytes` with one InputError line naming the source and matching `problem`. */
function expectRefused(bytes: Uint8Array, problem: RegExp, source = 'kernel.elf'): void {
  const err = thrown(() => parseElf(bytes, source));
  expect(err).toBeInstanceOf(InputError);
  const message = (err as InputError).message;
  expect(message.startsWith(`${source}: `)).toBe(true);
  expect(message).not.toMatch(/[\n\r]/);
  expect(message).toMatch(problem);
}

const EXTREMES: Record<32 | 64, ElfSymbolDef[]> = {
  32: [{ name: 'CONFIG_SRAM_BASE_ADDRESS', value: 0x100000n }, ...EDGE_VALUE_SYMBOLS[32]],
  64: [
    { name: 'CONFIG_KERNEL_VM_BASE', value: 0xffff800000100000n }, ...EDGE_VALUE_SYMBOLS[64],
    { name: 'just_above_2_53', value: (1n << 53n) + 1n },
  ],
};

describe.each(CLASSES)('round trips through writeElf, ELF%i', (elfClass) => {
  it('gives the class, machine and every value exactly', () => {
    const symbols = EXTREMES[elfClass];
    const elf = parseElf(writeElf({ elfClass, symbols }), 'rt.elf');
    expect(elf.elfClass).toBe(elfClass);
    expect(elf.machine).toBe(elfClass === 64 ? 62 : 3);
    expect(elf.symbols).toEqual(lastWins(symbols));
  });

  it('keeps the last value of a name defined twice, as the reference\'s dict does', async () => {
    const symbols = [{ name: 'A', value: 1n }, { name: 'B', value: 2n }, { name: 'A', value: 3n }];
    const path = writeScratch(dir, `dup${elfClass}.elf`, writeElf({ elfClass, symbols }));
    const ours = readElf(path).symbols;
    expect(ours.get('A')).toBe(3n);
    expect(ours).toEqual(referenceSymbolMap(await pyelftoolsView(path)));
  });

  it('holds for random symbol sets (fixed seed)', () => {
    const limit = (1n << BigInt(elfClass)) - 1n;
    const symbol = fc.record({
      name: fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('A', 'B', 'CONFIG_X86_64')).filter((n) => !n.includes('\0')),
      value: fc.oneof(fc.bigInt({ min: 0n, max: limit }), fc.constantFrom(0n, limit, limit >> 1n, (limit >> 1n) + 1n)),
    });
    fc.assert(
      fc.property(fc.array(symbol, { maxLength: 40 }), (symbols) => {
        expect(parseElf(writeElf({ elfClass, symbols }), 'random.elf').symbols).toEqual(lastWins(symbols));
      }),
      { seed: 0x2e1f, numRuns: 300 },
    );
  });
});

describe.each(CLASSES)('kernels linked by GNU ld, ELF%i', (elfClass) => {
  const symbols: ElfSymbolDef[] =
    elfClass === 64
      ? [
          { name: 'CONFIG_X86_64', value: 1n },
          { name: 'CONFIG_KERNEL_VM_BASE', value: 0xffff800000100000n },
          { name: 'z_x86_pagetables_start', value: 0xffff800000123000n },
          { name: 'all_ones', value: 0xffffffffffffffffn },
          { name: 'bit63', value: 0x8000000000000000n },
        ]
      : [
          { name: 'CONFIG_SRAM_BASE_ADDRESS', value: 0x100000n },
          { name: 'CONFIG_SRAM_SIZE', value: 0x2000n },
          { name: 'z_x86_pagetables_start', value: 0x12f000n },
          { name: 'all_ones', value: 0xffffffffn },
        ];

  it('read exactly what readelf -s and pyelftools report', async () => {
    const path = await linkKernel(elfClass, symbols, dir);
    const ours = readElf(path);
    expect(ours.elfClass).toBe(elfClass);
    expect(ours.machine).toBe(elfClass === 64 ? 62 : 3);

    const tables = await readelfSymbolTables(path);
    expect(tables[0]!.section).toBe('.symtab');
    const readelfMap = new Map(tables[0]!.symbols.map((s) => [s.name, s.value]));
    expect(ours.symbols).toEqual(readelfMap);
    expect(ours.symbols).toEqual(referenceSymbolMap(await pyelftoolsView(path)));
    for (const { name, value } of symbols) expect(ours.symbols.get(name)).toBe(value);
    // ld adds its own symbols too; they are read like the rest.
    expect(ours.symbols.has('_start')).toBe(true);
  });
});

describe('which symbol table is read', () => {
  const symbols = [{ name: 'first', value: 1n }, { name: 'second', value: 2n }, { name: 'third', value: 3n }];

  /** The writer's image re-tabled as [null, X, Y, .strtab, .shstrtab] with X/Y two views of its symbol table. */
  function twoTables(elfClass: 32 | 64, first: number, second: number, firstSymbols: number): Uint8Array {
    const image = writeElf({ elfClass, symbols });
    const [nul, symtab, strtab, shstrtab] = readSectionHeaders(image) as [SectionHeader, SectionHeader, SectionHeader, SectionHeader];
    const entsize = BigInt(layoutOf(elfClass).symbol.size);
    const a: SectionHeader = { ...symtab, sh_type: BigInt(first), sh_link: 3n, sh_size: BigInt(firstSymbols) * entsize };
    const b: SectionHeader = { ...symtab, sh_type: BigInt(second), sh_link: 3n };
    return withSectionTable(image, [nul, a, b, strtab, shstrtab], 4);
  }

  it.each(CLASSES)('takes the first symbol-table section in header order, as pyelftools does (ELF%i)', async (elfClass) => {
    const cases: [number, number, string[]][] = [
      [SHT_DYNSYM, SHT_SYMTAB, ['', 'first']], // .dynsym first: its (shorter) table wins
      [SHT_SYMTAB, SHT_DYNSYM, ['', 'first']],
      [SHT_SUNW_LDYNSYM, SHT_SYMTAB, ['', 'first']],
      [1 /* SHT_PROGBITS */, SHT_DYNSYM, ['', 'first', 'second', 'third']], // not a symbol table: skipped
    ];
    for (const [first, second, names] of cases) {
      const path = writeScratch(dir, `order-${elfClass}-${first}-${second}.elf`, twoTables(elfClass, first, second, 2));
      const ours = readElf(path).symbols;
      expect([...ours.keys()]).toEqual(names);
      expect(ours).toEqual(referenceSymbolMap(await pyelftoolsView(path)));
    }
  });
});

describe('symbol names', () => {
  it('decode as UTF-8 with invalid bytes replaced and a BOM kept, exactly as pyelftools decodes them', async () => {
    const image = writeElf({ elfClass: 64, symbols: [{ name: 'xyz', value: 1n }, { name: 'bom', value: 2n }, { name: 'ok_ü', value: 3n }] });
    const [, , strtab] = readSectionHeaders(image);
    const start = Number(strtab!.sh_offset);
    const bytes = image.slice();
    bytes[start + 1] = 0xff; // "xyz" -> "\xffyz"
    bytes.set([0xef, 0xbb, 0xbf], start + 5); // "bom" -> a UTF-8 byte order mark
    const path = writeScratch(dir, 'names.elf', bytes);
    const ours = readElf(path).symbols;
    expect([...ours.keys()]).toEqual(['', '\ufffdyz', '\ufeff', 'ok_ü']);
    expect(ours).toEqual(referenceSymbolMap(await pyelftoolsView(path)));
  });

  it('take st_name 0 as the empty name without reading the string table', () => {
    const image = writeElf({ elfClass: 32, symbols: [] });
    expect(parseElf(withSectionField(image, 2, 'sh_size', 0), 'k').symbols).toEqual(new Map([['', 0n]]));
  });
});

describe('extended section numbering', () => {
  it.each(CLASSES)('reads the section count from section 0 when e_shnum is 0 (ELF%i)', (elfClass) => {
    const image = writeElf({ elfClass, symbols: EXTREMES[elfClass] });
    const extended = withSectionField(withHeaderField(image, 'e_shnum', 0), 0, 'sh_size', 4);
    expect(parseElf(extended, 'k').symbols).toEqual(lastWins(EXTREMES[elfClass]));
  });
});

describe.each(CLASSES)('malformed ELF%i input is one InputError line naming the file', (elfClass) => {
  const image = writeElf({ elfClass, symbols: [{ name: 'alpha', value: 1n }, { name: 'omega', value: 2n }] });
  const layout = layoutOf(elfClass);
  const word = (1n << BigInt(layout.wordSize * 8)) - 1n;
  const [, symtab, strtab] = readSectionHeaders(image) as [SectionHeader, SectionHeader, SectionHeader];
  const symbolBase = (i: number) => Number(symtab.sh_offset) + i * layout.symbol.size;
  const ident = (index: number, value: number) => {
    const copy = image.slice();
    copy[index] = value;
    return copy;
  };

  const cases: [string, Uint8Array, RegExp][] = [
    ['empty file', new Uint8Array(0), /: empty file$/],
    ['not an ELF', new TextEncoder().encode('#!/bin/sh\necho not a kernel\n'), /not an ELF file \(bad magic number\)/],
    ['a magic prefix only', image.slice(0, 3), /truncated ELF header/],
    ['truncated identification', image.slice(0, 12), /truncated ELF header/],
    ['wrong class 3', ident(4, 3), /unknown ELF class 3/],
    ['class 0', ident(4, 0), /unknown ELF class 0/],
    ['big-endian', ident(5, 2), /big-endian ELF is not supported/],
    ['unknown byte order', ident(5, 0), /unknown data encoding 0/],
    ['truncated file header', image.slice(0, layout.header.size - 1), new RegExp(`truncated ELF header: ELF${elfClass} needs ${layout.header.size}`)],
    ['no section headers', withHeaderField(image, 'e_shoff', 0), /no symbol table: the file has no section headers/],
    ['bad e_shentsize', withHeaderField(image, 'e_shentsize', layout.section.size - 1), /bad e_shentsize/],
    ['section headers past the end', withHeaderField(image, 'e_shoff', image.length - 8), /section header table out of bounds/],
    ['section headers at the largest offset', withHeaderField(image, 'e_shoff', word), /section header table out of bounds/],
    ['65535 section headers', withHeaderField(image, 'e_shnum', 0xffff), /section header table out of bounds: 65535 headers/],
    ['extended count all ones', withSectionField(withHeaderField(image, 'e_shnum', 0), 0, 'sh_size', word), new RegExp(`section header table out of bounds: ${word} headers`)],
    ['extended count of zero', withHeaderField(image, 'e_shnum', 0), /no symbol table: the file has no sections/],
    ['no symbol table', withSectionField(image, 1, 'sh_type', 1), /no symbol table: none of the 4 sections is SHT_SYMTAB or SHT_DYNSYM/],
    ['sh_entsize 0', withSectionField(image, 1, 'sh_entsize', 0), /bad sh_entsize 0 for the symbol table \(section 1\)/],
    ['sh_entsize one too many', withSectionField(image, 1, 'sh_entsize', layout.symbol.size + 1), /bad sh_entsize/],
    ['sh_entsize all ones', withSectionField(image, 1, 'sh_entsize', word), /bad sh_entsize/],
    ['symbol table claiming as many symbols as sh_size can', withSectionField(image, 1, 'sh_size', (word / BigInt(layout.symbol.size)) * BigInt(layout.symbol.size)), /symbol table \(section 1\) out of bounds/],
    ['symbol table size all ones', withSectionField(image, 1, 'sh_size', word), /symbol table \(section 1\) out of bounds/],
    ['symbol table past the end', withSectionField(image, 1, 'sh_offset', image.length - 4), /symbol table \(section 1\) out of bounds/],
    ['symbol table size not a multiple', withSectionField(image, 1, 'sh_size', symtab.sh_size - 1n), /size \d+ is not a multiple of its entry size/],
    ['string table link out of range', withSectionField(image, 1, 'sh_link', 99), /links string table section 99, but there are only 4 sections/],
    ['string table link to the symbol table', withSectionField(image, 1, 'sh_link', 1), /links section 1 of type 2, which is not a string table/],
    ['string table past the end', withSectionField(image, 2, 'sh_offset', word), /string table \(section 2\) out of bounds/],
    ['string table too long', withSectionField(image, 2, 'sh_size', image.length), /string table \(section 2\) out of bounds/],
    ['last name not NUL-terminated', withSectionField(image, 2, 'sh_size', strtab.sh_size - 1n), /symbol 2: name at offset 7 is not NUL-terminated within its string table/],
    ['name offset past the string table', patched(image, symbolBase(1), layout.symbol.st_name, strtab.sh_size), /symbol 1: name offset \d+ is outside its string table/],
    ['name offset all ones', patched(image, symbolBase(2), layout.symbol.st_name, 0xffffffff), /symbol 2: name offset 4294967295 is outside/],
  ];

  it.each(cases)('%s', (_name, bytes, problem) => expectRefused(bytes, problem));

  it('bounds a 2^32-entry claim by the file, not the claim: a 128-byte file', () => {
    // ELF64 header + one section header: a symbol table at offset 0 claiming 2^32 symbols.
    const tiny = writeElf({ elfClass: 64, symbols: [] }).slice(0, 64 + ELF64_LAYOUT.section.size);
    let bytes = withHeaderField(tiny, 'e_shoff', 64);
    bytes = withHeaderField(bytes, 'e_shnum', 1);
    const only = sectionBase(bytes, 0);
    bytes = patched(bytes, only, ELF64_LAYOUT.section.sh_type, SHT_SYMTAB);
    bytes = patched(bytes, only, ELF64_LAYOUT.section.sh_entsize, 24);
    bytes = patched(bytes, only, ELF64_LAYOUT.section.sh_offset, 0);
    bytes = patched(bytes, only, ELF64_LAYOUT.section.sh_size, (1n << 32n) * 24n);
    expect(bytes.length).toBe(128);
    expectRefused(bytes, /symbol table \(section 0\) out of bounds: 103079215104 bytes at offset 0x0, file is 128 bytes/);
  });
});

describe('names overlapping in the string table', () => {
  it('are refused once decoding them would exceed the memory budget, instead of decoding n × table bytes', () => {
    // One 1 MiB name, then 20 000 symbols whose names start at successive bytes of it.
    const long = 'A'.repeat(1 << 20);
    const image = writeElf({ elfClass: 32, symbols: [{ name: long, value: 1n }, ...Array.from({ length: 20_000 }, () => ({ name: long, value: 2n }))] });
    const [, symtab] = readSectionHeaders(image);
    const bytes = image.slice();
    const view = new DataView(bytes.buffer);
    for (let i = 1; i <= 20_001; i++) view.setUint32(Number(symtab!.sh_offset) + i * 16, i, true);
    expectRefused(bytes, /symbol names overlap so much that decoding them would exhaust memory/);
  });

  it('that overlap a little (suffix sharing, as linkers do) are read', () => {
    const image = writeElf({ elfClass: 32, symbols: [{ name: 'z_x86_pagetables_start', value: 5n }, { name: 'other', value: 6n }] });
    const [, symtab] = readSectionHeaders(image);
    // The second symbol points into the first name: "pagetables_start".
    const bytes = patched(image, Number(symtab!.sh_offset) + 2 * 16, layoutOf(32).symbol.st_name, 1 + 'z_x86_'.length);
    expect(parseElf(bytes, 'k').symbols).toEqual(new Map([['', 0n], ['z_x86_pagetables_start', 5n], ['pagetables_start', 6n]]));
  });
});

describe('readElf', () => {
  it('reads the file it names', () => {
    const bytes = writeElf({ elfClass: 64, symbols: EXTREMES[64] });
    const path = writeScratch(dir, 'file.elf', bytes);
    expect(readElf(path)).toEqual(parseElf(readFileSync(path), path));
    expect(readElf(path).symbols).toEqual(lastWins(EXTREMES[64]));
  });

  it('names the file in every refusal', () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { recursive: true });
    const notElf = writeScratch(dir, 'notes.txt', new TextEncoder().encode('hello\n'));
    const empty = writeScratch(dir, 'empty.elf', new Uint8Array(0));
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.elf'), /: no such file$/],
      [join(notElf, 'below-a-file.elf'), /: a component of the path is not a directory$/],
      [sub, /: is a directory, not an ELF file$/],
      ['/dev/null', /: not a regular file$/],
      [notElf, /: not an ELF file/],
      [empty, /: empty file$/],
    ];
    for (const [path, problem] of cases) {
      const err = thrown(() => readElf(path));
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).message.startsWith(`${path}: `)).toBe(true);
      expect((err as InputError).message).toMatch(problem);
    }
  });
});
