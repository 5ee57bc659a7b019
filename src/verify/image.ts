/**
 * A final kernel image (zephyr.elf) as the verifier's input: the table block
 * is read from the image's `pagetables` section (zero padding up to
 * `z_x86_pagetables_start`, then the tables to the section's end, the top
 * level last), its mode, era and physical address from the same image's
 * symbols. Also the checks only an image can fail: where the kernel loads CR3
 * from, whether the tables fill their section, and whether the placeholder of
 * the first link pass has the tables' size and address.
 */
import { InputError } from '../core/errors.js';
import { hex } from '../core/text.js';
import { readElfFile, sectionContents, sectionNamed, type ElfFile, type ElfSection } from '../elf/reader.js';
import { detectZephyrEra, type ZephyrEra } from '../elf/zephyr-era.js';
import type { TablePlacement } from './model.js';
import { PAGING_MODE_RECORDS } from './paging-modes.js';
import { pagingModeOf } from './spec.js';
import { MAX_TABLE_BYTES } from './files.js';
import { tableBlockProblem } from './walker.js';

/** The section a Zephyr x86 image carries its boot page tables in. */
export const TABLES_SECTION = 'pagetables';

/** The image's tables and where they sit. */
export interface ImageTables extends TablePlacement {
  readonly source: string;
  /** How reports name the table block: `zephyr.elf:pagetables`. */
  readonly tablesName: string;
  readonly era: ZephyrEra;
  readonly symbols: ReadonlyMap<string, bigint>;
  readonly sizes: ReadonlyMap<string, bigint>;
  readonly section: ElfSection;
  /** z_x86_pagetables_start: the tables' virtual address. */
  readonly tablesVirt: bigint;
  /** Virtual less physical, by the era's rules. */
  readonly virtToPhys: bigint;
  /** Bytes of the section before z_x86_pagetables_start (the linker's alignment padding). */
  readonly padding: Uint8Array;
  /** The tables: from z_x86_pagetables_start to the section's end. */
  readonly tables: Uint8Array;
  /** The whole ELF, for a later swap. */
  readonly elf: ElfFile;
}

/**
 * Virtual less physical for the tables, as each era's script computes their
 * physical address: the seed subtracts CONFIG_KERNEL_VM_BASE -
 * CONFIG_SRAM_BASE_ADDRESS; v2.4 and v2.5 take the symbol as it is; v2.6 and
 * later subtract (CONFIG_KERNEL_VM_BASE + CONFIG_KERNEL_VM_OFFSET) -
 * (CONFIG_SRAM_BASE_ADDRESS + CONFIG_SRAM_OFFSET), the last being 0 when unset.
 */
export function virtToPhysOffset(era: ZephyrEra, symbols: ReadonlyMap<string, bigint>, source: string): bigint {
  const get = (name: string): bigint => {
    const value = symbols.get(name);
    if (value === undefined) throw new InputError(`${source}: required symbol ${name} is missing (the ${era} era reads it to place the tables)`);
    return value;
  };
  switch (era) {
    case 'seed': return get('CONFIG_KERNEL_VM_BASE') - get('CONFIG_SRAM_BASE_ADDRESS');
    case 'v2.4':
    case 'v2.5': return 0n;
    case 'v2.6':
    case '2025': return get('CONFIG_KERNEL_VM_BASE') + get('CONFIG_KERNEL_VM_OFFSET') - (get('CONFIG_SRAM_BASE_ADDRESS') + (symbols.get('CONFIG_SRAM_OFFSET') ?? 0n));
  }
}

/** The tables of an already parsed image; `era` overrides what the symbols say. */
export function imageTables(elf: ElfFile, era?: ZephyrEra): ImageTables {
  const { source, symbols, sizes } = elf;
  const chosen = era ?? eraOf(symbols, source);
  const mode = pagingModeOf(symbols);
  const section = sectionNamed(elf, TABLES_SECTION);
  const tablesVirt = symbols.get('z_x86_pagetables_start');
  if (tablesVirt === undefined) throw new InputError(`${source}: required symbol z_x86_pagetables_start is missing`);
  const sectionEnd = section.addr + section.size;
  if (tablesVirt < section.addr || tablesVirt > sectionEnd) {
    throw new InputError(`${source}: z_x86_pagetables_start ${hex(tablesVirt)} is outside the ${TABLES_SECTION} section ${hex(section.addr)}-${hex(sectionEnd)}: the tables cannot be located`);
  }
  if (sectionEnd - tablesVirt > BigInt(MAX_TABLE_BYTES[mode])) {
    throw new InputError(`${source}: the ${TABLES_SECTION} section holds ${sectionEnd - tablesVirt} bytes of tables, more than x86pt reads for ${mode} paging`);
  }
  const contents = sectionContents(elf, section);
  const split = Number(tablesVirt - section.addr);
  const virtToPhys = virtToPhysOffset(chosen, symbols, source);
  const tablesPhys = tablesVirt - virtToPhys;
  if (tablesPhys < 0n || tablesPhys % 4096n !== 0n) {
    throw new InputError(`${source}: the tables' physical address ${tablesPhys < 0n ? `-${hex(-tablesPhys)}` : hex(tablesPhys)} (z_x86_pagetables_start less ${hex(virtToPhys)}, by the ${chosen} era's rules) is not a 4 KiB aligned address`);
  }
  return {
    source, tablesName: `${source}:${TABLES_SECTION}`, era: chosen, mode, tablesPhys, symbols, sizes, section, tablesVirt, virtToPhys,
    padding: contents.subarray(0, split), tables: contents.subarray(split), elf,
  };
}

/** Reads an image file and its tables. */
export function readImageTables(path: string, era?: ZephyrEra): ImageTables {
  return imageTables(readElfFile(path), era);
}

function eraOf(symbols: ReadonlyMap<string, bigint>, source: string): ZephyrEra {
  try {
    return detectZephyrEra(symbols).era;
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${source}: ${err.message}`);
    throw err;
  }
}

/** One check of an image: what it asserts and, when it fails, each way it does (symbol, both values). */
export interface ImageCheck {
  readonly name: string;
  readonly problems: readonly string[];
  /** Set when the check could not run, saying why (it then has no problems). */
  readonly skipped?: string;
}

/** The placeholder the first link pass reserves for the tables, by era: 2020 scripts' linker name, then the later one. */
export function placeholderNames(era: ZephyrEra): readonly string[] {
  return era === 'seed' || era === 'v2.4' ? ['z_x86_dummy_pagetables', 'dummy_pagetables'] : ['dummy_pagetables', 'z_x86_dummy_pagetables'];
}

/** Symbols that place memory; the first and the final link must agree on them, or the tables were made for another layout. */
const PLACEMENT_SYMBOL = /^(CONFIG_|z_x86_pagetables_start$|z_x86_kernel_ptables$|z_mapped_|_image_|__text_region|__rodata_region|_locore|_lorodata|_lodata|__gcov_bss|lnkr_boot|lnkr_pinned|__x86shadowstack)/;

/** A prebuilt (first-pass) ELF beside the image: its symbols and sizes. */
export interface PrebuiltSymbols {
  readonly source: string;
  readonly symbols: ReadonlyMap<string, bigint>;
  readonly sizes: ReadonlyMap<string, bigint>;
}

/**
 * The image's own checks. `prebuilt` is the first link pass's ELF, when
 * known; without it the placeholder is not checked (and says so).
 */
export function imageChecks(image: ImageTables, prebuilt?: PrebuiltSymbols): ImageCheck[] {
  return [cr3Check(image), fillCheck(image), placeholderCheck(image, prebuilt)];
}

export const imageChecksOk = (checks: readonly ImageCheck[]): boolean => checks.every((c) => c.problems.length === 0);

/** The kernel loads CR3 from z_x86_kernel_ptables: it must be the top-level table, the block's last 32 bytes (PAE) or page. */
function cr3Check(image: ImageTables): ImageCheck {
  const top = BigInt(PAGING_MODE_RECORDS[image.mode].topTableBytes);
  const end = image.section.addr + image.section.size;
  const expected = end - top;
  const actual = image.symbols.get('z_x86_kernel_ptables');
  const problems: string[] = [];
  if (actual === undefined) problems.push(`z_x86_kernel_ptables is missing; the top-level table is at ${hex(expected)} (the ${TABLES_SECTION} section's end ${hex(end)} less ${top})`);
  else if (actual !== expected) {
    problems.push(`z_x86_kernel_ptables is ${hex(actual)}, but the top-level table is at ${hex(expected)} (the ${TABLES_SECTION} section's end ${hex(end)} less ${top}): the kernel would load CR3 with another address space`);
  }
  return { name: 'z_x86_kernel_ptables points at the top-level table (what CR3 is loaded with)', problems };
}

/** The tables fill their section: zero padding before z_x86_pagetables_start, whole tables to the end, as the embedded file's symbols say. */
function fillCheck(image: ImageTables): ImageCheck {
  const problems: string[] = [];
  const { symbols, section } = image;
  const end = section.addr + section.size;
  const shape = tableBlockProblem(image.mode, image.tables.byteLength);
  if (shape) problems.push(`the ${TABLES_SECTION} section from z_x86_pagetables_start ${hex(image.tablesVirt)} to its end ${hex(end)}: ${shape}`);
  const nonZero = image.padding.findIndex((b) => b !== 0);
  if (nonZero >= 0) {
    problems.push(`the padding before z_x86_pagetables_start is not zero: byte ${hex(section.addr + BigInt(nonZero))} is ${hex(BigInt(image.padding[nonZero]!))} (tables placed below z_x86_pagetables_start?)`);
  }
  // objcopy -I binary names the embedded pagetables.bin; the final link keeps these symbols.
  const expect = (name: string, actual: bigint, what: string) => {
    const value = symbols.get(name);
    if (value !== undefined && value !== actual) problems.push(`${name} is ${hex(value)}, but ${what} is ${hex(actual)}`);
  };
  expect('_binary_pagetables_bin_start', image.tablesVirt, 'z_x86_pagetables_start');
  expect('_binary_pagetables_bin_end', end, `the ${TABLES_SECTION} section's end`);
  expect('_binary_pagetables_bin_size', BigInt(image.tables.byteLength), 'the size of the tables in the section');
  return { name: `the tables fill the ${TABLES_SECTION} section exactly`, problems };
}

/** The first pass's placeholder has the tables' size and address, and nothing that places memory moved between the passes. */
function placeholderCheck(image: ImageTables, prebuilt: PrebuiltSymbols | undefined): ImageCheck {
  const name = 'the prebuilt ELF\'s placeholder has the tables\' size and address (nothing moved between the link passes)';
  if (!prebuilt) return { name, problems: [], skipped: 'no prebuilt ELF given or found beside the image' };
  const problems: string[] = [];
  const placeholder = placeholderNames(image.era).find((n) => prebuilt.symbols.has(n));
  if (placeholder === undefined) {
    problems.push(`${prebuilt.source} has no tables placeholder (${placeholderNames(image.era).join(' or ')})`);
  } else {
    const at = prebuilt.symbols.get(placeholder)!;
    const size = prebuilt.sizes.get(placeholder) ?? 0n;
    if (at !== image.tablesVirt) problems.push(`${placeholder} in ${prebuilt.source} is at ${hex(at)}, but z_x86_pagetables_start in ${image.source} is ${hex(image.tablesVirt)}`);
    if (size !== BigInt(image.tables.byteLength)) problems.push(`${placeholder} in ${prebuilt.source} is ${size} bytes, but the tables in ${image.tablesName} are ${image.tables.byteLength} bytes`);
  }
  const names = new Set([...prebuilt.symbols.keys(), ...image.symbols.keys()].filter((n) => PLACEMENT_SYMBOL.test(n)));
  for (const n of [...names].sort()) {
    const before = prebuilt.symbols.get(n);
    const after = image.symbols.get(n);
    if (before !== after) {
      const show = (v: bigint | undefined) => (v === undefined ? 'absent' : hex(v));
      problems.push(`${n} is ${show(before)} in ${prebuilt.source} but ${show(after)} in ${image.source}`);
    }
  }
  return { name, problems };
}

/** Text lines for the checks: `image: ok ...`, `image: FAIL ...` and each problem indented. */
export function imageChecksText(image: ImageTables, checks: readonly ImageCheck[]): string {
  const lines = [`image ${image.source}: ${image.era} era, ${image.mode} tables in section ${TABLES_SECTION} at ${hex(image.tablesVirt)} (physical ${hex(image.tablesPhys)}), ${image.tables.byteLength} bytes after ${image.padding.byteLength} bytes of padding`];
  for (const c of checks) {
    const { skipped } = c;
    if (skipped) lines.push(`  skipped: ${c.name}: ${skipped}`);
    else if (c.problems.length === 0) lines.push(`  ok: ${c.name}`);
    else {
      lines.push(`  FAIL: ${c.name}`);
      for (const p of c.problems) lines.push(`    ${p}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The checks as JSON: `{"era", "section", "tablesVirt", "tablesPhys", "checks": [{"name", "ok", "skipped"?, "problems"}]}`. */
export function imageChecksJson(image: ImageTables, checks: readonly ImageCheck[]): object {
  return {
    file: image.source,
    era: image.era,
    section: TABLES_SECTION,
    tablesVirt: hex(image.tablesVirt),
    tablesPhys: hex(image.tablesPhys),
    tableBytes: image.tables.byteLength,
    checks: checks.map((c) => ({ name: c.name, ok: c.problems.length === 0, ...(c.skipped ? { skipped: c.skipped } : {}), problems: [...c.problems] })),
  };
}
