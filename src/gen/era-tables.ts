import { InputError } from '../core/errors.js';
import { hex } from '../core/text.js';
import { PAGE_SIZE } from './flags.js';
import type { Level } from './modes.js';

const TABLE_BYTES = 4096;
const TWO_32 = 2 ** 32;
const PS = Number(PAGE_SIZE);

/** One paging level (modes.ts) with the flags an era's generator keeps in its entries. */
export interface EraLevel extends Level {
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
  /** What an entry pointing at a lower table carries, filtered. */
  readonly link: Words;
  readonly wide: boolean;
  readonly span: number;
}

/** Where an entry lives: a table's words and the entry's first word. */
interface Slot {
  readonly words: Uint32Array;
  readonly at: number;
  /** Index of the lower table (in the order made); -1 for the top level. */
  readonly table: number;
}

/** Entries [at, end) of 8 bytes: the low word steps by `span` from `word`, the high word stays; int32 throughout, for the JIT. */
function fillWide(words: Uint32Array, at: number, end: number, word: number, high: number, span: number): void {
  for (; at < end; at += 2, word = (word + span) | 0) {
    words[at] = word;
    words[at + 1] = high;
  }
}

/** Entries [at, end) of 4 bytes, stepping by `span` from `word`. */
function fillNarrow(words: Uint32Array, at: number, end: number, word: number, span: number): void {
  for (; at < end; at++, word = (word + span) | 0) words[at] = word;
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
export interface EraTablesOptions {
  /** Refuse a block larger than this many bytes (InputError). */
  readonly maxBytes: number;
  /**
   * Lower tables counted before building (the seed counts them from its
   * layout): the file is then allocated once at its final size and handed out
   * without a copy.
   */
  readonly capacity?: number;
  /** A line per entry written (-vv). */
  readonly trace?: EntryTrace;
  /** A line per table made. */
  readonly onNewTable?: EntryTrace;
}

export class EraTables {
  private readonly levels: readonly LevelWords[];
  private readonly lower: Uint32Array[] = [];
  /**
   * The table the last walk reached one step above its end, and the virtual
   * addresses it serves: the links above it are never rewritten (but by
   * linkTopLevel, which drops it), so a walk there may start from it.
   */
  private lastParent?: { readonly depth: number; readonly start: number; readonly end: number; readonly words: Uint32Array; readonly table: number };
  /** Per lower table: whether any entry has been written (an empty one is filled without looking). */
  private readonly written: boolean[] = [];
  private readonly top: Uint32Array;
  private readonly topBytes: number;
  private readonly intermediate: bigint;
  private readonly maxBytes: number;
  private readonly trace?: EntryTrace;
  private readonly onNewTable?: EntryTrace;
  /** Lower tables then the top level, when the capacity was counted up front. */
  private readonly file?: ArrayBuffer;
  private readonly capacity: number;

  constructor(levels: readonly EraLevel[], readonly tablesPhys: number, intermediateFlags: bigint, options: EraTablesOptions) {
    this.levels = levels.map((level) => ({
      level,
      address: split(level.addressMask),
      allowed: split(level.allowed),
      allowedLarge: split(level.allowedLarge),
      link: split(intermediateFlags & level.allowed),
      wide: level.entryBytes === 8,
      span: 2 ** level.shift,
    }));
    const top = levels[0]!;
    this.topBytes = top.entries * top.entryBytes;
    this.intermediate = intermediateFlags;
    this.maxBytes = options.maxBytes;
    this.trace = options.trace;
    this.onNewTable = options.onNewTable ?? options.trace;
    this.capacity = options.capacity ?? 0;
    if (options.capacity !== undefined) {
      this.file = new ArrayBuffer(options.capacity * TABLE_BYTES + this.topBytes);
      this.top = new Uint32Array(this.file, options.capacity * TABLE_BYTES, this.topBytes / 4);
    } else {
      this.top = new Uint32Array(this.topBytes / 4);
    }
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
    for (let i = 0; i < count; ) {
      const v = virt + i * lw.span;
      const slot = this.walk(v, depth, true, what)!;
      const run = Math.min(count - i, lw.level.entries - this.index(v, lw));
      if (this.trace) this.traceRun(slot, v, phys + i * lw.span, run, low, high, lw, large, depth, what);
      else this.fillRun(slot, v, phys + i * lw.span, run, low, high, lw, large, depth, what);
      i += run;
    }
  }

  /**
   * `run` entries of one table from `slot`, mapping consecutive pages from
   * `phys`: the hot loop of every mapping. An entry already present must map
   * the same page (checkReplace); a table nothing was written to yet is filled
   * without looking.
   */
  private fillRun(slot: Slot, virt: number, phys: number, run: number, low: number, high: number, lw: LevelWords, large: boolean, depth: number, what: string): void {
    if (slot.table < 0 || this.written[slot.table]) {
      this.checkRun(slot, virt, phys, run, lw, large, depth, what);
    } else {
      this.written[slot.table] = true;
    }
    const words = slot.words;
    const span = lw.span;
    const step = lw.wide ? 2 : 1;
    for (let done = 0; done < run; ) {
      const p = phys + done * span;
      const physLow = p % TWO_32;
      // Up to the next 4 GiB boundary the high word is constant and the low one steps by `span`
      // (flags sit below bit 12, so adding to the whole word is adding to the address); kept an
      // int32 (`| 0`) so the JIT's integer code never overflows.
      const segment = Math.min(run - done, (TWO_32 - physLow) / span);
      const highWord = (Math.floor(p / TWO_32) & lw.address.high) | high;
      const word = (physLow & lw.address.low) | low;
      const at = (slot.at + done * step) | 0;
      if (step === 2) fillWide(words, at, (at + segment * 2) | 0, word, highWord, span | 0);
      else fillNarrow(words, at, (at + segment) | 0, word, span | 0);
      done += segment;
    }
  }

  /** Before rewriting a run of a table in use: every present entry must already map the page it is to map. */
  private checkRun(slot: Slot, virt: number, phys: number, run: number, lw: LevelWords, large: boolean, depth: number, what: string): void {
    const step = lw.wide ? 2 : 1;
    for (let j = 0, at = slot.at; j < run; j++, at += step) {
      const old = slot.words[at]!;
      if (old & 1) this.checkReplace(virt + j * lw.span, phys + j * lw.span, old, lw.wide ? slot.words[at + 1]! : 0, lw, large, depth, what);
    }
  }

  /** fillRun with a trace line per entry. */
  private traceRun(slot: Slot, virt: number, phys: number, run: number, low: number, high: number, lw: LevelWords, large: boolean, depth: number, what: string): void {
    this.fillRun(slot, virt, phys, run, low, high, lw, large, depth, what);
    for (let j = 0; j < run; j++) this.trace!(`${lw.level.name}: map ${hex(BigInt(virt + j * lw.span))} -> ${hex(BigInt(phys + j * lw.span))}`);
  }

  /**
   * Points top-level entries [virtIndex, virtIndex + count) at the same lower
   * tables as [physIndex, ...): the seed's dual mapping, where both windows
   * share every table below the top.
   */
  linkTopLevel(virtIndex: number, physIndex: number, count: number): void {
    this.lastParent = undefined;
    const lw = this.levels[0]!;
    const step = lw.wide ? 2 : 1;
    const f = split(this.intermediate);
    for (let i = 0; i < count; i++) {
      const from = (physIndex + i) * step;
      const to = (virtIndex + i) * step;
      this.top[to] = (this.top[from]! & lw.address.low) | (f.low & lw.allowed.low);
      if (lw.wide) this.top[to + 1] = (this.top[from + 1]! & lw.address.high) | (f.high & lw.allowed.high);
    }
  }

  /** A present entry may be written again only with the same physical address, and a page table never by a large page. */
  private checkReplace(virt: number, phys: number, low: number, high: number, lw: LevelWords, large: boolean, depth: number, what: string): void {
    if (large && (low & PS) === 0) {
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
      if (d === depth || (d > 0 && d < this.leafDepth && (low & PS) !== 0)) return true;
      const next = this.tableAt(this.address(low, lw.wide ? words[at + 1]! : 0, lw));
      if (next === undefined) return true;
      words = next;
    }
    return false;
  }

  /** The file: lower tables in the order made (by physical address), then the top level. */
  toBytes(): Uint8Array {
    if (this.file && this.lower.length === this.capacity) return new Uint8Array(this.file);
    const out = new Uint8Array(this.lower.length * TABLE_BYTES + this.topBytes);
    this.lower.forEach((table, i) => out.set(new Uint8Array(table.buffer, table.byteOffset, TABLE_BYTES), i * TABLE_BYTES));
    out.set(new Uint8Array(this.top.buffer, this.top.byteOffset, this.topBytes), this.lower.length * TABLE_BYTES);
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

  /** Index of the lower table at `phys`, or -1. */
  private tableIndex(phys: number): number {
    const offset = phys - this.tablesPhys;
    if (offset < 0 || offset % TABLE_BYTES !== 0 || offset / TABLE_BYTES >= this.lower.length) return -1;
    return offset / TABLE_BYTES;
  }

  private tableAt(phys: number): Uint32Array | undefined {
    const index = this.tableIndex(phys);
    return index < 0 ? undefined : this.lower[index];
  }

  /**
   * The slot of the entry at `depth` for `virt`. Missing tables are made when
   * `create` is set; otherwise the walk ends (undefined) at a missing one.
   * Walking through a large page, or an entry that points at no table, is refused.
   */
  private walk(virt: number, depth: number, create: boolean, what = 'page tables'): Slot | undefined {
    let words = this.top;
    let table = -1;
    let d = 0;
    // Consecutive walks mostly share every table above the last step: start from the cached one.
    const cached = this.lastParent;
    if (cached && cached.depth === depth - 1 && virt >= cached.start && virt < cached.end) {
      words = cached.words;
      table = cached.table;
      d = cached.depth;
    }
    for (; d < depth; d++) {
      const lw = this.levels[d]!;
      const at = this.index(virt, lw) * (lw.wide ? 2 : 1);
      let low = words[at]!;
      if ((low & 1) === 0) {
        if (!create) return undefined;
        const phys = this.newTable(this.levels[d + 1]!.level);
        low = ((phys % TWO_32) & lw.address.low) | lw.link.low;
        words[at] = low;
        if (lw.wide) words[at + 1] = (Math.floor(phys / TWO_32) & lw.address.high) | lw.link.high;
        if (table >= 0) this.written[table] = true;
        if (this.trace) this.trace(`${lw.level.name}: link ${hex(BigInt(virt))} -> ${this.levels[d + 1]!.level.name} at ${hex(BigInt(phys))}`);
      } else if (d > 0 && (low & PS) !== 0) {
        throw new InputError(`${what}: ${hex(BigInt(virt))} lies in a large page (${this.describe(virt, d)}), which has no ${this.levels[d + 1]!.level.name} to change`);
      }
      table = this.tableIndex(this.address(low, lw.wide ? words[at + 1]! : 0, lw));
      if (table < 0) throw new InputError(`${what}: the ${lw.level.name} entry for ${hex(BigInt(virt))} points at no table`);
      words = this.lower[table]!;
      if (d + 1 === depth - 1) {
        const start = Math.floor(virt / lw.span) * lw.span;
        this.lastParent = { depth: d + 1, start, end: start + lw.span, words, table };
      }
    }
    const lw = this.levels[depth]!;
    return { words, at: this.index(virt, lw) * (lw.wide ? 2 : 1), table };
  }

  private newTable(level: EraLevel): number {
    const bytes = (this.lower.length + 1) * TABLE_BYTES + this.topBytes;
    if (bytes > this.maxBytes) {
      throw new InputError(`the page tables would exceed ${this.maxBytes} bytes (the tables-size limit; raise it with --max-tables-size)`);
    }
    const phys = this.topLevelPhys;
    const n = this.lower.length;
    // Within the counted capacity a table is a view of the file; past it (a miscount), a table of its own.
    this.lower.push(this.file && n < this.capacity ? new Uint32Array(this.file, n * TABLE_BYTES, TABLE_BYTES / 4) : new Uint32Array(TABLE_BYTES / 4));
    this.written.push(false);
    if (this.onNewTable) this.onNewTable(`new ${level.name} at physical ${hex(BigInt(phys))}`);
    return phys;
  }
}
