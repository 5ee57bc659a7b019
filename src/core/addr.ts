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

export const isPageAligned = (value: bigint): boolean => value % PAGE_SIZE === 0n;

export const alignDown = (value: bigint, unit: bigint): bigint => value - (value % unit);

export const alignUp = (value: bigint, unit: bigint): bigint => alignDown(value + unit - 1n, unit);

/** A half-open span [start, end) of addresses. */
export interface Span {
  readonly start: bigint;
  readonly end: bigint;
}

/** Whether two spans share an address; an empty span shares none. */
export const spansOverlap = (a: Span, b: Span): boolean =>
  a.start < a.end && b.start < b.end && a.start < b.end && b.start < a.end;
