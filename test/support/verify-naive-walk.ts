/**
 * A deliberately plain page walk for cross-checking verify/walker.ts: bigint
 * entries, one explicit rule per mode and level written out from the SDM
 * (Vol. 3A, sections 4.3-4.5), no shared tables or masks.
 */
import type { MappedRange, PagingMode } from '../../src/verify/model.js';

export interface NaiveOptions {
  readonly maxPhysAddr?: number;
  readonly nxe?: boolean;
  readonly pse?: boolean;
}

/** A page or large page some entry maps, and where that entry is. */
export interface NaiveLeaf extends MappedRange {
  readonly entryAddr: bigint;
}

/** A page table (lowest level) and the virtual address of its entry 0, once per path that reaches it. */
export interface NaiveLeafTable {
  readonly addr: bigint;
  readonly virtBase: bigint;
}

/** A present entry that points at a table inside the block (an entry the walk goes through, not a leaf). */
export interface NaivePointer {
  readonly entryAddr: bigint;
  /** The entry's name as the SDM gives it: 'PML4E', 'PDPTE', 'PDE'. */
  readonly name: string;
}

export interface NaiveWalk {
  readonly leaves: NaiveLeaf[];
  readonly pointers: NaivePointer[];
  /** Entries that set a reserved bit or point outside the block. */
  readonly badEntries: Set<bigint>;
  readonly leafTables: NaiveLeafTable[];
}

const bit = (value: bigint, n: number): boolean => ((value >> BigInt(n)) & 1n) === 1n;
const bitsFrom = (low: number, high: number): bigint => ((1n << BigInt(high - low + 1)) - 1n) << BigInt(low);

export function naiveWalk(mode: PagingMode, bytes: Uint8Array, base: bigint, options: NaiveOptions = {}): NaiveWalk {
  const m = options.maxPhysAddr ?? 52;
  const nxe = options.nxe ?? true;
  const pse = options.pse ?? true;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = base + BigInt(bytes.byteLength);
  const wide = mode !== '32bit';
  const read = (addr: bigint): bigint => {
    const offset = Number(addr - base);
    return wide ? view.getBigUint64(offset, true) : BigInt(view.getUint32(offset, true));
  };
  const inside = (table: bigint): boolean => table >= base && table + 4096n <= end;

  // Level names and index shifts per mode, top first.
  const names = mode === '32bit' ? ['PDE', 'PTE'] : mode === 'pae' ? ['PDPTE', 'PDE', 'PTE'] : ['PML4E', 'PDPTE', 'PDE', 'PTE'];
  const shifts = mode === '32bit' ? [22, 12] : mode === 'pae' ? [30, 21, 12] : [39, 30, 21, 12];
  const counts = mode === '32bit' ? [1024, 1024] : mode === 'pae' ? [4, 512, 512] : [512, 512, 512, 512];
  const entrySize = wide ? 8n : 4n;

  const mapsPage = (name: string, e: bigint): boolean => {
    if (!bit(e, 7)) return false;
    if (mode === '32bit') return name === 'PDE' && pse;
    if (mode === 'pae') return name === 'PDE';
    return name === 'PDPTE' || name === 'PDE';
  };

  const reserved = (name: string, e: bigint, large: boolean): boolean => {
    if (mode === '32bit') {
      if (!large) return false;
      if (bit(e, 21)) return true;
      for (let k = 0; k < 8; k++) if (32 + k >= m && bit(e, 13 + k)) return true;
      return false;
    }
    if (mode === 'pae') {
      if (name === 'PDPTE') return (e & (bitsFrom(1, 2) | bitsFrom(5, 8))) !== 0n || (e & bitsFrom(m, 63)) !== 0n;
      if (m <= 62 && (e & bitsFrom(m, 62)) !== 0n) return true;
      if (!nxe && bit(e, 63)) return true;
      return large && (e & bitsFrom(13, 20)) !== 0n;
    }
    if (m <= 51 && (e & bitsFrom(m, 51)) !== 0n) return true;
    if (!nxe && bit(e, 63)) return true;
    if (name === 'PML4E' && bit(e, 7)) return true;
    if (large && name === 'PDPTE') return (e & bitsFrom(13, 29)) !== 0n;
    if (large && name === 'PDE') return (e & bitsFrom(13, 20)) !== 0n;
    return false;
  };

  const address = (e: bigint, large: boolean, shift: number): bigint => {
    if (mode === '32bit') {
      if (!large) return e & 0xfffff000n;
      return (e & 0xffc00000n) | (((e >> 13n) & 0xffn) << 32n);
    }
    const field = e & ((1n << BigInt(Math.min(m, 52))) - 1n);
    return large ? field & ~((1n << BigInt(shift)) - 1n) : field & ~0xfffn;
  };

  const leaves: NaiveLeaf[] = [];
  const badEntries = new Set<bigint>();
  const leafTables: NaiveLeafTable[] = [];
  const pointers: NaivePointer[] = [];

  const visit = (level: number, table: bigint, virtBase: bigint, rw: boolean, us: boolean, xd: boolean): void => {
    const name = names[level]!;
    const shift = shifts[level]!;
    if (level === names.length - 1) leafTables.push({ addr: table, virtBase });
    for (let i = 0; i < counts[level]!; i++) {
      const entryAddr = table + BigInt(i) * entrySize;
      const e = read(entryAddr);
      if (!bit(e, 0)) continue;
      const large = mapsPage(name, e);
      if (reserved(name, e, large)) {
        badEntries.add(entryAddr);
        continue;
      }
      const pdpteOfPae = mode === 'pae' && name === 'PDPTE';
      const nextRw = pdpteOfPae ? rw : rw && bit(e, 1);
      const nextUs = pdpteOfPae ? us : us && bit(e, 2);
      const nextXd = xd || (wide && nxe && !pdpteOfPae && bit(e, 63));
      let virt = virtBase + (BigInt(i) << BigInt(shift));
      if (mode === 'ia32e' && level === 0 && i >= 256) virt |= 0xffff000000000000n;
      if (large || level === names.length - 1) {
        leaves.push({
          virt, phys: address(e, large, shift), size: 1n << BigInt(shift),
          writable: nextRw, user: nextUs, executable: !nextXd, entryAddr,
        });
        continue;
      }
      const child = address(e, false, 12);
      if (!inside(child)) {
        badEntries.add(entryAddr);
        continue;
      }
      pointers.push({ entryAddr, name });
      visit(level + 1, child, virt, nextRw, nextUs, nextXd);
    }
  };
  visit(0, end - (mode === 'pae' ? 32n : 4096n), 0n, true, true, false);
  return { leaves, pointers, badEntries, leafTables };
}

/** Leaves merged into maximal ranges, the plain way (sort, then join what continues). */
export function naiveMerge(leaves: readonly MappedRange[]): MappedRange[] {
  const sorted = [...leaves].sort((a, b) => (a.virt < b.virt ? -1 : a.virt > b.virt ? 1 : 0));
  const out: MappedRange[] = [];
  for (const l of sorted) {
    const prev = out[out.length - 1];
    if (prev && prev.virt + prev.size === l.virt && prev.phys + prev.size === l.phys
      && prev.writable === l.writable && prev.user === l.user && prev.executable === l.executable) {
      out[out.length - 1] = { ...prev, size: prev.size + l.size };
    } else {
      out.push({ virt: l.virt, phys: l.phys, size: l.size, writable: l.writable, user: l.user, executable: l.executable });
    }
  }
  return out;
}
