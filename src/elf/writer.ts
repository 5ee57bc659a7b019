/**
 * Writes a minimal executable ELF whose content is a symbol table of
 * absolute symbols, the way `ld --defsym NAME=VALUE` defines them: enough for
 * the generator, for tests and for the demo, without a toolchain; and,
 * optionally, sections with contents at given addresses (a final kernel
 * image's `pagetables`), which symbols may be defined in.
 *
 * File layout: ELF header, .symtab, .strtab, .shstrtab, the content sections
 * (each at a file offset congruent to its address modulo its alignment, as a
 * linker places them), section header table (sections: null, .symtab,
 * .strtab, .shstrtab, then the content sections). No program headers.
 */
import { InputError } from '../core/errors.js';
import {
  EI_CLASS, EI_DATA, EI_VERSION, ELF_MAGIC, ELFDATA2LSB, EM_386, EM_X86_64, ET_EXEC, EV_CURRENT, SHF_ALLOC, SHN_ABS,
  SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB, STB_GLOBAL, STT_NOTYPE,
  layoutOf, setField, type ElfLayout,
} from './format.js';

export interface ElfSymbolDef {
  readonly name: string;
  readonly value: bigint;
  /** st_size; 0 when not given */
  readonly size?: bigint;
  /** The content section the symbol is defined in (by name); absolute when not given. */
  readonly section?: string;
}

/** A section with bytes, as a linker leaves one in an image. */
export interface ElfSectionDef {
  readonly name: string;
  /** sh_addr */
  readonly addr: bigint;
  readonly contents: Uint8Array;
  /** sh_flags; SHF_ALLOC when not given */
  readonly flags?: bigint;
  /** sh_addralign; 1 when not given */
  readonly align?: number;
}

export interface ElfImage {
  readonly elfClass: 32 | 64;
  /** written in this order after the null symbol; a repeated name is written again */
  readonly symbols: readonly ElfSymbolDef[];
  /** content sections, after the symbol and string tables, in this order */
  readonly sections?: readonly ElfSectionDef[];
}

const SYMTAB_INDEX = 1;
const STRTAB_INDEX = 2;
const SHSTRTAB_INDEX = 3;
const FIRST_CONTENT_INDEX = 4;

/** Appends NUL-terminated strings, each stored once; offset 0 is the empty string. */
class StringTable {
  private readonly chunks: Uint8Array[] = [new Uint8Array(1)];
  private readonly offsets = new Map<string, number>([['', 0]]);
  private size = 1;
  private readonly encoder = new TextEncoder();

  add(name: string): number {
    const known = this.offsets.get(name);
    if (known !== undefined) return known;
    const encoded = this.encoder.encode(name);
    const offset = this.size;
    this.chunks.push(encoded, new Uint8Array(1));
    this.size += encoded.length + 1;
    this.offsets.set(name, offset);
    return offset;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

const alignUp = (n: number, to: number): number => Math.ceil(n / to) * to;

export function writeElf(image: ElfImage): Uint8Array {
  const { elfClass, symbols } = image;
  const contentSections = image.sections ?? [];
  if (elfClass !== 32 && elfClass !== 64) throw new InputError(`ELF class must be 32 or 64, not ${String(elfClass)}`);
  const layout = layoutOf(elfClass);
  const limit = 1n << BigInt(elfClass);
  for (const { name, value } of symbols) {
    if (value < 0n || value >= limit) {
      throw new InputError(`symbol ${name}: value ${value < 0n ? value : `0x${value.toString(16)}`} does not fit ELF${elfClass}`);
    }
    if (name.includes('\0')) throw new InputError(`symbol ${JSON.stringify(name)}: a name cannot contain NUL`);
  }
  const sectionIndex = new Map<string, number>();
  contentSections.forEach((sec, i) => {
    if (sec.addr < 0n || sec.addr + BigInt(sec.contents.length) > limit) throw new InputError(`section ${sec.name}: ${sec.contents.length} bytes at 0x${sec.addr.toString(16)} do not fit ELF${elfClass}`);
    if (sec.name.includes('\0') || sectionIndex.has(sec.name)) throw new InputError(`section ${JSON.stringify(sec.name)}: a name must be unique and without NUL`);
    sectionIndex.set(sec.name, FIRST_CONTENT_INDEX + i);
  });
  for (const { name, section } of symbols) {
    if (section !== undefined && !sectionIndex.has(section)) throw new InputError(`symbol ${name}: no section named ${section}`);
  }

  const strtab = new StringTable();
  const nameOffsets = symbols.map((s) => strtab.add(s.name));
  const strtabBytes = strtab.bytes();
  const shstrtab = new StringTable();
  const sectionNames = [0, shstrtab.add('.symtab'), shstrtab.add('.strtab'), shstrtab.add('.shstrtab'), ...contentSections.map((c) => shstrtab.add(c.name))];
  const shstrtabBytes = shstrtab.bytes();

  const symtabOffset = alignUp(layout.header.size, layout.wordSize);
  const symtabSize = (symbols.length + 1) * layout.symbol.size;
  const strtabOffset = symtabOffset + symtabSize;
  const shstrtabOffset = strtabOffset + strtabBytes.length;
  let contentEnd = shstrtabOffset + shstrtabBytes.length;
  const contentOffsets = contentSections.map((sec) => {
    // The file offset agrees with the address modulo a page, as in a linked image.
    const pageOffset = Number(sec.addr % 4096n);
    let offset = alignUp(contentEnd, 4096) + pageOffset;
    if (offset - 4096 >= contentEnd) offset -= 4096;
    contentEnd = offset + sec.contents.length;
    return offset;
  });
  const sectionCount = FIRST_CONTENT_INDEX + contentSections.length;
  const shoff = alignUp(contentEnd, layout.wordSize);
  const out = new Uint8Array(shoff + sectionCount * layout.section.size);
  const view = new DataView(out.buffer);

  writeHeader(view, layout, shoff, sectionCount);

  // Symbol 0 is the all-zero null symbol; every other one is global, absolute, untyped.
  const st = layout.symbol;
  symbols.forEach((symbol, i) => {
    const base = symtabOffset + (i + 1) * st.size;
    setField(view, base, st.st_name, nameOffsets[i]!);
    setField(view, base, st.st_value, symbol.value);
    if (symbol.size !== undefined) setField(view, base, st.st_size, symbol.size);
    setField(view, base, st.st_info, (STB_GLOBAL << 4) | STT_NOTYPE);
    setField(view, base, st.st_shndx, symbol.section !== undefined ? sectionIndex.get(symbol.section)! : SHN_ABS);
  });
  out.set(strtabBytes, strtabOffset);
  out.set(shstrtabBytes, shstrtabOffset);
  contentSections.forEach((sec, i) => out.set(sec.contents, contentOffsets[i]!));

  const sh = layout.section;
  const section = (index: number, type: number, offset: number, size: number, extra: Partial<Record<'link' | 'info' | 'align' | 'entsize', number>> & { addr?: bigint; flags?: bigint }) => {
    const base = shoff + index * sh.size;
    setField(view, base, sh.sh_name, sectionNames[index]!);
    setField(view, base, sh.sh_type, type);
    setField(view, base, sh.sh_flags, extra.flags ?? 0n);
    setField(view, base, sh.sh_addr, extra.addr ?? 0n);
    setField(view, base, sh.sh_offset, offset);
    setField(view, base, sh.sh_size, size);
    setField(view, base, sh.sh_link, extra.link ?? 0);
    setField(view, base, sh.sh_info, extra.info ?? 0);
    setField(view, base, sh.sh_addralign, extra.align ?? 1);
    setField(view, base, sh.sh_entsize, extra.entsize ?? 0);
  };
  // sh_info of a symbol table: index of its first non-local symbol (all but the null symbol are global).
  section(SYMTAB_INDEX, SHT_SYMTAB, symtabOffset, symtabSize, { link: STRTAB_INDEX, info: 1, align: layout.wordSize, entsize: st.size });
  section(STRTAB_INDEX, SHT_STRTAB, strtabOffset, strtabBytes.length, {});
  section(SHSTRTAB_INDEX, SHT_STRTAB, shstrtabOffset, shstrtabBytes.length, {});
  contentSections.forEach((sec, i) => {
    section(FIRST_CONTENT_INDEX + i, SHT_PROGBITS, contentOffsets[i]!, sec.contents.length, { addr: sec.addr, flags: sec.flags ?? BigInt(SHF_ALLOC), align: sec.align ?? 1 });
  });
  return out;
}

function writeHeader(view: DataView, layout: ElfLayout, shoff: number, sectionCount: number): void {
  ELF_MAGIC.forEach((byte, i) => view.setUint8(i, byte));
  view.setUint8(EI_CLASS, layout.identClass);
  view.setUint8(EI_DATA, ELFDATA2LSB);
  view.setUint8(EI_VERSION, EV_CURRENT);
  const h = layout.header;
  setField(view, 0, h.e_type, ET_EXEC);
  setField(view, 0, h.e_machine, layout.elfClass === 64 ? EM_X86_64 : EM_386);
  setField(view, 0, h.e_version, EV_CURRENT);
  setField(view, 0, h.e_shoff, shoff);
  setField(view, 0, h.e_ehsize, h.size);
  setField(view, 0, h.e_shentsize, layout.section.size);
  setField(view, 0, h.e_shnum, sectionCount);
  setField(view, 0, h.e_shstrndx, SHSTRTAB_INDEX);
}
