/**
 * The three paging modes as the Intel SDM (Vol. 3A, chapter 4) describes
 * them, as data: one record per level of the hierarchy. The walker and the
 * spec read these records; neither has mode-specific code paths.
 */
import type { PagingMode, VirtSpan } from './model.js';

/** Entry names as the SDM uses them. */
export type EntryName = 'PML4E' | 'PDPTE' | 'PDE' | 'PTE';

/** What a present entry with bit 7 (PS) set means at a level that allows it. */
export interface LargePageRule {
  /** 'pse': only with CR4.PSE = 1 (32-bit paging); otherwise PS is ignored there. null: always. */
  readonly requires: 'pse' | null;
  /** Bits reserved in a present entry with PS = 1 (between PAT at bit 12 and the page address). */
  readonly reservedBits: readonly number[];
  /**
   * PSE-36: a field below bit 22 holding physical-address bits above 31.
   * Bits of the field that would name address bits at or above MAXPHYADDR are reserved.
   */
  readonly highAddressField?: { readonly lowBit: number; readonly width: number; readonly addressBit: number };
}

/** One level of the hierarchy. */
export interface PagingLevel {
  readonly entry: EntryName;
  /** Lowest linear-address bit of this level's index; the region one entry controls is 1 << shift bytes. */
  readonly shift: number;
  readonly entries: number;
  /** Rule for PS = 1, or null where bit 7 is not PS (PTEs: PAT; PML4Es and PAE PDPTEs: reserved). */
  readonly largePage: LargePageRule | null;
  /** Whether this entry's R/W and U/S bits take part in the access rights (not in PAE PDPTEs: reserved there). */
  readonly controlsAccess: boolean;
  /** Whether bit 63 is XD (execute-disable, with IA32_EFER.NXE = 1); otherwise 8-byte entries reserve it. */
  readonly executeDisable: boolean;
  /** Bits reserved in every present entry, besides the rules on address bits and XD. */
  readonly reservedBits: readonly number[];
  /**
   * Highest bit of the physical-address field. Field bits that name address
   * bits at or above MAXPHYADDR are reserved (e.g. 51:M in IA-32e, 62:M in PAE).
   */
  readonly addressTopBit: number;
  /** What the processor does when a present entry sets a reserved bit. */
  readonly onReserved: 'gp-on-cr3-load' | 'page-fault';
}

/** One paging mode. */
export interface PagingModeRecord {
  readonly mode: PagingMode;
  /** As the SDM names the mode. */
  readonly title: string;
  readonly entryBytes: 4 | 8;
  /** Bytes of the top-level table: a page, except PAE's 32-byte page-directory-pointer table. */
  readonly topTableBytes: number;
  /** Top level first, page table last. */
  readonly levels: readonly PagingLevel[];
  /** Linear-address width: 32, or 48 with canonical sign extension (IA-32e). */
  readonly linearBits: 32 | 48;
  /** Highest physical address + 1 that CR3 can name for the top-level table, or null for MAXPHYADDR. */
  readonly cr3Limit: bigint | null;
}

const range = (low: number, high: number): number[] => Array.from({ length: high - low + 1 }, (_, i) => low + i);

/** Bits between PAT (bit 12) and the address of a large page of 1 << shift bytes. */
const largePageWithShift = (shift: number): LargePageRule => ({ requires: null, reservedBits: range(13, shift - 1) });

const FOUR_GIB = 1n << 32n;

/** The page directory and page table of the 8-byte modes (PAE, IA-32e): alike but for the address field's top bit. */
const wideDirectoryAndTable = (addressTopBit: number): PagingLevel[] => [
  {
    entry: 'PDE', shift: 21, entries: 512, controlsAccess: true, executeDisable: true, reservedBits: [],
    addressTopBit, onReserved: 'page-fault', largePage: largePageWithShift(21),
  },
  {
    entry: 'PTE', shift: 12, entries: 512, controlsAccess: true, executeDisable: true, reservedBits: [],
    addressTopBit, onReserved: 'page-fault', largePage: null,
  },
];

export const PAGING_MODE_RECORDS: Readonly<Record<PagingMode, PagingModeRecord>> = {
  '32bit': {
    mode: '32bit',
    title: '32-bit paging',
    entryBytes: 4,
    topTableBytes: 4096,
    linearBits: 32,
    cr3Limit: FOUR_GIB,
    levels: [
      {
        entry: 'PDE', shift: 22, entries: 1024, controlsAccess: true, executeDisable: false, reservedBits: [],
        addressTopBit: 31, onReserved: 'page-fault',
        // 4-MByte page: bits 31:22 are address bits 31:22, bits 20:13 address bits 39:32, bit 21 reserved.
        largePage: { requires: 'pse', reservedBits: [21], highAddressField: { lowBit: 13, width: 8, addressBit: 32 } },
      },
      {
        entry: 'PTE', shift: 12, entries: 1024, controlsAccess: true, executeDisable: false, reservedBits: [],
        addressTopBit: 31, onReserved: 'page-fault', largePage: null,
      },
    ],
  },
  pae: {
    mode: 'pae',
    title: 'PAE paging',
    entryBytes: 8,
    topTableBytes: 32,
    linearBits: 32,
    // CR3 holds bits 31:5 of the page-directory-pointer table's address.
    cr3Limit: FOUR_GIB,
    levels: [
      {
        // PDPTEs are loaded into registers by MOV to CR3: bits 2:1 and 8:5 are reserved, and 63:M.
        entry: 'PDPTE', shift: 30, entries: 4, controlsAccess: false, executeDisable: false,
        reservedBits: [1, 2, 5, 6, 7, 8], addressTopBit: 63, onReserved: 'gp-on-cr3-load', largePage: null,
      },
      ...wideDirectoryAndTable(62),
    ],
  },
  ia32e: {
    mode: 'ia32e',
    title: 'IA-32e (4-level) paging',
    entryBytes: 8,
    topTableBytes: 4096,
    linearBits: 48,
    cr3Limit: null,
    levels: [
      {
        // PS is reserved in a PML4E.
        entry: 'PML4E', shift: 39, entries: 512, controlsAccess: true, executeDisable: true, reservedBits: [7],
        addressTopBit: 51, onReserved: 'page-fault', largePage: null,
      },
      {
        entry: 'PDPTE', shift: 30, entries: 512, controlsAccess: true, executeDisable: true, reservedBits: [],
        addressTopBit: 51, onReserved: 'page-fault', largePage: largePageWithShift(30),
      },
      ...wideDirectoryAndTable(51),
    ],
  },
};


/** The region one top-level entry controls: 4 MiB, 1 GiB or 512 GiB. */
export const topLevelScope = (mode: PagingMode): bigint => 1n << BigInt(PAGING_MODE_RECORDS[mode].levels[0]!.shift);

/*
 * Facts every verifier-side user derives from the records above: the spec,
 * the walker, the fuzzer's arbitraries and the emulator engines read these
 * instead of re-deriving them.
 */

const TWO_47 = 1n << 47n;
const TWO_64 = 1n << 64n;

/** Bytes of a non-top table: one page in every mode. */
export const TABLE_BYTES = 4096;

/** The linear addresses a mode can form: [0, 4 GiB), or IA-32e's two canonical halves. */
export function linearSpans(mode: PagingMode): readonly VirtSpan[] {
  return PAGING_MODE_RECORDS[mode].linearBits === 32
    ? [{ virt: 0n, size: FOUR_GIB }]
    : [{ virt: 0n, size: TWO_47 }, { virt: TWO_64 - TWO_47, size: TWO_47 }];
}

/** Whether the mode can form the linear address `virt` (canonical in IA-32e). */
export function isLinearAddress(mode: PagingMode, virt: bigint): boolean {
  return linearSpans(mode).some((s) => virt >= s.virt && virt < s.virt + s.size);
}

/**
 * End of the addresses an identity mapping can cover: a virtual address equal
 * to its physical one must be formable, so 4 GiB, or 2^47 (the lower
 * canonical half) in IA-32e.
 */
export function identityEnd(mode: PagingMode): bigint {
  return linearSpans(mode)[0]!.size;
}

/** The linear address `index`'s top-level entry starts at, canonical in IA-32e. */
export function topEntryVirt(mode: PagingMode, index: number): bigint {
  const record = PAGING_MODE_RECORDS[mode];
  const virt = BigInt(index) << BigInt(record.levels[0]!.shift);
  return record.linearBits === 48 && virt >= TWO_47 ? virt | (TWO_64 - (1n << 48n)) : virt;
}

/** Physical address of the top-level table (what CR3 holds): the block's last page, or its last 32 bytes in PAE. */
export function topTablePhys(mode: PagingMode, tablesPhys: bigint, blockBytes: number | bigint): bigint {
  return tablesPhys + BigInt(blockBytes) - BigInt(PAGING_MODE_RECORDS[mode].topTableBytes);
}

/** Bytes of a block of `tables` tables, the top-level one last. */
export function blockBytes(mode: PagingMode, tables: number | bigint): bigint {
  return (BigInt(tables) - 1n) * BigInt(TABLE_BYTES) + BigInt(PAGING_MODE_RECORDS[mode].topTableBytes);
}

/** Highest physical address + 1 the top-level table may end at: CR3's reach, or MAXPHYADDR's. */
export function cr3Limit(mode: PagingMode, maxPhysAddr = 52): bigint {
  return PAGING_MODE_RECORDS[mode].cr3Limit ?? 1n << BigInt(maxPhysAddr);
}

/** Reserved bits of a present entry at level `depth` (0 = top), as a mask of the entry's low 32 bits (address bits aside). */
export function reservedLowMask(mode: PagingMode, depth: number): number {
  let mask = 0;
  for (const bit of PAGING_MODE_RECORDS[mode].levels[depth]!.reservedBits) if (bit < 32) mask |= 1 << bit;
  return mask >>> 0;
}

/** Entries of the top-level table: 1024, PAE's 4, or 512. */
export const topEntries = (mode: PagingMode): number => PAGING_MODE_RECORDS[mode].levels[0]!.entries;

/** Whether the mode's linear addresses form two canonical halves (IA-32e) rather than one span from 0. */
export const hasCanonicalHalves = (mode: PagingMode): boolean => linearSpans(mode).length > 1;

/** Hex digits of the mode's highest linear address: 8, or 16 in IA-32e. */
export function linearAddressDigits(mode: PagingMode): number {
  const spans = linearSpans(mode);
  const last = spans[spans.length - 1]!;
  return (last.virt + last.size - 1n).toString(16).length;
}

/** Whether a page-level entry can take execution away (bit 63 XD, with IA32_EFER.NXE = 1): not in 32-bit paging. */
export const pagesCanDenyExecute = (mode: PagingMode): boolean => {
  const levels = PAGING_MODE_RECORDS[mode].levels;
  return levels[levels.length - 1]!.executeDisable;
};
