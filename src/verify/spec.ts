/**
 * What a kernel's symbols ask of its page tables: the intended translation,
 * computed from the layout policy (identity map, NULL page, dual window at
 * top-level granularity, XIP flash, permission regions) with address
 * intervals, independently of the generator. Also the refusals: layouts the
 * policy rejects, each as one line naming the symbols and addresses.
 */
import { InputError } from '../core/errors.js';
import type { MappedRange, PagingMode, TablePlacement } from './model.js';
import { hex } from '../core/text.js';
import {
  PAGING_MODE_RECORDS, blockBytes, cr3Limit, hasCanonicalHalves, identityEnd, linearSpans, pagesCanDenyExecute, topEntries, topLevelScope,
} from './paging-modes.js';
import { coalesceRanges } from './ranges.js';
import { detectZephyrEra, type ZephyrEra } from '../elf/zephyr-era.js';
import { eraSpec, eraTablePlacement } from './spec-eras.js';

/**
 * The refusal rules of the layout policy, by what each means. Reports, JSON
 * and the fuzzer's summary name them so.
 */
export const SEED_REFUSAL_RULES = [
  /** A symbol the configuration needs is not defined. */
  'symbol-missing',
  /** RAM, flash or a permission region does not start or end on a 4 KiB page. */
  'not-page-aligned',
  /** The tables' physical address (z_x86_pagetables_start less the dual offset) is negative or not page aligned. */
  'tables-phys-invalid',
  /** CONFIG_SRAM_SIZE is 0. */
  'ram-empty',
  /** XIP together with a virtual base other than RAM's. */
  'xip-with-dual-window',
  /** The virtual and physical bases sit at different offsets within a top-level entry. */
  'dual-bases-misaligned',
  /** RAM or flash ends past what an identity mapping can reach (4 GiB, or 2^47). */
  'identity-beyond-reach',
  /** The dual window, rounded to top-level entries, leaves the mode's linear addresses (or its canonical half). */
  'dual-window-beyond-reach',
  /** The dual window needs top-level entries the identity map of RAM needs too. */
  'dual-window-overlaps-identity',
  /** XIP flash overlaps RAM. */
  'flash-overlaps-ram',
  /** A permission-region page (but page 0) that no mapping covers, or a region ending past 2^64. */
  'region-unmapped',
  /** The table block (the top-level table last) ends past what CR3 can address. */
  'tables-beyond-cr3-reach',
] as const;

/** The rules only the released eras' contracts (spec-eras.ts, v2.4 to 2025) add; they share symbol-missing, not-page-aligned, region-unmapped and the tables' rules with the seed. */
export const ERA_REFUSAL_RULES = [
  /** A mapping or region negative, ending before it starts, or beyond the mode's virtual or physical reach. */
  'address-beyond-reach',
  /** The kernel VM window does not start a page-directory entry (v2.5+). */
  'vm-window-misaligned',
  /** The image (z_mapped_size, or all RAM) is not smaller than CONFIG_KERNEL_VM_SIZE (v2.5+). */
  'image-exceeds-vm-window',
  /** A present page mapped again to another physical page (e.g. locore where the image is linked elsewhere). */
  'mapped-twice',
  /** XIP flash overlaps the image in physical memory. */
  'flash-overlaps-image',
  /** A --map region over anything already mapped: the image, locore, another --map (v2.6+). */
  'map-overlaps-mapped',
  /** A large page (the boot identity map, --map ...,L) where a page table is in use, e.g. the VM window's (v2.6+). */
  'large-page-over-table',
  /** A 4 KiB mapping or a region inside a large page (v2.6+). */
  'walks-into-large-page',
  /** The tables do not fill dummy_pagetables exactly (v2.6+). */
  'placeholder-size-mismatch',
  /** A --map argument the era's script cannot read. */
  'map-option-invalid',
  /** --map given to an era without the option (seed, v2.4, v2.5). */
  'map-not-an-option',
] as const;

/** Every rule, the seed's first. */
export const REFUSAL_RULES = [...SEED_REFUSAL_RULES, ...ERA_REFUSAL_RULES] as const;
export type RefusalRule = (typeof REFUSAL_RULES)[number];

/** One broken rule and the line that says how. */
export interface Refusal {
  readonly rule: RefusalRule;
  /** Names the symbols and addresses involved. */
  readonly reason: string;
}

export interface ValidSpec extends TablePlacement {
  readonly valid: true;
  /** The contract followed (the seed when absent). */
  readonly era?: ZephyrEra;
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
const U64_END = 1n << 64n;

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
export function tablePlacement(symbols: ReadonlyMap<string, bigint>, source: string): TablePlacement {
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

/** The kernel's layout as its symbols give it, once every needed symbol is there. */
interface KernelLayout {
  readonly mode: PagingMode;
  readonly ramBase: bigint;
  readonly ramSizeKiB: bigint;
  readonly ramSize: bigint;
  readonly ramEnd: bigint;
  readonly virtBase: bigint;
  readonly tablesVirt: bigint;
  /** Whether RAM is also mapped at CONFIG_KERNEL_VM_BASE. */
  readonly dual: boolean;
  /** virt = phys + delta in the dual window. */
  readonly delta: bigint;
  readonly tablesPhys: bigint;
  /** Bytes one top-level entry controls. */
  readonly scope: bigint;
  readonly flash: { readonly base: bigint; readonly size: bigint } | null;
  readonly regions: readonly (Region & { readonly start: bigint; readonly size: bigint })[];
  readonly permissions: boolean;
}

/** The dual window: the top-level entries CONFIG_KERNEL_VM_BASE's mapping of RAM takes. */
interface DualWindow {
  readonly start: bigint;
  readonly end: bigint;
  readonly count: bigint;
}

/** The symbols every layout needs, then those its configuration adds. */
function requiredSymbols(symbols: ReadonlyMap<string, bigint>): [name: string, because: string][] {
  const required: [string, string][] = [
    ['CONFIG_SRAM_BASE_ADDRESS', ''], ['CONFIG_SRAM_SIZE', ''], ['CONFIG_KERNEL_VM_BASE', ''], ['z_x86_pagetables_start', ''],
  ];
  if (symbols.has('CONFIG_XIP')) required.push(['CONFIG_FLASH_BASE_ADDRESS', 'CONFIG_XIP'], ['CONFIG_FLASH_SIZE', 'CONFIG_XIP']);
  for (const region of activeRegions(symbols)) {
    for (const suffix of ['_start', '_size']) required.push([`${region.name}${suffix}`, 'CONFIG_SRAM_REGION_PERMISSIONS']);
  }
  return required;
}

/** The layout the symbols describe, or the symbol-missing refusals. */
function kernelLayout(symbols: ReadonlyMap<string, bigint>): KernelLayout | Refusal[] {
  const missing: Refusal[] = requiredSymbols(symbols)
    .filter(([name]) => !symbols.has(name))
    .map(([name, because]) => ({ rule: 'symbol-missing', reason: `required symbol ${name} is missing${because ? ` (${because} is set)` : ''}` }));
  if (missing.length > 0) return missing;
  const get = (name: string): bigint => symbols.get(name)!;
  const mode = pagingModeOf(symbols);
  const ramBase = get('CONFIG_SRAM_BASE_ADDRESS');
  const ramSizeKiB = get('CONFIG_SRAM_SIZE');
  const ramSize = ramSizeKiB * 1024n;
  const virtBase = get('CONFIG_KERNEL_VM_BASE');
  const tablesVirt = get('z_x86_pagetables_start');
  const delta = virtBase - ramBase;
  return {
    mode,
    ramBase,
    ramSizeKiB,
    ramSize,
    ramEnd: ramBase + ramSize,
    virtBase,
    tablesVirt,
    dual: virtBase !== ramBase,
    delta,
    tablesPhys: tablesVirt - delta,
    scope: topLevelScope(mode),
    flash: symbols.has('CONFIG_XIP') ? { base: get('CONFIG_FLASH_BASE_ADDRESS'), size: get('CONFIG_FLASH_SIZE') * 1024n } : null,
    regions: activeRegions(symbols).map((r) => ({ ...r, start: get(`${r.name}_start`), size: get(`${r.name}_size`) })),
    permissions: symbols.has('CONFIG_SRAM_REGION_PERMISSIONS'),
  };
}

function dualWindowOf(k: KernelLayout): DualWindow {
  const start = floorDiv(k.virtBase, k.scope) * k.scope;
  const count = ceilDiv(k.ramSize + (k.ramBase % k.scope), k.scope);
  return { start, end: start + count * k.scope, count };
}

const aligned = (value: bigint): boolean => value % PAGE === 0n;

/** not-page-aligned: RAM, flash and regions start and end on pages. */
function misalignedRefusals(k: KernelLayout): Refusal[] {
  const reasons: string[] = [];
  if (!aligned(k.ramBase)) reasons.push(`CONFIG_SRAM_BASE_ADDRESS ${hex(k.ramBase)} is not 4 KiB aligned`);
  if (!aligned(k.ramSize)) reasons.push(`CONFIG_SRAM_SIZE ${k.ramSizeKiB} KiB is not a multiple of 4 KiB`);
  if (k.flash && !aligned(k.flash.base)) reasons.push(`CONFIG_FLASH_BASE_ADDRESS ${hex(k.flash.base)} is not 4 KiB aligned`);
  if (k.flash && !aligned(k.flash.size)) reasons.push(`CONFIG_FLASH_SIZE ${k.flash.size / 1024n} KiB is not a multiple of 4 KiB`);
  for (const r of k.regions) {
    if (!aligned(r.start)) reasons.push(`${r.name}_start ${hex(r.start)} is not 4 KiB aligned`);
    if (!aligned(r.size)) reasons.push(`${r.name}_size ${hex(r.size)} is not a multiple of 4 KiB`);
  }
  return reasons.map((reason) => ({ rule: 'not-page-aligned', reason }));
}

/** tables-phys-invalid: the tables' physical address is a page of memory. */
function tablesPhysRefusals(k: KernelLayout): Refusal[] {
  const why = `z_x86_pagetables_start ${hex(k.tablesVirt)} - (CONFIG_KERNEL_VM_BASE ${hex(k.virtBase)} - CONFIG_SRAM_BASE_ADDRESS ${hex(k.ramBase)})`;
  if (k.tablesPhys < 0n) return [{ rule: 'tables-phys-invalid', reason: `the tables' physical address ${why} is negative` }];
  if (!aligned(k.tablesPhys)) return [{ rule: 'tables-phys-invalid', reason: `the tables' physical address ${hex(k.tablesPhys)} = ${why} is not 4 KiB aligned` }];
  return [];
}

/** identity-beyond-reach: identity addresses of RAM and flash are linear addresses (below 4 GiB, or canonical). */
function identityReachRefusals(k: KernelLayout): Refusal[] {
  const end = identityEnd(k.mode);
  const title = PAGING_MODE_RECORDS[k.mode].title;
  const reasons: string[] = [];
  const halves = hasCanonicalHalves(k.mode);
  const flashEnd = k.flash ? k.flash.base + k.flash.size : 0n;
  if (k.ramEnd > end) {
    reasons.push(halves
      ? `RAM ${span(k.ramBase, k.ramEnd)} ends past 2^47: identity addresses there are not canonical`
      : `RAM ${span(k.ramBase, k.ramEnd)} ends past 4 GiB, which ${title} cannot map (addresses wrap)`);
  }
  if (k.flash && flashEnd > end) {
    reasons.push(halves
      ? `flash ${span(k.flash.base, flashEnd)} ends past 2^47: identity addresses there are not canonical`
      : `flash ${span(k.flash.base, flashEnd)} ends past 4 GiB, which ${title} cannot map`);
  }
  return reasons.map((reason) => ({ rule: 'identity-beyond-reach', reason }));
}

/** dual-window-beyond-reach: the window stays within the linear span (canonical half) its base lies in. */
function windowReachRefusals(k: KernelLayout, window: DualWindow): Refusal[] {
  if (!k.dual) return [];
  const rounded = `(CONFIG_KERNEL_VM_BASE ${hex(k.virtBase)} rounded to top-level entries)`;
  const refuse = (reason: string): Refusal[] => [{ rule: 'dual-window-beyond-reach', reason }];
  if (!hasCanonicalHalves(k.mode)) {
    return window.end > identityEnd(k.mode) ? refuse(`the dual window ${span(window.start, window.end)} ${rounded} ends past 4 GiB`) : [];
  }
  const home = linearSpans(k.mode).find((s) => k.virtBase >= s.virt && k.virtBase < s.virt + s.size);
  if (!home) return refuse(`CONFIG_KERNEL_VM_BASE ${hex(k.virtBase)} is not a canonical address`);
  return window.start < home.virt || window.end > home.virt + home.size
    ? refuse(`the dual window ${span(window.start, window.end)} ${rounded} leaves its canonical half`)
    : [];
}

/** dual-window-overlaps-identity: the window's top-level entries are not ones the identity map of RAM needs. */
function windowClashRefusals(k: KernelLayout, window: DualWindow): Refusal[] {
  const entries = BigInt(topEntries(k.mode));
  const identityFirst = floorDiv(k.ramBase, k.scope);
  const identityLast = floorDiv(k.ramEnd - 1n, k.scope);
  const windowFirst = floorDiv(window.start, k.scope) % entries;
  const clash: bigint[] = [];
  for (let n = 0n; n < window.count; n++) {
    const index = (windowFirst + n) % entries;
    if (index >= identityFirst && index <= identityLast) clash.push(index);
  }
  if (clash.length === 0) return [];
  return [{
    rule: 'dual-window-overlaps-identity',
    reason: `the dual window ${span(window.start, window.end)} at CONFIG_KERNEL_VM_BASE ${hex(k.virtBase)} uses top-level entries `
      + `${clash.length === 1 ? clash[0] : `${clash[0]}-${clash[clash.length - 1]}`} that the identity map of RAM ${span(k.ramBase, k.ramEnd)} needs`,
  }];
}

/** Refusals decided by the symbols alone (all but region-unmapped and tables-beyond-cr3-reach). */
function layoutRefusals(k: KernelLayout): Refusal[] {
  const refusals = [...misalignedRefusals(k), ...tablesPhysRefusals(k)];
  if (k.ramSize === 0n) refusals.push({ rule: 'ram-empty', reason: 'CONFIG_SRAM_SIZE is 0: no RAM to map' });
  if (k.dual && k.flash) {
    refusals.push({
      rule: 'xip-with-dual-window',
      reason: `CONFIG_XIP with CONFIG_KERNEL_VM_BASE ${hex(k.virtBase)} != CONFIG_SRAM_BASE_ADDRESS ${hex(k.ramBase)}: XIP and a dual mapping are incompatible`,
    });
  }
  // The dual window shares lower tables, so both bases sit at the same offset in a top-level entry.
  const misaligned = k.dual && k.virtBase % k.scope !== k.ramBase % k.scope;
  if (misaligned) {
    refusals.push({
      rule: 'dual-bases-misaligned',
      reason: `CONFIG_KERNEL_VM_BASE ${hex(k.virtBase)} and CONFIG_SRAM_BASE_ADDRESS ${hex(k.ramBase)} differ in their offset within a ${hex(k.scope)}-byte top-level entry`,
    });
  }
  const window = dualWindowOf(k);
  const reach = [...identityReachRefusals(k), ...windowReachRefusals(k, window)];
  refusals.push(...reach);
  // Entries are compared only where both windows are well formed.
  if (k.dual && !misaligned && reach.length === 0 && k.ramSize > 0n) refusals.push(...windowClashRefusals(k, window));
  const flashEnd = k.flash ? k.flash.base + k.flash.size : 0n;
  if (k.flash && k.flash.size > 0n && k.ramSize > 0n && k.flash.base < k.ramEnd && k.ramBase < flashEnd) {
    refusals.push({
      rule: 'flash-overlaps-ram',
      reason: `flash ${span(k.flash.base, flashEnd)} (CONFIG_FLASH_BASE_ADDRESS, CONFIG_FLASH_SIZE) overlaps RAM ${span(k.ramBase, k.ramEnd)}`,
    });
  }
  return refusals;
}

/** What is mapped: identity RAM (never page 0 without a dual window), identity flash (never page 0), the dual window. */
function mappingsOf(k: KernelLayout): { identity: Mapping[]; all: Mapping[] } {
  const identity: Mapping[] = [];
  const ramIdentityStart = !k.dual && k.ramBase === 0n ? PAGE : k.ramBase;
  if (ramIdentityStart < k.ramEnd) identity.push({ start: ramIdentityStart, end: k.ramEnd, offset: 0n });
  if (k.flash) {
    const start = k.flash.base === 0n ? PAGE : k.flash.base;
    const end = k.flash.base + k.flash.size;
    if (start < end) identity.push({ start, end, offset: 0n });
  }
  identity.sort((a, b) => (a.start < b.start ? -1 : 1));
  const all = [...identity];
  if (k.dual) all.push({ start: k.ramBase + k.delta, end: k.ramEnd + k.delta, offset: k.delta });
  return { identity, all };
}

/** A region's pages but page 0 (which is never mapped). */
const regionPages = (start: bigint, end: bigint) => uncovered(start, end, [{ start: 0n, end: PAGE }]);

/** region-unmapped: every permission-region page (but page 0) is already mapped. */
function regionRefusals(k: KernelLayout, mappings: readonly Mapping[]): Refusal[] {
  const refusals: Refusal[] = [];
  for (const region of k.regions) {
    const end = region.start + region.size;
    const where = `${region.name} ${span(region.start, end)}`;
    if (end > U64_END) {
      refusals.push({ rule: 'region-unmapped', reason: `${where} ends past 2^64` });
      continue;
    }
    const holes = regionPages(region.start, end).flatMap((p) => uncovered(p.start, p.end, mappings));
    if (holes.length > 0) {
      const what = ['RAM', ...(k.flash ? ['flash'] : []), ...(k.dual ? ['the dual window'] : [])].join(' or ');
      refusals.push({ rule: 'region-unmapped', reason: `${where}: page ${hex(holes[0]!.start)} is not mapped by ${what}` });
    }
  }
  return refusals;
}

/** Tables: one top-level table, and below it one per entry of the level above that identity pages go through. */
function tableCountOf(mode: PagingMode, identity: readonly Mapping[]): bigint {
  const levels = PAGING_MODE_RECORDS[mode].levels;
  let count = 1n;
  for (let n = 1; n < levels.length; n++) count += blocksTouched(identity, 1n << BigInt(levels[n - 1]!.shift));
  return count;
}

/** tables-beyond-cr3-reach: the block ends (with its top-level table) where CR3 and the entries reach. */
function tablesReachRefusals(k: KernelLayout, tableBytes: bigint): Refusal[] {
  const limit = cr3Limit(k.mode);
  if (k.tablesPhys + tableBytes <= limit) return [];
  return [{
    rule: 'tables-beyond-cr3-reach',
    reason: `the table block ${span(k.tablesPhys, k.tablesPhys + tableBytes)} (z_x86_pagetables_start) ends past ${hex(limit)}, out of reach of CR3 and the entries in ${PAGING_MODE_RECORDS[k.mode].title}`,
  }];
}

/** The intended translation of an accepted layout: every mapping of every physical segment, with its flags. */
function intendedTranslation(k: KernelLayout, mappings: readonly Mapping[]): MappedRange[] {
  const ramFlags: LeafFlags = { writable: true, user: false, executeDisable: k.permissions };
  const flashFlags: LeafFlags = { writable: false, user: false, executeDisable: k.permissions };
  let segments: PhysSegment[] = [{ start: k.ramBase, end: k.ramEnd, flags: ramFlags }];
  if (k.flash && k.flash.size > 0n) segments.push({ start: k.flash.base, end: k.flash.base + k.flash.size, flags: flashFlags });
  for (const region of k.regions) {
    for (const p of regionPages(region.start, region.start + region.size)) {
      for (const m of mappings) {
        const start = p.start > m.start ? p.start : m.start;
        const stop = p.end < m.end ? p.end : m.end;
        if (start < stop) segments = paint(segments, start - m.offset, stop - m.offset, region.flags);
      }
    }
  }
  const denyExecute = pagesCanDenyExecute(k.mode);
  const ranges: MappedRange[] = [];
  for (const seg of segments) {
    const access = { writable: seg.flags.writable, user: seg.flags.user, executable: !denyExecute || !seg.flags.executeDisable };
    for (const m of mappings) {
      const start = seg.start + m.offset > m.start ? seg.start + m.offset : m.start;
      const end = seg.end + m.offset < m.end ? seg.end + m.offset : m.end;
      if (start < end) ranges.push({ virt: start, phys: start - m.offset, size: end - start, ...access });
    }
  }
  return coalesceRanges(ranges);
}

/** The intended translation and table layout for a kernel's symbols, or why the policy refuses it. */
export function specFromSymbols(symbols: ReadonlyMap<string, bigint>): Spec {
  const refused = (refusals: readonly Refusal[]): RefusedSpec =>
    ({ valid: false, reasons: refusals.map((r) => r.reason), rules: refusals.map((r) => r.rule) });
  const k = kernelLayout(symbols);
  if (Array.isArray(k)) return refused(k);
  const early = layoutRefusals(k);
  if (early.length > 0) return refused(early);
  const { identity, all } = mappingsOf(k);
  const tableCount = tableCountOf(k.mode, identity);
  const tableBytes = blockBytes(k.mode, tableCount);
  const late = [...regionRefusals(k, all), ...tablesReachRefusals(k, tableBytes)];
  if (late.length > 0) return refused(late);
  return { valid: true, mode: k.mode, tablesPhys: k.tablesPhys, dual: k.dual, expected: intendedTranslation(k, all), tableCount: Number(tableCount), tableBytes };
}

/** A kernel as the verifier is given it: its symbols, their sizes (the placeholder's), the era if chosen, the `--map` arguments. */
export interface KernelInput {
  readonly symbols: ReadonlyMap<string, bigint>;
  readonly sizes?: ReadonlyMap<string, bigint>;
  /** The contract to check against; told from the symbols when absent (detectZephyrEra). */
  readonly era?: ZephyrEra;
  readonly maps?: readonly string[];
}

/** The era a kernel is checked against: the one given, else the one its symbols tell (InputError when they fit none or two). */
export const eraOfKernel = (input: KernelInput): ZephyrEra => input.era ?? detectZephyrEra(input.symbols).era;

/** The spec under the kernel's era: the seed's (specFromSymbols) or a released era's (spec-eras.ts). */
export function kernelSpec(input: KernelInput): Spec {
  // Every era reads the RAM base: without it there is no era to tell, only a missing symbol.
  if (!input.symbols.has('CONFIG_SRAM_BASE_ADDRESS')) {
    return { valid: false, reasons: ['required symbol CONFIG_SRAM_BASE_ADDRESS is missing'], rules: ['symbol-missing'] };
  }
  const era = eraOfKernel(input);
  if (era !== 'seed') return eraSpec(era, input.symbols, input.sizes, input.maps);
  if ((input.maps ?? []).length > 0) return { valid: false, reasons: ['--map is not an option of the seed gen_mmu.py'], rules: ['map-not-an-option'] };
  return specFromSymbols(input.symbols);
}

/** Where a kernel's tables sit under its era (dump -k, diff -k). `source` names the ELF in errors. */
export function kernelTablePlacement(input: KernelInput, source: string): TablePlacement {
  let era: ZephyrEra;
  try {
    era = input.symbols.has('CONFIG_SRAM_BASE_ADDRESS') ? eraOfKernel(input) : 'seed';
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${source}: ${err.message}`);
    throw err;
  }
  if (era === 'seed') return tablePlacement(input.symbols, source);
  const placed = eraTablePlacement(era, input.symbols);
  if ('refusal' in placed) throw new InputError(`${source}: ${placed.refusal}`);
  return placed;
}
