import { describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { writeElf, type ElfSymbolDef } from '../src/elf/writer.js';
import { scratchDir, writeScratch } from './support/cli.js';
import { EDGE_VALUE_SYMBOLS } from './support/elf-symbols.js';
import { readelfHeaders, readelfSymbolTables } from './support/gnu.js';
import { pyelftoolsView } from './support/elf-pyelftools.js';

const dir = scratchDir('x86pt-elf-writer-');

const SYMBOLS: Record<32 | 64, ElfSymbolDef[]> = {
  32: [
    { name: 'CONFIG_SRAM_BASE_ADDRESS', value: 0x100000n },
    { name: 'CONFIG_SRAM_SIZE', value: 4096n },
    { name: 'z_x86_pagetables_start', value: 0x12f000n },
    ...EDGE_VALUE_SYMBOLS[32],
  ],
  64: [
    { name: 'CONFIG_X86_64', value: 1n },
    { name: 'CONFIG_KERNEL_VM_BASE', value: 0xffff800000100000n },
    { name: 'z_x86_pagetables_start', value: 0xffff800000200000n },
    ...EDGE_VALUE_SYMBOLS[64],
    { name: 'above32', value: 0x100000000n },
  ],
};

const EXPECTED = {
  32: { machineText: 'Intel 80386', entsize: 0x10, align: 4, pyMachine: 'EM_386' },
  64: { machineText: 'Advanced Micro Devices X86-64', entsize: 0x18, align: 8, pyMachine: 'EM_X86_64' },
} as const;

const writeImage = (name: string, elfClass: 32 | 64, symbols: readonly ElfSymbolDef[]): string =>
  writeScratch(dir, name, writeElf({ elfClass, symbols }));

interface ReadelfSection { index: number; name: string; type: string; entsize: number; link: number; info: number; align: number }

/** The section rows of `readelf -SW`: [Nr] Name Type Addr Off Size ES [Flg] Lk Inf Al. */
function sectionRows(readelfOutput: string): ReadelfSection[] {
  const rows: ReadelfSection[] = [];
  for (const line of readelfOutput.split('\n')) {
    const m = /^\s*\[\s*(\d+)\]\s(.*)$/.exec(line);
    if (!m) continue;
    const tokens = m[2]!.trim().split(/\s+/);
    const named = Number(m[1]) !== 0;
    const [name, type, , , , es] = named ? tokens : ['', ...tokens];
    const [lk, inf, al] = tokens.slice(-3);
    rows.push({ index: Number(m[1]), name: name!, type: type!, entsize: parseInt(es!, 16), link: Number(lk), info: Number(inf), align: Number(al) });
  }
  return rows;
}

describe.each([32, 64] as const)('writeElf ELF%i', (elfClass) => {
  const symbols = SYMBOLS[elfClass];
  const expected = EXPECTED[elfClass];

  it('has the header and sections GNU readelf expects, without warnings', async () => {
    const out = await readelfHeaders(writeImage(`headers${elfClass}.elf`, elfClass, symbols));
    expect(out).toMatch(new RegExp(`Class:\\s+ELF${elfClass}\\n`));
    expect(out).toMatch(/Data:\s+2's complement, little endian/);
    expect(out).toMatch(/Type:\s+EXEC \(Executable file\)/);
    expect(out).toMatch(new RegExp(`Machine:\\s+${expected.machineText}\\n`));
    expect(sectionRows(out)).toEqual([
      { index: 0, name: '', type: 'NULL', entsize: 0, link: 0, info: 0, align: 0 },
      { index: 1, name: '.symtab', type: 'SYMTAB', entsize: expected.entsize, link: 2, info: 1, align: expected.align },
      { index: 2, name: '.strtab', type: 'STRTAB', entsize: 0, link: 0, info: 0, align: 1 },
      { index: 3, name: '.shstrtab', type: 'STRTAB', entsize: 0, link: 0, info: 0, align: 1 },
    ]);
  });

  it('writes global absolute untyped symbols that readelf -sW reads exactly', async () => {
    const tables = await readelfSymbolTables(writeImage(`symbols${elfClass}.elf`, elfClass, symbols));
    expect(tables.map((t) => t.section)).toEqual(['.symtab']);
    const [nullSymbol, ...rest] = tables[0]!.symbols;
    expect(nullSymbol).toEqual({ index: 0, value: 0n, type: 'NOTYPE', bind: 'LOCAL', visibility: 'DEFAULT', ndx: 'UND', name: '' });
    expect(rest).toEqual(
      symbols.map((s, i) => ({ index: i + 1, value: s.value, type: 'NOTYPE', bind: 'GLOBAL', visibility: 'DEFAULT', ndx: 'ABS', name: s.name })),
    );
  });

  it('is read by pyelftools (the reference\'s ELF library) with the same sections and symbols', async () => {
    const withNonAscii = [...symbols, { name: 'größe_µ', value: 5n }];
    const view = await pyelftoolsView(writeImage(`py${elfClass}.elf`, elfClass, withNonAscii));
    expect(view.elfclass).toBe(elfClass);
    expect(view.little_endian).toBe(true);
    expect(view.e_type).toBe('ET_EXEC');
    expect(view.e_machine).toBe(expected.pyMachine);
    expect(view.sections.map((s) => [s.name, s.type, s.link, s.info, s.entsize])).toEqual([
      ['', 'SHT_NULL', 0, 0, 0],
      ['.symtab', 'SHT_SYMTAB', 2, 1, expected.entsize],
      ['.strtab', 'SHT_STRTAB', 0, 0, 0],
      ['.shstrtab', 'SHT_STRTAB', 0, 0, 0],
    ]);
    expect(view.symtab).toBe('.symtab');
    expect(view.symbols).toEqual([
      { name: '', value: 0n, bind: 'STB_LOCAL', type: 'STT_NOTYPE', shndx: 'SHN_UNDEF' },
      ...withNonAscii.map((s) => ({ name: s.name, value: s.value, bind: 'STB_GLOBAL', type: 'STT_NOTYPE', shndx: 'SHN_ABS' })),
    ]);
  });

  it('writes a repeated name twice, in order, sharing one string', async () => {
    const image = writeElf({ elfClass, symbols: [{ name: 'twice', value: 1n }, { name: 'other', value: 2n }, { name: 'twice', value: 3n }] });
    const [table] = await readelfSymbolTables(writeScratch(dir, `dup${elfClass}.elf`, image));
    expect(table!.symbols.slice(1).map((s) => [s.name, s.value])).toEqual([['twice', 1n], ['other', 2n], ['twice', 3n]]);
    const strtab = new TextDecoder().decode(image);
    expect(strtab.split('twice\0').length - 1).toBe(1);
  });

  it('writes an image with no symbols but the null one', async () => {
    const [table] = await readelfSymbolTables(writeImage(`empty${elfClass}.elf`, elfClass, []));
    expect(table!.symbols).toHaveLength(1);
  });

  it('refuses values that do not fit the class and names with NUL', () => {
    const bits = BigInt(elfClass);
    const refuse = (symbol: ElfSymbolDef, message: RegExp) => {
      expect(() => writeElf({ elfClass, symbols: [symbol] })).toThrow(InputError);
      expect(() => writeElf({ elfClass, symbols: [symbol] })).toThrow(message);
    };
    refuse({ name: 'too_big', value: 1n << bits }, /too_big.*does not fit ELF/);
    refuse({ name: 'negative', value: -1n }, /negative.*does not fit ELF/);
    refuse({ name: 'a\0b', value: 1n }, /NUL/);
    expect(() => writeElf({ elfClass, symbols: [{ name: 'largest', value: (1n << bits) - 1n }] })).not.toThrow();
  });
});
