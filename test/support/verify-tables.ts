/** Hand-built table blocks for the verifier's tests: write entries by table and index. */
import type { PagingMode } from '../../src/verify/model.js';

export class TableBlockBuilder {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly entryBytes: number;

  /** `lowerTables` full pages, then the top-level table (32 bytes in PAE, a page otherwise). */
  constructor(readonly mode: PagingMode, readonly base: bigint, readonly lowerTables: number) {
    const top = mode === 'pae' ? 32 : 4096;
    this.bytes = new Uint8Array(lowerTables * 4096 + top);
    this.view = new DataView(this.bytes.buffer);
    this.entryBytes = mode === '32bit' ? 4 : 8;
  }

  /** Physical address of lower table `n`, or of the top-level table for n = lowerTables. */
  tableAddr(n: number): bigint {
    return this.base + BigInt(n * 4096);
  }

  get top(): number {
    return this.lowerTables;
  }

  /** Byte offset of an entry in the block. */
  entryOffset(table: number, index: number): number {
    return table * 4096 + index * this.entryBytes;
  }

  set(table: number, index: number, value: bigint): this {
    const offset = this.entryOffset(table, index);
    if (this.entryBytes === 4) this.view.setUint32(offset, Number(value), true);
    else this.view.setBigUint64(offset, value, true);
    return this;
  }

  get(table: number, index: number): bigint {
    const offset = this.entryOffset(table, index);
    return this.entryBytes === 4 ? BigInt(this.view.getUint32(offset, true)) : this.view.getBigUint64(offset, true);
  }
}

/** Entry bits by their SDM names, for readable test tables. */
export const P = 1n;
export const RW = 2n;
export const US = 4n;
export const PS = 0x80n;
export const XD = 1n << 63n;

/** Flips one bit of the entry at `offset` (4- or 8-byte entries) in a copy of the block. */
export function flipBit(bytes: Uint8Array, offset: number, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[offset + (bit >> 3)]! ^= 1 << (bit & 7);
  return copy;
}
