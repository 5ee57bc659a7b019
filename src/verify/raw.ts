/**
 * The entries themselves, as the MMU reads them: each non-zero entry of a
 * walk decoded bit by bit (flags, address field, ignored and reserved bits)
 * with what it points to. A consumer of the walker's traverse, like ptdump's
 * note_page; `lookup` decodes the entries of a single-address walk the same way.
 */
import type { Access, PagingMode, TablePlacement, Violation } from './model.js';
import { PAGING_MODE_RECORDS } from './paging-modes.js';
import {
  ACCESS_EXECUTABLE, ACCESS_USER, ACCESS_WRITABLE, describeBits, type EntryOutcome, type LevelBits, type PageWalker, type WalkResult,
} from './walker.js';
import { type EntryFilter, accessMatches, describeFilter, spanInWindow } from './filters.js';
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

const word = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const bit = (n: number): bigint => 1n << BigInt(n);

/** Decodes one entry of a level; `last` for the page-table level (bit 7 is PAT there). */
export function decodeEntry(bits: LevelBits, last: boolean, lo: number, hi: number): DecodedEntry {
  const value = word(lo, hi);
  if ((lo & 1) === 0) return { value, present: false, large: false, flags: [], address: null, ignored: value, reservedBits: 0n };
  const large = bits.psMapsPage && (lo & 0x80) !== 0;
  const reservedMask = word(bits.reservedLo | (large ? bits.largeReservedLo : 0), bits.reservedHi | (large ? bits.largeReservedHi : 0));
  const leaf = large || last;
  const named: [number, string][] = [[0, 'P']];
  if (bits.controlsAccess) named.push([1, 'RW'], [2, 'US']);
  named.push([3, 'PWT'], [4, 'PCD'], [5, 'A']);
  if (leaf) named.push([6, 'D'], [8, 'G']);
  if (bits.psMapsPage) named.push([7, 'PS']);
  else if (last) named.push([7, 'PAT']);
  if (large) named.push([12, 'PAT']);
  if (bits.executeDisable) named.push([63, 'XD']);
  const flagNames = named.filter(([b]) => (value & bit(b)) !== 0n && (reservedMask & bit(b)) === 0n).sort((a, b) => a[0] - b[0]);
  let meaning = named.reduce((m, [b]) => m | bit(b), 0n);
  // The address field: bits 12 up for a table or a 4 KiB page, bits shift up for a large page (and PSE-36's high field).
  const lowAddress = large ? (bits.shift >= 32 ? 0 : (~((1 << bits.shift) - 1)) >>> 0) : 0xfffff000;
  let address = (BigInt(hi & bits.addressHi) << 32n) | BigInt((lo & lowAddress) >>> 0);
  meaning |= word(lowAddress, bits.addressHi);
  if (large && bits.highFieldLo !== 0) {
    // PSE-36: the field's lowest bit names physical address bit 32.
    const lowBit = 31 - Math.clz32(bits.highFieldLo & -bits.highFieldLo);
    address |= BigInt((lo & bits.highFieldLo) >>> lowBit) << 32n;
    meaning |= BigInt(bits.highFieldLo);
  }
  return {
    value, present: true, large, flags: flagNames.map(([, n]) => n), address,
    ignored: value & ~meaning & ~reservedMask, reservedBits: value & reservedMask,
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

const unpackAccess = (a: number): Access => ({
  writable: (a & ACCESS_WRITABLE) !== 0, user: (a & ACCESS_USER) !== 0, executable: (a & ACCESS_EXECUTABLE) !== 0,
});

/** A canonical virtual address from a page number (IA-32e's upper half sign-extended already by the walker). */
const virtOfPage = (vpn: number): bigint => BigInt(vpn) << 12n;

/**
 * Every non-zero entry the walk reads, in walk order (a table entry before
 * its table's entries). With a filter, the terminal entries (pages, and
 * entries that stop a walk) are kept when they match, and the table entries
 * above a kept one with them.
 */
export function rawDump(walker: PageWalker, tablesPhys: bigint, filter: EntryFilter = {}): RawDump {
  const mode = walker.mode;
  const depth = walker.levels.length;
  const entries: RawEntry[] = [];
  // Table entries not yet shown, by depth: shown once an entry below them is kept.
  const pending: (RawEntry | null)[] = new Array<RawEntry | null>(depth).fill(null);
  // Without a filter every entry is shown as read, also a table entry whose table holds only zeros.
  const filtered = filter.window !== undefined || (filter.only !== undefined && filter.only.length > 0);
  let leafAccess = 0;
  let reserved: string | null = null;
  walker.traverse({
    leaf: (_vpn, _ppn, _pages, access) => { leafAccess = access; },
    reserved: (l, _path, _w, lo, hi) => { reserved = walker.reservedProblem(l, lo, hi); },
    entry: (l, path, w, lo, hi, vpn, outcome, target) => {
      const bits = walker.levels[l]!;
      const decoded = decodeEntry(bits, l === depth - 1, lo, hi);
      const entryAddr = tablesPhys + BigInt(w * 4);
      const tableBytes = l === 0 ? BigInt(PAGING_MODE_RECORDS[mode].topTableBytes) : 4096n;
      const pageSize = outcome === 'page' ? 1n << BigInt(decoded.large ? bits.shift : 12) : null;
      const entry: RawEntry = {
        ...decoded, level: entryLevelName(mode, l), depth: l, path: path.slice(0, l + 1),
        tablePhys: l === 0 ? walker.topTablePhys : entryAddr - (entryAddr - tablesPhys) % tableBytes,
        index: path[l]!, entryAddr, virt: virtOfPage(vpn), span: 1n << BigInt(bits.shift), outcome,
        target: outcome === 'table' || outcome === 'outside' ? BigInt(target) : outcome === 'page' ? BigInt(target) << 12n : null,
        pageSize, access: outcome === 'page' ? unpackAccess(leafAccess) : null,
        reserved: decoded.present ? reserved : null,
      };
      reserved = null;
      if (!filtered) {
        entries.push(entry);
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
        if (pending[k]) entries.push(pending[k]!);
        pending[k] = null;
      }
      entries.push(entry);
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

export function flagColumns(e: DecodedEntry): string {
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

/** One entry as a line (and its violation on the lines after it), indented by depth. */
export function rawEntryLines(e: RawEntry, mode: PagingMode, physDigits: number): string[] {
  const entryDigits = PAGING_MODE_RECORDS[mode].entryBytes * 2;
  const levelWidth = Math.max(...PAGING_MODE_RECORDS[mode].levels.map((_, l) => entryLevelName(mode, l).length));
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

/** `dump --raw`: each entry a line, indented by level, then the count and the CR3 problem if any. */
export function rawDumpText(d: RawDump, tablesFile: string, filter: EntryFilter): string {
  const record = PAGING_MODE_RECORDS[d.mode];
  const pd = Math.max(8, ...d.entries.map((e) => (e.target ?? e.tablePhys).toString(16).length));
  const what = describeFilter(filter);
  const lines = [`${tablesFile}: ${record.title}, top level (CR3) at ${hex(d.topTablePhys)}, entries as the MMU reads them${what ? ` (${what})` : ''}`];
  for (const e of d.entries) lines.push(...rawEntryLines(e, d.mode, pd).flatMap((l) => wrapLine(l)));
  const withReserved = d.entries.filter((e) => e.reserved !== null).length;
  lines.push(`${d.entries.length} entr${d.entries.length === 1 ? 'y' : 'ies'}, ${withReserved} with reserved bits set`);
  for (const v of d.violations) lines.push(...wrapLine(violationLine(v)));
  return `${lines.join('\n')}\n`;
}

export function rawDumpJson(d: RawDump): string {
  return `${JSON.stringify({
    mode: d.mode, tablesPhys: hex(d.tablesPhys), topTablePhys: hex(d.topTablePhys),
    entries: d.entries.map(rawEntryJson), violations: d.violations.map(violationJson),
  }, null, 2)}\n`;
}
