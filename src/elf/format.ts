/**
 * The parts of the ELF format (System V gABI) this project reads and writes:
 * identification bytes, constants, and the byte layout of the file header,
 * section headers and symbols for each class. All multi-byte fields are
 * little-endian here; big-endian files are refused by the reader.
 */

export type ElfClass = 32 | 64;

export const ELF_MAGIC: readonly number[] = [0x7f, 0x45, 0x4c, 0x46]; // "\x7fELF"
export const EI_CLASS = 4;
export const EI_DATA = 5;
export const EI_VERSION = 6;
export const EI_NIDENT = 16;

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;
export const EV_CURRENT = 1;

export const ET_EXEC = 2;
export const EM_386 = 3;
export const EM_X86_64 = 62;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
/** Solaris' local dynamic symbols; pyelftools treats it as a symbol table on every machine. */
export const SHT_SUNW_LDYNSYM = 0x6ffffff3;

export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
/** e_shstrndx when the real index is in section 0's sh_link. */
export const SHN_XINDEX = 0xffff;

/** sh_flags bits */
export const SHF_WRITE = 1;
export const SHF_ALLOC = 2;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STT_NOTYPE = 0;

/** Where a field sits in its record and how many bytes it takes. */
export interface Field {
  readonly offset: number;
  readonly width: 1 | 2 | 4 | 8;
}

export interface FileHeaderLayout {
  readonly size: number;
  readonly e_type: Field;
  readonly e_machine: Field;
  readonly e_version: Field;
  readonly e_entry: Field;
  readonly e_phoff: Field;
  readonly e_shoff: Field;
  readonly e_flags: Field;
  readonly e_ehsize: Field;
  readonly e_phentsize: Field;
  readonly e_phnum: Field;
  readonly e_shentsize: Field;
  readonly e_shnum: Field;
  readonly e_shstrndx: Field;
}

export interface SectionHeaderLayout {
  readonly size: number;
  readonly sh_name: Field;
  readonly sh_type: Field;
  readonly sh_flags: Field;
  readonly sh_addr: Field;
  readonly sh_offset: Field;
  readonly sh_size: Field;
  readonly sh_link: Field;
  readonly sh_info: Field;
  readonly sh_addralign: Field;
  readonly sh_entsize: Field;
}

export interface SymbolLayout {
  readonly size: number;
  readonly st_name: Field;
  readonly st_value: Field;
  readonly st_size: Field;
  readonly st_info: Field;
  readonly st_other: Field;
  readonly st_shndx: Field;
}

/** The record layouts of one ELF class. */
export interface ElfLayout {
  readonly elfClass: ElfClass;
  /** EI_CLASS value */
  readonly identClass: number;
  /** bytes in an address, offset or Xword field */
  readonly wordSize: 4 | 8;
  readonly header: FileHeaderLayout;
  readonly section: SectionHeaderLayout;
  readonly symbol: SymbolLayout;
}

type Width = Field['width'];
/** A field's offset and width in an ELF32 record, then in an ELF64 one: the gABI's two tables side by side. */
type Placement = readonly [offset32: number, width32: Width, offset64: number, width64: Width];
/** A record's size in each class and its fields' placements. */
type RecordTable<T> = { readonly size: readonly [number, number] } & { readonly [K in Exclude<keyof T, 'size'>]: Placement };

const FILE_HEADER: RecordTable<FileHeaderLayout> = {
  size: [52, 64],
  e_type: [16, 2, 16, 2], e_machine: [18, 2, 18, 2], e_version: [20, 4, 20, 4], e_entry: [24, 4, 24, 8], e_phoff: [28, 4, 32, 8],
  e_shoff: [32, 4, 40, 8], e_flags: [36, 4, 48, 4], e_ehsize: [40, 2, 52, 2], e_phentsize: [42, 2, 54, 2], e_phnum: [44, 2, 56, 2],
  e_shentsize: [46, 2, 58, 2], e_shnum: [48, 2, 60, 2], e_shstrndx: [50, 2, 62, 2],
};

const SECTION_HEADER: RecordTable<SectionHeaderLayout> = {
  size: [40, 64],
  sh_name: [0, 4, 0, 4], sh_type: [4, 4, 4, 4], sh_flags: [8, 4, 8, 8], sh_addr: [12, 4, 16, 8], sh_offset: [16, 4, 24, 8],
  sh_size: [20, 4, 32, 8], sh_link: [24, 4, 40, 4], sh_info: [28, 4, 44, 4], sh_addralign: [32, 4, 48, 8], sh_entsize: [36, 4, 56, 8],
};

// ELF64 moves st_info, st_other and st_shndx before the 8-byte value and size.
const SYMBOL: RecordTable<SymbolLayout> = {
  size: [16, 24],
  st_name: [0, 4, 0, 4], st_value: [4, 4, 8, 8], st_size: [8, 4, 16, 8], st_info: [12, 1, 4, 1], st_other: [13, 1, 5, 1], st_shndx: [14, 2, 6, 2],
};

/** One class's column of a record table. */
function recordLayout<T>(table: RecordTable<T>, elfClass: ElfClass): T {
  const wide = elfClass === 64;
  const { size, ...fields } = table;
  const out: Record<string, number | Field> = { size: size[wide ? 1 : 0] };
  for (const [name, [offset32, width32, offset64, width64]] of Object.entries<Placement>(fields)) {
    out[name] = wide ? { offset: offset64, width: width64 } : { offset: offset32, width: width32 };
  }
  return out as T;
}

const classLayout = (elfClass: ElfClass): ElfLayout => ({
  elfClass,
  identClass: elfClass === 64 ? ELFCLASS64 : ELFCLASS32,
  wordSize: elfClass === 64 ? 8 : 4,
  header: recordLayout(FILE_HEADER, elfClass),
  section: recordLayout(SECTION_HEADER, elfClass),
  symbol: recordLayout(SYMBOL, elfClass),
});

export const ELF32_LAYOUT: ElfLayout = classLayout(32);
export const ELF64_LAYOUT: ElfLayout = classLayout(64);

export function layoutOf(elfClass: ElfClass): ElfLayout {
  return elfClass === 64 ? ELF64_LAYOUT : ELF32_LAYOUT;
}

/** Reads an unsigned little-endian field; the caller has checked it lies inside the view. */
export function getField(view: DataView, base: number, field: Field): bigint {
  const at = base + field.offset;
  switch (field.width) {
    case 1: return BigInt(view.getUint8(at));
    case 2: return BigInt(view.getUint16(at, true));
    case 4: return BigInt(view.getUint32(at, true));
    case 8: return view.getBigUint64(at, true);
  }
}

/** Reads an unsigned little-endian field of at most 4 bytes as a number. */
export function getSmallField(view: DataView, base: number, field: Field): number {
  const at = base + field.offset;
  switch (field.width) {
    case 1: return view.getUint8(at);
    case 2: return view.getUint16(at, true);
    case 4: return view.getUint32(at, true);
    case 8: throw new TypeError('an 8-byte field needs getField');
  }
}

/** Writes an unsigned little-endian field, keeping the low `width` bytes of `value`. */
export function setField(view: DataView, base: number, field: Field, value: bigint | number): void {
  const at = base + field.offset;
  const v = BigInt.asUintN(field.width * 8, BigInt(value));
  switch (field.width) {
    case 1: view.setUint8(at, Number(v)); break;
    case 2: view.setUint16(at, Number(v), true); break;
    case 4: view.setUint32(at, Number(v), true); break;
    case 8: view.setBigUint64(at, v, true); break;
  }
}
