/**
 * Names for the memory a translation covers, read from the kernel's symbol
 * map: which ELF region (text, rodata, gcov, locore, RAM, XIP flash) a range
 * belongs to, which window (identity, dual/high-half) its virtual side is in,
 * and which of the symbols the layout reads changed between two kernels. For
 * reports only: the check itself never looks at labels.
 */
import type { MappedRange, PagingMode } from './model.js';
import { hex } from '../core/text.js';

/** A named span of physical memory. */
export interface PhysRegion {
  /** What reports call it: 'text', 'rodata', 'gcov', 'locore', 'lorodata', 'RAM', 'XIP flash'. */
  readonly name: string;
  /** The symbols it was read from, e.g. '_image_text_start/_size'. */
  readonly source: string;
  readonly phys: bigint;
  readonly size: bigint;
}

/** What a kernel's symbols say about where its memory is. */
export interface KernelRegions {
  /** Linker-script regions first (most specific), then RAM and flash. */
  readonly regions: readonly PhysRegion[];
  /** CONFIG_KERNEL_VM_BASE - CONFIG_SRAM_BASE_ADDRESS: virtual minus physical in the dual window (0: identity only). */
  readonly dualOffset: bigint;
}

/** Linker-script regions by symbol prefix, as reports name them. */
const LINKER_REGIONS: readonly [string, string][] = [
  ['_image_text', 'text'],
  ['_image_rodata', 'rodata'],
  ['__gcov_bss', 'gcov'],
  ['_locore', 'locore'],
  ['_lorodata', 'lorodata'],
];

const KiB = 1024n;
const CONTAINERS = new Set(['RAM', 'XIP flash']);

/**
 * The regions a kernel's symbols name. A linker-script region's symbols are
 * virtual addresses, in the identity map or in the dual window; both alias the
 * same physical memory, so regions are kept as physical spans.
 */
export function kernelRegions(symbols: ReadonlyMap<string, bigint>): KernelRegions {
  const ramBase = symbols.get('CONFIG_SRAM_BASE_ADDRESS');
  const ramSizeKiB = symbols.get('CONFIG_SRAM_SIZE');
  const vmBase = symbols.get('CONFIG_KERNEL_VM_BASE');
  const dualOffset = ramBase !== undefined && vmBase !== undefined ? vmBase - ramBase : 0n;
  const ramSize = ramSizeKiB !== undefined ? ramSizeKiB * KiB : 0n;
  const toPhys = (virt: bigint): bigint =>
    dualOffset !== 0n && ramBase !== undefined && virt >= ramBase + dualOffset && virt < ramBase + dualOffset + ramSize ? virt - dualOffset : virt;

  const regions: PhysRegion[] = [];
  for (const [prefix, name] of LINKER_REGIONS) {
    const start = symbols.get(`${prefix}_start`);
    const size = symbols.get(`${prefix}_size`);
    if (start === undefined || size === undefined || size <= 0n) continue;
    regions.push({ name, source: `${prefix}_start/_size`, phys: toPhys(start), size });
  }
  if (ramBase !== undefined && ramSize > 0n) {
    regions.push({ name: 'RAM', source: 'CONFIG_SRAM_BASE_ADDRESS/CONFIG_SRAM_SIZE', phys: ramBase, size: ramSize });
  }
  const flashBase = symbols.get('CONFIG_FLASH_BASE_ADDRESS');
  const flashSizeKiB = symbols.get('CONFIG_FLASH_SIZE');
  if (symbols.has('CONFIG_XIP') && flashBase !== undefined && flashSizeKiB !== undefined && flashSizeKiB > 0n) {
    regions.push({ name: 'XIP flash', source: 'CONFIG_FLASH_BASE_ADDRESS/CONFIG_FLASH_SIZE', phys: flashBase, size: flashSizeKiB * KiB });
  }
  return { regions, dualOffset };
}

/** A part of a translated range that lies in one region, by virtual address. */
export interface RegionSpan {
  readonly name: string;
  readonly virt: bigint;
  readonly size: bigint;
}

/** The parts of a range that fall in each region (physical overlap, given back as virtual spans). */
export function regionSpans(kernel: KernelRegions, range: MappedRange): RegionSpan[] {
  const out: RegionSpan[] = [];
  const end = range.phys + range.size;
  for (const region of kernel.regions) {
    const start = region.phys > range.phys ? region.phys : range.phys;
    const stop = region.phys + region.size < end ? region.phys + region.size : end;
    if (start < stop) out.push({ name: region.name, virt: range.virt + (start - range.phys), size: stop - start });
  }
  return out;
}

/**
 * What a range holds, most specific first: the linker-script regions it
 * touches, then RAM or flash if part of it lies outside those; 'outside RAM'
 * when the kernel names none of it.
 */
export function rangeLabels(kernel: KernelRegions, range: MappedRange): string[] {
  const spans = regionSpans(kernel, range);
  const specific = spans.filter((s) => !CONTAINERS.has(s.name));
  const labels = [...new Set(specific.map((s) => s.name))];
  const covered = coveredBytes(specific);
  for (const container of spans.filter((s) => CONTAINERS.has(s.name))) {
    // Only when the container holds more than the specific regions inside it.
    if (covered < range.size && !labels.includes(container.name)) labels.push(container.name);
  }
  return labels.length > 0 ? labels : ['outside RAM'];
}

/** Bytes the (possibly overlapping) spans cover together. */
function coveredBytes(spans: readonly RegionSpan[]): bigint {
  const sorted = [...spans].sort((a, b) => (a.virt < b.virt ? -1 : a.virt > b.virt ? 1 : 0));
  let total = 0n;
  let reach = -1n;
  for (const s of sorted) {
    const end = s.virt + s.size;
    if (end <= reach) continue;
    total += end - (s.virt > reach ? s.virt : reach);
    reach = end;
  }
  return total;
}

const HIGH_HALF = 0xffff800000000000n;

/** The window a range's virtual side lies in, from its offset (virtual minus physical). */
export function windowName(range: MappedRange, mode: PagingMode, dualOffset: bigint | null): string {
  const offset = range.virt - range.phys;
  if (offset === 0n) return 'identity';
  const high = mode === 'ia32e' && range.virt >= HIGH_HALF;
  if (dualOffset !== null && offset === dualOffset) return high ? 'high-half window' : 'dual window';
  return high ? `high half, offset ${hex(offset)}` : `offset ${offset < 0n ? `-${hex(-offset)}` : hex(offset)}`;
}

/** The symbols the layout policy reads: a change in one of them is what changes the tables. */
export const LAYOUT_SYMBOLS: readonly string[] = [
  'CONFIG_X86_64', 'CONFIG_X86_PAE', 'CONFIG_SRAM_BASE_ADDRESS', 'CONFIG_SRAM_SIZE', 'CONFIG_KERNEL_VM_BASE',
  'z_x86_pagetables_start', 'CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_USERSPACE', 'CONFIG_COVERAGE_GCOV',
  'CONFIG_X86_KPTI', 'CONFIG_XIP', 'CONFIG_FLASH_BASE_ADDRESS', 'CONFIG_FLASH_SIZE',
  ...LINKER_REGIONS.flatMap(([prefix]) => [`${prefix}_start`, `${prefix}_size`]),
];

/** Options whose presence is what counts (the policy ignores their value). */
const FLAG_SYMBOLS = new Set([
  'CONFIG_X86_64', 'CONFIG_X86_PAE', 'CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_USERSPACE', 'CONFIG_COVERAGE_GCOV', 'CONFIG_X86_KPTI', 'CONFIG_XIP',
]);
/** Sizes Kconfig gives in KiB. */
const KIB_SYMBOLS = new Set(['CONFIG_SRAM_SIZE', 'CONFIG_FLASH_SIZE']);

/** One layout symbol that differs between two kernels; `before`/`after` as a reader would write them ('unset' when absent). */
export interface SymbolChange {
  readonly name: string;
  readonly before: string;
  readonly after: string;
}

function symbolValue(name: string, value: bigint | undefined): string {
  if (value === undefined) return 'unset';
  if (FLAG_SYMBOLS.has(name)) return 'set';
  if (KIB_SYMBOLS.has(name)) return `${value} KiB`;
  return hex(value);
}

/** The layout symbols whose value (or, for options, presence) differs, in the policy's reading order. */
export function layoutSymbolChanges(before: ReadonlyMap<string, bigint>, after: ReadonlyMap<string, bigint>): SymbolChange[] {
  const changes: SymbolChange[] = [];
  for (const name of LAYOUT_SYMBOLS) {
    const a = symbolValue(name, before.get(name));
    const b = symbolValue(name, after.get(name));
    if (a !== b) changes.push({ name, before: a, after: b });
  }
  return changes;
}

export const symbolChangeLine = (c: SymbolChange): string => `${c.name} ${c.before} -> ${c.after}`;
