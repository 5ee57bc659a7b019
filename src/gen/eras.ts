import { InputError } from '../core/errors.js';
import { formatSize, hex } from '../core/text.js';
import type { ZephyrEra } from '../elf/zephyr-era.js';
import type { PagingModeName } from '../elf/kernel.js';
import { EraTables, type EntryTrace, type EraLevel } from './era-tables.js';
import type { ExtraMapping, NumberSyntax } from './map-option.js';
import { layoutFromSymbols, lowerTablesNeeded, type Layout, type Symbols } from './layout.js';
import { indexedAddress, isReachable, MODES, topLevelBytes, INTERMEDIATE_FLAGS } from './modes.js';
import {
  CACHE_DISABLE, DIRTY, EXECUTE_DISABLE, GLOBAL, IGNORED_9, IGNORED_10, IGNORED_11, PAGE_SIZE, PRESENT, USER, WRITABLE, describeFlags,
} from './flags.js';

// Entry bits (Intel SDM Vol. 3A, 4.3-4.5), by the scripts' short names.
const P: bigint = PRESENT;
const RW: bigint = WRITABLE;
const US: bigint = USER;
const XD: bigint = EXECUTE_DISABLE;
const INTERMEDIATE: bigint = INTERMEDIATE_FLAGS;
const PAGE_BYTES = 4096n;

/**
 * What an era writes for "writable", "user" and "execute-disable": from v2.5
 * on each is mirrored in an ignored bit (9, 10, 11) so that the kernel can
 * restore it later; the hardware does not look at those bits.
 */
interface EntryBits {
  readonly rw: bigint;
  readonly us: bigint;
  readonly xd: bigint;
}

const PLAIN: EntryBits = { rw: RW, us: US, xd: XD };
const MIRRORED: EntryBits = { rw: RW | IGNORED_9, us: US | IGNORED_10, xd: XD | IGNORED_11 };

/** The flags each level of an era's tables keeps (everything else is filtered out), as its script has them. */
interface LevelFlags {
  readonly upper: bigint;
  readonly leaf32: bigint;
  readonly leaf64: bigint;
}

/** A region whose leaf entries get their own flags, applied in list order. */
interface RegionRule {
  readonly name: string;
  readonly flags: (ctx: EraContext) => bigint;
  readonly when?: (ctx: EraContext) => boolean;
}

/** Everything a step reads and writes. */
export interface EraContext {
  readonly era: EraDefinition;
  readonly symbols: Symbols;
  readonly sizes: ReadonlyMap<string, bigint>;
  readonly mode: PagingModeName;
  readonly extraMappings: readonly ExtraMapping[];
  readonly log: (line: string) => void;
  readonly maxTablesBytes: number;
  /** Set by the first step, which reads where everything is. */
  plan: Plan;
  tables: EraTables;
}

/** The addresses an era's script derives from the symbols before building. */
export interface Plan {
  readonly tablesPhys: bigint;
  /** Physical minus virtual address of the kernel image (0 when linked at its load address). */
  readonly virtToPhys: bigint;
  readonly imageBase: bigint;
  readonly imageSize: bigint;
  readonly vmBase: bigint;
  readonly vmSize: bigint;
  /** Flags of the image's pages before region permissions. */
  readonly baseFlags: bigint;
  /** The seed: its checked layout (layout.ts), which its steps follow. */
  readonly layout?: Layout;
}

export type EraStep = (ctx: EraContext) => void;

export interface EraDefinition {
  readonly era: ZephyrEra;
  readonly bits: EntryBits;
  readonly levelFlags: LevelFlags;
  /** `--map` and how its numbers are read; undefined: the era has no --map. */
  readonly mapNumbers?: NumberSyntax;
  /** Whether generic sections may be left not present at boot (CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT unset). */
  readonly demandPaging: boolean;
  /** Whether -vv traces every entry (the era counts -v). */
  readonly countsVerbose: boolean;
  /** Whether argparse accepts unique prefixes of long options. */
  readonly allowsAbbreviations: boolean;
  /** Reads the addresses; the first step. */
  readonly plan: (ctx: EraContext) => Plan;
  /** The lower tables, counted before building (the file is then allocated once); undefined: made as they come. */
  readonly capacity?: (ctx: EraContext) => number;
  readonly steps: readonly EraStep[];
  /** Checks the finished tables against the kernel (the placeholder's size). */
  readonly check?: (ctx: EraContext, bytes: Uint8Array) => void;
}

// ---------------------------------------------------------------- symbols

const isSet = (ctx: EraContext, name: string): boolean => ctx.symbols.has(name);

function need(ctx: EraContext, name: string, why = ''): bigint {
  const value = ctx.symbols.get(name);
  if (value === undefined) throw new InputError(`missing required symbol ${name}${why} (the ${ctx.era.era} gen_mmu.py reads it)`);
  return value;
}

// ---------------------------------------------------------------- levels

/**
 * The levels of `mode` (modes.ts) with the era's flag filters; `fixed` keeps
 * only what the hardware allows where the script does not (a PAE PDPTE: only
 * P, R/W and U/S being reserved there), and gives a large page the XD its
 * mapping asked for (the scripts filter page-directory entries without XD).
 */
export function eraLevels(era: EraDefinition, mode: PagingModeName, fixed: boolean): EraLevel[] {
  const { upper, leaf32, leaf64 } = era.levelFlags;
  const levels = MODES[mode].levels;
  return levels.map((level, depth) => {
    const leaf = depth === levels.length - 1;
    let allowed = leaf ? (level.entryBytes === 4 ? leaf32 : leaf64) : upper;
    // The scripts' PML4 keeps P RW US only; their PAE PDPT keeps `upper`.
    if (mode === 'ia32e' && depth === 0) allowed = INTERMEDIATE;
    if (mode === 'pae' && depth === 0 && fixed) allowed = level.allowedFlags;
    const directory = depth === levels.length - 2;
    return { ...level, allowed, allowedLarge: directory && fixed ? allowed | XD : allowed };
  });
}

// ---------------------------------------------------------------- the table builder's operations

interface RangeMapping {
  readonly what: string;
  readonly phys: bigint;
  /** undefined: identity */
  readonly virt?: bigint;
  readonly size: bigint;
  readonly flags: bigint;
  /** Map with large pages (page-directory entries) instead of 4 KiB pages. */
  readonly large?: boolean;
  /** Map page 0 even in an identity mapping (the seed's RAM when it is also dual-mapped). */
  readonly keepNullPage?: boolean;
}

function checkAligned(what: string, base: bigint, size: bigint, scope: bigint): void {
  if (base % scope !== 0n) throw new InputError(`${what}: base ${hex(base)} is not ${formatSize(scope)} aligned`);
  if (size % scope !== 0n) throw new InputError(`${what}: size ${hex(size)} at ${hex(base)} is not a multiple of ${formatSize(scope)}`);
}

function checkReach(ctx: EraContext, what: string, virt: bigint, phys: bigint | undefined, size: bigint): void {
  if (size < 0n) throw new InputError(`${what}: ends before it starts (size ${size})`);
  if (virt < 0n || (phys ?? 0n) < 0n) throw new InputError(`${what}: negative address -${hex(-(virt < 0n ? virt : phys!))}`);
  if (!isReachable(MODES[ctx.mode], virt, virt + size)) {
    throw new InputError(`${what}: virtual ${hex(virt)}-${hex(virt + size)} leaves the addresses ${ctx.mode} paging can translate`);
  }
  if (phys !== undefined && phys + size > MODES[ctx.mode].physLimit) {
    throw new InputError(`${what}: physical ${hex(phys)}-${hex(phys + size)} ends above ${hex(MODES[ctx.mode].physLimit)}, which ${ctx.mode} entries cannot address`);
  }
}

const indexed = (ctx: EraContext, virt: bigint): number => indexedAddress(MODES[ctx.mode], virt);

/** Refuses a step whose 4 KiB pages alone would need more tables than the size limit allows (before looping over them). */
function checkStepSize(ctx: EraContext, what: string, size: bigint, scope: bigint): void {
  const entriesPerTable = ctx.mode === '32bit' ? 1024n : 512n;
  const tables = size / (scope * entriesPerTable);
  const limit = BigInt(ctx.maxTablesBytes);
  if (tables * 4096n > limit) {
    throw new InputError(`${what} (${formatSize(size)}) needs more than ${formatSize(limit)} of page tables (the tables-size limit; raise it with --max-tables-size)`);
  }
}

/**
 * An identity mapping in 4 KiB pages never maps the NULL page: page 0 is
 * dropped from the range before any table is walked, so a range of page 0
 * alone creates no tables (as every script skips it before its walk).
 */
function withoutNullPage(m: RangeMapping & { readonly virt: bigint }): RangeMapping & { readonly virt: bigint } {
  if (m.large || m.keepNullPage || m.virt !== m.phys || m.phys !== 0n || m.size === 0n) return m;
  return { ...m, phys: PAGE_BYTES, virt: PAGE_BYTES, size: m.size - PAGE_BYTES };
}

/** map(): virtual pages to physical ones, but the NULL page of an identity mapping. */
function mapRange(ctx: EraContext, m: RangeMapping): void {
  const { tables } = ctx;
  const depth = m.large ? tables.directoryDepth : tables.leafDepth;
  const scope = BigInt(tables.scope(depth));
  const virt = m.virt ?? m.phys;
  const identity = virt === m.phys;
  checkReach(ctx, m.what, virt, m.phys, m.size);
  checkAligned(m.what, m.phys, m.size, scope);
  checkAligned(m.what, virt, m.size, scope);
  checkStepSize(ctx, m.what, m.size, scope);
  const mapped = withoutNullPage({ ...m, virt });
  const nullPage = mapped.size !== m.size ? ', page 0 left unmapped' : '';
  ctx.log(`map ${m.what}: ${identity ? 'identity ' : ''}${hex(virt)}-${hex(virt + m.size)}${identity ? '' : ` -> physical ${hex(m.phys)}`} (${formatSize(m.size)})${m.large ? ' with large pages' : ''}: ${describeFlags(m.flags)}${nullPage}`);
  tables.mapRun(indexed(ctx, mapped.virt), Number(mapped.phys), Number(mapped.size / scope), m.flags, depth, m.what);
}

/** reserve(): every table down to `depth` for [base, base + size), which must start on a page-directory entry. */
function reserveRange(ctx: EraContext, what: string, base: bigint, size: bigint, depth: number): void {
  const { tables } = ctx;
  const scope = BigInt(tables.scope(tables.directoryDepth));
  checkReach(ctx, what, base, undefined, size);
  checkAligned(what, base, size, 4096n);
  if (base % scope !== 0n) throw new InputError(`${what}: misaligned virtual address space, ${hex(base)} is not a multiple of ${hex(scope)}`);
  checkStepSize(ctx, what, size, depth === tables.leafDepth ? 4096n : scope * 512n);
  ctx.log(`reserve tables for ${what} ${hex(base)}-${hex(base + size)} (${formatSize(size)})`);
  const count = Number((size + scope - 1n) / scope);
  const v0 = indexed(ctx, base);
  for (let i = 0; i < count; i++) tables.reserve(v0 + i * Number(scope), depth);
}

/** reserve_unaligned(): the same, widened to whole page-directory entries. */
function reserveWidened(ctx: EraContext, what: string, base: bigint, size: bigint, depth: number): void {
  const scope = BigInt(ctx.tables.scope(ctx.tables.directoryDepth));
  const start = base - (base % scope);
  const end = ((base + size + scope - 1n) / scope) * scope;
  reserveRange(ctx, what, start, end - start, depth);
}

/** How a region's extent is found: `_start` + `_size` both required (before v2.6), or `_size` else `_end`, absent regions skipped. */
type RegionExtent = 'start-size' | 'size-or-end';

function regionExtent(ctx: EraContext, name: string, how: RegionExtent): { start: bigint; size: bigint } | undefined {
  const why = ' (CONFIG_SRAM_REGION_PERMISSIONS is set)';
  if (how === 'start-size') return { start: need(ctx, `${name}_start`, why), size: need(ctx, `${name}_size`, why) };
  if (!isSet(ctx, `${name}_start`)) return undefined;
  const start = need(ctx, `${name}_start`);
  if (isSet(ctx, `${name}_size`)) return { start, size: need(ctx, `${name}_size`) };
  const end = ctx.symbols.get(`${name}_end`);
  if (end === undefined) throw new InputError(`region ${name}: ${name}_start is defined but neither ${name}_size nor ${name}_end is`);
  return { start, size: end - start };
}

/** set_region_perms() of a region named by its symbols. */
function setRegionFlags(ctx: EraContext, name: string, flags: bigint, how: RegionExtent): void {
  const extent = regionExtent(ctx, name, how);
  if (!extent) return;
  if (how === 'size-or-end' && extent.size === 0n) return;
  applyRegionFlags(ctx, name, extent.start, extent.size, flags);
}

/** set_region_perms(): new flags for the region's leaf entries, keeping their addresses; page 0 is left alone. */
function applyRegionFlags(ctx: EraContext, name: string, start: bigint, size: bigint, flags: bigint): void {
  const what = `region ${name}`;
  if (size < 0n) throw new InputError(`${what}: ends before it starts (${hex(start)}, size ${size})`);
  checkAligned(what, start, size, 4096n);
  if (!isReachable(MODES[ctx.mode], start, start + size)) throw new InputError(`${what}: ${hex(start)}-${hex(start + size)} leaves the addresses ${ctx.mode} paging can translate`);
  checkStepSize(ctx, what, size, 4096n);
  ctx.log(`region ${name} ${hex(start)}-${hex(start + size)} (${formatSize(size)}): ${describeFlags(flags)}`);
  const v0 = indexed(ctx, start);
  const pages = Number(size / 4096n);
  const label = `${what} ${hex(start)}-${hex(start + size)}`;
  for (let i = start === 0n ? 1 : 0; i < pages; i++) {
    ctx.tables.setLeafFlags(v0 + i * 4096, flags, label);
  }
}


// ---------------------------------------------------------------- steps, each one of a script's operations

/** v2.4: the dual mapping gone, RAM is mapped to itself. */
function planIdentity(ctx: EraContext): Plan {
  const base = need(ctx, 'CONFIG_SRAM_BASE_ADDRESS');
  const size = need(ctx, 'CONFIG_SRAM_SIZE') * 1024n;
  return {
    tablesPhys: need(ctx, 'z_x86_pagetables_start'),
    virtToPhys: 0n,
    imageBase: base,
    imageSize: size,
    vmBase: base,
    vmSize: size,
    baseFlags: isSet(ctx, 'CONFIG_SRAM_REGION_PERMISSIONS') ? P | ctx.era.bits.xd : P,
  };
}

/** v2.5: the kernel image (or all RAM) inside the kernel's VM window. */
function planImage(ctx: EraContext): Plan {
  const vmBase = need(ctx, 'CONFIG_KERNEL_VM_BASE');
  const vmSize = need(ctx, 'CONFIG_KERNEL_VM_SIZE');
  const allRam = isSet(ctx, 'CONFIG_ARCH_MAPS_ALL_RAM');
  const imageBase = allRam ? need(ctx, 'CONFIG_SRAM_BASE_ADDRESS') : need(ctx, 'z_mapped_start');
  const imageSize = allRam ? need(ctx, 'CONFIG_SRAM_SIZE') * 1024n : need(ctx, 'z_mapped_size');
  if (imageSize >= vmSize) throw new InputError(`CONFIG_KERNEL_VM_SIZE ${hex(vmSize)} is too small: the image needs more than ${hex(imageSize)}`);
  return {
    tablesPhys: need(ctx, 'z_x86_pagetables_start'),
    virtToPhys: 0n,
    imageBase,
    imageSize,
    vmBase,
    vmSize,
    baseFlags: isSet(ctx, 'CONFIG_SRAM_REGION_PERMISSIONS') ? P | ctx.era.bits.xd : P,
  };
}

/** 2025: without CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT the image's pages are written not present (demand paging). */
function generic(ctx: EraContext): boolean {
  return !ctx.era.demandPaging || isSet(ctx, 'CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT');
}

/** v2.6 and later: linked at a virtual address, loaded at (SRAM base + offset). */
function planLinkedVirtual(ctx: EraContext): Plan {
  const vmBase = need(ctx, 'CONFIG_KERNEL_VM_BASE');
  const vmSize = need(ctx, 'CONFIG_KERNEL_VM_SIZE');
  const vmOffset = need(ctx, 'CONFIG_KERNEL_VM_OFFSET');
  const sramBase = need(ctx, 'CONFIG_SRAM_BASE_ADDRESS');
  const sramSize = need(ctx, 'CONFIG_SRAM_SIZE') * 1024n;
  const mappedStart = need(ctx, 'z_mapped_start');
  const mappedSize = need(ctx, 'z_mapped_size');
  const sramOffset = ctx.symbols.get('CONFIG_SRAM_OFFSET') ?? 0n;
  const virtToPhys = sramBase + sramOffset - (vmBase + vmOffset);
  const allRam = isSet(ctx, 'CONFIG_ARCH_MAPS_ALL_RAM');
  const imageBase = allRam ? sramBase : mappedStart;
  const imageSize = allRam ? sramSize : mappedSize;
  if (imageSize >= vmSize) throw new InputError(`CONFIG_KERNEL_VM_SIZE ${hex(vmSize)} is too small: the image needs more than ${hex(imageSize)}`);
  const perms = isSet(ctx, 'CONFIG_SRAM_REGION_PERMISSIONS') ? ctx.era.bits.xd : 0n;
  return {
    tablesPhys: need(ctx, 'z_x86_pagetables_start') + virtToPhys,
    virtToPhys,
    imageBase,
    imageSize,
    vmBase,
    vmSize,
    baseFlags: perms | (generic(ctx) ? P : 0n),
  };
}


const mapRam: EraStep = (ctx) =>
  mapRange(ctx, { what: 'RAM', phys: ctx.plan.imageBase, size: ctx.plan.imageSize, flags: ctx.plan.baseFlags | ctx.era.bits.rw });

const reserveVmWindow: EraStep = (ctx) =>
  reserveRange(ctx, 'the kernel VM window (CONFIG_KERNEL_VM_BASE, CONFIG_KERNEL_VM_SIZE)', ctx.plan.vmBase, ctx.plan.vmSize, ctx.tables.leafDepth);

const mapImage: EraStep = (ctx) => {
  const { plan } = ctx;
  const flags = plan.baseFlags | ctx.era.bits.rw;
  if (generic(ctx)) {
    mapRange(ctx, { what: 'the kernel image', phys: plan.imageBase + plan.virtToPhys, virt: plan.imageBase, size: plan.imageSize, flags });
  } else {
    // Entries made, not present: demand paging fills them; boot and pinned sections are mapped below.
    mapRange(ctx, { what: 'the kernel image (not present at boot)', phys: plan.imageBase, virt: plan.imageBase, size: plan.imageSize, flags });
  }
};

/** The image's physical pages mapped to themselves with large pages, for the jump from physical to virtual addresses. */
const bootIdentityLargePages: EraStep = (ctx) => {
  const { plan, tables } = ctx;
  if (plan.virtToPhys === 0n) return;
  const phys = plan.imageBase + plan.virtToPhys;
  const what = 'the boot identity map of the image';
  reserveWidened(ctx, what, phys, plan.imageSize, tables.directoryDepth);
  const scope = BigInt(tables.scope(tables.directoryDepth));
  const start = phys - (phys % scope);
  const end = ((phys + plan.imageSize + scope - 1n) / scope) * scope;
  mapRange(ctx, { what, phys: start, size: end - start, flags: P | RW | PAGE_SIZE, large: true });
};

/** What is present at boot whatever the image is (locore, flash, boot and pinned sections). */
const presentFlag = (ctx: EraContext): bigint => (ctx.era.demandPaging ? P : 0n);

const mapLocore: EraStep = (ctx) => {
  if (!isSet(ctx, 'CONFIG_X86_64')) return;
  const start = need(ctx, '_locore_start', ' (CONFIG_X86_64 is set)');
  const size = need(ctx, '_lodata_end', ' (CONFIG_X86_64 is set)') - start;
  mapRange(ctx, { what: 'locore (_locore_start to _lodata_end)', phys: start, size, flags: ctx.plan.baseFlags | presentFlag(ctx) | ctx.era.bits.rw });
};

const mapXipFlash: EraStep = (ctx) => {
  if (!isSet(ctx, 'CONFIG_XIP')) return;
  const base = need(ctx, 'CONFIG_FLASH_BASE_ADDRESS', ' (CONFIG_XIP is set)');
  const size = need(ctx, 'CONFIG_FLASH_SIZE', ' (CONFIG_XIP is set)') * 1024n;
  // Flash and RAM cannot share physical addresses; the scripts would silently give RAM flash's flags.
  const image = { start: ctx.plan.imageBase + ctx.plan.virtToPhys, end: ctx.plan.imageBase + ctx.plan.virtToPhys + ctx.plan.imageSize };
  if (size > 0n && image.end > image.start && base < image.end && image.start < base + size) {
    throw new InputError(`XIP flash ${hex(base)}-${hex(base + size)} overlaps the image ${hex(image.start)}-${hex(image.end)}`);
  }
  mapRange(ctx, { what: 'XIP flash', phys: base, size, flags: ctx.plan.baseFlags | presentFlag(ctx) });
};

/** Boot or pinned sections, present at boot, at their load addresses. */
const mapSection = (config: string, name: string): EraStep => (ctx) => {
  if (!isSet(ctx, config) || !isSet(ctx, `${name}_start`)) return;
  const start = need(ctx, `${name}_start`);
  const end = need(ctx, `${name}_end`, ` (${name}_start is defined)`);
  const size = end - start;
  mapRange(ctx, { what: `section ${name}`, phys: start + ctx.plan.virtToPhys, virt: start, size, flags: ctx.plan.baseFlags | presentFlag(ctx) | ctx.era.bits.rw });
};

/** --map: each region must not be mapped yet (the scripts mean to check this, but their check never fires). */
const mapExtra: EraStep = (ctx) => {
  const { bits } = ctx.era;
  for (const m of ctx.extraMappings) {
    const what = `--map ${m.argument}`;
    const depth = m.large ? ctx.tables.directoryDepth : ctx.tables.leafDepth;
    checkReach(ctx, what, m.virt, m.phys, m.size);
    checkAligned(what, m.virt, m.size, 4096n);
    checkStepSize(ctx, what, m.size, 4096n);
    for (let v = m.virt; v < m.virt + m.size; v += 4096n) {
      if (ctx.tables.isPresent(indexed(ctx, v), depth)) throw new InputError(`${what}: region ${hex(m.virt)} (${m.size}) is already mapped at ${hex(v)}`);
    }
    reserveWidened(ctx, what, m.virt, m.size, depth);
    let flags = P | bits.xd;
    if (m.writable) flags |= bits.rw;
    if (m.executable) flags &= ~bits.xd;
    if (m.user) flags |= bits.us;
    if (m.large) flags |= PAGE_SIZE;
    if (m.cacheDisabled) flags |= CACHE_DISABLE;
    mapRange(ctx, { what, phys: m.phys, virt: m.virt, size: m.size, flags, large: m.large });
  }
};

const regionPermissions = (rules: readonly RegionRule[], how: RegionExtent): EraStep => (ctx) => {
  if (!isSet(ctx, 'CONFIG_SRAM_REGION_PERMISSIONS')) return;
  for (const rule of rules) {
    if (rule.when && !rule.when(ctx)) continue;
    setRegionFlags(ctx, rule.name, rule.flags(ctx), how);
  }
};

const gdb = (ctx: EraContext): bigint => (isSet(ctx, 'CONFIG_GDBSTUB') ? ctx.era.bits.rw : 0n);
const kptiUser = (ctx: EraContext): bigint => (isSet(ctx, 'CONFIG_X86_KPTI') ? ctx.era.bits.us : 0n);
const is64 = (ctx: EraContext): boolean => isSet(ctx, 'CONFIG_X86_64');
const gcov = (ctx: EraContext): boolean => isSet(ctx, 'CONFIG_COVERAGE_GCOV') && isSet(ctx, 'CONFIG_USERSPACE');
const boot = (ctx: EraContext): boolean => isSet(ctx, 'CONFIG_LINKER_USE_BOOT_SECTION');
const pinned = (ctx: EraContext): boolean => isSet(ctx, 'CONFIG_LINKER_USE_PINNED_SECTION');

/** Text and rodata as the era names them, then gcov and locore: the order every script applies them in. */
function classicRegions(text: string, rodata: string): RegionRule[] {
  return [
    { name: text, flags: (c) => P | c.era.bits.us | gdb(c) },
    { name: rodata, flags: (c) => P | c.era.bits.us | c.era.bits.xd },
    { name: '__gcov_bss', when: gcov, flags: (c) => P | c.era.bits.rw | c.era.bits.us | c.era.bits.xd },
    { name: '_locore', when: is64, flags: (c) => P | kptiUser(c) },
    { name: '_lorodata', when: is64, flags: (c) => P | c.era.bits.xd | kptiUser(c) },
  ];
}

const V26_REGIONS: RegionRule[] = [
  { name: '_image_text', flags: (c) => P | c.era.bits.us | gdb(c) },
  { name: 'lnkr_boot_text', when: boot, flags: (c) => P | c.era.bits.us | gdb(c) },
  { name: 'lnkr_pinned_text', when: pinned, flags: (c) => P | c.era.bits.us | gdb(c) },
  { name: '_image_rodata', flags: (c) => P | c.era.bits.us | c.era.bits.xd },
  { name: 'lnkr_boot_rodata', when: boot, flags: (c) => P | c.era.bits.us | c.era.bits.xd },
  { name: 'lnkr_pinned_rodata', when: pinned, flags: (c) => P | c.era.bits.us | c.era.bits.xd },
  ...classicRegions('', '').slice(2),
];

/** 2025: text and rodata present only when generic sections are; boot and pinned ones always. */
const generic2025 = (c: EraContext): bigint => (generic(c) ? P : 0n);
const REGIONS_2025: RegionRule[] = [
  { name: '__text_region', flags: (c) => c.era.bits.us | gdb(c) | generic2025(c) },
  { name: 'lnkr_boot_text', when: boot, flags: (c) => P | c.era.bits.us | gdb(c) },
  { name: 'lnkr_pinned_text', when: pinned, flags: (c) => P | c.era.bits.us | gdb(c) },
  { name: '__rodata_region', flags: (c) => c.era.bits.us | c.era.bits.xd | generic2025(c) },
  { name: 'lnkr_boot_rodata', when: boot, flags: (c) => P | c.era.bits.us | c.era.bits.xd },
  { name: 'lnkr_pinned_rodata', when: pinned, flags: (c) => P | c.era.bits.us | c.era.bits.xd },
  ...classicRegions('', '').slice(2),
  // CET shadow stacks: read-only and dirty is how the CPU tells a shadow-stack page.
  { name: '__x86shadowstack', when: (c) => isSet(c, 'CONFIG_HW_SHADOW_STACK'), flags: (c) => P | DIRTY | c.era.bits.xd },
];

/**
 * The build fails unless the tables fill `dummy_pagetables` exactly (the
 * kernel finds the top-level table at the block's end). The hint says which
 * CONFIG_X86_EXTRA_PAGE_TABLE_PAGES would fit; a negative one is no fit.
 */
const checkPlaceholder = (ctx: EraContext, bytes: Uint8Array): void => {
  const reserved = ctx.sizes.get('dummy_pagetables') ?? 0n;
  const written = BigInt(bytes.length);
  if (reserved === 0n || reserved === written) return;
  const pageSize = need(ctx, 'CONFIG_MMU_PAGE_SIZE', ' (to size dummy_pagetables)');
  if (pageSize <= 0n || (pageSize & (pageSize - 1n)) !== 0n) throw new InputError(`CONFIG_MMU_PAGE_SIZE ${hex(pageSize)} is not a power of two`);
  const diff = written - reserved;
  const rounded = (diff + pageSize - 1n) & ~(pageSize - 1n);
  const raw = ctx.symbols.get('CONFIG_X86_EXTRA_PAGE_TABLE_PAGES');
  const bitsWide = is64(ctx) ? 64n : 32n;
  const extra = raw === undefined ? 0n : BigInt.asIntN(Number(bitsWide), raw);
  const needed = rounded / pageSize + extra;
  const reason = reserved > written ? 'big' : 'small';
  if (needed < 0n) {
    throw new InputError(
      `dummy_pagetables reserves ${reserved} bytes but the tables take ${written}: too big even with CONFIG_X86_EXTRA_PAGE_TABLE_PAGES=0` +
      ` (it would have to be ${needed}); the kernel's estimate of its tables does not fit this layout`,
    );
  }
  throw new InputError(`dummy_pagetables reserves ${reserved} bytes but the tables take ${written} (too ${reason}): set CONFIG_X86_EXTRA_PAGE_TABLE_PAGES=${needed}`);
};

// ---------------------------------------------------------------- the seed, from its checked layout

/** The seed: layout.ts reads and checks everything (its own refusals); the plan is that layout. */
function planSeed(ctx: EraContext): Plan {
  return seedPlan(layoutFromSymbols(ctx.symbols));
}

/** The plan of a checked seed layout: RAM is the image, seen at the dual window's base when there is one. */
export function seedPlan(layout: Layout): Plan {
  const ram = layout.identity[0]!;
  const vmBase = layout.dual?.virtBase ?? ram.base;
  return {
    tablesPhys: layout.tablesPhys, virtToPhys: ram.base - vmBase, imageBase: ram.base, imageSize: ram.size,
    vmBase, vmSize: ram.size, baseFlags: ram.flags & ~RW, layout,
  };
}

const seedLayout = (ctx: EraContext): Layout => ctx.plan.layout!;

/** Refuses, before anything is allocated, a block past the size limit or past what CR3 and the entries reach. */
function countSeedTables(ctx: EraContext): number {
  const layout = seedLayout(ctx);
  const lower = lowerTablesNeeded(layout);
  const bytes = lower * 4096 + topLevelBytes(layout.mode);
  if (bytes > ctx.maxTablesBytes) {
    throw new InputError(`the page tables would take ${bytes} bytes (${formatSize(BigInt(bytes))}), more than the limit of ${ctx.maxTablesBytes} bytes; raise it with --max-tables-size`);
  }
  const end = layout.tablesPhys + BigInt(bytes);
  if (end > layout.mode.tablesLimit) {
    throw new InputError(`page tables ${hex(layout.tablesPhys)}-${hex(end)} (z_x86_pagetables_start) end above ${hex(layout.mode.tablesLimit)}, beyond what ${layout.mode.title} can address`);
  }
  return lower;
}

/** RAM, then XIP flash, each mapped to itself; page 0 of RAM is kept when RAM is also dual-mapped. */
const mapSeedIdentity: EraStep = (ctx) => {
  for (const m of seedLayout(ctx).identity) {
    mapRange(ctx, { what: m.what, phys: m.base, size: m.size, flags: m.flags, keepNullPage: !m.skipNullPage });
  }
};

/** The dual window: its top-level entries point at the identity window's tables. */
const linkDualWindow: EraStep = (ctx) => {
  const { dual } = seedLayout(ctx);
  if (!dual) return;
  ctx.log(`dual-map RAM at ${hex(dual.virtBase)}: top-level entries ${dual.virtIndex}..${dual.virtIndex + dual.entries - 1} share the tables of entries ${dual.physIndex}..${dual.physIndex + dual.entries - 1}`);
  ctx.tables.linkTopLevel(dual.virtIndex, dual.physIndex, dual.entries);
};

/** The layout's regions, in order, with the flags it gave them; an empty one changes nothing, wherever it starts. */
const seedRegionPermissions: EraStep = (ctx) => {
  for (const region of seedLayout(ctx).regions) {
    if (region.size > 0n) applyRegionFlags(ctx, region.name, region.start, region.size, region.flags);
  }
};

// ---------------------------------------------------------------- the eras

const V24_LEVELS: LevelFlags = { upper: INTERMEDIATE, leaf32: P | RW | US | GLOBAL, leaf64: P | RW | US | GLOBAL | XD };
const V25_LEVELS: LevelFlags = { upper: INTERMEDIATE, leaf32: V24_LEVELS.leaf32 | IGNORED_9 | IGNORED_10, leaf64: V24_LEVELS.leaf64 | IGNORED_9 | IGNORED_10 | IGNORED_11 };
const V26_LEVELS: LevelFlags = { upper: INTERMEDIATE | PAGE_SIZE | CACHE_DISABLE, leaf32: V25_LEVELS.leaf32 | CACHE_DISABLE, leaf64: V25_LEVELS.leaf64 | CACHE_DISABLE };
const LEVELS_2025: LevelFlags = { upper: V26_LEVELS.upper, leaf32: V26_LEVELS.leaf32 | DIRTY, leaf64: V26_LEVELS.leaf64 | DIRTY };

const V26_STEPS: readonly EraStep[] = [
  reserveVmWindow, mapImage, bootIdentityLargePages, mapLocore, mapXipFlash,
  mapSection('CONFIG_LINKER_USE_BOOT_SECTION', 'lnkr_boot'), mapSection('CONFIG_LINKER_USE_PINNED_SECTION', 'lnkr_pinned'),
  mapExtra,
];

/** Every era: its data, and the steps one table builder (era-tables.ts) carries out. */
export const ERA_DEFINITIONS: Readonly<Record<ZephyrEra, EraDefinition>> = {
  seed: {
    era: 'seed', demandPaging: false, bits: PLAIN, levelFlags: V24_LEVELS, countsVerbose: false, allowsAbbreviations: true,
    plan: planSeed,
    capacity: countSeedTables,
    steps: [mapSeedIdentity, linkDualWindow, seedRegionPermissions],
  },
  'v2.4': {
    era: 'v2.4', demandPaging: false, bits: PLAIN, levelFlags: V24_LEVELS, countsVerbose: false, allowsAbbreviations: true,
    plan: planIdentity,
    steps: [mapRam, mapXipFlash, regionPermissions(classicRegions('_image_text', '_image_rodata'), 'start-size')],
  },
  'v2.5': {
    era: 'v2.5', demandPaging: false, bits: MIRRORED, levelFlags: V25_LEVELS, countsVerbose: false, allowsAbbreviations: true,
    plan: planImage,
    steps: [reserveVmWindow, mapImage, mapLocore, mapXipFlash, regionPermissions(classicRegions('_image_text', '_image_rodata'), 'start-size')],
  },
  'v2.6': {
    era: 'v2.6', demandPaging: false, bits: MIRRORED, levelFlags: V26_LEVELS, mapNumbers: 'hex', countsVerbose: true, allowsAbbreviations: true,
    plan: planLinkedVirtual,
    steps: [...V26_STEPS, regionPermissions(V26_REGIONS, 'size-or-end')],
    check: checkPlaceholder,
  },
  '2025': {
    era: '2025', demandPaging: true, bits: MIRRORED, levelFlags: LEVELS_2025, mapNumbers: 'auto', countsVerbose: true, allowsAbbreviations: false,
    plan: planLinkedVirtual,
    steps: [...V26_STEPS, regionPermissions(REGIONS_2025, 'size-or-end')],
    check: checkPlaceholder,
  },
};

export interface EraBuildOptions {
  readonly fixed: boolean;
  readonly extraMappings: readonly ExtraMapping[];
  readonly maxTablesBytes: number;
  readonly log: (line: string) => void;
  /** Whether `log` is read (-v): the lines for each table are only made then. */
  readonly verbose?: boolean;
  readonly trace?: EntryTrace;
}

export interface EraBuild {
  readonly bytes: Uint8Array;
  readonly tablesPhys: bigint;
  readonly topLevelPhys: bigint;
  readonly tableCount: number;
}

/** Runs an era's steps on one table set; `plan` replaces the era's own reading of the symbols (a layout already checked). */
export function buildEraTables(
  era: EraDefinition, mode: PagingModeName, symbols: Symbols, sizes: ReadonlyMap<string, bigint>, options: EraBuildOptions, plan?: Plan,
): EraBuild {
  const ctx = { era, symbols, sizes, mode, extraMappings: options.extraMappings, log: options.log, maxTablesBytes: options.maxTablesBytes } as EraContext;
  ctx.plan = plan ?? era.plan(ctx);
  const { tablesPhys } = ctx.plan;
  const topBytes = mode === 'pae' ? 32n : 4096n;
  if (tablesPhys < 0n || tablesPhys % 4096n !== 0n || tablesPhys + topBytes > (mode === 'ia32e' ? 1n << 52n : 1n << 32n)) {
    throw new InputError(`z_x86_pagetables_start is at physical ${tablesPhys < 0n ? `-${hex(-tablesPhys)}` : hex(tablesPhys)}: page tables need a 4 KiB aligned physical address${mode === 'ia32e' ? '' : ' below 4 GiB'}`);
  }
  const capacity = era.capacity?.(ctx);
  const levels = eraLevels(era, mode, options.fixed);
  ctx.log(`building ${MODES[mode].title} tables (${levels.map((l) => l.name).join(' > ')}) from physical ${hex(tablesPhys)}`);
  ctx.tables = new EraTables(levels, Number(tablesPhys), INTERMEDIATE, {
    maxBytes: options.maxTablesBytes,
    ...(capacity !== undefined ? { capacity } : {}),
    ...(options.trace ? { trace: options.trace } : {}),
    // New tables are a step's detail at -v when entries are not traced.
    ...(options.verbose && !era.countsVerbose ? { onNewTable: options.log } : {}),
  });
  for (const step of era.steps) step(ctx);
  const bytes = ctx.tables.toBytes();
  era.check?.(ctx, bytes);
  ctx.log(`top-level ${levels[0]!.name} at physical ${hex(BigInt(ctx.tables.topLevelPhys))}; ${ctx.tables.lowerTableCount + 1} tables, ${bytes.length} bytes`);
  return { bytes, tablesPhys, topLevelPhys: BigInt(ctx.tables.topLevelPhys), tableCount: ctx.tables.lowerTableCount + 1 };
}
