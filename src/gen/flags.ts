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
export const GLOBAL = flag(8n);
export const EXECUTE_DISABLE = flag(63n);
export const NO_FLAGS = 0n as PageFlags;

export function flags(...parts: PageFlags[]): PageFlags {
  return parts.reduce((all, part) => all | part, 0n) as PageFlags;
}


/** Flags as the SDM abbreviates them, e.g. 'P RW XD'. */
export function describeFlags(value: PageFlags): string {
  const names: [PageFlags, string][] = [[PRESENT, 'P'], [WRITABLE, 'RW'], [USER, 'US'], [GLOBAL, 'G'], [EXECUTE_DISABLE, 'XD']];
  return names.filter(([bit]) => (value & bit) !== 0n).map(([, name]) => name).join(' ') || '-';
}
