import { flags, PRESENT, WRITABLE, USER, GLOBAL, EXECUTE_DISABLE, type PageFlags } from './flags.js';
import type { PagingModeName } from '../elf/kernel.js';
import type { Span } from '../core/addr.js';

/** One level of a paging hierarchy, as data. */
export interface Level {
  /** The structure's name in the SDM: PML4, PDPT, PD, PT. */
  readonly name: string;
  /** Bit position of the virtual-address field this level indexes. */
  readonly shift: number;
  readonly entries: number;
  readonly entryBytes: 4 | 8;
  /** Bits of an entry that hold the physical address. */
  readonly addressMask: bigint;
  /** Flags the hardware lets this level's entries carry (pointing at a table, or mapping a 4 KiB page at the leaf). */
  readonly allowedFlags: PageFlags;
}

/** A paging mode as the generator builds it: its levels of tables, where mappings may lie, where tables must end. */
export interface ModeHierarchy {
  readonly name: PagingModeName;
  /** Human name, as the SDM calls the mode. */
  readonly title: string;
  /** Top level first, leaf (page table) last. */
  readonly levels: readonly Level[];
  /**
   * The virtual spans a mapping may lie in. Beyond 4 GiB a 32-bit or PAE
   * address wraps; an IA-32e address must be canonical, so a mapping stays in
   * one half. Identity mappings use the first (lowest) span.
   */
  readonly virtualSpans: readonly Span[];
  /** The whole table block must end at or below this, for CR3 and the entries to reach it. */
  readonly tablesLimit: bigint;
  /** Physical memory a leaf entry can address ends here: 32-bit entries, or MAXPHYADDR at most 52. */
  readonly physLimit: bigint;
}

/** Flags every non-leaf entry carries: permissive, since permissions are set at the leaf. */
export const INTERMEDIATE_FLAGS = flags(PRESENT, WRITABLE, USER);
const LEAF_FLAGS_32 = flags(PRESENT, WRITABLE, USER, GLOBAL);
const LEAF_FLAGS_XD = flags(PRESENT, WRITABLE, USER, GLOBAL, EXECUTE_DISABLE);

const ADDRESS_32 = 0xfffff000n;
const ADDRESS_64 = 0x7ffffffffffff000n;
const ADDRESS_64_LEAF = 0x07fffffffffff000n;

const FOUR_GIB = 1n << 32n;
const LOW_4_GIB: readonly Span[] = [{ start: 0n, end: FOUR_GIB }];

const level = (name: string, shift: number, entries: number, entryBytes: 4 | 8, addressMask: bigint, allowedFlags: PageFlags): Level =>
  ({ name, shift, entries, entryBytes, addressMask, allowedFlags });

/**
 * A PAE PDPTE has no R/W or U/S: bits 1-2 are reserved, and MOV to CR3 raises
 * #GP when a present PDPTE sets one (SDM Vol. 3A, PAE paging). Every era's
 * script sets both (its flags per level are in eras.ts).
 */
const PAE_PDPT = level('PDPT', 30, 4, 8, ADDRESS_64, PRESENT);

const PD_64 = level('PD', 21, 512, 8, ADDRESS_64, INTERMEDIATE_FLAGS);
const PT_64 = level('PT', 12, 512, 8, ADDRESS_64_LEAF, LEAF_FLAGS_XD);

export const MODES: Readonly<Record<PagingModeName, ModeHierarchy>> = {
  '32bit': {
    name: '32bit',
    title: '32-bit paging',
    levels: [level('PD', 22, 1024, 4, ADDRESS_32, INTERMEDIATE_FLAGS), level('PT', 12, 1024, 4, ADDRESS_32, LEAF_FLAGS_32)],
    virtualSpans: LOW_4_GIB,
    tablesLimit: FOUR_GIB,
    physLimit: FOUR_GIB,
  },
  pae: {
    name: 'pae',
    title: 'PAE paging',
    levels: [PAE_PDPT, PD_64, PT_64],
    virtualSpans: LOW_4_GIB,
    // CR3 holds the PDPT's address in 32 bits, and the PDPT is the last table of the block.
    tablesLimit: FOUR_GIB,
    physLimit: 1n << 52n,
  },
  ia32e: {
    name: 'ia32e',
    title: 'IA-32e (4-level) paging',
    levels: [
      level('PML4', 39, 512, 8, ADDRESS_64, INTERMEDIATE_FLAGS),
      level('PDPT', 30, 512, 8, ADDRESS_64, INTERMEDIATE_FLAGS),
      PD_64,
      PT_64,
    ],
    virtualSpans: [
      { start: 0n, end: 1n << 47n },
      { start: (1n << 64n) - (1n << 47n), end: 1n << 64n },
    ],
    // MAXPHYADDR is at most 52.
    tablesLimit: 1n << 52n,
    physLimit: 1n << 52n,
  },
};

export const PAGING_MODE_NAMES: readonly PagingModeName[] = ['32bit', 'pae', 'ia32e'];

export const topLevel = (mode: ModeHierarchy): Level => mode.levels[0]!;

/** How much virtual memory one top-level entry covers. */
export const topLevelScope = (mode: ModeHierarchy): bigint => 1n << BigInt(topLevel(mode).shift);

/** Bytes of the top-level table: a page, except PAE's 4-entry PDPT. */
export const topLevelBytes = (mode: ModeHierarchy): number => topLevel(mode).entries * topLevel(mode).entryBytes;

/** Index of the top-level entry that translates `virt`. */
export function topLevelIndex(mode: ModeHierarchy, virt: bigint): number {
  const top = topLevel(mode);
  return Number((virt >> BigInt(top.shift)) % BigInt(top.entries));
}

/** The span of virtual addresses identity mappings may use. */
export const identitySpan = (mode: ModeHierarchy): Span => mode.virtualSpans[0]!;

/** Whether [start, end) lies inside one of the mode's virtual spans. */
export const isReachable = (mode: ModeHierarchy, start: bigint, end: bigint): boolean =>
  mode.virtualSpans.some((span) => start >= span.start && end <= span.end && start <= end);

/**
 * The part of a virtual address the table indices read (bits 31:0, or 47:0
 * in IA-32e), as an exact number; the bits above only select the canonical half.
 */
export function indexedAddress(mode: ModeHierarchy, virt: bigint): number {
  const top = topLevel(mode);
  const indexedBits = BigInt(top.shift + Math.log2(top.entries));
  return Number(virt % (1n << indexedBits));
}
