/**
 * Reports for people and for programs: ptdump-like text and JSON (addresses
 * as hex strings) for `dump`, `verify` and `diff`.
 */
import type { MappedRange, PagingMode, ProbeSummary, TablePlacement, Violation } from './model.js';
import { mismatchKind, type Mismatch } from './compare.js';
import { describeAccess, describeAttributes, describePages, mappedBytes, type DumpRange, type Translation } from './ranges.js';
import { PAGING_MODE_RECORDS, TABLE_BYTES, linearAddressDigits } from './paging-modes.js';
import type { VerifyResult } from './check.js';
import type { WalkResult } from './walker.js';

import { formatSize, hex, percent } from '../core/text.js';

/** Columns a report line may take: more is wrapped at spaces, continuation lines indented. */
export const REPORT_COLUMNS = 120;

/** One line wrapped to REPORT_COLUMNS at spaces; continuation lines take the line's indent plus four. */
export function wrapLine(line: string, columns = REPORT_COLUMNS): string[] {
  if (line.length <= columns) return [line];
  const indent = ' '.repeat((/^ */.exec(line)![0].length) + 4);
  const out: string[] = [];
  let rest = line;
  let prefix = '';
  while (prefix.length + rest.length > columns) {
    const room = columns - prefix.length;
    let cut = rest.lastIndexOf(' ', room);
    if (cut <= prefix.length) cut = rest.indexOf(' ', room);
    if (cut <= 0) break;
    out.push(prefix + rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
    prefix = indent;
  }
  out.push(prefix + rest);
  return out;
}

/** A report's text with every line wrapped to REPORT_COLUMNS. */
export const wrapText = (text: string): string => text.split('\n').flatMap((line) => wrapLine(line)).join('\n');

/** Hex address padded to the width the mode's addresses need (8 digits, 16 in IA-32e virtual space). */
const padded = (value: bigint, digits: number): string => `0x${value.toString(16).padStart(digits, '0')}`;
const virtDigits = linearAddressDigits;

const pages = (size: bigint): string => describePages({ size } as MappedRange);

/** Digits for physical addresses: 8, or more when some range reaches past 4 GiB. */
function physDigits(targets: Iterable<bigint>): number {
  let digits = 8;
  for (const t of targets) digits = Math.max(digits, t.toString(16).length);
  return digits;
}

export function violationLine(v: Violation): string {
  const where = v.path.length > 0 ? `${v.level} ${v.path.join('/')}` : v.level;
  return `${where} at ${hex(v.entryAddr)}: ${v.message}`;
}

/** Entries whose violations read the same but for addresses, one after another in one table. */
const violationShape = (v: Violation): string =>
  `${v.level}|${v.path.slice(0, -1).join('/')}|${v.message.replace(/0x[0-9a-f]+/g, '#')}`;

/**
 * Violations for people: a run of neighbouring entries of one table failing
 * the same way is one line ("PDEs 0/256-0/511 (256 entries at A-B), the
 * first: ..."), so a moved block or a wrong kernel does not print hundreds
 * of lines. JSON keeps every entry.
 */
export function groupedViolationLines(violations: readonly Violation[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < violations.length; ) {
    const first = violations[i]!;
    let j = i;
    while (j + 1 < violations.length && first.path.length > 0 && violationShape(violations[j + 1]!) === violationShape(first)
      && violations[j + 1]!.path.at(-1) === violations[j]!.path.at(-1)! + 1) j++;
    if (j === i) {
      lines.push(violationLine(first));
    } else {
      const last = violations[j]!;
      const same = violations.slice(i, j + 1).every((v) => v.message === first.message);
      lines.push(`${first.level}s ${first.path.join('/')}-${last.path.join('/')} (${j - i + 1} entries at ${hex(first.entryAddr)}-${hex(last.entryAddr)})`
        + `${same ? '' : ', the first'}: ${first.message}`);
    }
    i = j + 1;
  }
  return lines;
}

/** Whether most violations are entries pointing outside the block: the tables sit elsewhere than the kernel says. */
const mostlyOutside = (violations: readonly Violation[]): boolean =>
  violations.length >= 2 && violations.filter((v) => v.message.includes('outside the tables given')).length * 2 > violations.length;

/** The hint a size or placement mismatch deserves, before the lines it causes. */
const WRONG_KERNEL_HINT = 'wrong kernel?';

/** Violations as JSON values. */
export const violationJson = (v: Violation) => ({ level: v.level, path: [...v.path], entryAddr: hex(v.entryAddr), message: v.message, ...(v.engine !== undefined && { engine: v.engine }) });

export const rangeJson = (r: MappedRange) => ({
  virt: hex(r.virt), phys: hex(r.phys), size: hex(r.size), writable: r.writable, user: r.user, executable: r.executable,
});

/** A range a dump walk gave: page size and leaf attributes known. */
const hasDetail = (r: DumpContextRange): r is DumpRange => r.pageSize !== undefined;

/** A dump's range as JSON: the translation, then its page size and the leaf attributes when the walk gave them. */
export const dumpRangeJson = (r: DumpContextRange) => ({
  ...rangeJson(r),
  ...(hasDetail(r) && {
    pageSize: hex(r.pageSize), global: r.global, pcd: r.pcd, pwt: r.pwt, pat: r.pat, accessed: r.accessed, dirty: r.dirty,
  }),
});

const translationJson = (t: Translation | null) =>
  t && { phys: hex(t.phys), writable: t.writable, user: t.user, executable: t.executable };

export const mismatchJson = (m: Mismatch) => ({
  virt: hex(m.virt), size: hex(m.size), kind: mismatchKind(m), expected: translationJson(m.expected), actual: translationJson(m.actual),
});

/** How many aliases a dump line names before it says "and N more". */
const ALIASES_SHOWN = 3;
/** How far the alias scan looks ahead in physical order, so pathological tables cannot make it quadratic. */
const ALIAS_SCAN = 64;

/**
 * For each range, the virtual spans of other ranges that map some of the same
 * physical memory (e.g. the identity and dual-window views of RAM).
 */
function findAliases(ranges: readonly MappedRange[]): Map<number, { virt: bigint; end: bigint }[]> {
  const order = ranges.map((_, i) => i).sort((a, b) => (ranges[a]!.phys < ranges[b]!.phys ? -1 : ranges[a]!.phys > ranges[b]!.phys ? 1 : 0));
  const aliases = new Map<number, { virt: bigint; end: bigint }[]>();
  const note = (owner: number, other: MappedRange, physStart: bigint, physEnd: bigint): void => {
    const list = aliases.get(owner) ?? [];
    list.push({ virt: other.virt + (physStart - other.phys), end: other.virt + (physEnd - other.phys) });
    aliases.set(owner, list);
  };
  for (let k = 0; k < order.length; k++) {
    const a = ranges[order[k]!]!;
    const aEnd = a.phys + a.size;
    for (let n = k + 1; n < order.length && n <= k + ALIAS_SCAN; n++) {
      const b = ranges[order[n]!]!;
      if (b.phys >= aEnd) break;
      const end = b.phys + b.size < aEnd ? b.phys + b.size : aEnd;
      note(order[k]!, b, b.phys, end);
      note(order[n]!, a, b.phys, end);
    }
  }
  for (const list of aliases.values()) list.sort((x, y) => (x.virt < y.virt ? -1 : 1));
  return aliases;
}

/** A range a dump shows: from a dump walk (page size and attributes), or a plain translation range. */
export type DumpContextRange = MappedRange & Partial<DumpRange>;

/** What a dump shows: a walk of the block, and the file it came from. */
export interface DumpContext extends TablePlacement, Pick<WalkResult, 'topTablePhys'> {
  readonly tablesFile: string;
  readonly tableBytes: number;
  readonly ranges: readonly DumpContextRange[];
  readonly violations: readonly Violation[];
  /** What narrows or changes the reading, said in the head ('in 0x1000-0x2000', 'as written'), if anything. */
  readonly note?: string;
}

/** A range's pages; a range cut by --range inside a large page is that many 4 KiB of it ('4 KiB x 16 of a 2 MiB page'). */
const dumpPages = (r: DumpContextRange): string =>
  r.pageSize !== undefined && r.size % r.pageSize !== 0n ? `${pages(r.size)} of ${formatSize(r.pageSize)} pages` : describePages(r);

/** The translation map, ptdump-style: one maximal range a line, aliases pointed out. */
export function dumpText(d: DumpContext): string {
  const record = PAGING_MODE_RECORDS[d.mode];
  const vd = virtDigits(d.mode);
  const pd = physDigits(d.ranges.map((r) => r.phys + r.size));
  const tables = (d.tableBytes - record.topTableBytes) / TABLE_BYTES + 1;
  const lines = [
    `${d.tablesFile}: ${record.title}, ${tables} table${tables === 1 ? '' : 's'} at ${hex(d.tablesPhys)}-${hex(d.tablesPhys + BigInt(d.tableBytes))}, top level (CR3) at ${hex(d.topTablePhys)}`
      + (d.note ? ` (${d.note})` : ''),
  ];
  const aliases = findAliases(d.ranges);
  const widest = Math.max(0, ...d.ranges.map((r) => dumpPages(r).length));
  // The attribute column only when some leaf has one of them set (Zephyr's tables set none).
  const attributeColumn = d.ranges.some((r) => hasDetail(r) && describeAttributes(r).trim() !== '');
  d.ranges.forEach((r, i) => {
    let line = `${padded(r.virt, vd)}-${padded(r.virt + r.size, vd)}  ${dumpPages(r).padEnd(widest)}  -> ${padded(r.phys, pd)}  ${describeAccess(r)}`;
    if (attributeColumn) line = `${line.padEnd(10 + line.length - describeAccess(r).length)}  ${hasDetail(r) ? describeAttributes(r) : ''}`.trimEnd();
    const same = aliases.get(i);
    if (same) {
      const shown = same.slice(0, ALIASES_SHOWN).map((s) => `${padded(s.virt, vd)}-${padded(s.end, vd)}`);
      const more = same.length > ALIASES_SHOWN ? ` and ${same.length - ALIASES_SHOWN} more` : '';
      line += `  (same memory as ${shown.join(', ')}${more})`;
    }
    lines.push(...wrapLine(line));
  });
  lines.push(`${d.ranges.length} range${d.ranges.length === 1 ? '' : 's'}, ${formatSize(mappedBytes(d.ranges))} mapped`);
  lines.push(...violationSection(d.violations));
  return `${lines.join('\n')}\n`;
}

function violationSection(violations: readonly Violation[]): string[] {
  if (violations.length === 0) return ['no architectural violations'];
  const lines = [`${violations.length} architectural violation${violations.length === 1 ? '' : 's'}:`];
  if (mostlyOutside(violations)) {
    lines.push(`  (most point outside the tables: built for another base address? ${WRONG_KERNEL_HINT})`);
  }
  return [...lines, ...groupedViolationLines(violations).flatMap((line) => wrapLine(`  ${line}`))];
}

export function dumpJson(d: DumpContext): string {
  return `${JSON.stringify({ mode: d.mode, ranges: d.ranges.map(dumpRangeJson), violations: d.violations.map(violationJson) }, null, 2)}\n`;
}

/** How many mismatch lines a text report shows before pointing at --json. */
const MISMATCHES_SHOWN = 40;

const side = (t: Translation | null, pd: number): string => (t ? `-> ${padded(t.phys, pd)} ${describeAccess(t)}` : 'unmapped');

function mismatchLines(mismatches: readonly Mismatch[], mode: PagingMode, headings: [string, string]): string[] {
  const vd = virtDigits(mode);
  const pd = physDigits(mismatches.flatMap((m) => [m.expected?.phys ?? 0n, m.actual?.phys ?? 0n]));
  const shown = mismatches.slice(0, MISMATCHES_SHOWN);
  const widest = Math.max(0, ...shown.map((m) => pages(m.size).length));
  const kindWidth = Math.max(0, ...shown.map((m) => mismatchKind(m).length));
  const sideWidth = Math.max(0, ...shown.map((m) => side(m.expected, pd).length));
  const lines = shown.map((m) =>
    `  ${padded(m.virt, vd)}-${padded(m.virt + m.size, vd)}  ${pages(m.size).padEnd(widest)}  ${mismatchKind(m).padEnd(kindWidth)}  `
    + `${headings[0]} ${side(m.expected, pd).padEnd(sideWidth)}  ${headings[1]} ${side(m.actual, pd)}`);
  if (mismatches.length > shown.length) lines.push(`  ... and ${mismatches.length - shown.length} more (--json lists them all)`);
  return lines;
}

export interface VerifyNames {
  readonly tablesFile: string;
  readonly kernelFile: string;
}

/** The verdict first, then what differs, what is violated and what is the wrong size. */
export function verifyText(result: VerifyResult, names: VerifyNames): string {
  const how = `${PAGING_MODE_RECORDS[result.mode].title} at ${hex(result.tablesPhys)}, engine ${result.engine} ${result.version}`;
  if (result.ok) {
    return `OK: ${names.tablesFile} does what ${names.kernelFile} asks (${how}): `
      + `${result.expected.length} range${result.expected.length === 1 ? '' : 's'}, ${formatSize(mappedBytes(result.expected))} mapped, no violations\n`
      + (result.probe ? `${probeLine(result.probe)}\n` : '');
  }
  const counts = [
    `${result.mismatches.length} mismatch${result.mismatches.length === 1 ? '' : 'es'}`,
    `${result.violations.length} violation${result.violations.length === 1 ? '' : 's'}`,
    ...(result.blockProblems.length > 0 ? ['wrong size'] : []),
  ];
  const lines = [`FAIL: ${names.tablesFile} does not do what ${names.kernelFile} asks (${how}): ${counts.join(', ')}`];
  if (result.probe) lines.push(probeLine(result.probe));
  // The block's size is the cause the other lines follow from: first, with what it suggests.
  for (const problem of result.blockProblems) lines.push(`size: ${problem} (${WRONG_KERNEL_HINT})`);
  if (result.mismatches.length > 0) {
    lines.push('mismatches (virtual range, pages, how, expected, actual):');
    lines.push(...mismatchLines(result.mismatches, result.mode, ['expected', 'actual']));
  }
  if (result.violations.length > 0) lines.push(...violationSection(result.violations));
  return `${lines.join('\n')}\n`;
}

/** What a probing engine looked at: the walker checked every page, the engine these. */
export function probeLine(probe: ProbeSummary): string {
  const plan = probe.plan === 'sampled' ? `plan sampled, seed ${probe.seed}` : 'plan all';
  return `probed: ${probe.pagesProbed} of ${probe.fullPageCount} pages (${percent(probe.pagesProbed, probe.fullPageCount)}), ${plan}`;
}

/** verify's JSON: the verdict, the files and where the tables sit, the counts the text line gives, then the details. */
export function verifyJson(result: VerifyResult, names?: VerifyNames): string {
  return `${JSON.stringify({
    ok: result.ok,
    engine: result.engine,
    version: result.version,
    mode: result.mode,
    ...(names && { tables: names.tablesFile, kernel: names.kernelFile }),
    tablesPhys: hex(result.tablesPhys),
    counts: {
      ranges: result.expected.length,
      mappedBytes: hex(mappedBytes(result.expected)),
      mismatches: result.mismatches.length,
      violations: result.violations.length,
      blockProblems: result.blockProblems.length,
    },
    mismatches: result.mismatches.map(mismatchJson),
    violations: result.violations.map(violationJson),
    blockProblems: [...result.blockProblems],
    ...(result.probe && { probe: result.probe }),
  }, null, 2)}\n`;
}

/** One side of a diff, as read. */
export interface DiffSide extends TablePlacement {
  readonly file: string;
  readonly ranges: readonly MappedRange[];
  readonly violations: readonly Violation[];
}

export interface DiffReport {
  readonly old: DiffSide;
  readonly new: DiffSide;
  /** Old against new: `expected` is the old translation, `actual` the new one. */
  readonly changes: readonly Mismatch[];
  readonly violationsAdded: readonly Violation[];
  readonly violationsRemoved: readonly Violation[];
}

export const diffIsEmpty = (d: DiffReport): boolean =>
  d.changes.length === 0 && d.violationsAdded.length === 0 && d.violationsRemoved.length === 0;

const changeKind = (m: Mismatch): 'added' | 'removed' | 'changed' => (!m.expected ? 'added' : !m.actual ? 'removed' : 'changed');

export function diffText(d: DiffReport): string {
  const describe = (s: DiffSide): string => `${s.file} (${PAGING_MODE_RECORDS[s.mode].title} at ${hex(s.tablesPhys)})`;
  const head = `${describe(d.old)} -> ${describe(d.new)}`;
  if (diffIsEmpty(d)) return `${head}: same translation, same violations\n`;
  const counts = { added: 0, removed: 0, changed: 0 };
  for (const m of d.changes) counts[changeKind(m)]++;
  const summary = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  if (d.violationsAdded.length + d.violationsRemoved.length > 0) summary.push('violations differ');
  const lines = [`${head}: ${summary.join(', ')}`];
  const vd = Math.max(virtDigits(d.old.mode), virtDigits(d.new.mode));
  const pd = physDigits(d.changes.flatMap((m) => [m.expected?.phys ?? 0n, m.actual?.phys ?? 0n]));
  const widest = Math.max(0, ...d.changes.map((m) => pages(m.size).length));
  for (const m of d.changes) {
    const span = `${padded(m.virt, vd)}-${padded(m.virt + m.size, vd)}  ${pages(m.size).padEnd(widest)}`;
    const kind = changeKind(m);
    if (kind === 'added') lines.push(`+ ${span}  ${side(m.actual, pd)}`);
    else if (kind === 'removed') lines.push(`- ${span}  ${side(m.expected, pd)}`);
    else lines.push(`~ ${span}  ${side(m.expected, pd)}  =>  ${side(m.actual, pd)}  (${mismatchKind(m)})`);
  }
  if (mostlyOutside(d.violationsAdded)) lines.splice(1, 0, `most new violations point outside the tables: built for another base address? ${WRONG_KERNEL_HINT}`);
  for (const line of groupedViolationLines(d.violationsAdded)) lines.push(...wrapLine(`+ violation: ${line}`));
  for (const line of groupedViolationLines(d.violationsRemoved)) lines.push(...wrapLine(`- violation: ${line}`));
  return `${lines.join('\n')}\n`;
}

export function diffJson(d: DiffReport): string {
  const sideJson = (s: DiffSide) => ({ file: s.file, mode: s.mode, tablesPhys: hex(s.tablesPhys) });
  return `${JSON.stringify({
    same: diffIsEmpty(d),
    old: sideJson(d.old),
    new: sideJson(d.new),
    changes: d.changes.map((m) => ({
      kind: changeKind(m), virt: hex(m.virt), size: hex(m.size), old: translationJson(m.expected), new: translationJson(m.actual),
    })),
    violations: { added: d.violationsAdded.map(violationJson), removed: d.violationsRemoved.map(violationJson) },
  }, null, 2)}\n`;
}
