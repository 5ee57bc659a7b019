/**
 * What a kernel of each released Zephyr era (v2.4 to 2025) asks of its page
 * tables, written from the era's gen_mmu.py contract: which symbols it reads,
 * which mappings it makes in which order (later wins), which tables it
 * creates (the whole kernel VM window reserved, empty), and which layouts it
 * cannot express. The model is a map of virtual pieces, each a run of pages
 * at one virtual-to-physical offset with one set of leaf flags, plus the walks
 * that created tables; it shares nothing with the generator.
 *
 * Checked: the translation the walker sees (present pages, physical targets,
 * effective R/W, U/S, XD), the table count and so the block size, the
 * placeholder's size. Not checked: bits the walker ignores (the mirrors of
 * RW/US/XD in bits 9-11, PCD from `--map ...,D`, the dirty bit of 2025),
 * which change no translation.
 */
import type { ZephyrEra } from '../elf/zephyr-era.js';
import { hex } from '../core/text.js';
import type { MappedRange, PagingMode } from './model.js';
import { PAGING_MODE_RECORDS, blockBytes, cr3Limit, pagesCanDenyExecute } from './paging-modes.js';
import { coalesceRanges } from './ranges.js';
import type { RefusalRule, Spec } from './spec.js';

export type ReleasedEra = Exclude<ZephyrEra, 'seed'>;

/** Leaf flags in the walker's terms; `present` false: the entry is written but not present (demand paging). */
interface Flags {
  readonly present: boolean;
  readonly writable: boolean;
  readonly user: boolean;
  readonly executeDisable: boolean;
}

/** A run of virtual pages (indexed addresses: IA-32e's reduced mod 2^48) at one offset: phys = virt + offset. */
interface Piece {
  readonly start: bigint;
  readonly end: bigint;
  readonly offset: bigint;
  readonly flags: Flags;
  /** Mapped by page-directory entries (large pages) rather than page-table entries. */
  readonly large: boolean;
}

/** Tables created for [start, end) down to the table holding the entries at `depth` (0 = top level). */
interface Walk {
  readonly start: bigint;
  readonly end: bigint;
  readonly depth: number;
}

/** One `--map phys,size[,LUWXD[,virt]]`. */
export interface MapRequest {
  readonly argument: string;
  readonly phys: bigint;
  readonly size: bigint;
  readonly virt: bigint;
  readonly large: boolean;
  readonly user: boolean;
  readonly writable: boolean;
  readonly executable: boolean;
  /** PCD: changes caching only, nothing the walker sees. */
  readonly cacheDisabled: boolean;
}

/** A refusal found while following the era's steps: the layout cannot be expressed, the steps stop. */
class Refused extends Error {
  constructor(readonly rule: RefusalRule, readonly reason: string) {
    super(reason);
  }
}

const refuse = (rule: RefusalRule, reason: string): never => {
  throw new Refused(rule, reason);
};

const PAGE = 4096n;
const span = (start: bigint, end: bigint): string => `${hex(start)}-${hex(end)}`;
const signedHex = (v: bigint): string => (v < 0n ? `-${hex(-v)}` : hex(v));
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const roundDown = (v: bigint, unit: bigint): bigint => v - (((v % unit) + unit) % unit);
const roundUp = (v: bigint, unit: bigint): bigint => roundDown(v + unit - 1n, unit);

// ---------------------------------------------------------------- --map, parsed as the scripts parse it

/** How an era reads `--map`'s physical address and size: Python's int(x, 16) (v2.6) or int(x, 0) (2025). */
export type MapNumbers = 'hex' | 'auto';

const DIGITS = { 16: /^[0-9a-f]+(_[0-9a-f]+)*$/i, 10: /^[0-9]+(_[0-9]+)*$/, 8: /^[0-7]+(_[0-7]+)*$/, 2: /^[01]+(_[01]+)*$/ } as const;

/** Python's int() of an ASCII string in base 16 or base 0; undefined where Python raises ValueError. */
export function pythonInt(text: string, numbers: MapNumbers): bigint | undefined {
  let body = text.trim();
  let negative = false;
  if (body.startsWith('-') || body.startsWith('+')) {
    negative = body.startsWith('-');
    body = body.slice(1);
  }
  const prefix = /^0([xob])_?/i.exec(body);
  let base: 16 | 10 | 8 | 2 = numbers === 'hex' ? 16 : 10;
  if (prefix) {
    const letter = prefix[1]!.toLowerCase();
    if (numbers === 'hex' && letter !== 'x') return undefined;
    base = letter === 'x' ? 16 : letter === 'o' ? 8 : 2;
    body = body.slice(prefix[0].length);
  }
  if (!DIGITS[base].test(body)) return undefined;
  const digits = body.replaceAll('_', '');
  // Base 0 refuses a decimal with a leading zero (010) unless it is all zeros.
  if (numbers === 'auto' && !prefix && digits.length > 1 && digits.startsWith('0') && /[1-9]/.test(digits)) return undefined;
  const value = base === 10 ? BigInt(digits) : BigInt(`0${base === 16 ? 'x' : base === 8 ? 'o' : 'b'}${digits}`);
  return negative ? -value : value;
}

/** One `--map` argument, or the refusal its text earns. */
export function parseMapRequest(argument: string, numbers: MapNumbers): MapRequest {
  const fields = argument.split(',');
  const bad = (what: string): never => refuse('map-option-invalid', `--map ${argument}: ${what}`);
  if (fields.length < 2) bad('needs at least a physical address and a size');
  const number = (text: string, what: string, syntax: MapNumbers): bigint => {
    const value = pythonInt(text, syntax);
    if (value === undefined) return bad(`${what} '${text}' is not a number the script reads`);
    if (value < 0n) return bad(`${what} ${text} is negative`);
    return value;
  };
  const phys = number(fields[0]!, 'the physical address', numbers);
  const size = number(fields[1]!, 'the size', numbers);
  const letters = fields[2] ?? '';
  if (!/^[LUWXD]*\n?$/.test(letters)) bad(`flags '${letters}' are not among L U W X D`);
  const virt = fields.length > 3 ? number(fields[3]!, 'the virtual address', 'hex') : phys;
  const has = (c: string): boolean => letters.includes(c);
  return { argument, phys, size, virt, large: has('L'), user: has('U'), writable: has('W'), executable: has('X'), cacheDisabled: has('D') };
}

// ---------------------------------------------------------------- the eras as data

/** A linker-script region whose pages get their own flags, in list order. */
interface RegionRule {
  readonly name: string;
  readonly flags: (k: Kernel) => Flags;
  readonly when?: (k: Kernel) => boolean;
}

interface EraContract {
  /** How the addresses are read: RAM identity (v2.4), the image in the VM window (v2.5), linked virtually (v2.6+). */
  readonly plan: (k: Kernel) => Plan;
  /** The mapping steps, in the script's order. */
  readonly steps: readonly ((k: Kernel, model: PageModel) => void)[];
  readonly regions: readonly RegionRule[];
  /** Region bounds: `_start` and `_size` both required (v2.4, v2.5), or `_size` else `_end` with absent regions skipped. */
  readonly regionBounds: 'start-size' | 'size-or-end';
  /** How `--map` numbers are read; undefined: no `--map` option. */
  readonly mapNumbers?: MapNumbers;
  /** Whether the generic sections are left not present unless CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT. */
  readonly demandPaging: boolean;
  /** Whether the tables must fill `dummy_pagetables` exactly. */
  readonly placeholder: boolean;
}

/** The symbols and what the era derives from them before mapping. */
interface Kernel {
  readonly era: ReleasedEra;
  readonly contract: EraContract;
  readonly mode: PagingMode;
  readonly symbols: ReadonlyMap<string, bigint>;
  readonly sizes: ReadonlyMap<string, bigint>;
  readonly maps: readonly MapRequest[];
  plan: Plan;
}

interface Plan {
  readonly tablesPhys: bigint;
  /** Physical minus virtual address of the kernel image. */
  readonly virtToPhys: bigint;
  readonly imageBase: bigint;
  readonly imageSize: bigint;
  /** The kernel VM window, reserved whole (not in v2.4). */
  readonly window?: { readonly base: bigint; readonly size: bigint };
  /** Flags of image pages before region permissions. */
  readonly base: Flags;
}

const has = (k: Kernel, name: string): boolean => k.symbols.has(name);
function need(k: Kernel, name: string, why = ''): bigint {
  const value = k.symbols.get(name);
  return value ?? refuse('symbol-missing', `required symbol ${name} is missing${why} (the ${k.era} contract reads it)`);
}

const flags = (present: boolean, writable: boolean, user: boolean, executeDisable: boolean): Flags => ({ present, writable, user, executeDisable });
const permissions = (k: Kernel): boolean => has(k, 'CONFIG_SRAM_REGION_PERMISSIONS');
/** Whether the image is present at boot (always, but in 2025 without CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT). */
const genericPresent = (k: Kernel): boolean => !k.contract.demandPaging || has(k, 'CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT');
const gdb = (k: Kernel): boolean => has(k, 'CONFIG_GDBSTUB');
const kpti = (k: Kernel): boolean => has(k, 'CONFIG_X86_KPTI');
const is64 = (k: Kernel): boolean => has(k, 'CONFIG_X86_64');

const text = (name: string, present = (_: Kernel) => true, when?: (k: Kernel) => boolean): RegionRule =>
  ({ name, flags: (k) => flags(present(k), gdb(k), true, false), ...(when ? { when } : {}) });
const rodata = (name: string, present = (_: Kernel) => true, when?: (k: Kernel) => boolean): RegionRule =>
  ({ name, flags: (k) => flags(present(k), false, true, true), ...(when ? { when } : {}) });
const COMMON_TAIL: readonly RegionRule[] = [
  { name: '__gcov_bss', when: (k) => has(k, 'CONFIG_COVERAGE_GCOV') && has(k, 'CONFIG_USERSPACE'), flags: () => flags(true, true, true, true) },
  { name: '_locore', when: is64, flags: (k) => flags(true, false, kpti(k), false) },
  { name: '_lorodata', when: is64, flags: (k) => flags(true, false, kpti(k), true) },
];
const boot = (k: Kernel): boolean => has(k, 'CONFIG_LINKER_USE_BOOT_SECTION');
const pinned = (k: Kernel): boolean => has(k, 'CONFIG_LINKER_USE_PINNED_SECTION');
const CLASSIC_REGIONS: readonly RegionRule[] = [text('_image_text'), rodata('_image_rodata'), ...COMMON_TAIL];
const V26_REGIONS: readonly RegionRule[] = [
  text('_image_text'), text('lnkr_boot_text', undefined, boot), text('lnkr_pinned_text', undefined, pinned),
  rodata('_image_rodata'), rodata('lnkr_boot_rodata', undefined, boot), rodata('lnkr_pinned_rodata', undefined, pinned),
  ...COMMON_TAIL,
];
const REGIONS_2025: readonly RegionRule[] = [
  text('__text_region', genericPresent), text('lnkr_boot_text', undefined, boot), text('lnkr_pinned_text', undefined, pinned),
  rodata('__rodata_region', genericPresent), rodata('lnkr_boot_rodata', undefined, boot), rodata('lnkr_pinned_rodata', undefined, pinned),
  ...COMMON_TAIL,
  // CET shadow stacks: read-only and dirty (the dirty bit is what the CPU reads; the walker sees read-only, no-exec).
  { name: '__x86shadowstack', when: (k) => has(k, 'CONFIG_HW_SHADOW_STACK'), flags: () => flags(true, false, false, true) },
];

// ---------------------------------------------------------------- plans

const imageFlags = (k: Kernel, present: boolean): Flags => flags(present, false, false, permissions(k));

/** v2.4: RAM mapped to itself. */
function planIdentityRam(k: Kernel): Plan {
  const base = need(k, 'CONFIG_SRAM_BASE_ADDRESS');
  const size = need(k, 'CONFIG_SRAM_SIZE') * 1024n;
  return { tablesPhys: need(k, 'z_x86_pagetables_start'), virtToPhys: 0n, imageBase: base, imageSize: size, base: imageFlags(k, true) };
}

/** The image: all RAM under CONFIG_ARCH_MAPS_ALL_RAM, else z_mapped_*; it must be smaller than the VM window. */
function imageInWindow(k: Kernel): { imageBase: bigint; imageSize: bigint; window: { base: bigint; size: bigint } } {
  const window = { base: need(k, 'CONFIG_KERNEL_VM_BASE'), size: need(k, 'CONFIG_KERNEL_VM_SIZE') };
  const allRam = has(k, 'CONFIG_ARCH_MAPS_ALL_RAM');
  const imageBase = allRam ? need(k, 'CONFIG_SRAM_BASE_ADDRESS') : need(k, 'z_mapped_start');
  const imageSize = allRam ? need(k, 'CONFIG_SRAM_SIZE') * 1024n : need(k, 'z_mapped_size');
  if (imageSize >= window.size) {
    refuse('image-exceeds-vm-window', `the image (${allRam ? 'CONFIG_SRAM_SIZE' : 'z_mapped_size'} ${hex(imageSize)}) is not smaller than CONFIG_KERNEL_VM_SIZE ${hex(window.size)}`);
  }
  return { imageBase, imageSize, window };
}

/** v2.5: the image inside the kernel VM window, linked where it is loaded. */
function planImage(k: Kernel): Plan {
  const image = imageInWindow(k);
  return { tablesPhys: need(k, 'z_x86_pagetables_start'), virtToPhys: 0n, ...image, base: imageFlags(k, true) };
}

/** v2.6 and 2025: linked at CONFIG_KERNEL_VM_BASE + OFFSET, loaded at CONFIG_SRAM_BASE_ADDRESS + CONFIG_SRAM_OFFSET. */
function planLinkedVirtual(k: Kernel): Plan {
  const vmBase = need(k, 'CONFIG_KERNEL_VM_BASE');
  need(k, 'CONFIG_KERNEL_VM_SIZE');
  const vmOffset = need(k, 'CONFIG_KERNEL_VM_OFFSET');
  const sramBase = need(k, 'CONFIG_SRAM_BASE_ADDRESS');
  need(k, 'CONFIG_SRAM_SIZE');
  need(k, 'z_mapped_start');
  need(k, 'z_mapped_size');
  const virtToPhys = sramBase + (k.symbols.get('CONFIG_SRAM_OFFSET') ?? 0n) - (vmBase + vmOffset);
  const image = imageInWindow(k);
  return { tablesPhys: need(k, 'z_x86_pagetables_start') + virtToPhys, virtToPhys, ...image, base: imageFlags(k, genericPresent(k)) };
}

// ---------------------------------------------------------------- the page model

const INDEX_BITS: Readonly<Record<PagingMode, bigint>> = { '32bit': 32n, pae: 32n, ia32e: 48n };
const PHYS_REACH: Readonly<Record<PagingMode, bigint>> = { '32bit': 1n << 32n, pae: 1n << 52n, ia32e: 1n << 52n };

/** Whether [start, end) are addresses the mode translates: below 4 GiB, or within one canonical half. */
function translatable(mode: PagingMode, start: bigint, end: bigint): boolean {
  if (mode !== 'ia32e') return start >= 0n && end <= 1n << 32n;
  const top = 1n << 64n;
  return start <= end && ((start >= 0n && end <= 1n << 47n) || (start >= top - (1n << 47n) && end <= top));
}

/** The mapped pieces and the tables created, as an era's steps leave them. */
class PageModel {
  private pieces: Piece[] = [];
  private readonly walks: Walk[] = [];
  readonly leafDepth: number;
  readonly directoryDepth: number;
  /** Bytes a page-directory entry maps: 4 MiB or 2 MiB. */
  readonly largeScope: bigint;

  constructor(readonly mode: PagingMode) {
    const levels = PAGING_MODE_RECORDS[mode].levels;
    this.leafDepth = levels.length - 1;
    this.directoryDepth = levels.length - 2;
    this.largeScope = 1n << BigInt(levels[this.directoryDepth]!.shift);
  }

  index(virt: bigint): bigint {
    return virt % (1n << INDEX_BITS[this.mode]);
  }

  /** Refuses addresses the mode cannot reach: negative, wrapping, non-canonical, or past the entries' address field. */
  checkReach(what: string, virt: bigint, phys: bigint | undefined, size: bigint): void {
    if (size < 0n) refuse('address-beyond-reach', `${what}: ends before it starts (size ${signedHex(size)})`);
    if (virt < 0n || (phys !== undefined && phys < 0n)) refuse('address-beyond-reach', `${what}: negative address ${signedHex(virt < 0n ? virt : phys!)}`);
    if (!translatable(this.mode, virt, virt + size)) {
      refuse('address-beyond-reach', `${what}: virtual ${span(virt, virt + size)} leaves the addresses ${PAGING_MODE_RECORDS[this.mode].title} translates`);
    }
    if (phys !== undefined && phys + size > PHYS_REACH[this.mode]) {
      refuse('address-beyond-reach', `${what}: physical ${span(phys, phys + size)} ends above ${hex(PHYS_REACH[this.mode])}, past the entries' address field`);
    }
  }

  static checkAligned(what: string, base: bigint, size: bigint, unit: bigint, whose: string): void {
    if (base % unit !== 0n || size % unit !== 0n) {
      refuse('not-page-aligned', `${what}: ${whose} ${hex(base)} and size ${hex(size)} are not multiples of ${hex(unit)}`);
    }
  }

  private largeOverlapping(start: bigint, end: bigint): Piece | undefined {
    return this.pieces.find((p) => p.large && p.start < end && start < p.end);
  }

  /** Tables down to `depth` for [start, end); a walk to page tables cannot pass through a large page. */
  walk(what: string, start: bigint, end: bigint, depth: number): void {
    if (end <= start) return;
    if (depth === this.leafDepth) {
      const large = this.largeOverlapping(start, end);
      if (large) refuse('walks-into-large-page', `${what}: ${span(start, end)} lies in the large page ${span(large.start, large.end)}, which has no page table`);
    }
    this.walks.push({ start, end, depth });
  }

  /** Whether a page table exists for the page-directory entry covering `virt`. */
  private hasPageTable(virt: bigint): boolean {
    const slot = roundDown(virt, this.largeScope);
    return this.walks.some((w) => w.depth === this.leafDepth && w.start < slot + this.largeScope && slot < w.end);
  }

  /** reserve(): tables for [base, base + size) rounded up to whole page-directory entries; the base must start one. */
  reserve(what: string, base: bigint, size: bigint, depth: number): void {
    this.checkReach(what, base, undefined, size);
    PageModel.checkAligned(what, base, size, PAGE, 'base');
    if (base % this.largeScope !== 0n) refuse('vm-window-misaligned', `${what}: ${hex(base)} does not start a page-directory entry (${hex(this.largeScope)} bytes)`);
    const v = this.index(base);
    this.walk(what, v, v + roundUp(size, this.largeScope), depth);
  }

  /** reserve_unaligned(): the same, widened to whole page-directory entries. */
  reserveWidened(what: string, base: bigint, size: bigint, depth: number): void {
    const start = roundDown(base, this.largeScope);
    this.reserve(what, start, roundUp(base + size, this.largeScope) - start, depth);
  }

  /**
   * map(): [virt, virt + size) to phys with these flags, in 4 KiB pages or
   * large ones. An identity map in 4 KiB pages leaves page 0 as it was, and
   * walks no table for it: page 0 alone creates none. A present page may be
   * mapped again only to the same physical page.
   */
  map(what: string, virt: bigint, phys: bigint, size: bigint, f: Flags, large = false): void {
    const unit = large ? this.largeScope : PAGE;
    this.checkReach(what, virt, phys, size);
    PageModel.checkAligned(what, phys, size, unit, large ? 'physical address (a large page)' : 'physical address');
    PageModel.checkAligned(what, virt, size, unit, large ? 'virtual address (a large page)' : 'virtual address');
    if (size === 0n) return;
    const start = this.index(virt);
    const end = start + size;
    const offset = phys - start;
    const from = virt === phys && !large && start === 0n ? PAGE : start;
    this.walk(what, from, end, large ? this.directoryDepth : this.leafDepth);
    for (const p of this.pieces) {
      if (!(p.start < end && from < p.end) || !(p.flags.present || p.large)) continue;
      if (p.offset !== offset) {
        const at = max(p.start, from);
        refuse('mapped-twice', `${what}: virtual ${hex(at)} is already mapped to physical ${hex(at + p.offset)}, not ${hex(at + offset)}`);
      }
    }
    if (large) {
      for (let slot = start; slot < end; slot += this.largeScope) {
        if (this.hasPageTable(slot)) refuse('large-page-over-table', `${what}: a large page at ${hex(slot)} would replace the page table in use for ${span(slot, slot + this.largeScope)}`);
      }
    }
    if (from < end) this.paint(from, end, () => ({ offset, flags: f, large }));
  }

  /** Whether any page of [start, end) is translated (or, at the page directory, any entry there is in use). */
  anyPresent(start: bigint, end: bigint, directory: boolean): boolean {
    const s = this.index(start);
    const e = s + (end - start);
    if (directory) {
      for (let slot = roundDown(s, this.largeScope); slot < e; slot += this.largeScope) {
        if (this.hasPageTable(slot) || this.largeOverlapping(slot, slot + this.largeScope)) return true;
      }
      return false;
    }
    return this.pieces.some((p) => p.start < e && s < p.end && (p.flags.present || p.large));
  }

  /** set_region_perms(): new flags for pages already written, addresses kept; page 0 is left alone. */
  setFlags(what: string, virt: bigint, size: bigint, f: Flags): void {
    if (size <= 0n) return;
    const start = this.index(virt === 0n ? PAGE : virt);
    const end = this.index(virt) + size;
    if (end <= start) return;
    const large = this.largeOverlapping(start, end);
    if (large) refuse('walks-into-large-page', `${what}: ${span(start, end)} lies in the large page ${span(large.start, large.end)}`);
    let cursor = start;
    for (const p of this.pieces) {
      if (p.end <= cursor || p.start >= end) continue;
      if (p.start > cursor) break;
      cursor = p.end;
    }
    if (cursor < end) refuse('region-unmapped', `${what}: page ${hex(cursor)} was never mapped`);
    this.paint(start, end, (old) => ({ offset: old!.offset, flags: f, large: false }));
  }

  /** Replaces [start, end) with new pieces made from the old piece (if any) of each part. */
  private paint(start: bigint, end: bigint, make: (old: Piece | undefined) => { offset: bigint; flags: Flags; large: boolean }): void {
    const out: Piece[] = [];
    let cursor = start;
    for (const p of this.pieces) {
      if (p.end <= start || p.start >= end) {
        out.push(p);
        continue;
      }
      if (p.start < start) out.push({ ...p, end: start });
      if (p.end > end) out.push({ ...p, start: end });
      const s = max(p.start, start);
      if (s > cursor) out.push({ start: cursor, end: s, ...make(undefined) });
      out.push({ start: s, end: min(p.end, end), ...make(p) });
      cursor = min(p.end, end);
    }
    if (cursor < end) out.push({ start: cursor, end, ...make(undefined) });
    this.pieces = out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  /** The tables: the top level, and at each lower level one per entry of the level above that some walk went through. */
  tableCount(): bigint {
    const levels = PAGING_MODE_RECORDS[this.mode].levels;
    let count = 1n;
    for (let depth = 1; depth <= this.leafDepth; depth++) {
      const unit = 1n << BigInt(levels[depth - 1]!.shift);
      const blocks = this.walks.filter((w) => w.depth >= depth)
        .map((w) => ({ start: roundDown(w.start, unit), end: roundUp(w.end, unit) }))
        .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      let reach = -1n;
      for (const b of blocks) {
        const from = max(b.start, reach);
        if (b.end > from) count += (b.end - from) / unit;
        reach = max(reach, b.end);
      }
    }
    return count;
  }

  /** What the walker should see: present pieces, canonical virtual addresses. */
  translation(): MappedRange[] {
    const denyExecute = pagesCanDenyExecute(this.mode);
    const canonical = (v: bigint): bigint => (this.mode === 'ia32e' && v >= 1n << 47n ? v + (1n << 64n) - (1n << 48n) : v);
    return coalesceRanges(this.pieces.filter((p) => p.flags.present).map((p) => ({
      virt: canonical(p.start),
      phys: p.start + p.offset,
      size: p.end - p.start,
      writable: p.flags.writable,
      user: p.flags.user,
      executable: !denyExecute || !p.flags.executeDisable,
    })));
  }
}

// ---------------------------------------------------------------- steps

/** Whatever is present at boot in 2025 (locore, flash, boot and pinned sections) gets P even when the image does not. */
const atBoot = (k: Kernel, f: Flags): Flags => (k.contract.demandPaging ? { ...f, present: true } : f);
const writable = (f: Flags): Flags => ({ ...f, writable: true });

function reserveWindow(k: Kernel, m: PageModel): void {
  const w = k.plan.window!;
  m.reserve('the kernel VM window (CONFIG_KERNEL_VM_BASE, CONFIG_KERNEL_VM_SIZE)', w.base, w.size, m.leafDepth);
}

function mapImage(k: Kernel, m: PageModel): void {
  const { plan } = k;
  const f = writable(plan.base);
  // Not present at boot (demand paging): written at its virtual address as if identity, for the pager to fill.
  const phys = plan.base.present ? plan.imageBase + plan.virtToPhys : plan.imageBase;
  m.map(k.era === 'v2.4' ? 'RAM' : 'the kernel image', plan.imageBase, phys, plan.imageSize, f);
}

/** The image's physical pages mapped to themselves in large pages, for the jump to virtual addresses (v2.6+, when linked elsewhere). */
function bootIdentityMap(k: Kernel, m: PageModel): void {
  const { plan } = k;
  if (plan.virtToPhys === 0n) return;
  const phys = plan.imageBase + plan.virtToPhys;
  const what = 'the boot identity map of the image';
  m.reserveWidened(what, phys, plan.imageSize, m.directoryDepth);
  const start = roundDown(phys, m.largeScope);
  const end = roundUp(phys + plan.imageSize, m.largeScope);
  m.map(what, start, start, end - start, flags(true, true, false, false), true);
}

function mapLocore(k: Kernel, m: PageModel): void {
  if (!is64(k)) return;
  const start = need(k, '_locore_start', ' (CONFIG_X86_64 is set)');
  const end = need(k, '_lodata_end', ' (CONFIG_X86_64 is set)');
  m.map('locore (_locore_start to _lodata_end)', start, start, end - start, writable(atBoot(k, k.plan.base)));
}

function mapFlash(k: Kernel, m: PageModel): void {
  if (!has(k, 'CONFIG_XIP')) return;
  const base = need(k, 'CONFIG_FLASH_BASE_ADDRESS', ' (CONFIG_XIP is set)');
  const size = need(k, 'CONFIG_FLASH_SIZE', ' (CONFIG_XIP is set)') * 1024n;
  const image = k.plan.imageBase + k.plan.virtToPhys;
  const imageEnd = image + k.plan.imageSize;
  if (size > 0n && imageEnd > image && base < imageEnd && image < base + size) {
    refuse('flash-overlaps-image', `XIP flash ${span(base, base + size)} overlaps the image ${span(image, imageEnd)} in physical memory`);
  }
  m.map('XIP flash', base, base, size, atBoot(k, k.plan.base));
}

const mapSection = (config: string, name: string) => (k: Kernel, m: PageModel): void => {
  if (!has(k, config) || !has(k, `${name}_start`)) return;
  const start = need(k, `${name}_start`);
  const end = need(k, `${name}_end`, ` (${name}_start is defined)`);
  m.map(`section ${name}`, start, start + k.plan.virtToPhys, end - start, writable(atBoot(k, k.plan.base)));
};

/** --map: each region must be unmapped so far; it gets XD unless X, even as a large page. */
function mapRequests(k: Kernel, m: PageModel): void {
  for (const r of k.maps) {
    const what = `--map ${r.argument}`;
    m.checkReach(what, r.virt, r.phys, r.size);
    PageModel.checkAligned(what, r.virt, r.size, PAGE, 'virtual address');
    if (m.anyPresent(r.virt, r.virt + r.size, r.large)) refuse('map-overlaps-mapped', `${what}: ${span(r.virt, r.virt + r.size)} is already mapped`);
    m.reserveWidened(what, r.virt, r.size, r.large ? m.directoryDepth : m.leafDepth);
    m.map(what, r.virt, r.phys, r.size, flags(true, r.writable, r.user, !r.executable), r.large);
  }
}

function regionExtent(k: Kernel, name: string): { start: bigint; size: bigint } | undefined {
  if (k.contract.regionBounds === 'start-size') {
    const why = ' (CONFIG_SRAM_REGION_PERMISSIONS is set)';
    return { start: need(k, `${name}_start`, why), size: need(k, `${name}_size`, why) };
  }
  const start = k.symbols.get(`${name}_start`);
  if (start === undefined) return undefined;
  const size = k.symbols.get(`${name}_size`);
  if (size !== undefined) return { start, size };
  const end = k.symbols.get(`${name}_end`);
  if (end === undefined) return refuse('symbol-missing', `region ${name}: ${name}_start is defined, neither ${name}_size nor ${name}_end is`);
  return { start, size: end - start };
}

function regionPermissions(k: Kernel, m: PageModel): void {
  if (!permissions(k)) return;
  for (const rule of k.contract.regions) {
    if (rule.when && !rule.when(k)) continue;
    const extent = regionExtent(k, rule.name);
    if (!extent || (k.contract.regionBounds === 'size-or-end' && extent.size === 0n)) continue;
    const { start, size } = extent;
    const what = `region ${rule.name} ${span(start, start + size)}`;
    if (size < 0n) refuse('address-beyond-reach', `${what}: ends before it starts`);
    PageModel.checkAligned(what, start, size, PAGE, 'start');
    if (!translatable(m.mode, start, start + size)) refuse('address-beyond-reach', `${what}: leaves the addresses ${PAGING_MODE_RECORDS[m.mode].title} translates`);
    m.setFlags(what, start, size, rule.flags(k));
  }
}

const V26_STEPS = [reserveWindow, mapImage, bootIdentityMap, mapLocore, mapFlash,
  mapSection('CONFIG_LINKER_USE_BOOT_SECTION', 'lnkr_boot'), mapSection('CONFIG_LINKER_USE_PINNED_SECTION', 'lnkr_pinned'), mapRequests];

export const ERA_CONTRACTS: Readonly<Record<ReleasedEra, EraContract>> = {
  'v2.4': { plan: planIdentityRam, steps: [mapImage, mapFlash], regions: CLASSIC_REGIONS, regionBounds: 'start-size', demandPaging: false, placeholder: false },
  'v2.5': { plan: planImage, steps: [reserveWindow, mapImage, mapLocore, mapFlash], regions: CLASSIC_REGIONS, regionBounds: 'start-size', demandPaging: false, placeholder: false },
  'v2.6': { plan: planLinkedVirtual, steps: V26_STEPS, regions: V26_REGIONS, regionBounds: 'size-or-end', mapNumbers: 'hex', demandPaging: false, placeholder: true },
  '2025': { plan: planLinkedVirtual, steps: V26_STEPS, regions: REGIONS_2025, regionBounds: 'size-or-end', mapNumbers: 'auto', demandPaging: true, placeholder: true },
};

// ---------------------------------------------------------------- placement and the whole spec

const modeOf = (symbols: ReadonlyMap<string, bigint>): PagingMode =>
  (symbols.has('CONFIG_X86_64') ? 'ia32e' : symbols.has('CONFIG_X86_PAE') ? 'pae' : '32bit');

function kernelOf(era: ReleasedEra, symbols: ReadonlyMap<string, bigint>, sizes: ReadonlyMap<string, bigint>, maps: readonly string[]): Kernel {
  const contract = ERA_CONTRACTS[era];
  const k = { era, contract, mode: modeOf(symbols), symbols, sizes, maps: [] as MapRequest[], plan: undefined as unknown as Plan };
  if (maps.length > 0 && !contract.mapNumbers) refuse('map-not-an-option', `--map is not an option of the ${era} gen_mmu.py`);
  k.maps = maps.map((a) => parseMapRequest(a, contract.mapNumbers!));
  k.plan = contract.plan(k);
  return k;
}

/** tables-phys-invalid and the top-level table's reach, known before any table is made. */
function checkTablesPhys(k: Kernel): void {
  const { tablesPhys } = k.plan;
  if (tablesPhys < 0n || tablesPhys % PAGE !== 0n) {
    refuse('tables-phys-invalid', `the tables' physical address ${signedHex(tablesPhys)} (z_x86_pagetables_start${k.plan.virtToPhys === 0n ? '' : ` + the virtual-to-physical offset ${signedHex(k.plan.virtToPhys)}`}) is not a 4 KiB aligned address`);
  }
}

/** Where a kernel's tables sit under its era, for `dump -k` and `diff`: needs only the placement symbols. */
export function eraTablePlacement(era: ReleasedEra, symbols: ReadonlyMap<string, bigint>): { mode: PagingMode; tablesPhys: bigint } | { refusal: string } {
  try {
    const k = kernelOf(era, symbols, new Map(), []);
    checkTablesPhys(k);
    return { mode: k.mode, tablesPhys: k.plan.tablesPhys };
  } catch (err) {
    if (err instanceof Refused) return { refusal: err.reason };
    throw err;
  }
}

/** The dummy_pagetables placeholder (v2.6+) must hold the tables exactly: the kernel finds the top-level table at its end. */
function checkPlaceholder(k: Kernel, tableBytes: bigint): void {
  const reserved = k.sizes.get('dummy_pagetables') ?? 0n;
  if (!k.contract.placeholder || reserved === 0n || reserved === tableBytes) return;
  need(k, 'CONFIG_MMU_PAGE_SIZE', ' (to size dummy_pagetables)');
  refuse('placeholder-size-mismatch', `dummy_pagetables holds ${reserved} bytes; the tables take ${tableBytes}`);
}

/** The spec of a released era's kernel: the translation and table block it asks for, or the rule it breaks. */
export function eraSpec(era: ReleasedEra, symbols: ReadonlyMap<string, bigint>, sizes: ReadonlyMap<string, bigint> = new Map(), maps: readonly string[] = []): Spec {
  try {
    const k = kernelOf(era, symbols, sizes, maps);
    checkTablesPhys(k);
    const model = new PageModel(k.mode);
    for (const step of k.contract.steps) step(k, model);
    regionPermissions(k, model);
    const tableCount = model.tableCount();
    const tableBytes = blockBytes(k.mode, tableCount);
    const limit = cr3Limit(k.mode);
    if (k.plan.tablesPhys + tableBytes > limit) {
      refuse('tables-beyond-cr3-reach', `the table block ${span(k.plan.tablesPhys, k.plan.tablesPhys + tableBytes)} ends past ${hex(limit)}, out of reach of CR3 and the entries`);
    }
    checkPlaceholder(k, tableBytes);
    return {
      valid: true, era, mode: k.mode, tablesPhys: k.plan.tablesPhys, dual: false, expected: model.translation(), tableCount: Number(tableCount), tableBytes,
    };
  } catch (err) {
    if (err instanceof Refused) return { valid: false, reasons: [err.reason], rules: [err.rule] };
    throw err;
  }
}
