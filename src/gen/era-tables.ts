import { InputError } from '../core/errors.js';
import { hex } from '../core/text.js';

const TABLE_BYTES = 4096;
const TWO_32 = 2 ** 32;

/** Bit 7 of a page-directory entry: the entry maps a large page instead of pointing at a table. */
export const PAGE_SIZE_BIT = 1n << 7n;

/** One paging level as an era's generator writes it. */
export interface EraLevel {
  readonly name: string;
  readonly shift: number;
  readonly entries: number;
  readonly entryBytes: 4 | 8;
  readonly addressMask: bigint;
  /** Flags kept in entries that point at a table or map a page. */
  readonly allowed: bigint;
  /** Flags kept in an entry that maps a large page (PS set); the same as `allowed` unless a fix adds XD. */
  readonly allowedLarge: bigint;
}

interface Words {
  readonly low: number;
  readonly high: number;
}

const split = (value: bigint): Words => ({ low: Number(value & 0xffffffffn) | 0, high: Number((value >> 32n) & 0xffffffffn) | 0 });

interface LevelWords {
  readonly level: EraLevel;
  readonly address: Words;
  readonly allowed: Words;
  readonly allowedLarge: Words;
  readonly wide: boolean;
  readonly span: number;
}

/** Where an entry lives: a table's words and the entry's first word. */
interface Slot {
  readonly words: Uint32Array;
  readonly at: number;
}

/** A one-line trace of each entry written (gen_mmu.py's -vv). */
export type EntryTrace = (line: string) => void;

/**
 * Page tables as every gen_mmu.py from v2.4 on builds them: tables are
 * created on demand, back to back from a known physical address, and linked
 * by physical address; the top-level table comes last in the file. Unlike
 * the scripts, every walk checks what it walks through, so a layout they
 * would crash on (a KeyError) or silently mis-build is refused instead.
 * Virtual addresses are numbers already reduced to the mode's indexed bits;
 * physical addresses are numbers below 2^52.
 */
export class EraTables {
  private readonly levels: readonly LevelWords[];
  private readonly lower: Uint32Array[] = [];
  private readonly top: Uint32Array;
  private readonly topBytes: number;
  private readonly intermediate: bigint;

  constructor(
    levels: readonly EraLevel[],
    readonly tablesPhys: number,
    intermediateFlags: bigint,
    private readonly maxBytes: number,
    private readonly trace?: EntryTrace,
  ) {
    this.levels = levels.map((level) => ({
      level,
      address: split(level.addressMask),
      allowed: split(level.allowed),
      allowedLarge: split(level.allowedLarge),
      wide: level.entryBytes === 8,
      span: 2 ** level.shift,
    }));
    const top = levels[0]!;
    this.topBytes = top.entries * top.entryBytes;
    this.top = new Uint32Array(this.topBytes / 4);
    this.intermediate = intermediateFlags;
  }

  get lowerTableCount(): number {
    return this.lower.length;
  }

  get topLevelPhys(): number {
    return this.tablesPhys + this.lower.length * TABLE_BYTES;
  }

  /** The depth of the page directory (the level whose entries may map large pages). */
  get directoryDepth(): number {
    return this.levels.length - 2;
  }

  get leafDepth(): number {
    return this.levels.length - 1;
  }

  /** Virtual bytes one entry at `depth` covers. */
  scope(depth: number): number {
    return this.levels[depth]!.span;
  }

  /** Creates the tables down to (and including) the table at `depth` for `virt`. */
  reserve(virt: number, depth: number): void {
    this.walk(virt, depth, true);
  }

  /**
   * map() for `count` consecutive entries at `depth` from `virt` to `phys`, a
   * table at a time (one walk per table).
   */
  mapRun(virt: number, phys: number, count: number, flags: bigint, depth: number, what: string): void {
    const lw = this.levels[depth]!;
    const large = depth < this.leafDepth;
    const allowed = large ? lw.allowedLarge : lw.allowed;
    const f = split(flags);
    const low = f.low & allowed.low;
    const high = f.high & allowed.high;
    const step = lw.wide ? 2 : 1;
    for (let i = 0; i < count; ) {
      const v = virt + i * lw.span;
      const slot = this.walk(v, depth, true, what)!;
      const run = Math.min(count - i, lw.level.entries - this.index(v, lw));
      const words = slot.words;
      for (let j = 0, at = slot.at; j < run; j++, i++, at += step) {
        const p = phys + i * lw.span;
        const old = words[at]!;
        if (old & 1) this.checkReplace(v + j * lw.span, p, old, lw.wide ? words[at + 1]! : 0, lw, large, depth, what);
        words[at] = ((p % TWO_32) & lw.address.low) | low;
        if (lw.wide) words[at + 1] = (Math.floor(p / TWO_32) & lw.address.high) | high;
        if (this.trace) this.trace(`${lw.level.name}: map ${hex(BigInt(v + j * lw.span))} -> ${hex(BigInt(p))}`);
      }
    }
  }

  /** A present entry may be written again only with the same physical address, and a page table never by a large page. */
  private checkReplace(virt: number, phys: number, low: number, high: number, lw: LevelWords, large: boolean, depth: number, what: string): void {
    if (large && (low & Number(PAGE_SIZE_BIT)) === 0) {
      throw new InputError(`${what}: a large page at ${hex(BigInt(virt))} would replace the page table of ${this.describe(virt, depth)}, which is already in use`);
    }
    const old = this.address(low, high, lw);
    if (old !== phys) {
      throw new InputError(`${what}: virtual ${hex(BigInt(virt))} is already mapped to physical ${hex(BigInt(old))}, not ${hex(BigInt(phys))}`);
    }
  }

  /** Replaces the flags of the leaf entry of `virt`, keeping its address; the entry must have been written. */
  setLeafFlags(virt: number, flags: bigint, what: string): void {
    const depth = this.leafDepth;
    const slot = this.walk(virt, depth, false, what);
    const lw = this.levels[depth]!;
    const [low, high] = slot ? this.read(slot, lw) : [0, 0];
    if (!slot || (low === 0 && high === 0)) throw new InputError(`${what}: page ${hex(BigInt(virt))} is not mapped`);
    const f = split(flags);
    this.write(slot, lw, (low & lw.address.low) | (f.low & lw.allowed.low), (high & lw.address.high) | (f.high & lw.allowed.high));
    this.trace?.(`${lw.level.name}: flags at ${hex(BigInt(virt))}`);
  }

  /** Whether `virt` is translated by a present entry at `depth` or above (a large page). */
  isPresent(virt: number, depth: number): boolean {
    let words = this.top;
    for (let d = 0; d <= depth; d++) {
      const lw = this.levels[d]!;
      const at = this.index(virt, lw) * (lw.wide ? 2 : 1);
      const low = words[at]!;
      if ((low & 1) === 0) return false;
      if (d === depth || (d > 0 && d < this.leafDepth && (low & Number(PAGE_SIZE_BIT)) !== 0)) return true;
      const next = this.tableAt(this.address(low, lw.wide ? words[at + 1]! : 0, lw));
      if (next === undefined) return true;
      words = next;
    }
    return false;
  }

  /** The file: lower tables in the order made (by physical address), then the top level. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.lower.length * TABLE_BYTES + this.topBytes);
    this.lower.forEach((table, i) => out.set(new Uint8Array(table.buffer, table.byteOffset, TABLE_BYTES), i * TABLE_BYTES));
    out.set(new Uint8Array(this.top.buffer, 0, this.topBytes), this.lower.length * TABLE_BYTES);
    return out;
  }

  private describe(virt: number, depth: number): string {
    const span = this.levels[depth]!.span;
    const start = Math.floor(virt / span) * span;
    return `${hex(BigInt(start))}-${hex(BigInt(start + span))}`;
  }

  private index(virt: number, lw: LevelWords): number {
    return Math.floor(virt / lw.span) % lw.level.entries;
  }

  private read(slot: Slot, lw: LevelWords): [number, number] {
    return [slot.words[slot.at]!, lw.wide ? slot.words[slot.at + 1]! : 0];
  }

  private write(slot: Slot, lw: LevelWords, low: number, high: number): void {
    slot.words[slot.at] = low;
    if (lw.wide) slot.words[slot.at + 1] = high;
  }

  private address(low: number, high: number, lw: LevelWords): number {
    return ((high & lw.address.high) >>> 0) * TWO_32 + ((low & lw.address.low) >>> 0);
  }

  private tableAt(phys: number): Uint32Array | undefined {
    const offset = phys - this.tablesPhys;
    if (offset < 0 || offset % TABLE_BYTES !== 0) return undefined;
    return this.lower[offset / TABLE_BYTES];
  }

  /**
   * The slot of the entry at `depth` for `virt`. Missing tables are made when
   * `create` is set; otherwise the walk ends (undefined) at a missing one.
   * Walking through a large page, or an entry that points at no table, is refused.
   */
  private walk(virt: number, depth: number, create: boolean, what = 'page tables'): Slot | undefined {
    let words = this.top;
    for (let d = 0; d < depth; d++) {
      const lw = this.levels[d]!;
      const at = this.index(virt, lw) * (lw.wide ? 2 : 1);
      let low = words[at]!;
      if ((low & 1) === 0) {
        if (!create) return undefined;
        const phys = this.newTable(this.levels[d + 1]!.level);
        const f = split(this.intermediate);
        low = ((phys % TWO_32) & lw.address.low) | (f.low & lw.allowed.low);
        words[at] = low;
        if (lw.wide) words[at + 1] = (Math.floor(phys / TWO_32) & lw.address.high) | (f.high & lw.allowed.high);
        this.trace?.(`${lw.level.name}: link ${hex(BigInt(virt))} -> ${this.levels[d + 1]!.level.name} at ${hex(BigInt(phys))}`);
      } else if (d > 0 && (low & Number(PAGE_SIZE_BIT)) !== 0) {
        throw new InputError(`${what}: ${hex(BigInt(virt))} lies in a large page (${this.describe(virt, d)}), which has no ${this.levels[d + 1]!.level.name} to change`);
      }
      const next = this.tableAt(this.address(low, lw.wide ? words[at + 1]! : 0, lw));
      if (next === undefined) throw new InputError(`${what}: the ${lw.level.name} entry for ${hex(BigInt(virt))} points at no table`);
      words = next;
    }
    const lw = this.levels[depth]!;
    return { words, at: this.index(virt, lw) * (lw.wide ? 2 : 1) };
  }

  private newTable(level: EraLevel): number {
    const bytes = (this.lower.length + 1) * TABLE_BYTES + this.topBytes;
    if (bytes > this.maxBytes) {
      throw new InputError(`the page tables would exceed ${this.maxBytes} bytes (the tables-size limit; raise it with --max-tables-size)`);
    }
    const phys = this.topLevelPhys;
    this.lower.push(new Uint32Array(TABLE_BYTES / 4));
    this.trace?.(`new ${level.name} at physical ${hex(BigInt(phys))}`);
    return phys;
  }
}
