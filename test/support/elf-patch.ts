/**
 * Byte-level surgery on well-formed ELF images (the writer's or ld's) for
 * reader tests and fuzzing: where each header, section and symbol field sits,
 * setting fields, and re-emitting the section header table with changes.
 */
import {
  EI_CLASS, ELFCLASS64, ELF32_LAYOUT, ELF64_LAYOUT, SHT_DYNSYM, SHT_SYMTAB,
  getField, setField, type ElfLayout, type Field, type SectionHeaderLayout,
} from '../../src/elf/format.js';

export type SectionField = Exclude<keyof SectionHeaderLayout, 'size'>;
const SECTION_FIELDS: readonly SectionField[] = [
  'sh_name', 'sh_type', 'sh_flags', 'sh_addr', 'sh_offset', 'sh_size', 'sh_link', 'sh_info', 'sh_addralign', 'sh_entsize',
];

/** A section header's field values. */
export type SectionHeader = Record<SectionField, bigint>;

export function layoutOfImage(bytes: Uint8Array): ElfLayout {
  return bytes[EI_CLASS] === ELFCLASS64 ? ELF64_LAYOUT : ELF32_LAYOUT;
}

const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Where the section header table is and how many entries it has (plain e_shnum; the images here have no extended count). */
export function sectionTable(bytes: Uint8Array): { readonly layout: ElfLayout; readonly shoff: number; readonly count: number } {
  const layout = layoutOfImage(bytes);
  const view = viewOf(bytes);
  return {
    layout,
    shoff: Number(getField(view, 0, layout.header.e_shoff)),
    count: Number(getField(view, 0, layout.header.e_shnum)),
  };
}

/** Byte offset of section `index`'s header. */
export function sectionBase(bytes: Uint8Array, index: number): number {
  const { layout, shoff } = sectionTable(bytes);
  return shoff + index * layout.section.size;
}

export function readSectionHeaders(bytes: Uint8Array): SectionHeader[] {
  const { layout, shoff, count } = sectionTable(bytes);
  const view = viewOf(bytes);
  return Array.from({ length: count }, (_, i) =>
    Object.fromEntries(SECTION_FIELDS.map((name) => [name, getField(view, shoff + i * layout.section.size, layout.section[name])])) as SectionHeader,
  );
}

/** Index of the first SHT_SYMTAB or SHT_DYNSYM section. */
export function symbolTableIndex(bytes: Uint8Array): number {
  const index = readSectionHeaders(bytes).findIndex((s) => s.sh_type === BigInt(SHT_SYMTAB) || s.sh_type === BigInt(SHT_DYNSYM));
  if (index < 0) throw new Error('image has no symbol table');
  return index;
}

/** A copy of `bytes` with one field (at `base` + the field's offset) set to `value`. */
export function patched(bytes: Uint8Array, base: number, field: Field, value: bigint | number): Uint8Array {
  const copy = new Uint8Array(bytes); // a copy even when given a Buffer, whose slice() is a view
  setField(viewOf(copy), base, field, value);
  return copy;
}

/** A copy with the file header field set. */
export function withHeaderField(bytes: Uint8Array, name: keyof Omit<ElfLayout['header'], 'size'>, value: bigint | number): Uint8Array {
  return patched(bytes, 0, layoutOfImage(bytes).header[name], value);
}

/** A copy with a field of section `index`'s header set. */
export function withSectionField(bytes: Uint8Array, index: number, name: SectionField, value: bigint | number): Uint8Array {
  return patched(bytes, sectionBase(bytes, index), layoutOfImage(bytes).section[name], value);
}

/**
 * A copy with a new section header table (the given headers, in order)
 * appended at the end of the file; e_shoff and e_shnum point at it. The old
 * table stays in place as unreferenced bytes.
 */
export function withSectionTable(bytes: Uint8Array, headers: readonly SectionHeader[], shstrndx = 0): Uint8Array {
  const layout = layoutOfImage(bytes);
  const shoff = Math.ceil(bytes.length / layout.wordSize) * layout.wordSize;
  const out = new Uint8Array(shoff + headers.length * layout.section.size);
  out.set(bytes);
  const view = viewOf(out);
  headers.forEach((header, i) => {
    for (const name of SECTION_FIELDS) setField(view, shoff + i * layout.section.size, layout.section[name], header[name]);
  });
  setField(view, 0, layout.header.e_shoff, shoff);
  setField(view, 0, layout.header.e_shnum, headers.length);
  setField(view, 0, layout.header.e_shstrndx, shstrndx);
  return out;
}

/** A field of the image: where it is, how wide, and what it is. */
export interface FieldSite {
  readonly offset: number;
  readonly width: Field['width'];
  readonly label: string;
}

/**
 * Every file header field, every field of every section header, and the
 * fields of the first `symbolLimit` symbols of the first symbol table.
 */
export function fieldSites(bytes: Uint8Array, symbolLimit = 8): FieldSite[] {
  const { layout, shoff, count } = sectionTable(bytes);
  const sites: FieldSite[] = [];
  const add = (base: number, fields: object, prefix: string) => {
    for (const [name, field] of Object.entries(fields)) {
      if (name !== 'size') sites.push({ offset: base + (field as Field).offset, width: (field as Field).width, label: `${prefix}${name}` });
    }
  };
  add(0, layout.header, '');
  for (let i = 0; i < count; i++) add(shoff + i * layout.section.size, layout.section, `section ${i} `);
  const symtab = readSectionHeaders(bytes)[symbolTableIndex(bytes)]!;
  const symbols = Math.min(symbolLimit, Number(symtab.sh_size) / layout.symbol.size);
  for (let i = 0; i < symbols; i++) add(Number(symtab.sh_offset) + i * layout.symbol.size, layout.symbol, `symbol ${i} `);
  return sites;
}
