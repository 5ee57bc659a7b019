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

const f = (offset: number, width: Field['width']): Field => ({ offset, width });

export const ELF32_LAYOUT: ElfLayout = {
  elfClass: 32,
  identClass: ELFCLASS32,
  wordSize: 4,
  header: {
    size: 52,
    e_type: f(16, 2), e_machine: f(18, 2), e_version: f(20, 4), e_entry: f(24, 4), e_phoff: f(28, 4),
    e_shoff: f(32, 4), e_flags: f(36, 4), e_ehsize: f(40, 2), e_phentsize: f(42, 2), e_phnum: f(44, 2),
    e_shentsize: f(46, 2), e_shnum: f(48, 2), e_shstrndx: f(50, 2),
  },
  section: {
    size: 40,
    sh_name: f(0, 4), sh_type: f(4, 4), sh_flags: f(8, 4), sh_addr: f(12, 4), sh_offset: f(16, 4),
    sh_size: f(20, 4), sh_link: f(24, 4), sh_info: f(28, 4), sh_addralign: f(32, 4), sh_entsize: f(36, 4),
  },
  symbol: {
    size: 16,
    st_name: f(0, 4), st_value: f(4, 4), st_size: f(8, 4), st_info: f(12, 1), st_other: f(13, 1), st_shndx: f(14, 2),
  },
};

export const ELF64_LAYOUT: ElfLayout = {
  elfClass: 64,
  identClass: ELFCLASS64,
  wordSize: 8,
  header: {
    size: 64,
    e_type: f(16, 2), e_machine: f(18, 2), e_version: f(20, 4), e_entry: f(24, 8), e_phoff: f(32, 8),
    e_shoff: f(40, 8), e_flags: f(48, 4), e_ehsize: f(52, 2), e_phentsize: f(54, 2), e_phnum: f(56, 2),
    e_shentsize: f(58, 2), e_shnum: f(60, 2), e_shstrndx: f(62, 2),
  },
  section: {
    size: 64,
    sh_name: f(0, 4), sh_type: f(4, 4), sh_flags: f(8, 8), sh_addr: f(16, 8), sh_offset: f(24, 8),
    sh_size: f(32, 8), sh_link: f(40, 4), sh_info: f(44, 4), sh_addralign: f(48, 8), sh_entsize: f(56, 8),
  },
  symbol: {
    size: 24,
    st_name: f(0, 4), st_info: f(4, 1), st_other: f(5, 1), st_shndx: f(6, 2), st_value: f(8, 8), st_size: f(16, 8),
  },
};

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
