/**
 * One virtual address through the tables, level by level: each entry the
 * MMU reads, decoded as `dump --raw` decodes it, then the translation or
 * where and why the walk stopped. The walk is the walker's own
 * (`PageWalker.walkAddress`).
 */
import type { PagingMode } from './model.js';
import { PAGING_MODE_RECORDS, linearAddressDigits } from './paging-modes.js';
import { ATTR_ACCESSED, ATTR_DIRTY, ATTR_GLOBAL, ATTR_PAT, ATTR_PCD, ATTR_PWT, type PageWalker, type WalkStep } from './walker.js';
import { decodeEntry, entryLevelName, rawEntryJson, rawEntryLines, type RawEntry } from './raw.js';
import { describeAccess, type PageAttributes, type Translation } from './ranges.js';
import { REPORT_COLUMNS, wrapLine } from './format.js';
import { formatSize, hex } from '../core/text.js';

/** Where a walk that translates nothing stopped. */
export interface LookupStop {
  /** 'non-canonical' (or past 4 GiB), 'cr3', 'not-present', 'reserved' or 'outside'. */
  readonly reason: 'non-linear' | 'cr3' | 'not-present' | 'reserved' | 'outside';
  /** The level it stopped at (null before the first). */
  readonly level: string | null;
  readonly message: string;
}

/** What `lookup` reports. */
export interface LookupReport {
  readonly mode: PagingMode;
  readonly virt: bigint;
  readonly tablesPhys: bigint;
  readonly topTablePhys: bigint;
  readonly entries: readonly RawEntry[];
  readonly translation: (Translation & PageAttributes & { readonly pageSize: bigint }) | null;
  readonly stop: LookupStop | null;
}

function stepEntry(walker: PageWalker, step: WalkStep, virt: bigint): RawEntry {
  const bits = walker.levels[step.depth]!;
  const decoded = decodeEntry(bits, step.depth === walker.levels.length - 1, step.lo, step.hi);
  const span = 1n << BigInt(bits.shift);
  return {
    ...decoded, level: entryLevelName(walker.mode, step.depth), depth: step.depth, path: [], tablePhys: step.tablePhys,
    index: step.index, entryAddr: step.entryAddr, virt: virt - (virt % span), span, outcome: step.outcome,
    target: step.target, pageSize: step.pageSize, access: null, reserved: step.reserved,
  };
}

/** The walk of `virt` through the walker's block. */
export function lookupAddress(walker: PageWalker, tablesPhys: bigint, virt: bigint): LookupReport {
  const base = { mode: walker.mode, virt, tablesPhys, topTablePhys: walker.topTablePhys };
  const record = PAGING_MODE_RECORDS[walker.mode];
  if (walker.cr3Problem) {
    return { ...base, entries: [], translation: null, stop: { reason: 'cr3', level: 'CR3', message: walker.cr3Problem.message } };
  }
  const walk = walker.walkAddress(virt);
  if (!walk.linear) {
    const message = record.linearBits === 48
      ? `${hex(virt)} is not canonical: bits 63-47 must all equal bit 47 in ${record.title} (#GP, no walk)`
      : `${hex(virt)} is past the 32-bit linear address space of ${record.title}`;
    return { ...base, entries: [], translation: null, stop: { reason: 'non-linear', level: null, message } };
  }
  const entries = walk.steps.map((s) => stepEntry(walker, s, virt));
  const t = walk.translation;
  if (t) {
    const a = t.attributes;
    const translation = {
      phys: t.phys, pageSize: t.pageSize, writable: t.writable, user: t.user, executable: t.executable,
      global: (a & ATTR_GLOBAL) !== 0, pwt: (a & ATTR_PWT) !== 0, pcd: (a & ATTR_PCD) !== 0, pat: (a & ATTR_PAT) !== 0,
      accessed: (a & ATTR_ACCESSED) !== 0, dirty: (a & ATTR_DIRTY) !== 0,
    };
    const last = entries[entries.length - 1]!;
    entries[entries.length - 1] = { ...last, access: { writable: t.writable, user: t.user, executable: t.executable } };
    return { ...base, entries, translation, stop: null };
  }
  const last = entries[entries.length - 1]!;
  const at = `${last.level} ${hex(last.tablePhys)}[${last.index}] (at ${hex(last.entryAddr)})`;
  const stop: LookupStop = last.outcome === 'not-present'
    ? { reason: 'not-present', level: last.level, message: `not present at ${at}: #PF` }
    : last.outcome === 'reserved'
      ? { reason: 'reserved', level: last.level, message: `${at}: ${last.reserved}` }
      : { reason: 'outside', level: last.level, message: `${at} points to a table at ${hex(last.target!)} outside the tables given: the walk does not follow it` };
  return { ...base, entries, translation: null, stop };
}

const padHex = (value: bigint, digits: number): string => `0x${value.toString(16).padStart(digits, '0')}`;

/** The walk, then the verdict: 'translates to ...' or 'does not translate: ...'. */
export function lookupText(r: LookupReport): string {
  const record = PAGING_MODE_RECORDS[r.mode];
  const pd = Math.max(8, ...r.entries.map((e) => (e.target ?? 0n).toString(16).length), r.topTablePhys.toString(16).length);
  const lines = [`${padHex(r.virt, linearAddressDigits(r.mode))}: ${record.title}, top level (CR3) at ${hex(r.topTablePhys)}`];
  for (const e of r.entries) lines.push(...rawEntryLines(e, r.mode, pd).flatMap((l) => wrapLine(`  ${l}`, REPORT_COLUMNS)));
  const t = r.translation;
  if (t) {
    const attrs = [t.global && 'G', t.pat && 'PAT', t.pcd && 'PCD', t.pwt && 'PWT', t.accessed && 'A', t.dirty && 'D'].filter(Boolean).join(' ');
    lines.push(`translates to ${hex(t.phys)}: ${formatSize(t.pageSize)} page, ${describeAccess(t)}`
      + ` (read, ${t.writable ? '' : 'no '}write, ${t.executable ? '' : 'no '}execute, ${t.user ? 'user and kernel' : 'kernel only'})`
      + `, ${attrs === '' ? 'no G/PAT/PCD/PWT/A/D' : attrs}`);
  } else {
    lines.push(...wrapLine(`does not translate: ${r.stop!.message}`, REPORT_COLUMNS));
  }
  return `${lines.join('\n')}\n`;
}

export function lookupJson(r: LookupReport): string {
  const t = r.translation;
  return `${JSON.stringify({
    mode: r.mode, virt: hex(r.virt), topTablePhys: hex(r.topTablePhys), translates: t !== null,
    entries: r.entries.map(rawEntryJson),
    translation: t && {
      phys: hex(t.phys), pageSize: hex(t.pageSize), writable: t.writable, user: t.user, executable: t.executable,
      global: t.global, pat: t.pat, pcd: t.pcd, pwt: t.pwt, accessed: t.accessed, dirty: t.dirty,
    },
    stop: r.stop,
  }, null, 2)}\n`;
}

