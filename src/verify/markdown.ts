/**
 * `verify` and `diff` as Markdown, for a pull-request comment or a CI job
 * summary: a verdict line first, then tables of ranges and mismatches with
 * the ELF region each belongs to, the violations, the W+X audit and, for a
 * diff of two kernels, the layout symbols that changed.
 */
import type { MappedRange, PagingMode, Violation } from './model.js';
import { mismatchKind, type Mismatch } from './compare.js';
import { describeAccess, mappedBytes, type Translation } from './ranges.js';
import { PAGING_MODE_RECORDS } from './paging-modes.js';
import type { VerifyResult } from './check.js';
import { diffIsEmpty, violationLine, type DiffReport, type DiffSide, type VerifyNames } from './format.js';
import { formatSize, hex } from '../core/text.js';
import { rangeLabels, symbolChangeLine, windowName, type KernelRegions, type SymbolChange } from './regions.js';
import type { Deniable } from './wx.js';

/** Rows a table shows before it says how many more there are (a PR comment holds 65536 characters). */
export const MARKDOWN_ROWS = 100;

/** Inline code, safe for any text (a longer backtick fence when the text holds backticks). */
function code(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A table cell: pipes escaped, one line. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** Plain Markdown text: the characters that would start emphasis, links or HTML are escaped. */
const plain = (text: string): string => text.replace(/([\\`*_[\]<>|])/g, '\\$1');

function table(head: readonly string[], rows: readonly (readonly string[])[], total: number): string[] {
  if (total === 0) return ['None.'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  for (const row of rows.slice(0, MARKDOWN_ROWS)) lines.push(`| ${row.map(cell).join(' | ')} |`);
  if (total > MARKDOWN_ROWS) lines.push('', `… and ${total - MARKDOWN_ROWS} more (the JSON report lists them all).`);
  return lines;
}

const digits = (mode: PagingMode): number => (PAGING_MODE_RECORDS[mode].linearBits === 48 ? 16 : 8);
const addr = (value: bigint, mode: PagingMode): string => `0x${value.toString(16).padStart(digits(mode), '0')}`;
const span = (virt: bigint, size: bigint, mode: PagingMode): string => code(`${addr(virt, mode)}-${addr(virt + size, mode)}`);
const pages = (size: bigint): string => `${formatSize(size)} (${size / 4096n} page${size === 4096n ? '' : 's'})`;
const perms = (t: Translation): string => code(describeAccess(t));
const target = (t: Translation | null): string => (t ? `→ ${code(hex(t.phys))} ${perms(t)}` : 'unmapped');
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The labels of the memory a mismatch or change is about: where it should go, else where it goes. */
function labelOf(kernel: KernelRegions | null, virt: bigint, size: bigint, first: Translation | null, second: Translation | null): string {
  const t = first ?? second;
  if (!kernel || !t) return '';
  return rangeLabels(kernel, { virt, size, ...t }).join(', ');
}

function rangeTable(ranges: readonly MappedRange[], mode: PagingMode, kernel: KernelRegions | null): string[] {
  const rows = ranges.map((r) => [
    span(r.virt, r.size, mode), pages(r.size), code(hex(r.phys)), perms(r),
    kernel ? rangeLabels(kernel, r).join(', ') : '', windowName(r, mode, kernel?.dualOffset ?? null),
  ]);
  return table(['virtual', 'size', 'physical', 'permissions', 'region', 'window'], rows, ranges.length);
}

function violationList(violations: readonly Violation[]): string[] {
  return violations.map((v) => `- ${plain(violationLine(v))}`);
}

function wxSection(wx: readonly MappedRange[], mode: PagingMode, kernel: KernelRegions | null, denied: boolean): string[] {
  if (wx.length === 0) return ['#### W+X', '', 'W+X: none (no range is both writable and executable).'];
  const why = mode === '32bit' ? ' 32-bit paging has no execute-disable bit.' : '';
  return [
    `#### W+X${denied ? ' (denied by `--deny wx`)' : ''}`, '',
    `${plural(wx.length, 'range')} writable and executable.${why}`, '',
    ...rangeTable(wx, mode, kernel),
  ];
}

export interface VerifyMarkdownInput {
  readonly result: VerifyResult;
  readonly names: VerifyNames;
  /** The kernel's regions, for labelling; from the same kernel the spec read. */
  readonly kernel: KernelRegions;
  readonly wx: readonly MappedRange[];
  readonly deny: readonly Deniable[];
}

/** The verdict, then mismatches, violations, size problems, the W+X audit and the ranges the tables map. */
export function verifyMarkdown(input: VerifyMarkdownInput): string {
  const { result, names, kernel, wx } = input;
  const denied = input.deny.includes('wx') && wx.length > 0;
  const ok = result.ok && !denied;
  const layout = PAGING_MODE_RECORDS[result.mode];
  const how = `${layout.title} at ${code(hex(result.tablesPhys))}, engine ${result.engine} ${result.version}`;
  const counts = [
    plural(result.mismatches.length, 'mismatch', 'mismatches'),
    plural(result.violations.length, 'violation'),
    ...(result.blockProblems.length > 0 ? ['wrong size'] : []),
    ...(denied ? [`${plural(wx.length, 'W+X range')} (denied)`] : []),
  ];
  const lines = [
    ok
      ? `✅ **OK**: ${code(names.tablesFile)} does what ${code(names.kernelFile)} asks (${how}): `
        + `${plural(result.expected.length, 'range')}, ${formatSize(mappedBytes(result.expected))} mapped, no violations`
      : `❌ **FAIL**: ${code(names.tablesFile)} does not do what ${code(names.kernelFile)} asks (${how}): ${counts.join(', ')}`,
    '',
  ];
  if (result.mismatches.length > 0) {
    lines.push(`#### Mismatches (${result.mismatches.length})`, '');
    const rows = result.mismatches.map((m: Mismatch) => [
      span(m.virt, m.size, result.mode), pages(m.size), mismatchKind(m), target(m.expected), target(m.actual),
      labelOf(kernel, m.virt, m.size, m.expected, m.actual),
    ]);
    lines.push(...table(['virtual', 'size', 'how', 'expected', 'actual', 'region'], rows, result.mismatches.length), '');
  }
  if (result.violations.length > 0) {
    lines.push(`#### Architectural violations (${result.violations.length})`, '', ...violationList(result.violations), '');
  }
  if (result.blockProblems.length > 0) {
    lines.push('#### Table block size', '', ...result.blockProblems.map((p) => `- ${plain(p)}`), '');
  }
  lines.push(...wxSection(wx, result.mode, kernel, input.deny.includes('wx')), '');
  lines.push(`#### Ranges the tables map (${result.actual.length})`, '', ...rangeTable(result.actual, result.mode, kernel));
  return `${lines.join('\n')}\n`;
}

export interface DiffMarkdownInput {
  readonly report: DiffReport;
  /** Each side's kernel regions, when that side was given a kernel. */
  readonly oldKernel: KernelRegions | null;
  readonly newKernel: KernelRegions | null;
  /** The layout symbols that differ, when both sides were given kernels. */
  readonly symbolChanges: readonly SymbolChange[] | null;
}

const changeKind = (m: Mismatch): 'added' | 'removed' | 'changed' => (!m.expected ? 'added' : !m.actual ? 'removed' : 'changed');
const CHANGE_MARK = { added: '+', removed: '−', changed: '~' } as const;

/** The verdict, the symbol changes behind it, the translation changes, and the violations that came or went. */
export function diffMarkdown(input: DiffMarkdownInput): string {
  const { report } = input;
  const describe = (s: DiffSide): string => `${code(s.file)} (${PAGING_MODE_RECORDS[s.mode].title} at ${code(hex(s.tablesPhys))})`;
  const head = `${describe(report.old)} → ${describe(report.new)}`;
  const lines: string[] = [];
  if (diffIsEmpty(report)) {
    lines.push(`✅ **SAME**: ${head}: same translation, same violations`, '');
  } else {
    const counts = { added: 0, removed: 0, changed: 0 };
    for (const m of report.changes) counts[changeKind(m)]++;
    const summary = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
    if (report.violationsAdded.length + report.violationsRemoved.length > 0) summary.push('violations differ');
    lines.push(`❌ **DIFFERENT**: ${head}: ${summary.join(', ')}`, '');
  }
  if (input.symbolChanges !== null) {
    lines.push('#### Layout symbol changes', '');
    if (input.symbolChanges.length === 0) lines.push('None of the symbols the layout reads changed.');
    else lines.push(...input.symbolChanges.map((c) => `- ${code(symbolChangeLine(c))}`));
    lines.push('');
  }
  if (report.changes.length > 0) {
    const mode = PAGING_MODE_RECORDS[report.old.mode].linearBits >= PAGING_MODE_RECORDS[report.new.mode].linearBits ? report.old.mode : report.new.mode;
    const rows = report.changes.map((m) => {
      const kind = changeKind(m);
      // Label by the side that has the memory: the new kernel's regions unless the range went away.
      const region = kind === 'removed'
        ? labelOf(input.oldKernel, m.virt, m.size, m.expected, null)
        : labelOf(input.newKernel ?? input.oldKernel, m.virt, m.size, m.actual, m.expected);
      return [CHANGE_MARK[kind], span(m.virt, m.size, mode), pages(m.size), target(m.expected), target(m.actual), kind === 'changed' ? mismatchKind(m) : kind, region];
    });
    lines.push(`#### Translation changes (${report.changes.length})`, '');
    lines.push(...table(['', 'virtual', 'size', 'old', 'new', 'how', 'region'], rows, report.changes.length), '');
  }
  if (report.violationsAdded.length > 0) lines.push(`#### Violations added (${report.violationsAdded.length})`, '', ...violationList(report.violationsAdded), '');
  if (report.violationsRemoved.length > 0) lines.push(`#### Violations removed (${report.violationsRemoved.length})`, '', ...violationList(report.violationsRemoved), '');
  return `${lines.join('\n').trimEnd()}\n`;
}
