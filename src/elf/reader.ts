/**
 * A small strict ELF reader: the symbols of the first symbol table, exact to
 * 64 bits. Every offset and size a header claims is checked against the real
 * length of the file before it is used, so memory and time stay proportional
 * to the file whatever the headers say; anything malformed is one InputError.
 */
import { InputError } from '../core/errors.js';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { readInputFile } from '../core/io.js';
import {
  EI_CLASS, EI_DATA, EI_NIDENT, ELF_MAGIC, ELF32_LAYOUT, ELF64_LAYOUT, ELFCLASS32, ELFCLASS64, ELFDATA2LSB,
  ELFDATA2MSB, SHN_UNDEF, SHN_XINDEX, SHT_DYNSYM, SHT_NOBITS, SHT_STRTAB, SHT_SUNW_LDYNSYM, SHT_SYMTAB,
  getField, getSmallField, type ElfLayout,
} from './format.js';

export interface ElfSymbols {
  readonly elfClass: 32 | 64;
  /** e_machine */
  readonly machine: number;
  /** name -> st_value, exact; a name defined twice has its last value; the null symbol is the name '' */
  readonly symbols: ReadonlyMap<string, bigint>;
  /** name -> st_size of the first symbol of that name (as pyelftools' first match finds it) */
  readonly sizes: ReadonlyMap<string, bigint>;
}

/** One section header, its fields exact; `name` as the section name table spells it. */
export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: bigint;
  /** sh_addr: where the section sits in memory (a virtual address) */
  readonly addr: bigint;
  /** sh_offset: where its bytes are in the file (meaningless for SHT_NOBITS) */
  readonly offset: bigint;
  readonly size: bigint;
}

/** A kernel image: its symbols, its section headers, and the file's bytes to read sections from. */
export interface ElfFile extends ElfSymbols {
  readonly source: string;
  readonly sections: readonly ElfSection[];
  readonly bytes: Uint8Array;
}

/** Section types pyelftools (and so gen_mmu.py) takes for a symbol table. */
const SYMBOL_TABLE_TYPES: ReadonlySet<number> = new Set([SHT_SYMTAB, SHT_DYNSYM, SHT_SUNW_LDYNSYM]);

/** Names may overlap in a string table (suffix sharing); this caps the total length of the overlapping names handed out. */
const NAME_BUDGET_FLOOR = 64 * 1024 * 1024;

/**
 * Of those, the bytes decoded on their own (suffixes with non-ASCII bytes,
 * which cannot share the decoding of their whole string); each byte may
 * become a two-byte character, so this bounds their memory to 32 MiB for
 * any table under 4 MiB.
 */
const DECODE_BUDGET_FLOOR = 16 * 1024 * 1024;

/**
 * The largest kernel ELF read: a Zephyr image with full debug information is
 * tens of MiB; larger files are refused before any read.
 */
export const MAX_ELF_BYTES = 1 << 30;

const hex = (n: bigint | number): string => `0x${n.toString(16)}`;

/**
 * The names of a string table, decoded as pyelftools decodes them (UTF-8,
 * invalid bytes replaced, a leading BOM kept).
 *
 * Names may overlap: a name offset can point into the middle of another name
 * (suffix sharing, or a hostile file with thousands of offsets into one long
 * string). Each NUL-terminated string of the table is decoded once, and a
 * name that is an ASCII suffix of it is taken as a substring of that one
 * decoding, which V8 keeps as a slice sharing its characters: memory stays
 * proportional to the table, not to the sum of the names' lengths. Only a
 * suffix with non-ASCII bytes (which may not start on a character boundary)
 * is decoded on its own. Overlapping names count against a budget (their
 * total length), so what the names add up to stays bounded too.
 */
class NameTable {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  /** Decoded names by offset. */
  private readonly byOffset = new Map<number, string>([[0, '']]);
  /** Each whole string by the offset of its terminating NUL. */
  private readonly wholeByEnd = new Map<number, { readonly start: number; readonly text: string; readonly lastNonAscii: number }>();
  private budget: number;
  private decodeBudget: number;

  constructor(private readonly strtab: Uint8Array, private readonly fail: (problem: string) => InputError) {
    this.budget = Math.max(NAME_BUDGET_FLOOR, 4 * strtab.length);
    this.decodeBudget = Math.max(DECODE_BUDGET_FLOOR, 4 * strtab.length);
  }

  at(offset: number, symbol: number): string {
    const known = this.byOffset.get(offset);
    if (known !== undefined) return known;
    const { strtab } = this;
    if (offset >= strtab.length) throw this.fail(`symbol ${symbol}: name offset ${offset} is outside its string table (${strtab.length} bytes)`);
    // Scanning is bounded too: a name that is not its string's start is charged its length below.
    const end = strtab.indexOf(0, offset);
    if (end < 0) throw this.fail(`symbol ${symbol}: name at offset ${offset} is not NUL-terminated within its string table`);
    const whole = this.wholeEndingAt(end);
    let name = whole.text;
    if (offset !== whole.start) {
      // Shared or not, the names handed out stay bounded in total: whoever reads them reads each.
      this.budget -= end - offset;
      if (this.budget < 0) throw this.fail('symbol names overlap so much that decoding them would exhaust memory');
      if (offset > whole.lastNonAscii) name = whole.text.substring(whole.text.length - (end - offset));
      else {
        this.decodeBudget -= end - offset;
        if (this.decodeBudget < 0) throw this.fail('symbol names overlap so much that decoding them would exhaust memory');
        name = this.decoder.decode(strtab.subarray(offset, end));
      }
    }
    this.byOffset.set(offset, name);
    return name;
  }

  /** The whole string (from after the previous NUL) that ends at the NUL at `end`. */
  private wholeEndingAt(end: number) {
    let whole = this.wholeByEnd.get(end);
    if (whole) return whole;
    const { strtab } = this;
    const start = end === 0 ? 0 : strtab.lastIndexOf(0, end - 1) + 1;
    let lastNonAscii = -1;
    for (let i = end - 1; i >= start; i--) {
      if (strtab[i]! >= 0x80) {
        lastNonAscii = i;
        break;
      }
    }
    whole = { start, text: this.decoder.decode(strtab.subarray(start, end)), lastNonAscii };
    this.wholeByEnd.set(end, whole);
    return whole;
  }
}

/** A byte range of the file, known to lie inside it. */
interface Extent {
  readonly start: number;
  readonly size: number;
}

/** Where the section header table starts (inside the file) and how many headers it holds. */
interface SectionTable {
  readonly start: number;
  readonly count: number;
}

/** Parses ELF bytes; `source` names the file in error messages. */
export function parseElf(bytes: Uint8Array, source: string): ElfSymbols {
  return new ElfParser(bytes, source).symbols();
}

/** Reads and parses the ELF file at `path`. */
export function readElf(path: string): ElfSymbols {
  return parseElf(readRegularFile(path), path);
}

/** Parses ELF bytes with their section headers (each name read from the section name table). */
export function parseElfFile(bytes: Uint8Array, source: string): ElfFile {
  const parser = new ElfParser(bytes, source);
  return { ...parser.symbols(), source, sections: parser.sectionHeaders(), bytes };
}

/** Reads and parses the ELF file at `path` with its section headers. */
export function readElfFile(path: string): ElfFile {
  return parseElfFile(readRegularFile(path), path);
}

/** The one section of that name; none, or two of the name, is an InputError naming the file. */
export function sectionNamed(file: ElfFile, name: string): ElfSection {
  const found = file.sections.filter((s) => s.name === name);
  if (found.length === 0) throw new InputError(`${file.source}: no section named ${name}`);
  if (found.length > 1) throw new InputError(`${file.source}: ${found.length} sections are named ${name} (sections ${found.map((s) => s.index).join(', ')}); which holds the tables is ambiguous`);
  return found[0]!;
}

/** A section's bytes as the file holds them; they must lie inside the file, and SHT_NOBITS has none. */
export function sectionContents(file: ElfFile, section: ElfSection): Uint8Array {
  const what = `section ${section.name} (${section.index})`;
  if (section.type === SHT_NOBITS) throw new InputError(`${file.source}: ${what} is SHT_NOBITS: it has no bytes in the file`);
  if (section.offset + section.size > BigInt(file.bytes.byteLength)) {
    throw new InputError(`${file.source}: ${what} out of bounds: ${section.size} bytes at offset ${hex(section.offset)}, file is ${file.bytes.byteLength} bytes`);
  }
  const start = Number(section.offset);
  return file.bytes.subarray(start, start + Number(section.size));
}

/**
 * Whether the file at `path` begins with the ELF magic number. Opened
 * without blocking and read only if it is a regular file, so a FIFO or a
 * device is never waited on; anything unreadable is simply not an ELF here
 * (the caller's reader then says why).
 */
export function hasElfMagic(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    if (!fstatSync(fd).isFile()) return false;
    const head = new Uint8Array(ELF_MAGIC.length);
    const n = readSync(fd, head, 0, head.length, 0);
    return n === head.length && ELF_MAGIC.every((byte, i) => head[i] === byte);
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

class ElfParser {
  private readonly view: DataView;
  private readonly length: number;

  constructor(private readonly bytes: Uint8Array, private readonly source: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
  }

  symbols(): ElfSymbols {
    const layout = this.identify();
    const machine = getSmallField(this.view, 0, layout.header.e_machine);
    const sections = this.sectionTable(layout);
    const symtab = this.firstSymbolTable(layout, sections);
    return { elfClass: layout.elfClass, machine, ...this.readSymbols(layout, sections, symtab) };
  }

  /**
   * Every section header with its name. The name table is e_shstrndx's
   * section (section 0's sh_link under SHN_XINDEX), a string table inside the
   * file whose last byte is NUL, so every name in it ends within it; each
   * distinct name offset is decoded once and their total length is capped,
   * so memory stays proportional to the table.
   */
  sectionHeaders(): ElfSection[] {
    const layout = this.identify();
    const sections = this.sectionTable(layout);
    const sh = layout.section;
    let nameIndex = getSmallField(this.view, 0, layout.header.e_shstrndx);
    if (nameIndex === SHN_XINDEX) nameIndex = getSmallField(this.view, sections.start, sh.sh_link);
    if (nameIndex === SHN_UNDEF) throw this.fail('no section names: e_shstrndx is 0 (SHN_UNDEF)');
    if (nameIndex >= sections.count) throw this.fail(`section name table ${nameIndex} (e_shstrndx) is past the ${sections.count} sections`);
    const namesBase = this.sectionBase(layout, sections, nameIndex);
    const namesType = getSmallField(this.view, namesBase, sh.sh_type);
    if (namesType !== SHT_STRTAB) throw this.fail(`section name table ${nameIndex} (e_shstrndx) has type ${namesType}, not SHT_STRTAB`);
    const namesExtent = this.sectionExtent(layout, namesBase, `section name table (section ${nameIndex})`);
    const names = this.bytes.subarray(namesExtent.start, namesExtent.start + namesExtent.size);
    if (names.length === 0 || names[names.length - 1] !== 0) throw this.fail(`section name table (section ${nameIndex}) does not end with a NUL`);
    const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    const decoded = new Map<number, string>();
    // Distinct offsets into one long name could make the scans quadratic; their total length is capped like symbol names'.
    let budget = Math.max(NAME_BUDGET_FLOOR, 4 * names.length);
    const out: ElfSection[] = [];
    const wordEnd = 1n << BigInt(layout.elfClass);
    for (let index = 0; index < sections.count; index++) {
      const base = this.sectionBase(layout, sections, index);
      const nameOffset = getSmallField(this.view, base, sh.sh_name);
      if (nameOffset >= names.length) throw this.fail(`section ${index}: name offset ${nameOffset} is outside the section name table (${names.length} bytes)`);
      // Each distinct offset is decoded once.
      let name = decoded.get(nameOffset);
      if (name === undefined) {
        const end = names.indexOf(0, nameOffset);
        budget -= end - nameOffset + 1;
        if (budget < 0) throw this.fail('section names overlap so much that reading them would exhaust memory');
        name = decoder.decode(names.subarray(nameOffset, end));
        decoded.set(nameOffset, name);
      }
      const addr = getField(this.view, base, sh.sh_addr);
      const size = getField(this.view, base, sh.sh_size);
      const type = getSmallField(this.view, base, sh.sh_type);
      if (index > 0 && type !== SHT_NOBITS && addr + size > wordEnd) {
        throw this.fail(`section ${name} (${index}) at ${hex(addr)} with ${size} bytes ends past the ELF${layout.elfClass} address space`);
      }
      out.push({ index, name, type, flags: getField(this.view, base, sh.sh_flags), addr, offset: getField(this.view, base, sh.sh_offset), size });
    }
    return out;
  }

  private fail(problem: string): InputError {
    return new InputError(`${this.source}: ${problem}`);
  }

  /** Checks the identification bytes and that the whole file header is present. */
  private identify(): ElfLayout {
    const { bytes, length } = this;
    if (length === 0) throw this.fail('empty file');
    const magicBytes = Math.min(length, ELF_MAGIC.length);
    for (let i = 0; i < magicBytes; i++) {
      if (bytes[i] !== ELF_MAGIC[i]) throw this.fail('not an ELF file (bad magic number)');
    }
    if (length < EI_NIDENT) throw this.fail(`truncated ELF header: the file is only ${length} bytes`);
    const identClass = bytes[EI_CLASS]!;
    const layout = identClass === ELFCLASS32 ? ELF32_LAYOUT : identClass === ELFCLASS64 ? ELF64_LAYOUT : undefined;
    if (!layout) throw this.fail(`unknown ELF class ${identClass} (EI_CLASS must be 1 for ELF32 or 2 for ELF64)`);
    const data = bytes[EI_DATA]!;
    if (data === ELFDATA2MSB) throw this.fail('big-endian ELF is not supported (x86 is little-endian)');
    if (data !== ELFDATA2LSB) throw this.fail(`unknown data encoding ${data} (EI_DATA must be 1, little-endian)`);
    if (length < layout.header.size) {
      throw this.fail(`truncated ELF header: ELF${layout.elfClass} needs ${layout.header.size} bytes, the file has ${length}`);
    }
    return layout;
  }

  /** The section header table, bounds-checked as a whole; count taken from section 0 when e_shnum is 0. */
  private sectionTable(layout: ElfLayout): SectionTable {
    const { header, section } = layout;
    const shoff = getField(this.view, 0, header.e_shoff);
    const entsize = getSmallField(this.view, 0, header.e_shentsize);
    let count: bigint = BigInt(getSmallField(this.view, 0, header.e_shnum));
    if (shoff === 0n) throw this.fail('no symbol table: the file has no section headers (e_shoff is 0)');
    if (entsize !== section.size) {
      throw this.fail(`bad e_shentsize ${entsize}: ELF${layout.elfClass} section headers are ${section.size} bytes`);
    }
    if (count === 0n) {
      // Extended numbering: the real count is in section 0's sh_size.
      const first = this.extent(shoff, BigInt(section.size));
      if (!first) throw this.fail(`section header table out of bounds: offset ${hex(shoff)}, file is ${this.length} bytes`);
      count = getField(this.view, first.start, section.sh_size);
      if (count === 0n) throw this.fail('no symbol table: the file has no sections');
    }
    const table = this.extent(shoff, count * BigInt(section.size));
    if (!table) {
      throw this.fail(
        `section header table out of bounds: ${count} headers of ${section.size} bytes at offset ${hex(shoff)}, file is ${this.length} bytes`,
      );
    }
    return { start: table.start, count: Number(count) };
  }

  private sectionBase(layout: ElfLayout, sections: SectionTable, index: number): number {
    return sections.start + index * layout.section.size;
  }

  /** The first SHT_SYMTAB / SHT_DYNSYM section in section-header order, as pyelftools' iteration finds it. */
  private firstSymbolTable(layout: ElfLayout, sections: SectionTable): number {
    for (let i = 0; i < sections.count; i++) {
      const type = getSmallField(this.view, this.sectionBase(layout, sections, i), layout.section.sh_type);
      if (SYMBOL_TABLE_TYPES.has(type)) return i;
    }
    throw this.fail(`no symbol table: none of the ${sections.count} sections is SHT_SYMTAB or SHT_DYNSYM`);
  }

  private readSymbols(layout: ElfLayout, sections: SectionTable, symtabIndex: number): { symbols: Map<string, bigint>; sizes: Map<string, bigint> } {
    const { view } = this;
    const sh = layout.section;
    const st = layout.symbol;
    const symtabBase = this.sectionBase(layout, sections, symtabIndex);
    const what = `symbol table (section ${symtabIndex})`;

    const entsize = getField(view, symtabBase, sh.sh_entsize);
    if (entsize !== BigInt(st.size)) {
      throw this.fail(`bad sh_entsize ${entsize} for the ${what}: ELF${layout.elfClass} symbols are ${st.size} bytes`);
    }
    const symtab = this.sectionExtent(layout, symtabBase, what);
    if (symtab.size % st.size !== 0) {
      throw this.fail(`${what} size ${symtab.size} is not a multiple of its entry size ${st.size}`);
    }

    const link = getSmallField(view, symtabBase, sh.sh_link);
    if (link >= sections.count) {
      throw this.fail(`${what} links string table section ${link}, but there are only ${sections.count} sections`);
    }
    const strtabBase = this.sectionBase(layout, sections, link);
    const strtabType = getSmallField(view, strtabBase, sh.sh_type);
    if (strtabType !== SHT_STRTAB) {
      throw this.fail(`${what} links section ${link} of type ${strtabType}, which is not a string table (SHT_STRTAB)`);
    }
    const strtabExtent = this.sectionExtent(layout, strtabBase, `string table (section ${link})`);
    const strtab = this.bytes.subarray(strtabExtent.start, strtabExtent.start + strtabExtent.size);

    const names = new NameTable(strtab, (problem) => this.fail(problem));
    const symbols = new Map<string, bigint>();
    const sizes = new Map<string, bigint>();
    const count = symtab.size / st.size;
    for (let i = 0; i < count; i++) {
      const base = symtab.start + i * st.size;
      const name = names.at(getSmallField(view, base, st.st_name), i);
      symbols.set(name, getField(view, base, st.st_value));
      if (!sizes.has(name)) sizes.set(name, getField(view, base, st.st_size));
    }
    return { symbols, sizes };
  }

  /** A section's contents, which must lie inside the file. */
  private sectionExtent(layout: ElfLayout, base: number, what: string): Extent {
    const offset = getField(this.view, base, layout.section.sh_offset);
    const size = getField(this.view, base, layout.section.sh_size);
    const extent = this.extent(offset, size);
    if (!extent) {
      throw this.fail(`${what} out of bounds: ${size} bytes at offset ${hex(offset)}, file is ${this.length} bytes`);
    }
    return extent;
  }

  /** [offset, offset + size) as numbers when it lies inside the file, else undefined. */
  private extent(offset: bigint, size: bigint): Extent | undefined {
    if (offset + size > BigInt(this.length)) return undefined;
    return { start: Number(offset), size: Number(size) };
  }
}

/** The bytes of a regular file; anything else (missing, a directory, a device, a FIFO, too large) is an InputError. */
function readRegularFile(path: string): Uint8Array {
  return readInputFile(path, { maxBytes: MAX_ELF_BYTES, what: 'an ELF file' });
}
