/**
 * fast-check arbitraries for kernel layouts, biased toward the edges where
 * page-table generators go wrong: page 0, the first and last page of RAM,
 * 4 KiB / 2 MiB / 4 MiB / 1 GiB / 512 GiB boundaries, the end of what a mode
 * can address, the high half in IA-32e, dual windows aligned and misaligned,
 * regions at RAM's edges and across them, XIP flash beside RAM, KPTI, gcov.
 * Some layouts are invalid on purpose (missing symbols, unaligned values,
 * overlaps), so that refusals are exercised too.
 *
 * Each layout is drawn as a record of small independent choices and then
 * resolved into addresses. fast-check shrinks the choices, so a shrunk
 * counterexample moves toward simple values: RAM at 1 MiB, one page, no dual
 * window, no region permissions, nothing broken. Alternatives of a choice all
 * reach down to the simplest value (sizes start at one page whatever their
 * weight class), so shrinking never gets stuck at a class boundary.
 */
import fc from 'fast-check';
import { kernelSymbols, type KernelDescription, type Region, type RegionName } from '../elf/kernel.js';
import type { PagingMode } from '../verify/model.js';
import { cr3Limit, identityEnd, topEntries, topEntryVirt, topLevelScope } from '../verify/paging-modes.js';
import type { EraFuzzLayout, SeedFuzzLayout } from './layout.js';

const PAGE = 4096n;
const KiB = 1024n;
const MiB = 1n << 20n;
const GiB = 1n << 30n;
const U64_END = 1n << 64n;

/** The fuzzing choices of a mode: what the arbitraries aim at. The paging facts come from the verifier's model. */
interface ModeChoices {
  /** Symbol values must fit the ELF class. */
  readonly valueEnd: bigint;
  /** Bases of RAM worth trying: boundaries of every paging level and of the mode. */
  readonly anchors: readonly bigint[];
  /** Top-level entries worth putting a dual window at. */
  readonly windows: readonly number[];
}

const MODE_CHOICES: Readonly<Record<PagingMode, ModeChoices>> = {
  '32bit': {
    valueEnd: 1n << 32n,
    anchors: [MiB, 0n, PAGE, 2n * MiB, 4n * MiB, 8n * MiB, 16n * MiB - PAGE, GiB, 2n * GiB, 3n * GiB],
    windows: [768, 1023, 512, 769, 1, 2],
  },
  pae: {
    valueEnd: 1n << 32n,
    anchors: [MiB, 0n, PAGE, 2n * MiB, 4n * MiB, GiB, 2n * GiB, 3n * GiB, GiB - 2n * MiB],
    windows: [3, 2, 1, 0],
  },
  ia32e: {
    valueEnd: U64_END,
    anchors: [MiB, 0n, PAGE, 2n * MiB, GiB, 4n * GiB, 512n * GiB, 1024n * GiB, 1n << 46n, (1n << 47n) - 512n * GiB],
    windows: [256, 511, 257, 1, 255, 2],
  },
};

/** A mode's fuzzing choices with the paging facts they are resolved against. */
interface ModeFacts extends ModeChoices {
  /** Bytes one top-level entry covers. */
  readonly scope: bigint;
  readonly topEntries: number;
  /** End of the identity-mappable addresses: 4 GiB, or 2^47 (canonical lower half). */
  readonly identityEnd: bigint;
  /** End of the physical addresses the tables may occupy (CR3's reach). */
  readonly tablesEnd: bigint;
}

const factsOf = (mode: PagingMode): ModeFacts => ({
  ...MODE_CHOICES[mode],
  scope: topLevelScope(mode),
  topEntries: topEntries(mode),
  identityEnd: identityEnd(mode),
  tablesEnd: cr3Limit(mode),
});

const MODE_FACTS: Readonly<Record<PagingMode, ModeFacts>> = { '32bit': factsOf('32bit'), pae: factsOf('pae'), ia32e: factsOf('ia32e') };

/** One alternative of a `oneof`, drawn `weight` times as often as a weight of 1. */
const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>): fc.WeightedArbitrary<T> => ({ weight, arbitrary });
/** Shrinking may jump to the first alternative, the simplest one. */
const CROSS = { withCrossShrink: true } as const;

const tag = <K extends string>(kind: K) => <T extends object>(fields: T): T & { kind: K } => ({ kind, ...fields });

/** A small signed count of pages, most often 0 or ±1. */
const nudge = (reach: number): fc.Arbitrary<number> =>
  fc.oneof(CROSS, w(4, fc.constant(0)), w(3, fc.integer({ min: -2, max: 2 })), w(2, fc.integer({ min: -reach, max: reach })));

// ---------------------------------------------------------------- raw choices

const ramBaseChoice = fc.oneof(
  CROSS,
  w(12, fc.record({ anchor: fc.nat(20), nudge: nudge(16) }).map(tag('anchor'))),
  w(3, fc.record({ page: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }) }).map(tag('random'))),
  w(2, fc.record({ nudge: nudge(16) }).map(tag('top'))),
);

/**
 * Mostly a few pages to a few MiB (boundaries are crossed by placing small RAM
 * across them), rarely up to 1 GiB: a campaign's speed is set by its big cases.
 */
const ramSizeChoice = fc.oneof(
  CROSS,
  w(24, fc.integer({ min: 1, max: 16 }).map((pages) => ({ kind: 'pages' as const, pages }))),
  w(14, fc.integer({ min: 1, max: 4096 }).map((pages) => ({ kind: 'pages' as const, pages }))),
  w(8, fc.record({ unit: fc.constantFrom(2n * MiB, 4n * MiB), nudge: nudge(3), times: fc.integer({ min: 1, max: 2 }) }).map(tag('toBoundary'))),
  w(1, fc.integer({ min: 1, max: 262144 }).map((pages) => ({ kind: 'pages' as const, pages }))),
  w(1, fc.record({ size: fc.constantFrom(GiB, GiB - PAGE, 512n * MiB, 256n * MiB + PAGE) }).map(tag('exact'))),
);

const mappingChoice = fc.oneof(
  CROSS,
  w(20, fc.constant({ kind: 'identity' as const })),
  w(16, fc.record({ window: fc.nat(7), random: fc.nat() }).map(tag('dual'))),
  w(1, fc.record({ window: fc.nat(7), random: fc.nat(), pages: fc.integer({ min: 1, max: 16 }), down: fc.boolean() }).map(tag('dualMisaligned'))),
  w(8, fc.record({
    place: fc.oneof(CROSS, w(4, fc.constant('after' as const)), w(4, fc.constant('before' as const)), w(2, fc.constant('zero' as const)), w(1, fc.constant('far' as const)), w(1, fc.constant('overlap' as const))),
    gap: nudge(8).map(Math.abs),
    pages: fc.oneof(CROSS, w(4, fc.integer({ min: 1, max: 16 })), w(1, fc.integer({ min: 1, max: 1024 }))),
    random: fc.nat(),
  }).map(tag('xip'))),
  w(1, fc.record({ window: fc.nat(7), random: fc.nat() }).map(tag('xipDual'))),
);

const tablesChoice = fc.oneof(
  CROSS,
  w(12, fc.record({ gap: nudge(16).map(Math.abs) }).map(tag('afterRam'))),
  w(8, fc.record({ page: fc.nat() }).map(tag('inRam'))),
  w(4, fc.record({ page: fc.nat(16) }).map(tag('low'))),
  w(1, fc.record({ pagesBelow: fc.nat(40) }).map(tag('top'))),
  w(1, fc.record({ bytes: fc.integer({ min: 1, max: 4095 }) }).map(tag('unaligned'))),
  w(1, fc.record({ page: fc.nat(16) }).map(tag('belowVirtBase'))),
);

const regionChoice = fc.oneof(
  CROSS,
  w(32, fc.record({ first: fc.nat(), pages: fc.nat(), alias: fc.boolean() }).map(tag('inside'))),
  w(12, fc.record({ pages: fc.nat(), alias: fc.boolean() }).map(tag('last'))),
  w(4, fc.record({ alias: fc.boolean() }).map(tag('whole'))),
  w(4, fc.record({ first: fc.nat() }).map(tag('empty'))),
  w(1, fc.record({ out: fc.integer({ min: 1, max: 4 }), inside: fc.integer({ min: 0, max: 4 }) }).map(tag('acrossStart'))),
  w(1, fc.record({ out: fc.integer({ min: 1, max: 4 }), inside: fc.integer({ min: 0, max: 4 }) }).map(tag('acrossEnd'))),
  w(2, fc.record({ pages: fc.integer({ min: 1, max: 2 }) }).map(tag('pageZero'))),
  w(6, fc.record({ first: fc.nat(), pages: fc.nat() }).map(tag('flash'))),
  w(1, fc.record({ page: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), pages: fc.integer({ min: 1, max: 4 }) }).map(tag('elsewhere'))),
  w(1, fc.record({ first: fc.nat(), bytes: fc.integer({ min: 1, max: 4095 }), inSize: fc.boolean() }).map(tag('unaligned'))),
  w(1, fc.record({ pagesBelowTop: fc.integer({ min: 1, max: 4 }), pages: fc.integer({ min: 1, max: 8 }) }).map(tag('pastTop'))),
);

const breakageChoice = fc.oneof(
  CROSS,
  w(60, fc.constant({ kind: 'none' as const })),
  w(2, fc.record({
    symbol: fc.constantFrom(
      'CONFIG_SRAM_BASE_ADDRESS', 'CONFIG_SRAM_SIZE', 'CONFIG_KERNEL_VM_BASE', 'z_x86_pagetables_start', 'CONFIG_FLASH_BASE_ADDRESS',
      'CONFIG_FLASH_SIZE', '_image_text_start', '_image_rodata_size', '__gcov_bss_start', '_locore_size', '_lorodata_start',
    ),
  }).map(tag('omit'))),
  w(1, fc.record({ bytes: fc.integer({ min: 1, max: 4095 }) }).map(tag('ramBaseUnaligned'))),
  w(1, fc.record({ kib: fc.integer({ min: 1, max: 3 }) }).map(tag('ramSizeUnaligned'))),
  w(1, fc.constant({ kind: 'ramSizeZero' as const })),
  w(1, fc.record({ bytes: fc.integer({ min: 1, max: 4095 }), inSize: fc.boolean() }).map(tag('flashUnaligned'))),
);

const REGION_NAMES: readonly RegionName[] = ['_image_text', '_image_rodata', '__gcov_bss', '_locore', '_lorodata'];

const layoutChoices = (modes: readonly PagingMode[]) => fc.record({
  mode: fc.constantFrom(...modes),
  ramBase: ramBaseChoice,
  ramSize: ramSizeChoice,
  mapping: mappingChoice,
  tables: tablesChoice,
  permissions: fc.oneof(CROSS, w(1, fc.constant(false)), w(3, fc.constant(true))),
  regions: fc.tuple(regionChoice, regionChoice, regionChoice, regionChoice, regionChoice),
  userspace: fc.boolean(),
  gcov: fc.boolean(),
  kpti: fc.boolean(),
  breakage: breakageChoice,
});

type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;
type LayoutChoices = ValueOf<ReturnType<typeof layoutChoices>>;
type RegionChoice = LayoutChoices['regions'][number];

// ---------------------------------------------------------------- resolution

const clamp = (value: bigint, low: bigint, high: bigint): bigint => (value < low ? low : value > high ? high : value);
const mod = (value: bigint, m: bigint): bigint => ((value % m) + m) % m;
const pages = (n: number | bigint): bigint => BigInt(n) * PAGE;

function resolveRamSize(choice: LayoutChoices['ramSize'], ramBase: bigint): bigint {
  switch (choice.kind) {
    case 'pages': return pages(choice.pages);
    case 'exact': return choice.size;
    case 'toBoundary': {
      // Up to the next (or the one after) boundary of the unit, give or take a few pages.
      const next = (ramBase / choice.unit + BigInt(choice.times)) * choice.unit;
      const size = next - ramBase + pages(choice.nudge);
      return size > 0n ? size : PAGE;
    }
  }
}

function resolveRamBase(choice: LayoutChoices['ramBase'], facts: ModeFacts, size: bigint): bigint {
  const top = facts.identityEnd - PAGE;
  switch (choice.kind) {
    case 'anchor': return clamp(facts.anchors[choice.anchor % facts.anchors.length]! + pages(choice.nudge), 0n, top);
    case 'random': return pages(mod(choice.page, facts.identityEnd / PAGE));
    case 'top': return clamp(facts.identityEnd - size + pages(choice.nudge), 0n, top);
  }
}

interface Placed {
  readonly ramBase: bigint;
  readonly ramSize: bigint;
  readonly virtBase: bigint;
  readonly flash?: { readonly base: bigint; readonly size: bigint };
}

function dualBase(mode: PagingMode, ramBase: bigint, ramSize: bigint, window: number, random: number): bigint {
  const facts = MODE_FACTS[mode];
  const identityIndex = Number(ramBase / facts.scope);
  const span = Number((ramSize + (ramBase % facts.scope) + facts.scope - 1n) / facts.scope);
  // Preferred windows, then the entries just past the identity map's (which overlap when RAM needs several), then any.
  const candidates = [...facts.windows, identityIndex + span, identityIndex + 1];
  const index = window < candidates.length ? candidates[window]! % facts.topEntries : random % facts.topEntries;
  return mod(topEntryVirt(mode, index) + (ramBase % facts.scope), facts.valueEnd);
}

function placeFlash(choice: Extract<LayoutChoices['mapping'], { kind: 'xip' }>, facts: ModeFacts, ramBase: bigint, ramSize: bigint) {
  const size = pages(choice.pages);
  const gap = pages(choice.gap);
  let base: bigint;
  switch (choice.place) {
    case 'after': base = ramBase + ramSize + gap; break;
    case 'before': base = ramBase - size - gap; break;
    case 'zero': base = 0n; break;
    case 'far': base = pages(BigInt(choice.random) % (facts.identityEnd / PAGE)); break;
    case 'overlap': base = ramBase + pages(BigInt(choice.random) % (ramSize / PAGE > 0n ? ramSize / PAGE : 1n)) - size / 2n / PAGE * PAGE; break;
  }
  return { base: clamp(base, 0n, facts.valueEnd - PAGE), size };
}

function place(c: LayoutChoices): Placed {
  const facts = MODE_FACTS[c.mode];
  const ramSizeGuess = c.ramSize.kind === 'toBoundary' ? PAGE : resolveRamSize(c.ramSize, 0n);
  const ramBase = resolveRamBase(c.ramBase, facts, ramSizeGuess);
  const ramSize = resolveRamSize(c.ramSize, ramBase);
  const m = c.mapping;
  switch (m.kind) {
    case 'identity': return { ramBase, ramSize, virtBase: ramBase };
    case 'dual': return { ramBase, ramSize, virtBase: dualBase(c.mode, ramBase, ramSize, m.window, m.random) };
    case 'dualMisaligned': {
      const aligned = dualBase(c.mode, ramBase, ramSize, m.window, m.random);
      return { ramBase, ramSize, virtBase: mod(aligned + (m.down ? -1n : 1n) * pages(m.pages), facts.valueEnd) };
    }
    case 'xip': return { ramBase, ramSize, virtBase: ramBase, flash: placeFlash(m, facts, ramBase, ramSize) };
    case 'xipDual': {
      const flash = placeFlash({ kind: 'xip', place: 'after', gap: 0, pages: 4, random: 0 }, facts, ramBase, ramSize);
      return { ramBase, ramSize, virtBase: dualBase(c.mode, ramBase, ramSize, m.window, m.random), flash };
    }
  }
}

function tablesStart(c: LayoutChoices, p: Placed): bigint {
  const facts = MODE_FACTS[c.mode];
  const delta = p.virtBase - p.ramBase;
  const ramPages = p.ramSize / PAGE > 0n ? p.ramSize / PAGE : 1n;
  const t = c.tables;
  let phys: bigint;
  switch (t.kind) {
    case 'afterRam': phys = p.ramBase + p.ramSize + pages(t.gap); break;
    case 'inRam': phys = p.ramBase + pages(BigInt(t.page) % ramPages); break;
    case 'low': phys = pages(t.page); break;
    case 'top': phys = facts.tablesEnd - pages(t.pagesBelow); break;
    case 'unaligned': phys = p.ramBase + p.ramSize + BigInt(t.bytes); break;
    case 'belowVirtBase': return pages(t.page); // physical = this - delta: negative when the window lies above RAM
  }
  return mod(phys + delta, facts.valueEnd);
}

function region(choice: RegionChoice, mode: PagingMode, p: Placed): Region {
  const facts = MODE_FACTS[mode];
  const ramPages = p.ramSize / PAGE > 0n ? p.ramSize / PAGE : 1n;
  const ramEnd = p.ramBase + p.ramSize;
  const alias = (start: bigint, wanted: boolean): bigint => (wanted ? mod(start + p.virtBase - p.ramBase, facts.valueEnd) : start);
  const fit = (value: bigint): bigint => mod(value, facts.valueEnd);
  switch (choice.kind) {
    case 'inside': {
      const first = BigInt(choice.first) % ramPages;
      const count = 1n + BigInt(choice.pages) % (ramPages - first);
      return { start: alias(p.ramBase + pages(first), choice.alias), size: pages(count) };
    }
    case 'last': {
      const count = 1n + BigInt(choice.pages) % ramPages;
      return { start: alias(ramEnd - pages(count), choice.alias), size: pages(count) };
    }
    case 'whole': return { start: alias(p.ramBase, choice.alias), size: p.ramSize };
    case 'empty': return { start: p.ramBase + pages(BigInt(choice.first) % ramPages), size: 0n };
    case 'acrossStart': return { start: fit(p.ramBase - pages(choice.out)), size: pages(choice.out + choice.inside) };
    case 'acrossEnd': return { start: fit(ramEnd - pages(choice.inside)), size: pages(choice.out + choice.inside) };
    case 'pageZero': return { start: 0n, size: pages(choice.pages) };
    case 'flash': {
      if (!p.flash) return { start: p.ramBase, size: PAGE };
      const flashPages = p.flash.size / PAGE > 0n ? p.flash.size / PAGE : 1n;
      const first = BigInt(choice.first) % flashPages;
      return { start: p.flash.base + pages(first), size: pages(1n + BigInt(choice.pages) % (flashPages - first)) };
    }
    case 'elsewhere': return { start: pages(mod(choice.page, facts.valueEnd / PAGE)), size: pages(choice.pages) };
    case 'unaligned': {
      const start = p.ramBase + pages(BigInt(choice.first) % ramPages);
      return choice.inSize ? { start, size: PAGE + BigInt(choice.bytes) } : { start: start + BigInt(choice.bytes), size: PAGE };
    }
    case 'pastTop': return { start: facts.valueEnd - pages(choice.pagesBelowTop), size: pages(choice.pagesBelowTop + choice.pages) };
  }
}

/** Turns the choices into a kernel description (and the symbols its ELF leaves out). */
export function resolveLayout(c: LayoutChoices): SeedFuzzLayout {
  const facts = MODE_FACTS[c.mode];
  const p = place(c);
  const regions: Partial<Record<RegionName, Region>> = {};
  if (c.permissions) {
    REGION_NAMES.forEach((name, i) => {
      const r = region(c.regions[i]!, c.mode, p);
      regions[name] = { start: mod(r.start, facts.valueEnd), size: mod(r.size, facts.valueEnd) };
    });
  }
  let sramBase = p.ramBase;
  let sramSizeKiB = p.ramSize / KiB;
  let flash = p.flash;
  const omit: string[] = [];
  const b = c.breakage;
  switch (b.kind) {
    case 'none': break;
    case 'omit': omit.push(b.symbol); break;
    case 'ramBaseUnaligned': sramBase += BigInt(b.bytes); break;
    case 'ramSizeUnaligned': sramSizeKiB += BigInt(b.kib); break;
    case 'ramSizeZero': sramSizeKiB = 0n; break;
    case 'flashUnaligned':
      // CONFIG_FLASH_SIZE counts KiB: 1-3 KiB more makes it a partial page.
      if (flash) flash = b.inSize ? { base: flash.base, size: flash.size + KiB * BigInt(1 + (b.bytes % 3)) } : { base: flash.base + BigInt(b.bytes), size: flash.size };
      break;
  }
  const kernel: KernelDescription = {
    mode: c.mode,
    sramBase: mod(sramBase, facts.valueEnd),
    sramSizeKiB: mod(sramSizeKiB, facts.valueEnd),
    ...(p.virtBase !== p.ramBase ? { kernelVmBase: p.virtBase } : {}),
    pagetablesStart: tablesStart(c, p),
    regionPermissions: c.permissions,
    regions,
    ...(flash ? { xip: { flashBase: mod(flash.base, facts.valueEnd), flashSizeKiB: mod(flash.size / KiB, facts.valueEnd) } } : {}),
    userspace: c.userspace,
    coverageGcov: c.gcov,
    kpti: c.kpti,
  };
  const defined = new Set(kernelSymbols(kernel).map((symbol) => symbol.name));
  return { kernel, omit: omit.filter((name) => defined.has(name)) };
}

export interface LayoutArbitraryOptions {
  /** Paging modes to draw from; the first is where shrinking leads. */
  readonly modes: readonly PagingMode[];
}

/** Kernel layouts in the given modes, valid and invalid, biased toward edges. */
export function layoutArbitrary(options: LayoutArbitraryOptions): fc.Arbitrary<SeedFuzzLayout> {
  if (options.modes.length === 0) throw new RangeError('layoutArbitrary: no paging mode to draw from');
  return layoutChoices(options.modes).map(resolveLayout);
}

// ---------------------------------------------------------------- layouts of the released eras (v2.4 to 2025)

/** The eras after the seed, whose kernels are drawn by their symbols. */
export type ReleasedEra = EraFuzzLayout['era'];

export interface EraArbitraryOptions {
  /** Eras to draw from; the first is where shrinking leads. */
  readonly eras: readonly ReleasedEra[];
  /** Paging modes to draw from; the first is where shrinking leads. */
  readonly modes: readonly PagingMode[];
}

/** How the kernel is linked against where it is loaded (v2.6+: CONFIG_KERNEL_VM_BASE/OFFSET against CONFIG_SRAM_BASE_ADDRESS/OFFSET). */
type Linkage = 'same' | 'offsets-cancel' | 'virtual' | 'virtual-offsets' | 'high-half';
/** Where a region lies: inside the image, past it (refused: never mapped), by `_end` only, or absent. */
type Placement = 'inside' | 'by-end' | 'absent' | 'outside' | 'unaligned';

interface MapChoice {
  readonly target: 'device' | 'ioapic' | 'image' | 'zero' | 'high' | 'locore';
  readonly pages: number;
  readonly largeSlots: number;
  readonly letters: string;
  readonly virt: 'none' | 'elsewhere' | 'window';
  readonly decimal: boolean;
}

interface EraChoices {
  readonly era: ReleasedEra;
  readonly mode: PagingMode;
  readonly ramBase: bigint;
  readonly ramPages: number;
  readonly ramKiBExtra: number;
  readonly linkage: Linkage;
  readonly windowSlots: number;
  readonly windowExtraPages: number;
  readonly windowMisaligned: boolean;
  readonly imagePages: number;
  readonly allRam: boolean;
  readonly tablesUnaligned: boolean;
  readonly permissions: boolean;
  readonly text: Placement;
  readonly rodata: Placement;
  readonly gdb: boolean;
  readonly kpti: boolean;
  readonly gcov: boolean;
  readonly locoreAt: bigint;
  readonly locorePages: number;
  readonly xip: 'none' | 'after' | 'far' | 'overlap';
  readonly boot: boolean;
  readonly pinned: boolean;
  readonly presentAtBoot: boolean;
  readonly shadowStack: boolean;
  readonly maps: readonly MapChoice[];
  readonly placeholder: 'none' | 'wrong';
  readonly placeholderPages: number;
  readonly omit: 'none' | 'CONFIG_KERNEL_VM_SIZE' | 'z_mapped_size' | '_lodata_end' | 'CONFIG_MMU_PAGE_SIZE' | '_image_rodata_end';
}

const LETTERS = ['', 'W', 'X', 'WX', 'U', 'WD', 'UX', 'L', 'LW', 'LX', 'LWU', 'LWD', 'LUWXD', 'D'];

const mapChoice: fc.Arbitrary<MapChoice> = fc.record({
  target: fc.constantFrom('device', 'ioapic', 'image', 'zero', 'high', 'locore'),
  pages: fc.integer({ min: 1, max: 4 }),
  largeSlots: fc.integer({ min: 1, max: 2 }),
  letters: fc.constantFrom(...LETTERS),
  virt: fc.constantFrom('none', 'elsewhere', 'window'),
  decimal: fc.boolean(),
});

function eraChoices(eras: readonly ReleasedEra[], modes: readonly PagingMode[]): fc.Arbitrary<EraChoices> {
  return fc.record({
    era: fc.constantFrom(...eras),
    mode: fc.constantFrom(...modes),
    ramBase: fc.constantFrom(MiB, 0n, 4n * MiB, 2n * MiB, 16n * MiB, GiB),
    ramPages: fc.oneof(w(4, fc.integer({ min: 1, max: 64 })), w(1, fc.integer({ min: 256, max: 2048 }))),
    ramKiBExtra: fc.oneof(w(12, fc.constant(0)), w(1, fc.integer({ min: 1, max: 3 }))),
    linkage: fc.constantFrom<Linkage>('same', 'offsets-cancel', 'virtual', 'virtual-offsets', 'high-half'),
    windowSlots: fc.integer({ min: 1, max: 4 }),
    windowExtraPages: fc.oneof(w(4, fc.constant(0)), w(1, fc.integer({ min: 1, max: 3 }))),
    windowMisaligned: fc.oneof(w(12, fc.constant(false)), w(1, fc.constant(true))),
    imagePages: fc.oneof(w(4, fc.integer({ min: 1, max: 32 })), w(1, fc.integer({ min: 256, max: 1024 }))),
    allRam: fc.oneof(w(4, fc.constant(false)), w(1, fc.constant(true))),
    tablesUnaligned: fc.oneof(w(20, fc.constant(false)), w(1, fc.constant(true))),
    permissions: fc.boolean(),
    text: fc.constantFrom<Placement>('inside', 'by-end', 'absent', 'outside', 'unaligned'),
    rodata: fc.constantFrom<Placement>('inside', 'by-end', 'absent', 'inside', 'outside'),
    gdb: fc.boolean(),
    kpti: fc.boolean(),
    gcov: fc.boolean(),
    locoreAt: fc.constantFrom(PAGE, 0n, 0x8000n, 2n * MiB),
    locorePages: fc.integer({ min: 1, max: 8 }),
    xip: fc.constantFrom('none', 'none', 'after', 'far', 'overlap'),
    boot: fc.boolean(),
    pinned: fc.boolean(),
    presentAtBoot: fc.boolean(),
    shadowStack: fc.boolean(),
    maps: fc.oneof(w(2, fc.constant([])), w(3, fc.array(mapChoice, { minLength: 1, maxLength: 3 }))),
    placeholder: fc.oneof(w(3, fc.constant('none' as const)), w(1, fc.constant('wrong' as const))),
    placeholderPages: fc.integer({ min: 1, max: 40 }),
    omit: fc.oneof(
      w(20, fc.constant('none' as const)),
      w(1, fc.constantFrom('CONFIG_KERNEL_VM_SIZE', 'z_mapped_size', '_lodata_end', 'CONFIG_MMU_PAGE_SIZE', '_image_rodata_end') as fc.Arbitrary<EraChoices['omit']>),
    ),
  });
}

/**
 * The plainest kernel of an era: 256 KiB of RAM at 1 MiB linked where it runs,
 * the image inside it, no options and no --map. Every script of the era serves
 * it; the generator pre-check runs on it.
 */
export function plainEraLayout(era: ReleasedEra, mode: PagingMode): EraFuzzLayout {
  return resolveEraLayout({
    era, mode, ramBase: MiB, ramPages: 64, ramKiBExtra: 0, linkage: 'same', windowSlots: 1, windowExtraPages: 0,
    windowMisaligned: false, imagePages: 16, allRam: false, tablesUnaligned: false, permissions: false,
    text: 'inside', rodata: 'inside', gdb: false, kpti: false, gcov: false, locoreAt: PAGE, locorePages: 1, xip: 'none',
    boot: false, pinned: false, presentAtBoot: true, shadowStack: false, maps: [], placeholder: 'none', placeholderPages: 1, omit: 'none',
  });
}

const hexText = (v: bigint): string => `0x${v.toString(16)}`;

/** Turns the choices into the symbols an era's linker script and Kconfig would emit, and the build's --map arguments. */
export function resolveEraLayout(c: EraChoices): EraFuzzLayout {
  const { era, mode } = c;
  const valueEnd = MODE_FACTS[mode].valueEnd;
  const slot = mode === '32bit' ? 4n * MiB : 2n * MiB;
  const symbols: Record<string, bigint> = {};
  const sizes: Record<string, bigint> = {};
  const features: string[] = [];
  const set = (name: string, value: bigint) => { symbols[name] = mod(value, valueEnd); };
  const on = (name: string) => { symbols[name] = 1n; };
  if (mode === 'ia32e') on('CONFIG_X86_64');
  if (mode === 'pae') on('CONFIG_X86_PAE');
  const ramSize = BigInt(c.ramPages) * PAGE;
  set('CONFIG_SRAM_BASE_ADDRESS', c.ramBase);
  set('CONFIG_SRAM_SIZE', ramSize / KiB + BigInt(c.ramKiBExtra));
  const imageSize = BigInt(c.imagePages) * PAGE;
  // Where the image is linked (virtual) and loaded (physical).
  let link = c.ramBase;
  let load = c.ramBase;
  if (era === 'v2.4') {
    set('z_x86_pagetables_start', c.ramBase + ramSize + (c.tablesUnaligned ? 0x800n : 0n));
  } else {
    let vmBase = c.ramBase - (c.ramBase % slot) + (c.windowMisaligned ? PAGE : 0n);
    let vmOffset = c.ramBase % slot;
    let sramOffset = 0n;
    if (era !== 'v2.5') {
      switch (c.linkage) {
        case 'same': break;
        case 'offsets-cancel': vmOffset += MiB; sramOffset = MiB; break;
        case 'virtual': vmBase = mode === 'ia32e' ? 0x40000000n : 0x80000000n; break;
        case 'virtual-offsets': vmBase = 0x40000000n; vmOffset = 0n; sramOffset = MiB; break;
        case 'high-half': vmBase = mode === 'ia32e' ? 0xffff800000000000n : 0xc0000000n; break;
      }
      set('CONFIG_KERNEL_VM_OFFSET', vmOffset);
      if (sramOffset !== 0n) set('CONFIG_SRAM_OFFSET', sramOffset);
      set('CONFIG_MMU_PAGE_SIZE', PAGE);
      features.push(`linkage ${c.linkage}`);
    }
    link = vmBase + vmOffset;
    load = c.ramBase + sramOffset;
    set('CONFIG_KERNEL_VM_BASE', vmBase);
    set('CONFIG_KERNEL_VM_SIZE', BigInt(c.windowSlots) * slot + BigInt(c.windowExtraPages) * PAGE);
    set('z_mapped_start', link);
    set('z_mapped_size', imageSize);
    set('z_x86_pagetables_start', link + imageSize + (c.tablesUnaligned ? 0x800n : 0n));
    if (c.allRam) { on('CONFIG_ARCH_MAPS_ALL_RAM'); features.push('all RAM'); }
  }
  const imageStart = era === 'v2.4' ? c.ramBase : link;
  const imagePages = era === 'v2.4' ? BigInt(c.ramPages) : BigInt(c.imagePages);
  const sizeOrEnd = era === 'v2.6' || era === '2025';
  const defineRegion = (name: string, start: bigint, size: bigint, placement: Placement) => {
    if (placement === 'absent' && sizeOrEnd) return;
    const at = placement === 'outside' ? start + imagePages * PAGE + 4n * MiB : start;
    const length = placement === 'unaligned' ? size + 0x800n : size;
    set(`${name}_start`, at);
    if (placement !== 'by-end' || !sizeOrEnd) set(`${name}_size`, length);
    set(`${name}_end`, at + length);
  };
  // Text is the image's first page(s), rodata the next; boot and pinned sections from the start too.
  const textPages = imagePages > 2n ? imagePages / 2n : 1n;
  const textName = era === '2025' ? '__text_region' : '_image_text';
  const rodataName = era === '2025' ? '__rodata_region' : '_image_rodata';
  if (c.permissions) {
    on('CONFIG_SRAM_REGION_PERMISSIONS');
    features.push('region permissions');
    defineRegion(textName, imageStart, textPages * PAGE, c.text);
    defineRegion(rodataName, imageStart + textPages * PAGE, imagePages > textPages ? PAGE : 0n, c.rodata);
    if (c.gcov) { on('CONFIG_COVERAGE_GCOV'); on('CONFIG_USERSPACE'); defineRegion('__gcov_bss', imageStart + (imagePages - 1n) * PAGE, PAGE, 'inside'); features.push('gcov'); }
  }
  if (c.gdb) on('CONFIG_GDBSTUB');
  if (mode === 'ia32e' && era !== 'v2.4') {
    const locoreSize = BigInt(c.locorePages) * PAGE;
    set('_locore_start', c.locoreAt);
    set('_lodata_end', c.locoreAt + locoreSize);
    if (c.kpti) on('CONFIG_X86_KPTI');
    features.push(`locore at ${hexText(c.locoreAt)}`);
  }
  if (mode === 'ia32e' && c.permissions) {
    defineRegion('_locore', c.locoreAt, PAGE, 'inside');
    defineRegion('_lorodata', c.locoreAt + PAGE, BigInt(c.locorePages > 1 ? 1 : 0) * PAGE, 'inside');
  }
  const imagePhys = (era === 'v2.4' ? c.ramBase : load);
  if (c.xip !== 'none') {
    on('CONFIG_XIP');
    const base = c.xip === 'after' ? imagePhys + imagePages * PAGE + 4n * MiB : c.xip === 'far' ? 0x10000000n : imagePhys;
    set('CONFIG_FLASH_BASE_ADDRESS', base);
    set('CONFIG_FLASH_SIZE', 16n);
    features.push(`xip ${c.xip}`);
  }
  if (sizeOrEnd) {
    if (c.boot) {
      on('CONFIG_LINKER_USE_BOOT_SECTION');
      defineRegion('lnkr_boot', imageStart, PAGE, 'inside');
      if (c.permissions) defineRegion('lnkr_boot_text', imageStart, PAGE, 'inside');
      features.push('boot section');
    }
    if (c.pinned) {
      on('CONFIG_LINKER_USE_PINNED_SECTION');
      defineRegion('lnkr_pinned', imageStart + PAGE, PAGE * 2n, 'inside');
      if (c.permissions) defineRegion('lnkr_pinned_rodata', imageStart + 2n * PAGE, PAGE, 'by-end');
      features.push('pinned section');
    }
    if (c.placeholder === 'wrong') {
      set('dummy_pagetables', symbols['z_x86_pagetables_start']!);
      sizes['dummy_pagetables'] = BigInt(c.placeholderPages) * PAGE + (mode === 'pae' ? 32n : 0n);
      features.push('placeholder');
    }
  }
  if (era === '2025') {
    if (c.presentAtBoot) on('CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT');
    else features.push('demand paging');
    if (c.shadowStack && c.permissions) { on('CONFIG_HW_SHADOW_STACK'); defineRegion('__x86shadowstack', imageStart + (imagePages - 1n) * PAGE, PAGE, 'inside'); features.push('shadow stack'); }
  }
  const maps: string[] = [];
  if (sizeOrEnd) {
    for (const m of c.maps) {
      const large = m.letters.includes('L');
      const size = large ? BigInt(m.largeSlots) * slot : BigInt(m.pages) * PAGE;
      const phys = {
        device: 0xe0000000n, ioapic: 0xfec00000n, image: imagePhys, zero: 0n, high: mode === '32bit' ? 0xf0000000n : 1n << 32n, locore: c.locoreAt,
      }[m.target];
      const virt = m.virt === 'elsewhere' ? (mode === 'ia32e' ? 0x80000000n : 0xd0000000n) + BigInt(maps.length) * 4n * slot
        : m.virt === 'window' ? link + imageSize : undefined;
      const number = (v: bigint) => (era === '2025' && m.decimal ? v.toString() : hexText(v));
      maps.push([number(phys), number(size), m.letters, ...(virt === undefined ? [] : [virt.toString(16)])].join(','));
    }
    if (maps.length > 0) features.push(`${maps.length} --map`);
  }
  if (c.omit !== 'none' && c.omit in symbols) { delete symbols[c.omit]; features.push(`left out ${c.omit}`); }
  return { era, mode, kernel: { elfClass: mode === 'ia32e' ? 64 : 32, symbols, sizes }, maps, features };
}

/** Kernel layouts of the released eras, valid and invalid. */
export function eraLayoutArbitrary(options: EraArbitraryOptions): fc.Arbitrary<EraFuzzLayout> {
  if (options.eras.length === 0 || options.modes.length === 0) throw new RangeError('eraLayoutArbitrary: no era or paging mode to draw from');
  return eraChoices(options.eras, options.modes).map(resolveEraLayout);
}
