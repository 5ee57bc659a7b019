/**
 * The page signature every probing engine writes into the first 8 bytes of
 * each physical page the layout maps (outside the tables): the page's
 * number under a fixed tag, so a read through any virtual address tells
 * which physical page answered. The tag keeps it from being mistaken for
 * zeroed memory or a paging-structure entry; engines still check a value
 * that decodes against the page it names. Bytes 8..15 are the engine's own
 * (an instruction the execute probe reaches).
 */

/** Bits 63:48 of every signature. */
export const SIGNATURE_TAG = 0x5850n;
export const SIGNATURE_TAG_SHIFT = 48n;
/** Bits 47:0: the physical page number. */
const PPN_MASK = (1n << SIGNATURE_TAG_SHIFT) - 1n;

/** Bytes of a page the signature takes. */
export const SIGNATURE_BYTES = 8;
/** Bytes at a page's start the engines reserve: the signature and the engine's return instruction. */
export const SIGNATURE_SLOT_BYTES = 16;

export const signatureOf = (ppn: number): bigint => (SIGNATURE_TAG << SIGNATURE_TAG_SHIFT) | BigInt(ppn);

/** The physical page number a signature names, or null if the value is no signature. */
export function pageOfSignature(value: bigint): number | null {
  return value >> SIGNATURE_TAG_SHIFT === SIGNATURE_TAG ? Number(value & PPN_MASK) : null;
}
