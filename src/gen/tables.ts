import { INTERMEDIATE_FLAGS, topLevel, type Level, type ModeHierarchy } from './modes.js';
import type { PageFlags } from './flags.js';

const TABLE_BYTES = 4096;
const TABLE_WORDS = TABLE_BYTES / 4;
const TWO_32 = 2 ** 32;

/** An entry value split into the 32-bit words it is stored as. */
interface EntryWords {
  readonly low: number;
  readonly high: number;
}

const split = (value: bigint): EntryWords => ({ low: Number(value & 0xffffffffn), high: Number(value >> 32n) });

/** Per level: the address mask and allowed flags as 32-bit words, so the hot loops never touch a bigint. */
interface LevelWords {
  readonly level: Level;
  readonly address: EntryWords;
  readonly allowed: EntryWords;
  /** What this level's entries carry when they point at a lower table. */
  readonly intermediate: EntryWords;
  readonly wordsPerEntry: 1 | 2;
  /** Virtual bytes one entry covers, as a number (at most 512 GiB). */
  readonly span: number;
}

function levelWords(level: Level, compat: boolean): LevelWords {
  const allowed = split(compat ? level.referenceAllowedFlags ?? level.allowedFlags : level.allowedFlags);
  return {
    level,
    address: split(level.addressMask),
    allowed,
    intermediate: maskWords(split(INTERMEDIATE_FLAGS), allowed),
    wordsPerEntry: level.entryBytes === 8 ? 2 : 1,
    span: 2 ** level.shift,
  };
}

const maskWords = (value: EntryWords, mask: EntryWords): EntryWords => ({ low: value.low & mask.low, high: value.high & mask.high });

/**
 * A set of page tables under construction. Tables sit back to back from a
 * known physical address, in the order they are created; the top-level table
 * goes last. Entries live in one buffer, allocated once at the file's final
 * size and written as 32-bit words (in the host's byte order: little-endian
 * on every platform Node runs x86pt on, as the tables must be). Addresses are
 * numbers (everything here is below 2^52 and exact), and a virtual address is
 * taken modulo the mode's index range, as the hardware's index fields take it.
 */
export class PageTables {
  private readonly levels: readonly LevelWords[];
  /** Lower tables back to back, then the top-level table: the file, in place. */
  private readonly buffer: ArrayBuffer;
  private readonly store: Uint32Array;
  private readonly top: Uint32Array;
  private count = 0;
  private readonly base: number;

  /**
   * @param capacity how many lower tables the mappings need (see lowerTablesNeeded): the file is allocated once
   * @param compat write the reference generator's flags where they differ from what the hardware allows
   */
  constructor(
    mode: ModeHierarchy,
    tablesPhys: bigint,
    private readonly capacity: number,
    compat: boolean,
    private readonly onNewTable?: (level: Level, phys: number) => void,
  ) {
    this.levels = mode.levels.map((level) => levelWords(level, compat));
    const top = topLevel(mode);
    const lowerBytes = capacity * TABLE_BYTES;
    this.buffer = new ArrayBuffer(lowerBytes + top.entries * top.entryBytes);
    this.store = new Uint32Array(this.buffer, 0, lowerBytes / 4);
    this.top = new Uint32Array(this.buffer, lowerBytes);
    this.base = Number(tablesPhys);
  }

  /** Tables other than the top level, created so far. */
  get lowerTableCount(): number {
    return this.count;
  }

  /** Physical address the top-level table gets: right after the others. */
  get topLevelPhys(): number {
    return this.base + this.count * TABLE_BYTES;
  }

  /** Maps the pages [start, end) to themselves with the given leaf flags, creating tables as needed. */
  mapIdentity(start: number, end: number, flags: PageFlags): void {
    const leaf = this.levels[this.levels.length - 1]!;
    const tableSpan = leaf.span * leaf.level.entries;
    // First every leaf table's path, in address order (the order the tables are created
    // in), then every entry in one loop, which the JIT compiles once and early.
    const runs: number[] = [];
    for (let chunk = start; chunk < end; ) {
      const chunkEnd = Math.min(end, (Math.floor(chunk / tableSpan) + 1) * tableSpan);
      runs.push(this.leafTableFor(chunk, true)! + this.entryIndex(leaf, chunk) * leaf.wordsPerEntry, chunk, chunkEnd);
      chunk = chunkEnd;
    }
    this.fillLeaves(runs, this.entryFlags(leaf, flags));
  }

  /** Points top-level entries [virtIndex, virtIndex + count) at the same tables as [physIndex, ...). */
  linkTopLevel(virtIndex: number, physIndex: number, count: number): void {
    const top = this.levels[0]!;
    const entryFlags = top.intermediate;
    for (let i = 0; i < count; i++) {
      const from = (physIndex + i) * top.wordsPerEntry;
      const to = (virtIndex + i) * top.wordsPerEntry;
      this.top[to] = (this.top[from]! & top.address.low) | entryFlags.low;
      if (top.wordsPerEntry === 2) this.top[to + 1] = (this.top[from + 1]! & top.address.high) | entryFlags.high;
    }
  }

  /** Replaces the flags of the leaf entries of pages [virt, virt + pages * 4 KiB), keeping their addresses. */
  setLeafFlags(virt: number, pages: number, flags: PageFlags): void {
    const leaf = this.levels[this.levels.length - 1]!;
    const entryFlags = this.entryFlags(leaf, flags);
    for (let page = 0; page < pages; page++) {
      const addr = virt + page * TABLE_BYTES;
      const table = this.leafTableFor(addr, false);
      if (table === undefined) throw new Error(`no leaf table for ${addr.toString(16)}`);
      const at = table + this.entryIndex(leaf, addr) * leaf.wordsPerEntry;
      this.store[at] = (this.store[at]! & leaf.address.low) | entryFlags.low;
      if (leaf.wordsPerEntry === 2) this.store[at + 1] = (this.store[at + 1]! & leaf.address.high) | entryFlags.high;
    }
  }

  /** The file: lower tables by physical address, then the top-level table. */
  toBytes(): Uint8Array {
    if (this.count !== this.capacity) throw new Error(`built ${this.count} lower tables, ${this.capacity} were counted`);
    return new Uint8Array(this.buffer);
  }

  private entryFlags(level: LevelWords, flags: PageFlags): EntryWords {
    return maskWords(split(flags), level.allowed);
  }

  private entryIndex(level: LevelWords, virt: number): number {
    return Math.floor(virt / level.span) % level.level.entries;
  }

  /** Word offset of the leaf table translating `virt` (in `store`), creating missing tables when asked. */
  private leafTableFor(virt: number, create: boolean): number | undefined {
    let table = 0;
    for (let depth = 0; depth < this.levels.length - 1; depth++) {
      const level = this.levels[depth]!;
      const at = table + this.entryIndex(level, virt) * level.wordsPerEntry;
      const words = depth === 0 ? this.top : this.store;
      if ((words[at]! & 1) === 0) {
        if (!create) return undefined;
        const phys = this.allocate(this.levels[depth + 1]!.level);
        const entryFlags = level.intermediate;
        words[at] = ((phys % TWO_32) & level.address.low) | entryFlags.low;
        if (level.wordsPerEntry === 2) words[at + 1] = (Math.floor(phys / TWO_32) & level.address.high) | entryFlags.high;
      }
      const low = (words[at]! & level.address.low) >>> 0;
      const high = level.wordsPerEntry === 2 ? (words[at + 1]! & level.address.high) >>> 0 : 0;
      table = ((high * TWO_32 + low - this.base) / TABLE_BYTES) * TABLE_WORDS;
    }
    return table;
  }

  private allocate(level: Level): number {
    if (this.count === this.capacity) throw new Error(`more than the ${this.capacity} lower tables counted`);
    const phys = this.base + this.count * TABLE_BYTES;
    this.count++;
    this.onNewTable?.(level, phys);
    return phys;
  }

  /** Fills runs of leaf entries: (first word, first address, end address) triples. */
  private fillLeaves(runs: readonly number[], flags: EntryWords): void {
    const leaf = this.levels[this.levels.length - 1]!;
    const store = this.store;
    const step = leaf.wordsPerEntry;
    for (let r = 0; r < runs.length; r += 3) {
      const from = runs[r + 1]!;
      const end = runs[r]! + ((runs[r + 2]! - from) / TABLE_BYTES) * step;
      // A leaf table never straddles a 4 GiB boundary: the high word is constant, and
      // the low word just steps by a page. It is kept an int32 (`| 0`) so the JIT's
      // integer code never overflows; the Uint32Array stores the same 32 bits.
      const high = (Math.floor(from / TWO_32) & leaf.address.high) | flags.high;
      let low = ((from % TWO_32) & leaf.address.low) | flags.low;
      if (step === 2) {
        for (let at = runs[r]!; at < end; at += 2, low = (low + TABLE_BYTES) | 0) {
          store[at] = low;
          store[at + 1] = high;
        }
      } else {
        for (let at = runs[r]!; at < end; at++, low = (low + TABLE_BYTES) | 0) store[at] = low;
      }
    }
  }
}

/** Pages [start, end) that an identity mapping fills, as page-aligned addresses below 2^52. */
export interface FilledSpan {
  readonly start: number;
  readonly end: number;
}

/**
 * How many tables below the top level identity-mapping these spans creates:
 * at each level, one per distinct region of its parent's entry size touched.
 */
export function lowerTablesNeeded(mode: ModeHierarchy, spans: readonly FilledSpan[]): number {
  const sorted = spans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
  let total = 0;
  for (const parent of mode.levels.slice(0, -1)) {
    const scope = 2 ** parent.shift;
    let lastChunk = -1;
    for (const span of sorted) {
      const first = Math.max(Math.floor(span.start / scope), lastChunk + 1);
      const last = Math.floor((span.end - 1) / scope);
      if (last >= first) total += last - first + 1;
      lastChunk = Math.max(lastChunk, last);
    }
  }
  return total;
}
