/**
 * Pages as the probing engines count them: 4 KiB, numbered by address >> 12.
 * Page numbers are plain numbers (at most 2^52, exact in a double), so hot
 * loops stay off bigint; addresses are bigints at the edges.
 */

export const PAGE_SHIFT = 12n;
export const PAGE_BYTES = 4096;
export const PAGE = 4096n;

export const pageNumber = (address: bigint): number => Number(address >> PAGE_SHIFT);
export const pageAddress = (pageNumber: number): bigint => BigInt(pageNumber) << PAGE_SHIFT;
export const pageFloor = (address: bigint): bigint => (address >> PAGE_SHIFT) << PAGE_SHIFT;
export const pageCeil = (address: bigint): bigint => pageFloor(address + PAGE - 1n);

export const hex = (value: bigint | number): string => `0x${value.toString(16)}`;
