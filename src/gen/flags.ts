/**
 * Page-table entry flags at their architectural bit positions (Intel SDM
 * Vol. 3A, ch. 4). A bigint, because XD is bit 63.
 */
declare const flagsBrand: unique symbol;
export type PageFlags = bigint & { readonly [flagsBrand]: true };

const flag = (bit: bigint): PageFlags => (1n << bit) as PageFlags;

export const PRESENT = flag(0n);
export const WRITABLE = flag(1n);
export const USER = flag(2n);
export const CACHE_DISABLE = flag(4n);
export const DIRTY = flag(6n);
/** In a page-directory entry: the entry maps a large page instead of pointing at a table. */
export const PAGE_SIZE = flag(7n);
export const GLOBAL = flag(8n);
/** Bits the hardware ignores; from v2.5 on the scripts mirror RW, US and XD in them for the kernel to restore. */
export const IGNORED_9 = flag(9n);
export const IGNORED_10 = flag(10n);
export const IGNORED_11 = flag(11n);
export const EXECUTE_DISABLE = flag(63n);
export const NO_FLAGS = 0n as PageFlags;

export function flags(...parts: PageFlags[]): PageFlags {
  return parts.reduce((all, part) => all | part, 0n) as PageFlags;
}


/** Flags as the SDM abbreviates them, e.g. 'P RW XD'. */
export function describeFlags(value: bigint): string {
  const names: [PageFlags, string][] = [
    [PRESENT, 'P'], [WRITABLE, 'RW'], [USER, 'US'], [CACHE_DISABLE, 'PCD'], [DIRTY, 'D'], [PAGE_SIZE, 'PS'], [GLOBAL, 'G'], [EXECUTE_DISABLE, 'XD'],
  ];
  return names.filter(([bit]) => (value & bit) !== 0n).map(([, name]) => name).join(' ') || 'not present';
}
