/**
 * The entries themselves, as the MMU reads them: each non-zero entry of a
 * walk decoded bit by bit (flags, address field, ignored and reserved bits)
 * with what it points to. A consumer of the walker's traverse, like ptdump's
 * note_page; `lookup` decodes the entries of a single-address walk the same way.
 */
import { PAGING_MODES, type Access, type PagingMode, type TablePlacement, type Violation } from './model.js';
import { PAGING_MODE_RECORDS } from './paging-modes.js';
import {
  ACCESS_EXECUTABLE, ACCESS_USER, ACCESS_WRITABLE, describeBits, type EntryOutcome, type LevelBits, type PageWalker, type WalkResult,
} from './walker.js';
import { type EntryFilter, accessMatches, describeFilter, isFiltering, spanInWindow } from './filters.js';
import { violationJson, violationLine, wrapLine } from './format.js';
import { formatSize, hex } from '../core/text.js';

/** An entry's name in its mode: the SDM's, with the mode where one name means different formats ('PAE PDPTE', '32-bit PDE'). */
export function entryLevelName(mode: PagingMode, depth: number): string {
  const entry = PAGING_MODE_RECORDS[mode].levels[depth]!.entry;
  if (mode === '32bit') return `32-bit ${entry}`;
  return mode === 'pae' && depth === 0 ? `PAE ${entry}` : entry;
}

/** The name of the table an entry points to: what its entries are called, less the final E. */
const tableName = (mode: PagingMode, depth: number): string => PAGING_MODE_RECORDS[mode].levels[depth]!.entry.replace(/E$/, '');

/** An entry's bits by meaning. */
export interface DecodedEntry {
  readonly value: bigint;
  readonly present: boolean;
  /** Whether PS maps a page with this entry. */
  readonly large: boolean;
  /** Flag bits set, by name: P RW US PWT PCD A D PS PAT G XD (only those the level gives a meaning). */
  readonly flags: readonly string[];
  /** The physical address the address field names (below MAXPHYADDR), or null in an entry that is not present. */
  readonly address: bigint | null;
  /** Set bits the MMU ignores here (all but P when not present). */
  readonly ignored: bigint;
  /** Set bits reserved here. */
  readonly reservedBits: bigint;
}

/** A 64-bit value from its 32-bit words (few bigints: dumps decode a million entries). */
const word = (lo: number, hi: number): bigint =>
  hi === 0 ? (lo === 0 ? 0n : BigInt(lo >>> 0)) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/** How one kind of entry (table or 4 KiB page, or large page) of a level reads, in 32-bit words: worked out once a level. */
interface EntryLayout {
  /** Flag bits by position, low bit first (bit 63 as 63), and their names. */
  readonly flagBits: readonly number[];
  readonly flagNames: readonly string[];
  /** Bits with a meaning (flags, address field) or reserved, low and high word. */
  readonly knownLo: number;
  readonly knownHi: number;
  readonly reservedLo: number;
  readonly reservedHi: number;
  /** Address bits of the low word; PSE-36's high field and its lowest bit (which names physical bit 32). */
  readonly addressLo: number;
  readonly highFieldLo: number;
  readonly highFieldShift: number;
}

const LAYOUTS = new WeakMap<LevelBits, [small: EntryLayout, large: EntryLayout]>();

function entryLayout(bits: LevelBits, last: boolean, large: boolean): EntryLayout {
  let pair = LAYOUTS.get(bits);
  if (!pair) {
    pair = [makeLayout(bits, last, false), makeLayout(bits, last, true)];
    LAYOUTS.set(bits, pair);
  }
  return pair[large ? 1 : 0];
}

function makeLayout(bits: LevelBits, last: boolean, large: boolean): EntryLayout {
  const named: [number, string][] = [[0, 'P']];
  if (bits.controlsAccess) named.push([1, 'RW'], [2, 'US']);
  named.push([3, 'PWT'], [4, 'PCD'], [5, 'A']);
  if (large || last) named.push([6, 'D']);
  if (bits.psMapsPage) named.push([7, 'PS']);
  else if (last) named.push([7, 'PAT']);
  if (large || last) named.push([8, 'G']);
  if (large) named.push([12, 'PAT']);
  if (bits.executeDisable) named.push([63, 'XD']);
  const reservedLo = (bits.reservedLo | (large ? bits.largeReservedLo : 0)) >>> 0;
  const reservedHi = (bits.reservedHi | (large ? bits.largeReservedHi : 0)) >>> 0;
  // Reserved bits are no flags (R/W and U/S in a PAE PDPTE, PS in a PML4E).
  const flags = named.filter(([b]) => ((b < 32 ? reservedLo >>> b : reservedHi >>> (b - 32)) & 1) === 0);
  // The address field: bits 12 up for a table or a 4 KiB page, bits `shift` up for a large page (and PSE-36's high field).
  const addressLo = large ? (bits.shift >= 32 ? 0 : (~((1 << bits.shift) - 1)) >>> 0) : 0xfffff000;
  const highFieldLo = large ? bits.highFieldLo : 0;
  let knownLo = addressLo | highFieldLo | reservedLo;
  let knownHi = bits.addressHi | reservedHi;
  for (const [b] of flags) {
    if (b < 32) knownLo |= 1 << b;
    else knownHi |= 1 << (b - 32);
  }
  return {
    flagBits: flags.map(([b]) => b), flagNames: flags.map(([, n]) => n), knownLo: knownLo >>> 0, knownHi: knownHi >>> 0, reservedLo, reservedHi,
    addressLo, highFieldLo, highFieldShift: highFieldLo === 0 ? 0 : 31 - Math.clz32(highFieldLo & -highFieldLo),
  };
}

/** Decodes one entry of a level; `last` for the page-table level (bit 7 is PAT there). */
export function decodeEntry(bits: LevelBits, last: boolean, lo: number, hi: number): DecodedEntry {
  const value = word(lo, hi);
  if ((lo & 1) === 0) return { value, present: false, large: false, flags: [], address: null, ignored: value, reservedBits: 0n };
  const large = bits.psMapsPage && (lo & 0x80) !== 0;
  const layout = entryLayout(bits, last, large);
  const flags: string[] = [];
  layout.flagBits.forEach((b, i) => {
    if (((b < 32 ? lo >>> b : hi >>> (b - 32)) & 1) !== 0) flags.push(layout.flagNames[i]!);
  });
  const high = (hi & bits.addressHi) + (layout.highFieldLo === 0 ? 0 : (lo & layout.highFieldLo) >>> layout.highFieldShift);
  return {
    value, present: true, large, flags, address: word((lo & layout.addressLo) >>> 0, high),
    ignored: word(lo & ~layout.knownLo, hi & ~layout.knownHi),
    reservedBits: word(lo & layout.reservedLo, hi & layout.reservedHi),
  };
}

/** Bit list as text: 'bits 9-11', 'bit 52'. */
export function describeBitList(value: bigint): string {
  const bits = describeBits(Number(value & 0xffffffffn), Number(value >> 32n));
  return `${/[-,]/.test(bits) ? 'bits' : 'bit'} ${bits}`;
}

/** One entry of a raw dump or of a lookup's walk. */
export interface RawEntry extends DecodedEntry {
  /** Level name in its mode ('PML4E', 'PAE PDPTE', '32-bit PTE'). */
  readonly level: string;
  readonly depth: number;
  /** Entry indices from the top level down to this one. */
  readonly path: readonly number[];
  readonly tablePhys: bigint;
  readonly index: number;
  readonly entryAddr: bigint;
  /** The virtual span the entry controls. */
  readonly virt: bigint;
  readonly span: bigint;
  readonly outcome: EntryOutcome;
  /** The next table ('table', 'outside') or the page frame ('page'), else null. */
  readonly target: bigint | null;
  /** 'page': bytes the entry maps. */
  readonly pageSize: bigint | null;
  /** 'page': the effective permissions, all levels combined. */
  readonly access: Access | null;
  /** The reserved-bit violation, when the entry has one. */
  readonly reserved: string | null;
}

/** The entries of a whole walk, as `dump --raw` lists them. */
export interface RawDump extends TablePlacement, Pick<WalkResult, 'topTablePhys'> {
  readonly entries: readonly RawEntry[];
  /** The CR3 problem, when the top-level table lies out of CR3's reach. */
  readonly violations: readonly Violation[];
}

/** The permissions of each packed ACCESS_* value, made once. */
const ACCESS_OF: readonly Access[] = Array.from({ length: 8 }, (_, a) => ({
  writable: (a & ACCESS_WRITABLE) !== 0, user: (a & ACCESS_USER) !== 0, executable: (a & ACCESS_EXECUTABLE) !== 0,
}));

/** A canonical virtual address from a page number (IA-32e's upper half sign-extended already by the walker). */
const virtOfPage = (vpn: number): bigint => BigInt(vpn) << 12n;

/**
 * Every non-zero entry the walk reads, in walk order (a table entry before
 * its table's entries). With a filter, the terminal entries (pages, and
 * entries that stop a walk) are kept when they match, and the table entries
 * above a kept one with them.
 */
export function rawDump(walker: PageWalker, tablesPhys: bigint, filter: EntryFilter = {}, sink?: (entry: RawEntry) => void): RawDump {
  const mode = walker.mode;
  const depth = walker.levels.length;
  const entries: RawEntry[] = [];
  // With a sink the entries go there as they are walked, and are not kept.
  const keep = sink ?? ((entry: RawEntry) => { entries.push(entry); });
  // Table entries not yet shown, by depth: shown once an entry below them is kept.
  const pending: (RawEntry | null)[] = new Array<RawEntry | null>(depth).fill(null);
  // Without a filter every entry is shown as read, also a table entry whose table holds only zeros.
  const filtered = isFiltering(filter);
  const levels = walker.levels.map((bits, l) => ({ bits, name: entryLevelName(mode, l), span: 1n << BigInt(bits.shift) }));
  let leafAccess = 0;
  let reserved: string | null = null;
  walker.traverse({
    leaf: (_vpn, _ppn, _pages, access) => { leafAccess = access; },
    reserved: (l, _path, _w, lo, hi) => { reserved = walker.reservedProblem(l, lo, hi); },
    entry: (l, path, w, lo, hi, vpn, outcome, target) => {
      const level = levels[l]!;
      const d = decodeEntry(level.bits, l === depth - 1, lo, hi);
      const offset = w * 4;
      const entry: RawEntry = {
        value: d.value, present: d.present, large: d.large, flags: d.flags, address: d.address, ignored: d.ignored, reservedBits: d.reservedBits,
        level: level.name, depth: l, path: path.slice(0, l + 1),
        tablePhys: l === 0 ? walker.topTablePhys : tablesPhys + BigInt(offset - (offset % 4096)),
        index: path[l]!, entryAddr: tablesPhys + BigInt(offset), virt: virtOfPage(vpn), span: level.span, outcome,
        target: outcome === 'table' || outcome === 'outside' ? BigInt(target) : outcome === 'page' ? BigInt(target) * 4096n : null,
        pageSize: outcome === 'page' ? (d.large ? level.span : 4096n) : null,
        access: outcome === 'page' ? ACCESS_OF[leafAccess]! : null,
        reserved: d.present ? reserved : null,
      };
      reserved = null;
      if (!filtered) {
        keep(entry);
        return;
      }
      if (outcome === 'table') {
        pending[l] = entry;
        for (let k = l + 1; k < depth; k++) pending[k] = null;
        return;
      }
      if (!spanInWindow(entry.virt, entry.span, filter.window)) return;
      if (filter.only !== undefined && filter.only.length > 0 && !(entry.access && accessMatches(entry.access, filter.only))) return;
      for (let k = 0; k < l; k++) {
        if (pending[k]) keep(pending[k]!);
        pending[k] = null;
      }
      keep(entry);
    },
  });
  return { mode, tablesPhys, topTablePhys: walker.topTablePhys, entries, violations: walker.cr3Problem ? [walker.cr3Problem] : [] };
}

/* Text and JSON. */

const padHex = (value: bigint, digits: number): string => `0x${value.toString(16).padStart(digits, '0')}`;

/** Flags in fixed columns, blanks for clear ones: 'P RW US PWT PCD A D PS G PAT XD'. */
const FLAG_COLUMNS: readonly [string, number][] = [
  ['P', 1], ['RW', 2], ['US', 2], ['PWT', 3], ['PCD', 3], ['A', 1], ['D', 1], ['PS|PAT7', 3], ['G', 1], ['PAT12', 3], ['XD', 2],
];

const FLAG_TEXT = new Map<string, string>();

export function flagColumns(e: DecodedEntry): string {
  const key = `${e.large ? 'L' : ''}${e.flags.join(' ')}`;
  let text = FLAG_TEXT.get(key);
  if (text === undefined) {
    text = flagText(e);
    FLAG_TEXT.set(key, text);
  }
  return text;
}

function flagText(e: DecodedEntry): string {
  const set = new Set(e.flags);
  return FLAG_COLUMNS.map(([name, width]) => {
    if (name === 'PS|PAT7') return (set.has('PS') ? 'PS' : !e.large && set.has('PAT') ? 'PAT' : '').padEnd(width);
    if (name === 'PAT12') return (e.large && set.has('PAT') ? 'PAT' : '').padEnd(width);
    return (set.has(name) ? name : '').padEnd(width);
  }).join(' ');
}

/** What an entry leads to, in words. */
export function entryTarget(e: RawEntry, mode: PagingMode, physDigits: number): string {
  switch (e.outcome) {
    case 'table': return `-> ${tableName(mode, e.depth + 1)} ${padHex(e.target!, physDigits)}`;
    case 'outside': return `-> ${tableName(mode, e.depth + 1)} ${padHex(e.target!, physDigits)} outside the tables`;
    case 'page': return `-> ${formatSize(e.pageSize!)} page ${padHex(e.target!, physDigits)}`;
    case 'reserved': return '-> nothing (reserved bits)';
    default: return 'not present';
  }
}

/** Characters of the mode's longest level name, for aligned columns. */
const LEVEL_WIDTH = Object.fromEntries(PAGING_MODES.map((m) =>
  [m, Math.max(...PAGING_MODE_RECORDS[m].levels.map((_, l) => entryLevelName(m, l).length))])) as Record<PagingMode, number>;

/** One entry as a line (and its violation on the lines after it), indented by depth. */
export function rawEntryLines(e: RawEntry, mode: PagingMode, physDigits: number): string[] {
  const entryDigits = PAGING_MODE_RECORDS[mode].entryBytes * 2;
  const levelWidth = LEVEL_WIDTH[mode];
  const indexWidth = String(PAGING_MODE_RECORDS[mode].levels[e.depth]!.entries - 1).length;
  const where = `${' '.repeat(e.depth * 2)}${e.level.padEnd(levelWidth)} ${padHex(e.tablePhys, physDigits)}[${String(e.index).padStart(indexWidth)}]`;
  const address = e.address !== null && e.outcome === 'reserved' ? `  addr ${hex(e.address)}` : '';
  const line = `${where} ${padHex(e.value, entryDigits)}  ${e.present ? flagColumns(e) : ''.padEnd(33)}  ${entryTarget(e, mode, physDigits)}${address}`;
  const lines = [line.trimEnd()];
  const note = ' '.repeat(e.depth * 2 + 4);
  if (e.present && e.ignored !== 0n) lines.push(`${note}ignored ${describeBitList(e.ignored)} set (the MMU does not read them)`);
  if (e.reserved) lines.push(`${note}${e.reserved}`);
  return lines;
}

/** A decoded entry as JSON: the raw value, the bits by meaning and what it leads to. */
export function rawEntryJson(e: RawEntry) {
  return {
    level: e.level, table: hex(e.tablePhys), index: e.index, entryAddr: hex(e.entryAddr), virt: hex(e.virt), span: hex(e.span),
    value: hex(e.value), present: e.present, flags: [...e.flags], address: e.address === null ? null : hex(e.address),
    ignoredBits: hex(e.ignored), reservedBits: hex(e.reservedBits), outcome: e.outcome,
    target: e.target === null ? null : hex(e.target), pageSize: e.pageSize === null ? null : hex(e.pageSize),
    ...(e.access && { writable: e.access.writable, user: e.access.user, executable: e.access.executable }),
    reserved: e.reserved,
  };
}

/** Hex digits of the physical addresses a raw dump shows: 8, or what the block's end needs. */
const physDigitsOf = (tablesPhys: bigint, walker: PageWalker): number =>
  Math.max(8, (walker.topTablePhys + 4096n).toString(16).length, tablesPhys.toString(16).length);

/** JSON of a value nested `depth` levels deep, as JSON.stringify(whole, null, 2) would lay it out. */
const nested = (value: unknown, depth: number): string => JSON.stringify(value, null, 2).replace(/\n/g, `\n${' '.repeat(depth * 2)}`);

/** A raw dump's text or JSON, piece by piece: the head, each entry, the foot. */
class RawDumpWriter {
  private count = 0;
  private withReserved = 0;
  private readonly physDigits: number;

  constructor(
    private readonly walker: PageWalker,
    private readonly tablesPhys: bigint,
    private readonly tablesFile: string,
    private readonly filter: EntryFilter,
    private readonly json: boolean,
  ) {
    this.physDigits = physDigitsOf(tablesPhys, walker);
  }

  head(): string {
    const { mode, topTablePhys } = this.walker;
    if (this.json) {
      return `{\n  "mode": ${JSON.stringify(mode)},\n  "tablesPhys": "${hex(this.tablesPhys)}",\n  "topTablePhys": "${hex(topTablePhys)}",\n  "entries": [`;
    }
    const what = describeFilter(this.filter);
    return `${this.tablesFile}: ${PAGING_MODE_RECORDS[mode].title}, top level (CR3) at ${hex(topTablePhys)}, entries as the MMU reads them${what ? ` (${what})` : ''}\n`;
  }

  entry(e: RawEntry): string {
    this.count++;
    if (e.reserved !== null) this.withReserved++;
    if (this.json) return `${this.count > 1 ? ',' : ''}\n    ${nested(rawEntryJson(e), 2)}`;
    return `${rawEntryLines(e, this.walker.mode, this.physDigits).flatMap((l) => wrapLine(l)).join('\n')}\n`;
  }

  foot(violations: readonly Violation[]): string {
    if (this.json) return `${this.count > 0 ? '\n  ' : ''}],\n  "violations": ${nested(violations.map(violationJson), 1)}\n}\n`;
    const lines = [`${this.count} entr${this.count === 1 ? 'y' : 'ies'}, ${this.withReserved} with reserved bits set`];
    for (const v of violations) lines.push(...wrapLine(violationLine(v)));
    return `${lines.join('\n')}\n`;
  }
}

/**
 * `dump --raw` written as the walk goes, in chunks to `write`: a dump of a
 * million entries is never held whole.
 */
export function writeRawDump(walker: PageWalker, tablesPhys: bigint, tablesFile: string, filter: EntryFilter, json: boolean,
  write: (chunk: string) => void): void {
  const out = new RawDumpWriter(walker, tablesPhys, tablesFile, filter, json);
  let chunk = out.head();
  const dump = rawDump(walker, tablesPhys, filter, (e) => {
    chunk += out.entry(e);
    if (chunk.length >= 1 << 16) {
      write(chunk);
      chunk = '';
    }
  });
  write(chunk + out.foot(dump.violations));
}

/** A raw dump's text, all at once. */
export function rawDumpText(walker: PageWalker, tablesPhys: bigint, tablesFile: string, filter: EntryFilter = {}): string {
  return collect((write) => writeRawDump(walker, tablesPhys, tablesFile, filter, false, write));
}

/** A raw dump's JSON, all at once. */
export function rawDumpJson(walker: PageWalker, tablesPhys: bigint, filter: EntryFilter = {}): string {
  return collect((write) => writeRawDump(walker, tablesPhys, '', filter, true, write));
}

function collect(body: (write: (chunk: string) => void) => void): string {
  const parts: string[] = [];
  body((chunk) => parts.push(chunk));
  return parts.join('');
}
