/**
 * Addresses are exact 64-bit bigints at the edges. The brands keep physical
 * and virtual addresses from being mixed up; inside the table builder they
 * become plain numbers once they are known to fit.
 */
declare const physBrand: unique symbol;
declare const virtBrand: unique symbol;

export type PhysAddr = bigint & { readonly [physBrand]: true };
export type VirtAddr = bigint & { readonly [virtBrand]: true };

export const physAddr = (value: bigint): PhysAddr => value as PhysAddr;
export const virtAddr = (value: bigint): VirtAddr => value as VirtAddr;

export const PAGE_SIZE = 4096n;
export const KiB = 1024n;
export const GiB = 1n << 30n;
export const U64_END = 1n << 64n;

export const hex = (value: bigint): string => `0x${value.toString(16)}`;

export const isPageAligned = (value: bigint): boolean => value % PAGE_SIZE === 0n;

export const alignDown = (value: bigint, unit: bigint): bigint => value - (value % unit);

export const alignUp = (value: bigint, unit: bigint): bigint => alignDown(value + unit - 1n, unit);

/** A half-open span [start, end) of addresses. */
export interface Span {
  readonly start: bigint;
  readonly end: bigint;
}

export const spansOverlap = (a: Span, b: Span): boolean => a.start < b.end && b.start < a.end;

/** Human-readable byte count: 64 MiB, 4 KiB, 12345 bytes. */
export function formatSize(bytes: bigint): string {
  for (const [unit, name] of [[1n << 40n, 'TiB'], [GiB, 'GiB'], [1n << 20n, 'MiB'], [KiB, 'KiB']] as const) {
    if (bytes >= unit && bytes % unit === 0n) return `${bytes / unit} ${name}`;
  }
  return `${bytes} bytes`;
}
