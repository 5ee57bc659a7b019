/**
 * What a kernel's symbols ask of its page tables: the intended translation,
 * computed from the layout policy (identity map, NULL page, dual window at
 * top-level granularity, XIP flash, permission regions) with address
 * intervals, independently of the generator. Also the refusals: layouts the
 * policy rejects, each as one line naming the symbols and addresses.
 */
import { InputError } from '../core/errors.js';
import type { MappedRange, PagingMode } from './model.js';
import { PAGING_MODE_LAYOUTS, topLevelScope } from './paging-modes.js';
import { coalesceRanges } from './ranges.js';

/** The refusal rules of the layout policy, by number. */
export type RefusalRule = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;

export interface ValidSpec {
  readonly valid: true;
  readonly mode: PagingMode;
  /** Physical address of the table block's first byte. */
  readonly tablesPhys: bigint;
  /** Whether RAM is also mapped at CONFIG_KERNEL_VM_BASE. */
  readonly dual: boolean;
  /** The intended translation, maximal ranges sorted by virtual address. */
  readonly expected: MappedRange[];
  /** Tables the layout needs (one per paging structure, the top level included). */
  readonly tableCount: number;
  /** Size of the table block: a page per table, the top-level table last (32 bytes in PAE). */
  readonly tableBytes: bigint;
}

export interface RefusedSpec {
  readonly valid: false;
  /** One line per problem, naming the symbols and addresses involved. */
  readonly reasons: string[];
  /** The policy rule each reason breaks, index for index. */
  readonly rules: RefusalRule[];
}

export type Spec = ValidSpec | RefusedSpec;

const PAGE = 4096n;
const FOUR_GIB = 1n << 32n;
const CANONICAL_LOW_END = 1n << 47n;
const CANONICAL_HIGH_START = 0xffff800000000000n;
const U64_END = 1n << 64n;

const hex = (value: bigint): string => `0x${value.toString(16)}`;
const span = (start: bigint, end: bigint): string => `${hex(start)}-${hex(end)}`;
const floorDiv = (a: bigint, b: bigint): bigint => a / b; // operands are never negative here
const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b;

/** Leaf-entry permissions in the policy's terms. */
interface LeafFlags {
  readonly writable: boolean;
  readonly user: boolean;
  readonly executeDisable: boolean;
}

type RegionName = '_image_text' | '_image_rodata' | '__gcov_bss' | '_locore' | '_lorodata';

interface Region {
  readonly name: RegionName;
  readonly flags: LeafFlags;
}

/** A span of virtual addresses mapped at a constant offset: phys = virt - offset. */
interface Mapping {
  readonly start: bigint;
  readonly end: bigint;
  readonly offset: bigint;
}

/** A span of physical memory and the leaf flags its entries carry. */
interface PhysSegment {
  readonly start: bigint;
  readonly end: bigint;
  readonly flags: LeafFlags;
}

/** The paging mode a kernel's configuration selects. */
export function pagingModeOf(symbols: ReadonlyMap<string, bigint>): PagingMode {
  if (symbols.has('CONFIG_X86_64')) return 'ia32e';
  if (symbols.has('CONFIG_X86_PAE')) return 'pae';
  return '32bit';
}

/**
 * Where a kernel's tables sit: the mode and the physical address of the
 * block's first byte. Needs fewer symbols than the full spec, so a refused
 * layout's tables can still be dumped. `source` names the ELF in errors.
 */
export function tablePlacement(symbols: ReadonlyMap<string, bigint>, source: string): { mode: PagingMode; tablesPhys: bigint } {
  const get = (name: string): bigint => {
    const value = symbols.get(name);
    if (value === undefined) throw new InputError(`${source}: required symbol ${name} is missing`);
    return value;
  };
  const ramBase = get('CONFIG_SRAM_BASE_ADDRESS');
  const tablesPhys = get('z_x86_pagetables_start') - (get('CONFIG_KERNEL_VM_BASE') - ramBase);
  if (tablesPhys < 0n || tablesPhys >= U64_END || tablesPhys % PAGE !== 0n) {
    throw new InputError(`${source}: the tables' physical address ${tablesPhys < 0n ? `-${hex(-tablesPhys)}` : hex(tablesPhys)} `
      + '(z_x86_pagetables_start - (CONFIG_KERNEL_VM_BASE - CONFIG_SRAM_BASE_ADDRESS)) is not a 4 KiB aligned 64-bit address');
  }
  return { mode: pagingModeOf(symbols), tablesPhys };
}

/** The permission regions the configuration enables, in the order they are applied (later wins). */
function activeRegions(symbols: ReadonlyMap<string, bigint>): Region[] {
  if (!symbols.has('CONFIG_SRAM_REGION_PERMISSIONS')) return [];
  const regions: Region[] = [
    { name: '_image_text', flags: { writable: false, user: true, executeDisable: false } },
    { name: '_image_rodata', flags: { writable: false, user: true, executeDisable: true } },
  ];
  if (symbols.has('CONFIG_COVERAGE_GCOV') && symbols.has('CONFIG_USERSPACE')) {
    regions.push({ name: '__gcov_bss', flags: { writable: true, user: true, executeDisable: true } });
  }
  if (symbols.has('CONFIG_X86_64')) {
    const user = symbols.has('CONFIG_X86_KPTI');
    regions.push({ name: '_locore', flags: { writable: false, user, executeDisable: false } });
    regions.push({ name: '_lorodata', flags: { writable: false, user, executeDisable: true } });
  }
  return regions;
}

/** Count of distinct aligned blocks of `unit` bytes that the (sorted, disjoint) spans touch. */
function blocksTouched(spans: readonly { start: bigint; end: bigint }[], unit: bigint): bigint {
  let count = 0n;
  let lastBlock = -1n;
  for (const { start, end } of spans) {
    if (end <= start) continue;
    const first = floorDiv(start, unit) > lastBlock ? floorDiv(start, unit) : lastBlock + 1n;
    const last = floorDiv(end - 1n, unit);
    if (last >= first) count += last - first + 1n;
    if (last > lastBlock) lastBlock = last;
  }
  return count;
}

/** Parts of [start, end) not covered by any of the spans. */
function uncovered(start: bigint, end: bigint, spans: readonly { start: bigint; end: bigint }[]): { start: bigint; end: bigint }[] {
  let pieces = start < end ? [{ start, end }] : [];
  for (const s of spans) {
    pieces = pieces.flatMap((p) => {
      if (s.end <= p.start || s.start >= p.end) return [p];
      const out = [];
      if (p.start < s.start) out.push({ start: p.start, end: s.start });
      if (s.end < p.end) out.push({ start: s.end, end: p.end });
      return out;
    });
  }
  return pieces;
}

/** Gives [start, end) the flags, splitting the segments it cuts. */
function paint(segments: PhysSegment[], start: bigint, end: bigint, flags: LeafFlags): PhysSegment[] {
  return segments.flatMap((seg) => {
    if (end <= seg.start || start >= seg.end) return [seg];
    const out: PhysSegment[] = [];
    if (seg.start < start) out.push({ ...seg, end: start });
    out.push({ start: start > seg.start ? start : seg.start, end: end < seg.end ? end : seg.end, flags });
    if (end < seg.end) out.push({ ...seg, start: end });
    return out;
  });
}

/** The intended translation and table layout for a kernel's symbols, or why the policy refuses it. */
export function specFromSymbols(symbols: ReadonlyMap<string, bigint>): Spec {
  const reasons: string[] = [];
  const rules: RefusalRule[] = [];
  const refuse = (rule: RefusalRule, reason: string): void => {
    rules.push(rule);
    reasons.push(reason);
  };
  const refused = (): RefusedSpec => ({ valid: false, reasons, rules });

  const mode = pagingModeOf(symbols);
  const layout = PAGING_MODE_LAYOUTS[mode];
  const perms = symbols.has('CONFIG_SRAM_REGION_PERMISSIONS');
  const xip = symbols.has('CONFIG_XIP');
  const regions = activeRegions(symbols);

  // Rule 1: every symbol the configuration needs.
  const required: [string, string][] = [
    ['CONFIG_SRAM_BASE_ADDRESS', ''], ['CONFIG_SRAM_SIZE', ''], ['CONFIG_KERNEL_VM_BASE', ''], ['z_x86_pagetables_start', ''],
  ];
  if (xip) required.push(['CONFIG_FLASH_BASE_ADDRESS', 'CONFIG_XIP'], ['CONFIG_FLASH_SIZE', 'CONFIG_XIP']);
  for (const region of regions) {
    for (const suffix of ['_start', '_size']) required.push([`${region.name}${suffix}`, 'CONFIG_SRAM_REGION_PERMISSIONS']);
  }
  for (const [name, because] of required) {
    if (!symbols.has(name)) refuse(1, `required symbol ${name} is missing${because ? ` (${because} is set)` : ''}`);
  }
  if (reasons.length > 0) return refused();
  const get = (name: string): bigint => symbols.get(name)!;

  const ramBase = get('CONFIG_SRAM_BASE_ADDRESS');
  const ramSizeKiB = get('CONFIG_SRAM_SIZE');
  const ramSize = ramSizeKiB * 1024n;
  const ramEnd = ramBase + ramSize;
  const virtBase = get('CONFIG_KERNEL_VM_BASE');
  const tablesVirt = get('z_x86_pagetables_start');
  const dual = virtBase !== ramBase;
  const delta = virtBase - ramBase; // virt = phys + delta in the dual window
  const tablesPhys = tablesVirt - delta;
  const scope = topLevelScope(mode);
  const flash = xip ? { base: get('CONFIG_FLASH_BASE_ADDRESS'), size: get('CONFIG_FLASH_SIZE') * 1024n } : null;
  const regionSpans = regions.map((r) => ({ ...r, start: get(`${r.name}_start`), size: get(`${r.name}_size`) }));

  // Rule 2: alignment.
  const aligned = (value: bigint): boolean => value % PAGE === 0n;
  if (!aligned(ramBase)) refuse(2, `CONFIG_SRAM_BASE_ADDRESS ${hex(ramBase)} is not 4 KiB aligned`);
  if (!aligned(ramSize)) refuse(2, `CONFIG_SRAM_SIZE ${ramSizeKiB} KiB is not a multiple of 4 KiB`);
  if (flash && !aligned(flash.base)) refuse(2, `CONFIG_FLASH_BASE_ADDRESS ${hex(flash.base)} is not 4 KiB aligned`);
  if (flash && !aligned(flash.size)) refuse(2, `CONFIG_FLASH_SIZE ${flash.size / 1024n} KiB is not a multiple of 4 KiB`);
  for (const r of regionSpans) {
    if (!aligned(r.start)) refuse(2, `${r.name}_start ${hex(r.start)} is not 4 KiB aligned`);
    if (!aligned(r.size)) refuse(2, `${r.name}_size ${hex(r.size)} is not a multiple of 4 KiB`);
  }
  const tablesWhy = `z_x86_pagetables_start ${hex(tablesVirt)} - (CONFIG_KERNEL_VM_BASE ${hex(virtBase)} - CONFIG_SRAM_BASE_ADDRESS ${hex(ramBase)})`;
  if (tablesPhys < 0n) refuse(2, `the tables' physical address ${tablesWhy} is negative`);
  else if (!aligned(tablesPhys)) refuse(2, `the tables' physical address ${hex(tablesPhys)} = ${tablesWhy} is not 4 KiB aligned`);

  // Rule 3: nothing to map.
  if (ramSize === 0n) refuse(3, 'CONFIG_SRAM_SIZE is 0: no RAM to map');

  // Rule 4: XIP with a virtual base.
  if (dual && flash) refuse(4, `CONFIG_XIP with CONFIG_KERNEL_VM_BASE ${hex(virtBase)} != CONFIG_SRAM_BASE_ADDRESS ${hex(ramBase)}: XIP and a dual mapping are incompatible`);

  // Rule 5: the dual window shares lower tables, so both bases sit at the same offset in a top-level entry.
  const misaligned = dual && virtBase % scope !== ramBase % scope;
  if (misaligned) {
    refuse(5, `CONFIG_KERNEL_VM_BASE ${hex(virtBase)} and CONFIG_SRAM_BASE_ADDRESS ${hex(ramBase)} differ in their offset within a ${hex(scope)}-byte top-level entry`);
  }

  // Rule 6: reach.
  const windowStart = floorDiv(virtBase, scope) * scope;
  const windowCount = ceilDiv(ramSize + (ramBase % scope), scope);
  const windowEnd = windowStart + windowCount * scope;
  let outOfReach = false;
  const reach = (reason: string): void => {
    outOfReach = true;
    refuse(6, reason);
  };
  if (layout.linearBits === 32) {
    if (ramEnd > FOUR_GIB) reach(`RAM ${span(ramBase, ramEnd)} ends past 4 GiB, which ${layout.title} cannot map (addresses wrap)`);
    if (flash && flash.base + flash.size > FOUR_GIB) reach(`flash ${span(flash.base, flash.base + flash.size)} ends past 4 GiB, which ${layout.title} cannot map`);
    if (dual && windowEnd > FOUR_GIB) reach(`the dual window ${span(windowStart, windowEnd)} (CONFIG_KERNEL_VM_BASE ${hex(virtBase)} rounded to top-level entries) ends past 4 GiB`);
  } else {
    if (ramEnd > CANONICAL_LOW_END) reach(`RAM ${span(ramBase, ramEnd)} ends past 2^47: identity addresses there are not canonical`);
    if (flash && flash.base + flash.size > CANONICAL_LOW_END) reach(`flash ${span(flash.base, flash.base + flash.size)} ends past 2^47: identity addresses there are not canonical`);
    if (dual) {
      const low = virtBase < CANONICAL_LOW_END;
      if (!low && (virtBase < CANONICAL_HIGH_START || virtBase >= U64_END)) {
        reach(`CONFIG_KERNEL_VM_BASE ${hex(virtBase)} is not a canonical address`);
      } else if (low ? windowEnd > CANONICAL_LOW_END : windowStart < CANONICAL_HIGH_START || windowEnd > U64_END) {
        reach(`the dual window ${span(windowStart, windowEnd)} (CONFIG_KERNEL_VM_BASE ${hex(virtBase)} rounded to top-level entries) leaves its canonical half`);
      }
    }
  }

  // Rule 7: the window's top-level entries would overwrite the identity map's.
  if (dual && !misaligned && !outOfReach && ramSize > 0n) {
    const entries = BigInt(layout.levels[0]!.entries);
    const identityFirst = floorDiv(ramBase, scope);
    const identityLast = floorDiv(ramEnd - 1n, scope);
    const windowFirst = floorDiv(windowStart, scope) % entries;
    const clash: bigint[] = [];
    for (let k = 0n; k < windowCount; k++) {
      const index = (windowFirst + k) % entries;
      if (index >= identityFirst && index <= identityLast) clash.push(index);
    }
    if (clash.length > 0) {
      refuse(7, `the dual window ${span(windowStart, windowEnd)} at CONFIG_KERNEL_VM_BASE ${hex(virtBase)} uses top-level entries `
        + `${clash.length === 1 ? clash[0] : `${clash[0]}-${clash[clash.length - 1]}`} that the identity map of RAM ${span(ramBase, ramEnd)} needs`);
    }
  }

  // Rule 8: XIP flash inside RAM.
  if (flash && flash.size > 0n && ramSize > 0n && flash.base < ramEnd && ramBase < flash.base + flash.size) {
    refuse(8, `flash ${span(flash.base, flash.base + flash.size)} (CONFIG_FLASH_BASE_ADDRESS, CONFIG_FLASH_SIZE) overlaps RAM ${span(ramBase, ramEnd)}`);
  }
  if (reasons.length > 0) return refused();

  // What is mapped: identity RAM (never page 0 without a dual window), identity flash (never page 0), the dual window.
  const identity: Mapping[] = [];
  const ramIdentityStart = !dual && ramBase === 0n ? PAGE : ramBase;
  if (ramIdentityStart < ramEnd) identity.push({ start: ramIdentityStart, end: ramEnd, offset: 0n });
  if (flash) {
    const start = flash.base === 0n ? PAGE : flash.base;
    const end = flash.base + flash.size;
    if (start < end) identity.push({ start, end, offset: 0n });
  }
  identity.sort((a, b) => (a.start < b.start ? -1 : 1));
  const mappings: Mapping[] = [...identity];
  if (dual) mappings.push({ start: ramBase + delta, end: ramEnd + delta, offset: delta });

  // Rule 9: every permission-region page (but page 0) must already be mapped.
  const ramFlags: LeafFlags = { writable: true, user: false, executeDisable: perms };
  const flashFlags: LeafFlags = { writable: false, user: false, executeDisable: perms };
  let segments: PhysSegment[] = [{ start: ramBase, end: ramEnd, flags: ramFlags }];
  if (flash && flash.size > 0n) segments.push({ start: flash.base, end: flash.base + flash.size, flags: flashFlags });
  for (const region of regionSpans) {
    const end = region.start + region.size;
    const where = `${region.name} ${span(region.start, end)}`;
    if (end > U64_END) {
      refuse(9, `${where} ends past 2^64`);
      continue;
    }
    const pages = uncovered(region.start, end, [{ start: 0n, end: PAGE }]);
    const holes = pages.flatMap((p) => uncovered(p.start, p.end, mappings));
    if (holes.length > 0) {
      const what = ['RAM', ...(flash ? ['flash'] : []), ...(dual ? ['the dual window'] : [])].join(' or ');
      refuse(9, `${where}: page ${hex(holes[0]!.start)} is not mapped by ${what}`);
      continue;
    }
    for (const p of pages) {
      for (const m of mappings) {
        const start = p.start > m.start ? p.start : m.start;
        const stop = p.end < m.end ? p.end : m.end;
        if (start < stop) segments = paint(segments, start - m.offset, stop - m.offset, region.flags);
      }
    }
  }

  // Tables: one top-level table, and below it one per entry of the level above that identity pages go through.
  let tableCount = 1n;
  for (let k = 1; k < layout.levels.length; k++) {
    tableCount += blocksTouched(identity, 1n << BigInt(layout.levels[k - 1]!.shift));
  }
  const tableBytes = (tableCount - 1n) * PAGE + BigInt(layout.topTableBytes);

  // Rule 10: CR3 and the entries must reach every table.
  const tablesLimit = layout.linearBits === 32 ? FOUR_GIB : 1n << 52n;
  if (tablesPhys + tableBytes > tablesLimit) {
    refuse(10, `the table block ${span(tablesPhys, tablesPhys + tableBytes)} (z_x86_pagetables_start) ends past ${hex(tablesLimit)}, out of reach of CR3 and the entries in ${layout.title}`);
  }
  if (reasons.length > 0) return refused();

  // The translation: every mapping of every physical segment, with its flags.
  const ranges: MappedRange[] = [];
  for (const seg of segments) {
    const access = {
      writable: seg.flags.writable,
      user: seg.flags.user,
      executable: mode === '32bit' || !seg.flags.executeDisable,
    };
    for (const m of mappings) {
      const start = seg.start + m.offset > m.start ? seg.start + m.offset : m.start;
      const end = seg.end + m.offset < m.end ? seg.end + m.offset : m.end;
      if (start < end) ranges.push({ virt: start, phys: start - m.offset, size: end - start, ...access });
    }
  }
  return { valid: true, mode, tablesPhys, dual, expected: coalesceRanges(ranges), tableCount: Number(tableCount), tableBytes };
}
