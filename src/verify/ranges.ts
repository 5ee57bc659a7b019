/** Helpers over translation ranges (bigint, whole 4 KiB pages). */
import type { Access, MappedRange } from './model.js';
import { formatSize } from '../core/text.js';

/** Where one virtual address goes: the physical address and the effective permissions. */
export interface Translation extends Access {
  readonly phys: bigint;
}

export const sameAccess = (a: Access, b: Access): boolean =>
  a.writable === b.writable && a.user === b.user && a.executable === b.executable;

/**
 * Sorts ranges by virtual address and joins neighbours that continue each
 * other (next virtual page, next physical page, equal permissions), giving
 * the maximal ranges every report uses. Ranges must not overlap.
 */
export function coalesceRanges(ranges: readonly MappedRange[]): MappedRange[] {
  const sorted = [...ranges].filter((r) => r.size > 0n).sort((a, b) => (a.virt < b.virt ? -1 : a.virt > b.virt ? 1 : 0));
  const out: MappedRange[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && last.virt + last.size === range.virt && last.phys + last.size === range.phys && sameAccess(last, range)) {
      out[out.length - 1] = { ...last, size: last.size + range.size };
    } else {
      out.push(range);
    }
  }
  return out;
}

/** Total bytes the ranges map. */
export const mappedBytes = (ranges: readonly MappedRange[]): bigint => ranges.reduce((sum, r) => sum + r.size, 0n);

/** Permissions as ptdump shows them: 'rwx user', 'r-- kernel'. */
export const describeAccess = (a: Access): string =>
  `r${a.writable ? 'w' : '-'}${a.executable ? 'x' : '-'} ${a.user ? 'user' : 'kernel'}`;

/**
 * What a leaf entry says besides the translation, as a dump shows it (the
 * way Linux's ptdump does): the memory type bits and the bits the processor
 * sets as it uses the page. They do not change what an address translates
 * to, so `verify` does not compare them.
 */
export interface PageAttributes {
  /** G: the translation survives a CR3 load (with CR4.PGE). */
  readonly global: boolean;
  /** PWT, PCD and PAT: the index into the PAT that selects the memory type. */
  readonly pwt: boolean;
  readonly pcd: boolean;
  readonly pat: boolean;
  /** A and D: set by the processor on first access and first write. */
  readonly accessed: boolean;
  readonly dirty: boolean;
}

/** A dump's range: consecutive pages of one size with equal permissions and attributes. */
export interface DumpRange extends MappedRange, PageAttributes {
  /** Bytes one leaf entry maps: 4 KiB, 2 MiB, 4 MiB or 1 GiB. */
  readonly pageSize: bigint;
}

/** The page count of a range: '4 KiB x 256', '2 MiB x 3' (4 KiB pages when the size is not known). */
export const describePages = (r: MappedRange & { readonly pageSize?: bigint }): string => {
  const page = r.pageSize ?? 4096n;
  return `${formatSize(page)} x ${r.size / page}`;
};

const ATTRIBUTE_NAMES: readonly [keyof PageAttributes, string][] = [
  ['global', 'G'], ['pcd', 'PCD'], ['pwt', 'PWT'], ['pat', 'PAT'], ['accessed', 'A'], ['dirty', 'D'],
];

/** Attributes in fixed columns, ptdump-style: 'G PCD     PAT A D', a blank for a clear bit. */
export const describeAttributes = (a: PageAttributes): string =>
  ATTRIBUTE_NAMES.map(([key, name]) => (a[key] ? name : ' '.repeat(name.length))).join(' ');
