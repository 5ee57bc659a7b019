import { InputError } from '../core/errors.js';
import { hex } from '../core/text.js';
import {
  alignDown, alignUp, isPageAligned, physAddr, spansOverlap, virtAddr,
  KiB, PAGE_SIZE, type PhysAddr, type Span, type VirtAddr,
} from '../core/addr.js';
import { flags, EXECUTE_DISABLE, PRESENT, USER, WRITABLE, NO_FLAGS, type PageFlags } from './flags.js';
import { identitySpan, isReachable, MODES, topLevelIndex, topLevelScope, type ModeHierarchy } from './modes.js';

export type Symbols = ReadonlyMap<string, bigint>;

/** Physical memory identity-mapped with one set of flags. */
export interface IdentityMapping {
  readonly what: string;
  readonly base: PhysAddr;
  readonly size: bigint;
  readonly flags: PageFlags;
  /** Page 0 stays unmapped, so that NULL dereferences fault. */
  readonly skipNullPage: boolean;
}

/** RAM seen a second time at the kernel's virtual base, through the same lower tables. */
export interface DualMapping {
  readonly virtBase: VirtAddr;
  /** First top-level entry of the virtual window, and of the identity window it copies. */
  readonly virtIndex: number;
  readonly physIndex: number;
  readonly entries: number;
}

/** A linker-script region whose pages get their own flags. */
export interface RegionPermission {
  readonly name: string;
  readonly start: VirtAddr;
  readonly size: bigint;
  readonly flags: PageFlags;
}

/** Everything the tables are built from, checked. */
export interface Layout {
  readonly mode: ModeHierarchy;
  readonly tablesPhys: PhysAddr;
  /** RAM first, then XIP flash; mapped in this order. */
  readonly identity: readonly IdentityMapping[];
  readonly dual?: DualMapping;
  /** Applied in this order; a later region wins where they overlap. */
  readonly regions: readonly RegionPermission[];
}

const isSet = (symbols: Symbols, name: string): boolean => symbols.has(name);

function required(symbols: Symbols, name: string, why = ''): bigint {
  const value = symbols.get(name);
  if (value === undefined) throw new InputError(`missing required symbol ${name}${why}`);
  return value;
}

function checkAligned(what: string, base: bigint, size: bigint): void {
  if (!isPageAligned(base)) throw new InputError(`${what}: base ${hex(base)} is not 4 KiB aligned`);
  if (!isPageAligned(size)) throw new InputError(`${what}: size ${hex(size)} at ${hex(base)} is not a multiple of 4 KiB`);
}

const span = (base: bigint, size: bigint): Span => ({ start: base, end: base + size });

function modeOf(symbols: Symbols): ModeHierarchy {
  if (isSet(symbols, 'CONFIG_X86_64')) return MODES.ia32e;
  if (isSet(symbols, 'CONFIG_X86_PAE')) return MODES.pae;
  return MODES['32bit'];
}

/** The regions CONFIG_SRAM_REGION_PERMISSIONS adjusts, with their flags, in the order they are applied. */
function permissionRegions(symbols: Symbols, mode: ModeHierarchy): { name: string; flags: PageFlags; why: string }[] {
  const regions = [
    { name: '_image_text', flags: flags(PRESENT, USER), why: 'CONFIG_SRAM_REGION_PERMISSIONS' },
    { name: '_image_rodata', flags: flags(PRESENT, USER, EXECUTE_DISABLE), why: 'CONFIG_SRAM_REGION_PERMISSIONS' },
  ];
  if (isSet(symbols, 'CONFIG_COVERAGE_GCOV') && isSet(symbols, 'CONFIG_USERSPACE')) {
    // User mode writes its coverage counters here.
    regions.push({ name: '__gcov_bss', flags: flags(PRESENT, WRITABLE, USER, EXECUTE_DISABLE), why: 'CONFIG_COVERAGE_GCOV with CONFIG_USERSPACE' });
  }
  if (mode.name === 'ia32e') {
    // With KPTI the user page tables need the entry/exit code and its read-only data.
    const kptiUser = isSet(symbols, 'CONFIG_X86_KPTI') ? USER : NO_FLAGS;
    regions.push(
      { name: '_locore', flags: flags(PRESENT, kptiUser), why: 'CONFIG_X86_64 with CONFIG_SRAM_REGION_PERMISSIONS' },
      { name: '_lorodata', flags: flags(PRESENT, EXECUTE_DISABLE, kptiUser), why: 'CONFIG_X86_64 with CONFIG_SRAM_REGION_PERMISSIONS' },
    );
  }
  return regions;
}

/** Refuses a mapping that leaves the addresses the mode can translate. */
function checkIdentityReach(mode: ModeHierarchy, what: string, base: bigint, size: bigint): void {
  // Identity means virtual = physical: only the span starting at 0 qualifies (the
  // IA-32e high half is canonical but no physical address is that large).
  const identity = identitySpan(mode);
  if (!(base >= identity.start && base + size <= identity.end)) {
    const limit = identity.end;
    throw new InputError(
      `${what} ${hex(base)}-${hex(base + size)} ends above ${hex(limit)}, the most ${mode.title} can identity-map` +
      ` (higher addresses would wrap or not be canonical)`,
    );
  }
}

function dualMapping(mode: ModeHierarchy, ram: IdentityMapping, virtBase: bigint): DualMapping {
  const scope = topLevelScope(mode);
  const offset = ram.base % scope;
  if (virtBase % scope !== offset) {
    throw new InputError(
      `CONFIG_KERNEL_VM_BASE ${hex(virtBase)} and CONFIG_SRAM_BASE_ADDRESS ${hex(ram.base)} are misaligned:` +
      ` they must be equal modulo ${hex(scope)}, the scope of a top-level entry`,
    );
  }
  const windowVirt = alignDown(virtBase, scope);
  const windowPhys = alignDown(ram.base, scope);
  const windowSize = alignUp(ram.size + offset, scope);
  if (!isReachable(mode, windowVirt, windowVirt + windowSize)) {
    throw new InputError(
      `dual mapping window ${hex(windowVirt)}-${hex(windowVirt + windowSize)} (CONFIG_KERNEL_VM_BASE ${hex(virtBase)},` +
      ` rounded to top-level entries) leaves the addresses ${mode.title} can translate`,
    );
  }
  if (spansOverlap(span(windowVirt, windowSize), span(windowPhys, windowSize))) {
    throw new InputError(
      `dual mapping window ${hex(windowVirt)}-${hex(windowVirt + windowSize)} shares top-level entries with the identity` +
      ` mapping ${hex(windowPhys)}-${hex(windowPhys + windowSize)}; move CONFIG_KERNEL_VM_BASE at least ${hex(windowSize)} away`,
    );
  }
  return {
    virtBase: virtAddr(virtBase),
    virtIndex: topLevelIndex(mode, windowVirt),
    physIndex: topLevelIndex(mode, windowPhys),
    entries: Number(windowSize / scope),
  };
}

/** The pages an identity mapping makes present: all of it, but for a skipped NULL page. */
export function mappedSpan(mapping: IdentityMapping): Span {
  const start = mapping.skipNullPage && mapping.base === 0n ? PAGE_SIZE : mapping.base;
  return { start, end: mapping.base + mapping.size };
}

/** The virtual spans the identity and dual mappings make present. */
function mappedSpans(identity: readonly IdentityMapping[], ram: IdentityMapping, dual: DualMapping | undefined): Span[] {
  const spans = identity.map(mappedSpan);
  if (dual) spans.push(span(dual.virtBase, ram.size));
  return spans;
}

/** The first page of [start, end) that no span covers, or undefined. */
function firstUncovered(start: bigint, end: bigint, spans: readonly Span[]): bigint | undefined {
  let cursor = start;
  for (let progressed = true; cursor < end && progressed; ) {
    progressed = false;
    for (const s of spans) {
      if (s.start <= cursor && cursor < s.end) {
        cursor = s.end;
        progressed = true;
      }
    }
  }
  return cursor < end ? cursor : undefined;
}

/** Reads the kernel's symbols into a checked layout, refusing every layout the tables could not express. */
export function layoutFromSymbols(symbols: Symbols): Layout {
  const mode = modeOf(symbols);
  const ramBase = required(symbols, 'CONFIG_SRAM_BASE_ADDRESS');
  const ramSize = required(symbols, 'CONFIG_SRAM_SIZE') * KiB;
  const virtBase = required(symbols, 'CONFIG_KERNEL_VM_BASE');
  const tablesVirt = required(symbols, 'z_x86_pagetables_start');
  const permissions = isSet(symbols, 'CONFIG_SRAM_REGION_PERMISSIONS');
  const isDual = virtBase !== ramBase;

  // Without region permissions nothing is execute-disabled.
  const baseFlags = permissions ? flags(PRESENT, EXECUTE_DISABLE) : PRESENT;

  checkAligned('RAM (CONFIG_SRAM_BASE_ADDRESS, CONFIG_SRAM_SIZE)', ramBase, ramSize);
  if (ramSize === 0n) throw new InputError('CONFIG_SRAM_SIZE is 0: there is no RAM to map');
  checkIdentityReach(mode, 'RAM', ramBase, ramSize);
  const ram: IdentityMapping = { what: 'RAM', base: physAddr(ramBase), size: ramSize, flags: flags(baseFlags, WRITABLE), skipNullPage: !isDual };
  const identity = [ram];

  if (isSet(symbols, 'CONFIG_XIP')) {
    if (isDual) {
      throw new InputError(`CONFIG_XIP cannot be combined with a virtual base: CONFIG_KERNEL_VM_BASE ${hex(virtBase)} differs from CONFIG_SRAM_BASE_ADDRESS ${hex(ramBase)}`);
    }
    const flashBase = required(symbols, 'CONFIG_FLASH_BASE_ADDRESS', ' (CONFIG_XIP is set)');
    const flashSize = required(symbols, 'CONFIG_FLASH_SIZE', ' (CONFIG_XIP is set)') * KiB;
    checkAligned('flash (CONFIG_FLASH_BASE_ADDRESS, CONFIG_FLASH_SIZE)', flashBase, flashSize);
    checkIdentityReach(mode, 'flash', flashBase, flashSize);
    if (spansOverlap(span(flashBase, flashSize), span(ramBase, ramSize))) {
      throw new InputError(`flash ${hex(flashBase)}-${hex(flashBase + flashSize)} overlaps RAM ${hex(ramBase)}-${hex(ramBase + ramSize)}`);
    }
    identity.push({ what: 'flash', base: physAddr(flashBase), size: flashSize, flags: baseFlags, skipNullPage: true });
  }

  const dual = isDual ? dualMapping(mode, ram, virtBase) : undefined;

  const tablesPhys = tablesVirt - (virtBase - ramBase);
  if (tablesPhys < 0n || tablesPhys >= mode.tablesLimit || !isPageAligned(tablesPhys)) {
    throw new InputError(
      `z_x86_pagetables_start ${hex(tablesVirt)} is at physical ${tablesPhys < 0n ? `-${hex(-tablesPhys)}` : hex(tablesPhys)}:` +
      ` page tables need a 4 KiB aligned physical address below ${hex(mode.tablesLimit)}`,
    );
  }

  const regions: RegionPermission[] = [];
  if (permissions) {
    const spans = mappedSpans(identity, ram, dual);
    for (const region of permissionRegions(symbols, mode)) {
      const why = ` (${region.why} is set)`;
      const start = required(symbols, `${region.name}_start`, why);
      const size = required(symbols, `${region.name}_size`, why);
      checkAligned(`region ${region.name}`, start, size);
      // Page 0 is left alone: it is the NULL page.
      const unmapped = firstUncovered(start === 0n ? PAGE_SIZE : start, start + size, spans);
      if (unmapped !== undefined) {
        throw new InputError(`region ${region.name} ${hex(start)}-${hex(start + size)}: page ${hex(unmapped)} is not mapped by RAM${identity.length > 1 ? ' or flash' : ''}${dual ? ' or the dual mapping' : ''}`);
      }
      regions.push({ name: region.name, start: virtAddr(start), size, flags: region.flags });
    }
  }

  return { mode, tablesPhys: physAddr(tablesPhys), identity, ...(dual ? { dual } : {}), regions };
}

/**
 * How many tables below the top level the layout's identity mappings create
 * (the dual window shares them): at each level, one per distinct region of
 * its parent's entry size that a mapped page falls in.
 */
export function lowerTablesNeeded(layout: Layout): number {
  const spans = layout.identity.map(mappedSpan).filter((s) => s.end > s.start).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let total = 0n;
  for (const parent of layout.mode.levels.slice(0, -1)) {
    const scope = 1n << BigInt(parent.shift);
    let next = 0n;
    for (const s of spans) {
      const first = s.start / scope > next ? s.start / scope : next;
      const last = (s.end - 1n) / scope;
      if (last >= first) total += last - first + 1n;
      if (last + 1n > next) next = last + 1n;
    }
  }
  return Number(total);
}
