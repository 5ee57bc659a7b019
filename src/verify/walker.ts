/**
 * An independent page walker: resolves linear addresses through a block of
 * paging structures the way the MMU does (Intel SDM Vol. 3A, chapter 4), for
 * all three modes with one loop driven by the mode records in paging-modes.ts.
 *
 * Hot paths use numbers, never bigint: a page number (address >> 12) fits a
 * double exactly for every 64-bit address, and entries are read as 32-bit
 * words from a typed array.
 */
import { InputError } from '../core/errors.js';
import type { EngineReport, MappedRange, PagingMode, TablePlacement, Violation, WalkOptions } from './model.js';
import type { DumpRange, Translation } from './ranges.js';
import { hex } from '../core/text.js';
import {
  PAGING_MODE_RECORDS, TABLE_BYTES, cr3Limit, linearSpans, topEntries, topEntryVirt, topTablePhys,
  type EntryName, type PagingLevel, type PagingModeRecord,
} from './paging-modes.js';

/**
 * How the walker reads entries beyond the processor's settings. The default
 * is the SDM's reading: an entry with a reserved bit set translates nothing.
 */
export interface WalkerOptions extends WalkOptions {
  /**
   * Read entries as written: a reserved bit is still reported, but the entry
   * is then followed as if the bit were clear (what a table the CPU refuses
   * would map once fixed). Not what any processor does.
   */
  readonly ignoreReservedBits?: boolean;
}

/** A block of paging structures as it sits in physical memory. */
export interface TableBlock extends TablePlacement {
  /** The block's bytes; the top-level table is its last page (last 32 bytes in PAE). */
  readonly tables: Uint8Array;
}

/** What the walk of a whole block found. */
export interface WalkResult {
  readonly mode: PagingMode;
  /** Physical address of the top-level table (what CR3 would hold). */
  readonly topTablePhys: bigint;
  /** Every translation, as maximal ranges sorted by virtual address. */
  readonly ranges: MappedRange[];
  readonly violations: Violation[];
}

/** Packed access bits of `PageWalker.translatePage`. */
export const ACCESS_WRITABLE = 1;
export const ACCESS_USER = 2;
export const ACCESS_EXECUTABLE = 4;
const ACCESS_ALL = ACCESS_WRITABLE | ACCESS_USER | ACCESS_EXECUTABLE;

/** Packed leaf attributes of `WalkVisitor.leaf`: the leaf entry's own bits (upper levels' PCD/PWT type only the tables' reads). */
export const ATTR_GLOBAL = 1;
export const ATTR_PWT = 2;
export const ATTR_PCD = 4;
export const ATTR_PAT = 8;
export const ATTR_ACCESSED = 16;
export const ATTR_DIRTY = 32;

/**
 * ATTR_* bits of a leaf's low word: PWT (3), PCD (4), A (5), D (6) and G (8)
 * sit alike in every leaf; PAT is bit 7 in a 4 KiB PTE and bit 12 where PS
 * maps a large page.
 */
const leafAttributes = (lo: number, large: boolean): number =>
  ((lo >>> 8) & 1) | ((lo >>> 2) & 6) | ((lo >>> (large ? 9 : 4)) & 8) | ((lo >>> 1) & 48);

/** A walker bound to one block, for whole-block walks and single-address lookups. */
export interface PageWalker {
  readonly mode: PagingMode;
  readonly topTablePhys: bigint;
  /**
   * Fast path: the translation of virtual page number `vpn` (linear address
   * >> 12, canonical in IA-32e), packed as `ppn * 8 + access bits`
   * (ACCESS_WRITABLE | ACCESS_USER | ACCESS_EXECUTABLE), or -1 when the page
   * is not mapped (not present, reserved bit, pointer outside the block, or
   * non-canonical).
   */
  translatePage(vpn: number): number;
  /** The translation of one linear address, or null. */
  lookup(virt: bigint): Translation | null;
  /** Drive a visitor over every present entry, in linear-address order. */
  traverse(visitor: WalkVisitor): void;
  /** Walk everything the block maps: the ranges and the violations (the CR3 check included). */
  walk(): WalkResult;
  /** The same walk as a dump shows it: ranges split where the page size or a leaf attribute changes. */
  dumpWalk(): DumpWalkResult;
  /** One linear address walked level by level: every entry read, and where and why the walk ended. */
  walkAddress(virt: bigint): AddressWalk;
  /** The bits of each level as the walker reads them under its options, top level first. */
  readonly levels: readonly LevelBits[];
  /** Why a present entry at `depth` is rejected for its reserved bits (as a violation says it), or null. */
  reservedProblem(depth: number, lo: number, hi: number): string | null;
  /** The violation of the top-level table's place (beyond what CR3 can address), or null. */
  readonly cr3Problem: Violation | null;
}

/** What one level's entries mean under the walker's options: what a raw dump decodes them with. */
export interface LevelBits {
  readonly entry: EntryName;
  readonly entries: number;
  /** Lowest linear-address bit of this level's index. */
  readonly shift: number;
  /** Reserved bits of every present entry, low and high 32-bit word. */
  readonly reservedLo: number;
  readonly reservedHi: number;
  /** Whether PS (bit 7) maps a page here, and the extra reserved bits of such an entry. */
  readonly psMapsPage: boolean;
  readonly largeReservedLo: number;
  readonly largeReservedHi: number;
  /** Address-field bits of the high word that name physical bits below MAXPHYADDR. */
  readonly addressHi: number;
  /** PSE-36: the low-word field holding physical bits 32 and up of a large page, as a mask (0 when absent). */
  readonly highFieldLo: number;
  readonly controlsAccess: boolean;
  /** Whether bit 63 is XD here under the options. */
  readonly executeDisable: boolean;
}

/** Outcome of one entry in a walk. */
export type EntryOutcome = 'not-present' | 'table' | 'page' | 'reserved' | 'outside';

/** One entry a walk read. */
export interface WalkStep {
  readonly depth: number;
  /** Physical address of the table holding the entry, and the entry's index in it. */
  readonly tablePhys: bigint;
  readonly index: number;
  readonly entryAddr: bigint;
  /** The entry's low and high 32-bit words (high 0 for 4-byte entries). */
  readonly lo: number;
  readonly hi: number;
  readonly outcome: EntryOutcome;
  /** 'table'/'outside': the next table's physical address; 'page': the page frame's; else null. */
  readonly target: bigint | null;
  /** 'page': bytes the entry maps. */
  readonly pageSize: bigint | null;
  /** The reserved-bit violation of the entry, when it has one (also under ignoreReservedBits). */
  readonly reserved: string | null;
}

/** A single address walked: the entries read, and the translation or where the walk stopped. */
export interface AddressWalk {
  readonly virt: bigint;
  /** False when the mode cannot form the address (non-canonical in IA-32e, at or past 4 GiB otherwise). */
  readonly linear: boolean;
  readonly steps: readonly WalkStep[];
  /** The translation when the last step maps a page; null when the walk stopped. */
  readonly translation: (Translation & { readonly pageSize: bigint; readonly attributes: number }) | null;
}

/** A walk for a dump: ranges of one page size and one set of attributes each. */
export interface DumpWalkResult extends WalkResult {
  readonly ranges: DumpRange[];
}

const TWO_32 = 2 ** 32;
const PAGE_SHIFT = 12;

/** Per-level facts compiled for the current options into plain numbers. */
interface CompiledLevel {
  readonly entry: EntryName;
  readonly entries: number;
  /** 4 KiB pages one entry controls, and the divisor that turns a page number into this level's index. */
  readonly pagesPerEntry: number;
  /** Reserved bits of a present entry, low and high word. */
  readonly reservedLo: number;
  readonly reservedHi: number;
  /** Whether PS = 1 maps a page here, and the extra reserved bits then. */
  readonly psMapsPage: boolean;
  readonly largeReservedLo: number;
  readonly largeReservedHi: number;
  /** Address bits of the low word for a large page (bits shift..31). */
  readonly largeAddressLo: number;
  /** PSE-36 high-address field: shift, mask and page-number multiplier; mask 0 when absent. */
  readonly highFieldShift: number;
  readonly highFieldMask: number;
  readonly highFieldPages: number;
  /** Address bits of the high word (below MAXPHYADDR). */
  readonly addressHi: number;
  readonly controlsAccess: boolean;
  /** Whether bit 63 acts as XD here with the options given. */
  readonly executeDisable: boolean;
  readonly source: PagingLevel;
}

function bitMasks(bits: Iterable<number>): [lo: number, hi: number] {
  let lo = 0;
  let hi = 0;
  for (const bit of bits) {
    if (bit < 32) lo |= 1 << bit;
    else hi |= 1 << (bit - 32);
  }
  return [lo >>> 0, hi >>> 0];
}

function checkOptions(options: WalkOptions): Required<WalkOptions> {
  const maxPhysAddr = options.maxPhysAddr ?? 52;
  if (!Number.isInteger(maxPhysAddr) || maxPhysAddr < 32 || maxPhysAddr > 52) {
    throw new InputError(`MAXPHYADDR must be an integer from 32 to 52, not ${maxPhysAddr}`);
  }
  return { maxPhysAddr, nxe: options.nxe ?? true, pse: options.pse ?? true };
}

function compileLevel(record: PagingModeRecord, level: PagingLevel, options: Required<WalkOptions>): CompiledLevel {
  const m = options.maxPhysAddr;
  const reserved = new Set(level.reservedBits);
  for (let bit = Math.max(m, PAGE_SHIFT); bit <= level.addressTopBit; bit++) reserved.add(bit);
  const xdActive = level.executeDisable && options.nxe;
  if (record.entryBytes === 8 && !xdActive) reserved.add(63);
  const [reservedLo, reservedHi] = bitMasks(reserved);

  const rule = level.largePage;
  const psMapsPage = rule !== null && (rule.requires !== 'pse' || options.pse);
  const largeReserved = new Set(rule?.reservedBits ?? []);
  const field = rule?.highAddressField;
  if (field) {
    for (let k = 0; k < field.width; k++) if (field.addressBit + k >= m) largeReserved.add(field.lowBit + k);
  }
  const [largeReservedLo, largeReservedHi] = bitMasks(largeReserved);
  const addressHiBits = Math.max(0, Math.min(level.addressTopBit + 1, m) - 32);

  return {
    entry: level.entry,
    entries: level.entries,
    pagesPerEntry: 2 ** (level.shift - PAGE_SHIFT),
    reservedLo,
    reservedHi,
    psMapsPage,
    largeReservedLo,
    largeReservedHi,
    largeAddressLo: level.shift >= 32 ? 0 : (~((1 << level.shift) - 1)) >>> 0,
    highFieldShift: field?.lowBit ?? 0,
    // Only the field's bits below MAXPHYADDR name address bits (the others are reserved).
    highFieldMask: field ? (1 << Math.max(0, Math.min(field.width, m - field.addressBit))) - 1 : 0,
    highFieldPages: field ? 2 ** (field.addressBit - PAGE_SHIFT) : 0,
    addressHi: addressHiBits >= 32 ? 0xffffffff : (2 ** addressHiBits - 1),
    controlsAccess: level.controlsAccess,
    executeDisable: xdActive,
    source: level,
  };
}

/** Why a block of this many bytes cannot be a table block of the mode, or null when it can. */
export function tableBlockProblem(mode: PagingMode, byteLength: number): string | null {
  const top = PAGING_MODE_RECORDS[mode].topTableBytes;
  if (byteLength < top) return `${byteLength} bytes is too small for ${mode} tables (the top-level table alone is ${top} bytes)`;
  if ((byteLength - top) % TABLE_BYTES !== 0) {
    const shape = top === TABLE_BYTES ? 'a multiple of 4096 bytes' : `4096 * n + ${top} bytes (tables, then the ${top}-byte top-level table)`;
    return `${byteLength} bytes is not a whole number of ${mode} tables (expected ${shape})`;
  }
  return null;
}

function littleEndianWords(bytes: Uint8Array): Uint32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >>> 2);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] === 1) return words;
  const view = new DataView(aligned.buffer, aligned.byteOffset, aligned.byteLength);
  return Uint32Array.from({ length: words.length }, (_, i) => view.getUint32(i * 4, true));
}

/** Bit list as text: '1-2, 5-8, 63'. */
export function describeBits(lo: number, hi: number): string {
  const bits: number[] = [];
  for (let b = 0; b < 64; b++) if (((b < 32 ? lo >>> b : hi >>> (b - 32)) & 1) !== 0) bits.push(b);
  const parts: string[] = [];
  for (let i = 0; i < bits.length; ) {
    let j = i;
    while (j + 1 < bits.length && bits[j + 1] === bits[j]! + 1) j++;
    parts.push(i === j ? `${bits[i]}` : `${bits[i]}-${bits[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/**
 * Slots of one level in the lookup fast path's flat array of facts, Slot.Count
 * numbers per level (a const enum: the names compile to the numbers, so the
 * hot loop reads constants). The index is (low >>> IndexShift | high <<
 * HighShift & HighMask) & IndexMask, the high half used only where the index
 * reaches past bit 31.
 */
const enum Slot {
  IndexShift,
  HighShift,
  HighMask,
  IndexMask,
  /** Bits that leave the fast path (reserved bits, and PS where it maps a page), low and high word. */
  LeaveLo,
  LeaveHi,
  /** Low-word bits an entry cannot take away (R/W and U/S where they do not count). */
  KeepLo,
  /** XD where it counts. */
  XdHi,
  /** Address bits of the high word. */
  AddressHi,
  Count,
}

/**
 * What a walk tells its consumers, entry by entry, in linear-address order
 * (the way Linux's ptdump drives note_page). Merging into ranges, violation
 * messages and any other use of a walk are visitors; the walk itself decides
 * nothing but how the MMU reads the entries.
 */
export interface WalkVisitor {
  /**
   * Present leaf: `pages` 4 KiB pages (the entry's page size) from virtual
   * page `vpn` map to physical page `ppn` with `access` (ACCESS_* bits);
   * `attributes` are the leaf's ATTR_* bits, which a dump shows and a
   * comparison of translations ignores.
   */
  leaf?(vpn: number, ppn: number, pages: number, access: number, attributes: number): void;
  /**
   * Present entry with a reserved bit set at `depth` (0 = top): it translates
   * nothing. `path` (entry indices from the top, valid for depth + 1 and only
   * during the call) and `word` (its 32-bit word index in the block) say
   * where it is; `large` whether PS maps a page there.
   */
  reserved?(depth: number, path: readonly number[], word: number, lo: number, hi: number, large: boolean): void;
  /** Present entry pointing at a table at physical `target` outside the block: the walk does not follow it. */
  outside?(depth: number, path: readonly number[], word: number, target: number): void;
  /**
   * Every non-zero entry read, after the calls above for it (a table entry
   * before the entries of its table): `vpn` the virtual page it starts at,
   * `target` the next table's physical address ('table', 'outside') or the
   * page's frame number ('page'), else 0.
   */
  entry?(depth: number, path: readonly number[], word: number, lo: number, hi: number, vpn: number, outcome: EntryOutcome, target: number): void;
}

const TOP_ENTRY_PAGES = new Map<PagingMode, Float64Array>();

/** Virtual page number each top-level entry starts at (sign-extended in IA-32e's upper half), computed once a mode. */
function topEntryPages(mode: PagingMode): Float64Array {
  let pages = TOP_ENTRY_PAGES.get(mode);
  if (!pages) {
    pages = Float64Array.from({ length: topEntries(mode) }, (_, i) => Number(topEntryVirt(mode, i) >> 12n));
    TOP_ENTRY_PAGES.set(mode, pages);
  }
  return pages;
}

/** Linear page numbers a mode can form: [0, lowEnd) and, in IA-32e, [highStart, pagesEnd) (the canonical upper half). */
function linearPageSpans(mode: PagingMode): { lowEnd: number; highStart: number; pagesEnd: number } {
  const spans = linearSpans(mode).map((s) => ({ start: Number(s.virt >> 12n), end: Number((s.virt + s.size) >> 12n) }));
  const lowEnd = spans[0]!.end;
  return { lowEnd, highStart: spans[1]?.start ?? lowEnd, pagesEnd: spans[1]?.end ?? lowEnd };
}

/** A walker bound to one block; InputError when the bytes or the base cannot be a table block of the mode. */
export function createWalker(block: TableBlock, walkOptions: WalkerOptions = {}): PageWalker {
  const options = checkOptions(walkOptions);
  const asWritten = walkOptions.ignoreReservedBits === true;
  const record = PAGING_MODE_RECORDS[block.mode];
  const problem = tableBlockProblem(block.mode, block.tables.byteLength);
  if (problem) throw new InputError(problem);
  if (block.tablesPhys < 0n || block.tablesPhys % 4096n !== 0n || block.tablesPhys >= 1n << 64n) {
    throw new InputError(`tables base ${hex(block.tablesPhys)} is not a 4 KiB aligned 64-bit physical address`);
  }
  const levels = record.levels.map((level) => compileLevel(record, level, options));
  const words = littleEndianWords(block.tables);
  const stride = record.entryBytes >>> 2;
  const wide = stride === 2;
  const byteLength = block.tables.byteLength;
  const topOffset = byteLength - record.topTableBytes;
  const basePhys = Number(block.tablesPhys); // exact: 4 KiB aligned and, for any table we follow, < 2^52
  const topPhys = topTablePhys(block.mode, block.tablesPhys, byteLength);
  const depth = levels.length;
  const topVpn = topEntryPages(block.mode);

  /** Physical address of the table an entry points to. */
  const tableTarget = (lo: number, hi: number, level: CompiledLevel): number =>
    (hi & level.addressHi) * TWO_32 + ((lo & 0xfffff000) >>> 0);

  /** Page number a leaf maps at `vpn` (within its page). */
  const leafPage = (lo: number, hi: number, level: CompiledLevel, large: boolean, vpn: number): number => {
    const high = (hi & level.addressHi) * 2 ** 20;
    if (!large) return high + (lo >>> PAGE_SHIFT);
    const field = level.highFieldMask === 0 ? 0 : ((lo >>> level.highFieldShift) & level.highFieldMask) * level.highFieldPages;
    return high + field + ((lo & level.largeAddressLo) >>> PAGE_SHIFT) + (vpn % level.pagesPerEntry);
  };

  const facts = new Int32Array(depth * Slot.Count);
  levels.forEach((level, l) => {
    const f = l * Slot.Count;
    const shift = Math.log2(level.pagesPerEntry);
    facts[f + Slot.IndexShift] = shift;
    facts[f + Slot.HighShift] = 32 - shift;
    facts[f + Slot.HighMask] = shift === 0 ? 0 : -1;
    facts[f + Slot.IndexMask] = level.entries - 1;
    facts[f + Slot.LeaveLo] = (asWritten ? 0 : level.reservedLo) | (level.psMapsPage ? 0x80 : 0);
    facts[f + Slot.LeaveHi] = asWritten ? 0 : level.reservedHi | 0;
    facts[f + Slot.KeepLo] = level.controlsAccess ? 0 : 6;
    facts[f + Slot.XdHi] = level.executeDisable ? 0x80000000 | 0 : 0;
    facts[f + Slot.AddressHi] = level.addressHi | 0;
  });
  const lastFacts = (depth - 1) * Slot.Count;
  const firstWord = topOffset >>> 2;
  const lastTableStart = byteLength - 4096;
  const { lowEnd, highStart, pagesEnd } = linearPageSpans(block.mode);

  /** The packed translation from the bits gathered on the way down. */
  const packed = (frame: number, allowLo: number, xdHi: number): number =>
    frame * 8 + (((allowLo >>> 1) & 3) | (xdHi === 0 ? ACCESS_EXECUTABLE : 0));

  const translatePage = (vpn: number): number => {
    // Linear addresses only: below 4 GiB, or canonical in IA-32e (bits 63:47 all equal to bit 47).
    if (!(vpn >= 0 && (vpn < lowEnd || (vpn >= highStart && vpn < pagesEnd)))) return -1;
    const vpnLow = vpn >>> 0;
    const vpnHigh = ((vpn - vpnLow) / 2 ** 32) | 0;
    let offset = firstWord;
    let allowLo = -1; // R/W and U/S of every level, ANDed
    let xdHi = 0; // XD of every level where it counts, ORed
    for (let f = 0; f <= lastFacts; f += Slot.Count) {
      const index = ((vpnLow >>> facts[f + Slot.IndexShift]!) | ((vpnHigh << facts[f + Slot.HighShift]!) & facts[f + Slot.HighMask]!)) & facts[f + Slot.IndexMask]!;
      const w = offset + index * stride;
      const lo = words[w]!;
      if ((lo & 1) === 0) return -1;
      const hi = wide ? words[w + 1]! : 0;
      allowLo &= lo | facts[f + Slot.KeepLo]!;
      xdHi |= hi & facts[f + Slot.XdHi]!;
      if (((lo & facts[f + Slot.LeaveLo]!) | (hi & facts[f + Slot.LeaveHi]!)) !== 0) {
        const level = levels[f / Slot.Count]!;
        if (!asWritten) {
          if ((lo & level.reservedLo) !== 0 || (hi & level.reservedHi) !== 0) return -1;
          // PS: a large page.
          if ((lo & level.largeReservedLo) !== 0 || (hi & level.largeReservedHi) !== 0) return -1;
        }
        // As written, only PS leaves the fast path: a large page.
        return packed(leafPage(lo, hi, level, true, vpn), allowLo, xdHi);
      }
      const frame = (hi & facts[f + Slot.AddressHi]!) * 2 ** 20 + (lo >>> PAGE_SHIFT);
      if (f === lastFacts) return packed(frame, allowLo, xdHi);
      const child = frame * 4096 - basePhys;
      if (!(child >= 0 && child <= lastTableStart)) return -1;
      offset = child >>> 2;
    }
    return -1;
  };

  const lookup = (virt: bigint): Translation | null => {
    if (virt < 0n || virt >= 1n << 64n) return null;
    const page = translatePage(Number(virt >> 12n));
    if (page < 0) return null;
    return {
      phys: BigInt(Math.floor(page / 8)) * 4096n + (virt & 0xfffn),
      writable: (page & ACCESS_WRITABLE) !== 0,
      user: (page & ACCESS_USER) !== 0,
      executable: (page & ACCESS_EXECUTABLE) !== 0,
    };
  };

  const traverse = (visitor: WalkVisitor): void => {
    const path = new Array<number>(depth).fill(0);
    const onEntry = visitor.entry;
    const visit = (l: number, tableWord: number, vpnBase: number, accessAbove: number): void => {
      const level = levels[l]!;
      const last = l === depth - 1;
      const per = level.pagesPerEntry;
      for (let i = 0; i < level.entries; i++) {
        const w = tableWord + i * stride;
        const lo = words[w]!;
        if ((lo & 1) === 0) {
          if (onEntry !== undefined) {
            const hi = wide ? words[w + 1]! : 0;
            path[l] = i;
            if ((lo | hi) !== 0) onEntry(l, path, w, lo, hi, l === 0 ? topVpn[i]! : vpnBase + i * per, 'not-present', 0);
          }
          continue;
        }
        const hi = wide ? words[w + 1]! : 0;
        path[l] = i;
        const large = level.psMapsPage && (lo & 0x80) !== 0;
        if ((lo & level.reservedLo) !== 0 || (hi & level.reservedHi) !== 0
          || (large && ((lo & level.largeReservedLo) !== 0 || (hi & level.largeReservedHi) !== 0))) {
          visitor.reserved?.(l, path, w, lo, hi, large);
          if (!asWritten) {
            onEntry?.(l, path, w, lo, hi, l === 0 ? topVpn[i]! : vpnBase + i * per, 'reserved', 0);
            continue;
          }
        }
        let access = accessAbove;
        if (level.controlsAccess) {
          if ((lo & 2) === 0) access &= ~ACCESS_WRITABLE;
          if ((lo & 4) === 0) access &= ~ACCESS_USER;
        }
        if (level.executeDisable && (hi & 0x80000000) !== 0) access &= ~ACCESS_EXECUTABLE;
        const vpn = l === 0 ? topVpn[i]! : vpnBase + i * per;
        if (large) {
          const ppn = leafPage(lo, hi, level, true, 0);
          visitor.leaf?.(vpn, ppn, per, access, leafAttributes(lo, true));
          onEntry?.(l, path, w, lo, hi, vpn, 'page', ppn);
        } else if (last) {
          const ppn = (hi & level.addressHi) * 2 ** 20 + (lo >>> PAGE_SHIFT);
          visitor.leaf?.(vpn, ppn, 1, access, leafAttributes(lo, false));
          onEntry?.(l, path, w, lo, hi, vpn, 'page', ppn);
        } else {
          const target = tableTarget(lo, hi, level);
          const offset = target - basePhys;
          const inside = offset >= 0 && offset + 4096 <= byteLength;
          onEntry?.(l, path, w, lo, hi, vpn, inside ? 'table' : 'outside', target);
          if (inside) visit(l + 1, offset >>> 2, vpn, access);
          else visitor.outside?.(l, path, w, target);
        }
      }
    };
    visit(0, firstWord, 0, ACCESS_ALL);
  };

  const walk = (): WalkResult => {
    const runs = new RangeBuilder();
    const violations = new ViolationCollector(block, record, levels, options);
    const cr3 = cr3Violation(block.mode, topPhys, options);
    if (cr3) violations.list.push(cr3);
    traverse(new WalkRecorder(runs, violations));
    return { mode: block.mode, topTablePhys: topPhys, ranges: runs.ranges(), violations: violations.list };
  };

  const dumpWalk = (): DumpWalkResult => {
    const runs = new DumpRangeBuilder();
    const violations = new ViolationCollector(block, record, levels, options);
    const cr3 = cr3Violation(block.mode, topPhys, options);
    if (cr3) violations.list.push(cr3);
    traverse({
      leaf: (vpn, ppn, pages, access, attributes) => runs.add(vpn, ppn, pages, access, attributes),
      reserved: (l, path, word, lo, hi, large) => violations.reserved(l, path, word, lo, hi, large),
      outside: (l, path, word, target) => violations.outside(l, path, word, target),
    });
    return { mode: block.mode, topTablePhys: topPhys, ranges: runs.ranges(), violations: violations.list };
  };

  const isReserved = (level: CompiledLevel, lo: number, hi: number, large: boolean): boolean =>
    (lo & level.reservedLo) !== 0 || (hi & level.reservedHi) !== 0
    || (large && ((lo & level.largeReservedLo) !== 0 || (hi & level.largeReservedHi) !== 0));

  const reservedProblem = (l: number, lo: number, hi: number): string | null => {
    const level = levels[l]!;
    const large = level.psMapsPage && (lo & 0x80) !== 0;
    return isReserved(level, lo, hi, large) ? reservedMessage(record, level, options, lo, hi, large) : null;
  };

  // The same reading of each level as traverse's, one entry a level, for one address.
  const walkAddress = (virt: bigint): AddressWalk => {
    const steps: WalkStep[] = [];
    const vpn = virt >= 0n && virt < 1n << 64n ? Number(virt >> 12n) : -1;
    if (!(vpn >= 0 && (vpn < lowEnd || (vpn >= highStart && vpn < pagesEnd)))) return { virt, linear: false, steps, translation: null };
    let tableOffset = topOffset;
    let access = ACCESS_ALL;
    for (let l = 0; l < depth; l++) {
      const level = levels[l]!;
      const index = Math.floor(vpn / level.pagesPerEntry) % level.entries;
      const w = (tableOffset >>> 2) + index * stride;
      const lo = words[w]!;
      const hi = wide ? words[w + 1]! : 0;
      const large = level.psMapsPage && (lo & 0x80) !== 0;
      const present = (lo & 1) !== 0;
      const reserved = present ? reservedProblem(l, lo, hi) : null;
      const step = {
        depth: l, tablePhys: block.tablesPhys + BigInt(tableOffset), index, entryAddr: block.tablesPhys + BigInt(w * 4), lo, hi, reserved,
      };
      if (!present || (reserved !== null && !asWritten)) {
        steps.push({ ...step, outcome: present ? 'reserved' : 'not-present', target: null, pageSize: null });
        return { virt, linear: true, steps, translation: null };
      }
      if (level.controlsAccess) {
        if ((lo & 2) === 0) access &= ~ACCESS_WRITABLE;
        if ((lo & 4) === 0) access &= ~ACCESS_USER;
      }
      if (level.executeDisable && (hi & 0x80000000) !== 0) access &= ~ACCESS_EXECUTABLE;
      if (large || l === depth - 1) {
        const ppn = leafPage(lo, hi, level, large, 0);
        const pageSize = BigInt(large ? level.pagesPerEntry : 1) * 4096n;
        steps.push({ ...step, outcome: 'page', target: BigInt(ppn) * 4096n, pageSize });
        return {
          virt, linear: true, steps,
          translation: {
            phys: BigInt(ppn) * 4096n + (virt & (pageSize - 1n)), pageSize, attributes: leafAttributes(lo, large),
            writable: (access & ACCESS_WRITABLE) !== 0, user: (access & ACCESS_USER) !== 0, executable: (access & ACCESS_EXECUTABLE) !== 0,
          },
        };
      }
      const target = tableTarget(lo, hi, level);
      const offset = target - basePhys;
      const inside = offset >= 0 && offset + 4096 <= byteLength;
      steps.push({ ...step, outcome: inside ? 'table' : 'outside', target: BigInt(target), pageSize: null });
      if (!inside) return { virt, linear: true, steps, translation: null };
      tableOffset = offset;
    }
    return { virt, linear: true, steps, translation: null };
  };

  const levelBits: LevelBits[] = levels.map((level) => ({
    entry: level.entry, entries: level.entries, shift: level.source.shift,
    reservedLo: level.reservedLo, reservedHi: level.reservedHi, psMapsPage: level.psMapsPage,
    largeReservedLo: level.largeReservedLo, largeReservedHi: level.largeReservedHi, addressHi: level.addressHi,
    highFieldLo: (level.highFieldMask << level.highFieldShift) >>> 0,
    controlsAccess: level.controlsAccess, executeDisable: level.executeDisable,
  }));

  return {
    mode: block.mode, topTablePhys: topPhys, translatePage, lookup, traverse, walk, dumpWalk, walkAddress,
    levels: levelBits, reservedProblem, cr3Problem: cr3Violation(block.mode, topPhys, options),
  };
}

/** The top-level table must end where CR3 can address it: exactly at the limit is fine, a byte past is not. */
function cr3Violation(mode: PagingMode, topPhys: bigint, options: Required<WalkOptions>): Violation | null {
  const record = PAGING_MODE_RECORDS[mode];
  const limit = cr3Limit(mode, options.maxPhysAddr);
  if (topPhys + BigInt(record.topTableBytes) <= limit) return null;
  return {
    level: 'CR3',
    path: [],
    entryAddr: topPhys,
    message: `the top-level table at ${hex(topPhys)} lies beyond ${hex(limit)}, which CR3 cannot address in ${record.title}: the tables cannot be installed`,
  };
}

/** The consumers of a whole-block walk: leaves into ranges, rejected entries into violations. */
class WalkRecorder implements WalkVisitor {
  constructor(private readonly runs: RangeBuilder, private readonly violations: ViolationCollector) {}

  leaf(vpn: number, ppn: number, pages: number, access: number): void {
    this.runs.add(vpn, ppn, pages, access);
  }

  reserved(depth: number, path: readonly number[], word: number, lo: number, hi: number, large: boolean): void {
    this.violations.reserved(depth, path, word, lo, hi, large);
  }

  outside(depth: number, path: readonly number[], word: number, target: number): void {
    this.violations.outside(depth, path, word, target);
  }
}

/** A walk's consumer that turns rejected entries into violations, one per entry (a table reached twice is reported once). */
class ViolationCollector {
  readonly list: Violation[] = [];
  private readonly flagged = new Set<number>();

  constructor(
    private readonly block: TableBlock,
    private readonly record: PagingModeRecord,
    private readonly levels: readonly CompiledLevel[],
    private readonly options: Required<WalkOptions>,
  ) {}

  reserved(l: number, path: readonly number[], word: number, lo: number, hi: number, large: boolean): void {
    this.add(l, path, word, () => reservedMessage(this.record, this.levels[l]!, this.options, lo, hi, large));
  }

  outside(l: number, path: readonly number[], word: number, target: number): void {
    const start = this.block.tablesPhys;
    const end = start + BigInt(this.block.tables.byteLength);
    this.add(l, path, word, () => `points to a table at ${hex(BigInt(target))} outside the tables given `
      + `[${hex(start)}, ${hex(end)}): the MMU would read whatever memory is there as ${this.levels[l + 1]!.entry}s`);
  }

  private add(l: number, path: readonly number[], word: number, message: () => string): void {
    const entryOffset = word * 4;
    if (this.flagged.has(entryOffset)) return;
    this.flagged.add(entryOffset);
    this.list.push({ level: this.levels[l]!.entry, path: path.slice(0, l + 1), entryAddr: this.block.tablesPhys + BigInt(entryOffset), message: message() });
  }
}

/** What a reserved bit in this entry means: which bits, why they are reserved, and what the processor does. */
function reservedMessage(record: PagingModeRecord, level: CompiledLevel, options: Required<WalkOptions>, lo: number, hi: number, large: boolean): string {
  const notes: string[] = [];
  const setLo = lo & (level.reservedLo | (large ? level.largeReservedLo : 0));
  const setHi = hi & (level.reservedHi | (large ? level.largeReservedHi : 0));
  if (level.entry === 'PML4E' && (setLo & 0x80) !== 0) notes.push('PS is reserved in a PML4E');
  if (level.source.reservedBits.includes(1) && (setLo & 6) !== 0) notes.push(`R/W and U/S are reserved in a ${record.title.replace(/ paging$/, '')} ${level.entry}`);
  if ((setHi & 0x80000000) !== 0 && level.source.executeDisable && !options.nxe) notes.push('XD with IA32_EFER.NXE = 0');
  if (large && ((setLo & level.largeReservedLo) !== 0 || (setHi & level.largeReservedHi) !== 0)) {
    notes.push(`reserved in a ${level.entry} that maps a ${level.pagesPerEntry >= 2 ** 18 ? `${level.pagesPerEntry / 2 ** 18} GiB` : `${level.pagesPerEntry / 256} MiB`} page`);
  }
  const addressBits = describeAddressBits(level, lo, hi, options.maxPhysAddr);
  if (addressBits) notes.push(`address ${addressBits} at or above MAXPHYADDR = ${options.maxPhysAddr}`);
  const consequence = level.source.onReserved === 'gp-on-cr3-load'
    ? 'MOV to CR3 raises #GP(0) (PDPTEs are checked when CR3 is loaded), so these tables cannot be installed'
    : 'every access through this entry raises #PF with RSVD = 1 (it translates nothing)';
  const detail = notes.length > 0 ? ` (${notes.join('; ')})` : '';
  const bits = describeBits(setLo, setHi);
  return `reserved ${/[-,]/.test(bits) ? 'bits' : 'bit'} ${bits} set${detail}: ${consequence}`;
}

/** Which address bits of an entry lie at or above MAXPHYADDR, as text ('bits 52-55'), or ''. */
function describeAddressBits(level: CompiledLevel, lo: number, hi: number, maxPhysAddr: number): string {
  const bits: number[] = [];
  for (let b = Math.max(maxPhysAddr, PAGE_SHIFT); b <= level.source.addressTopBit; b++) {
    if (((b < 32 ? lo >>> b : hi >>> (b - 32)) & 1) !== 0) bits.push(b);
  }
  const field = level.source.largePage?.highAddressField;
  if (field && level.psMapsPage && (lo & 0x80) !== 0) {
    for (let k = 0; k < field.width; k++) {
      if (field.addressBit + k >= maxPhysAddr && ((lo >>> (field.lowBit + k)) & 1) !== 0) bits.push(field.addressBit + k);
    }
  }
  if (bits.length === 0) return '';
  return bits.length === 1 ? `bit ${bits[0]}` : `bits ${bits[0]}-${bits[bits.length - 1]}`;
}

/**
 * Accumulates translations into maximal runs, in numbers: consecutive pages,
 * contiguous frames, one `kind` (whatever the consumer must not merge across).
 */
class RunBuilder {
  protected readonly starts: number[] = [];
  protected readonly frames: number[] = [];
  protected readonly lengths: number[] = [];
  protected readonly kinds: number[] = [];
  private vpn = -1;
  private ppn = 0;
  private length = 0;
  private kind = 0;

  protected addRun(vpn: number, ppn: number, pages: number, kind: number): void {
    if (kind === this.kind && vpn === this.vpn + this.length && ppn === this.ppn + this.length && this.vpn >= 0) {
      this.length += pages;
      return;
    }
    this.flush();
    this.vpn = vpn;
    this.ppn = ppn;
    this.length = pages;
    this.kind = kind;
  }

  protected flush(): void {
    if (this.vpn < 0) return;
    this.starts.push(this.vpn);
    this.frames.push(this.ppn);
    this.lengths.push(this.length);
    this.kinds.push(this.kind);
    this.vpn = -1;
  }

  /** The runs as bigint ranges with their effective access; `extra` adds what the kind says beyond it. */
  protected mapped<R extends MappedRange>(extra: (kind: number) => Omit<R, keyof MappedRange>): R[] {
    this.flush();
    return this.starts.map((vpn, i) => {
      const kind = this.kinds[i]!;
      return {
        virt: BigInt(vpn) << 12n,
        phys: BigInt(this.frames[i]!) << 12n,
        size: BigInt(this.lengths[i]!) << 12n,
        writable: (kind & ACCESS_WRITABLE) !== 0,
        user: (kind & ACCESS_USER) !== 0,
        executable: (kind & ACCESS_EXECUTABLE) !== 0,
        ...extra(kind),
      } as R;
    });
  }
}

/** Runs of equal effective access: what verify and diff compare. */
class RangeBuilder extends RunBuilder {
  add(vpn: number, ppn: number, pages: number, access: number): void {
    this.addRun(vpn, ppn, pages, access);
  }

  ranges(): MappedRange[] {
    return this.mapped<MappedRange>(() => ({}));
  }
}

/** Runs that also keep one page size and one set of leaf attributes: what a dump shows. */
class DumpRangeBuilder extends RunBuilder {
  add(vpn: number, ppn: number, pages: number, access: number, attributes: number): void {
    // access | attributes << 3 | log2(pages per entry) << 9
    this.addRun(vpn, ppn, pages, access | (attributes << 3) | (Math.log2(pages) << 9));
  }

  ranges(): DumpRange[] {
    return this.mapped<DumpRange>((kind) => {
      const attributes = kind >>> 3;
      return {
        pageSize: 4096n << BigInt(kind >>> 9),
        global: (attributes & ATTR_GLOBAL) !== 0,
        pwt: (attributes & ATTR_PWT) !== 0,
        pcd: (attributes & ATTR_PCD) !== 0,
        pat: (attributes & ATTR_PAT) !== 0,
        accessed: (attributes & ATTR_ACCESSED) !== 0,
        dirty: (attributes & ATTR_DIRTY) !== 0,
      };
    });
  }
}

/** A whole block walked for a dump: ranges split by page size and attributes, and every violation. */
export function dumpTables(block: TableBlock, options: WalkerOptions = {}): DumpWalkResult {
  return createWalker(block, options).dumpWalk();
}

/** Walk a whole block: every translation as maximal ranges, and every violation. */
export function walkTables(block: TableBlock, options: WalkerOptions = {}): WalkResult {
  return createWalker(block, options).walk();
}

/** Bumped whenever the walker's reading of the SDM changes, so reports say which model produced them. */
export const WALKER_VERSION = '1.0';

/** The walker's observation of a block, in the form every engine reports. */
export function walkerReport(block: TableBlock, options: WalkOptions = {}): EngineReport {
  const result = walkTables(block, options);
  return { engine: 'walker', version: WALKER_VERSION, actual: result.ranges, coverage: 'all', violations: result.violations };
}
