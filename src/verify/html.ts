/**
 * The address-space map: one self-contained HTML file (inline CSS, SVG and
 * a little script; nothing fetched) drawing the virtual address space of one
 * table block (`dump`), the spec beside the tables (`verify`), or two blocks
 * side by side (`diff`).
 *
 * The vertical scale is piecewise: every boundary of a range, region, change
 * or violation cuts the space into stretches; a mapped stretch gets a height
 * that grows with the logarithm of its size (so a 4 KiB page beside a 4 GiB
 * window are both visible), an unmapped stretch a fixed small height whatever
 * its size, and every boundary is labelled with its real address.
 */
import type { MappedRange, PagingMode, Violation, VirtSpan } from './model.js';
import { mismatchKind, type Mismatch } from './compare.js';
import { describeAccess, mappedBytes } from './ranges.js';
import { PAGING_MODE_RECORDS, linearSpans } from './paging-modes.js';
import { violationLine, type DiffReport, type DiffSide, type DumpContext } from './format.js';
import type { VerifyResult } from './check.js';
import { formatSize, hex } from '../core/text.js';
import { rangeLabels, regionSpans, windowName, type KernelRegions } from './regions.js';

/** Effective permissions as the map's colour classes name them. */
export type PermissionKey = 'r--' | 'r-x' | 'rw-' | 'rwx';

/**
 * Fill colours: the hue says what the memory may do (green read-only, blue
 * code, amber data, red writable code), the lightness who may (kernel dark,
 * user light).
 */
export const PERMISSION_COLOURS: Readonly<Record<PermissionKey, { readonly kernel: string; readonly user: string }>> = {
  'r--': { kernel: '#047857', user: '#6ee7b7' },
  'r-x': { kernel: '#1d4ed8', user: '#93c5fd' },
  'rw-': { kernel: '#b45309', user: '#fcd34d' },
  'rwx': { kernel: '#b91c1c', user: '#fca5a5' },
};

export const permissionKey = (r: { writable: boolean; executable: boolean }): PermissionKey =>
  `r${r.writable ? 'w' : '-'}${r.executable ? 'x' : '-'}` as PermissionKey;

/** Class names of a permission, e.g. 'p-rwx u-kernel'. */
const permClass = (r: MappedRange): string => `p-${permissionKey(r).replace(/-/g, '_')} u-${r.user ? 'user' : 'kernel'}`;

/** One column of the map: a translation, and the kernel that names its memory when known. */
export interface MapColumn {
  readonly title: string;
  readonly mode: PagingMode;
  readonly ranges: readonly MappedRange[];
  readonly kernel: KernelRegions | null;
}

/** A span where two columns differ (a verify mismatch, or a diff change), drawn between them. */
export interface MapMark {
  readonly virt: bigint;
  readonly size: bigint;
  readonly kind: 'mismatch' | 'added' | 'removed' | 'changed';
  /** One line saying how. */
  readonly text: string;
}

export interface MapViolation {
  readonly violation: Violation;
  readonly mode: PagingMode;
  /** For diffs: whether the violation appeared, went away, or is on both sides. */
  readonly change?: 'added' | 'removed' | 'unchanged';
}

export interface MapPage {
  readonly command: 'dump' | 'verify' | 'diff';
  readonly title: string;
  readonly verdict: { readonly status: 'ok' | 'fail' | 'info'; readonly text: string };
  /** Facts shown under the verdict: mode, tables, engine, files. */
  readonly facts: readonly (readonly [string, string])[];
  /** One column (dump) or two (verify: expected and actual; diff: old and new). */
  readonly columns: readonly MapColumn[];
  readonly marks: readonly MapMark[];
  readonly violations: readonly MapViolation[];
  /** The W+X audit of the last column, and whether `--deny wx` refuses it. */
  readonly wx: { readonly ranges: readonly MappedRange[]; readonly denied: boolean };
  /** Further lines for the summary (size problems). */
  readonly notes?: readonly string[];
}

/* ------------------------------------------------------------------ geometry */

const PAGE = 4096n;
/**
 * Heights in px: the smallest mapped stretch (one page) and what each
 * doubling of size adds to it; an unmapped stretch, whatever its size; the
 * column titles above the first stretch.
 */
const HEIGHT_PX = { minMapped: 16, perDoubling: 5, gap: 16, top: 28 } as const;
/** Widths in px: the address axis; a column's window strip, ranges and regions; a mark; a violation lane. */
const WIDTH_PX = { axis: 150, window: 26, range: 230, region: 104, mark: 64, lane: 16 } as const;
/** A whole column: its window strip, ranges and regions, 4 px apart. */
const COLUMN_PX = WIDTH_PX.window + 4 + WIDTH_PX.range + 4 + WIDTH_PX.region;

/** The virtual span a violation's entry controls, from its index path (canonical in IA-32e). */
export function violationSpan(v: Violation, mode: PagingMode): VirtSpan | null {
  const levels = PAGING_MODE_RECORDS[mode].levels;
  if (v.path.length === 0 || v.path.length > levels.length) return null;
  let virt = 0n;
  v.path.forEach((index, depth) => {
    virt += BigInt(index) << BigInt(levels[depth]!.shift);
  });
  if (PAGING_MODE_RECORDS[mode].linearBits === 48 && virt >= 1n << 47n) virt |= 0xffff000000000000n;
  return { virt, size: 1n << BigInt(levels[v.path.length - 1]!.shift) };
}

const byVirt = (a: { virt: bigint }, b: { virt: bigint }): number => (a.virt < b.virt ? -1 : a.virt > b.virt ? 1 : 0);

/** Index of the first range ending after `virt` in sorted, disjoint ranges. */
function firstEndingAfter(ranges: readonly MappedRange[], virt: bigint): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]!.virt + ranges[mid]!.size <= virt) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Indices of the ranges overlapping [virt, virt + size), at most `limit`. */
function overlapping(ranges: readonly MappedRange[], virt: bigint, size: bigint, limit = 64): number[] {
  const out: number[] = [];
  for (let i = firstEndingAfter(ranges, virt); i < ranges.length && ranges[i]!.virt < virt + size && out.length < limit; i++) out.push(i);
  return out;
}

/** How far the alias scan looks ahead in physical order, so pathological tables cannot make it quadratic. */
const ALIAS_SCAN = 64;

/** For each range, the other ranges mapping some of the same physical memory. */
function aliasesOf(ranges: readonly MappedRange[]): number[][] {
  const out = ranges.map(() => [] as number[]);
  const order = ranges.map((_, i) => i).sort((a, b) => (ranges[a]!.phys < ranges[b]!.phys ? -1 : ranges[a]!.phys > ranges[b]!.phys ? 1 : 0));
  for (let k = 0; k < order.length; k++) {
    const a = ranges[order[k]!]!;
    for (let n = k + 1; n < order.length && n <= k + ALIAS_SCAN; n++) {
      const b = ranges[order[n]!]!;
      if (b.phys >= a.phys + a.size) break;
      out[order[k]!]!.push(order[n]!);
      out[order[n]!]!.push(order[k]!);
    }
  }
  return out;
}

/** A window: consecutive ranges at one virtual-minus-physical offset. */
interface WindowSpan {
  readonly name: string;
  readonly virt: bigint;
  readonly size: bigint;
}

function windowsOf(column: MapColumn, ranges: readonly MappedRange[]): WindowSpan[] {
  const out: { name: string; virt: bigint; size: bigint; offset: bigint }[] = [];
  for (const r of ranges) {
    const offset = r.virt - r.phys;
    const last = out[out.length - 1];
    if (last && last.offset === offset && last.virt + last.size === r.virt) last.size += r.size;
    else out.push({ name: windowName(r, column.mode, column.kernel?.dualOffset ?? null), virt: r.virt, size: r.size, offset });
  }
  return out;
}

const windowClass = (name: string): string => (name === 'identity' ? 'w-identity' : name.endsWith('window') ? 'w-dual' : 'w-other');

/* ------------------------------------------------------------------ text */

const esc = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const spaceDigits = (columns: readonly MapColumn[]): number =>
  columns.some((c) => PAGING_MODE_RECORDS[c.mode].linearBits === 48) ? 16 : 8;

const pagesText = (size: bigint): string => `${size / PAGE} page${size === PAGE ? '' : 's'}`;
/** A size in the largest unit it reaches: exact when it is a whole number of them, else to a tenth ('≈3.0 GiB'). */
const sizeText = (size: bigint): string => {
  for (const [unit, name] of [[1n << 40n, 'TiB'], [1n << 30n, 'GiB'], [1n << 20n, 'MiB'], [1n << 10n, 'KiB']] as const) {
    if (size < unit) continue;
    return size % unit === 0n ? `${size / unit} ${name}` : `≈${(Number(size) / Number(unit)).toFixed(1)} ${name}`;
  }
  return `${size} bytes`;
};

interface Details {
  /** Heading of the details panel. */
  readonly title: string;
  readonly rows: readonly (readonly [string, string])[];
  /** Elements showing the same physical memory (highlighted as aliases). */
  readonly alias?: readonly string[];
  /** Elements this one is about (highlighted as related). */
  readonly related?: readonly string[];
}

/* ------------------------------------------------------------------ the page */

/** The map and everything around it, as one HTML document. */
export function mapHtml(page: MapPage): string {
  const digits = spaceDigits(page.columns);
  const addr = (value: bigint): string => `0x${value.toString(16).padStart(digits, '0')}`;
  const details: Record<string, Details> = {};

  const columns = page.columns.map((column, c) => {
    const ranges = [...column.ranges].sort(byVirt);
    const ids = ranges.map((_, i) => `c${c}-r${i}`);
    const aliases = aliasesOf(ranges);
    const labels = ranges.map((r) => (column.kernel ? rangeLabels(column.kernel, r) : []));
    const regions = column.kernel
      ? ranges.flatMap((r, i) => regionSpans(column.kernel!, r).filter((s) => s.name !== 'RAM' && s.name !== 'XIP flash').map((s) => ({ ...s, range: i })))
      : [];
    const windows = windowsOf(column, ranges);
    return { column, ranges, ids, aliases, labels, regions, windows };
  });

  const marks = [...page.marks].sort(byVirt);
  const violations = page.violations.map((v) => ({ ...v, span: violationSpan(v.violation, v.mode) }));

  // The stretches: cut the space at every boundary anything drawn has.
  const spaces = page.columns.some((c) => PAGING_MODE_RECORDS[c.mode].linearBits === 48) ? linearSpans('ia32e') : linearSpans('32bit');
  const cuts = new Set<bigint>([0n]);
  for (const s of spaces) {
    cuts.add(s.virt);
    cuts.add(s.virt + s.size);
  }
  const cut = (virt: bigint, size: bigint): void => {
    cuts.add(virt);
    cuts.add(virt + size);
  };
  for (const col of columns) {
    for (const r of col.ranges) cut(r.virt, r.size);
    for (const g of col.regions) cut(g.virt, g.size);
  }
  for (const m of marks) cut(m.virt, m.size);
  for (const v of violations) if (v.span) cut(v.span.virt, v.span.size);
  const points = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  // Which stretches something maps (in any column): a sweep over each column's sorted ranges.
  const mapped = new Array<boolean>(points.length - 1).fill(false);
  for (const col of columns) {
    let i = 0;
    for (let s = 0; s < points.length - 1; s++) {
      while (i < col.ranges.length && col.ranges[i]!.virt + col.ranges[i]!.size <= points[s]!) i++;
      const r = col.ranges[i];
      if (r && r.virt <= points[s]!) mapped[s] = true;
    }
  }
  const canonical = (virt: bigint): boolean => spaces.some((s) => virt >= s.virt && virt < s.virt + s.size);
  const y = new Map<bigint, number>();
  let at = HEIGHT_PX.top;
  const stretches: { start: bigint; end: bigint; top: number; height: number; kind: 'mapped' | 'unmapped' | 'non-canonical' }[] = [];
  for (let s = 0; s < points.length - 1; s++) {
    const start = points[s]!;
    const end = points[s + 1]!;
    y.set(start, at);
    const kind = !canonical(start) ? 'non-canonical' : mapped[s] ? 'mapped' : 'unmapped';
    const height = kind === 'mapped'
      ? HEIGHT_PX.minMapped + Math.round(HEIGHT_PX.perDoubling * Math.log2(Math.max(1, Number(end - start) / Number(PAGE))))
      : HEIGHT_PX.gap;
    stretches.push({ start, end, top: at, height, kind });
    at += height;
  }
  y.set(points[points.length - 1]!, at);
  const totalHeight = at + 20;
  const Y = (virt: bigint): number => y.get(virt)!;

  const columnX = (c: number): number => WIDTH_PX.axis + 10 + c * (COLUMN_PX + WIDTH_PX.mark);
  const marksX = columnX(0) + COLUMN_PX + 6;
  const lanesX = columnX(columns.length - 1) + COLUMN_PX + 10;
  const lanes = assignLanes(violations.map((v) => v.span));
  const laneCount = Math.max(0, ...lanes.map((l) => l + 1));
  const width = lanesX + Math.max(70, laneCount * WIDTH_PX.lane) + 20;

  const svg: string[] = [];
  svg.push(`<svg id="map" width="${width}" height="${totalHeight}" viewBox="0 0 ${width} ${totalHeight}" role="img" aria-label="virtual address space">`);
  svg.push(patternDefs());
  // Column headings.
  columns.forEach((col, c) => {
    svg.push(`<text class="col-title" x="${columnX(c) + WIDTH_PX.window + 4}" y="16">${esc(col.column.title)}</text>`);
  });
  if (marks.length > 0 && columns.length > 1) svg.push(`<text class="col-title small" x="${marksX}" y="16">${page.command === 'diff' ? 'changes' : 'mismatches'}</text>`);
  if (violations.length > 0) svg.push(`<text class="col-title small" x="${lanesX}" y="16">violations</text>`);

  // Stretches: gaps drawn faint with their size; the axis labels every boundary.
  for (const s of stretches) {
    if (s.kind !== 'mapped') {
      svg.push(`<rect class="gap ${s.kind}" x="${WIDTH_PX.axis}" y="${s.top}" width="${width - WIDTH_PX.axis}" height="${s.height}"/>`);
      const what = s.kind === 'non-canonical' ? `non-canonical, ${sizeText(s.end - s.start)}` : `unmapped, ${sizeText(s.end - s.start)}`;
      svg.push(`<text class="gap-label" x="${columnX(0) + WIDTH_PX.window + 10}" y="${s.top + s.height / 2 + 3}">≈ ${esc(what)} ≈</text>`);
    }
  }
  for (const p of points) {
    svg.push(`<line class="tick" x1="${WIDTH_PX.axis - 4}" x2="${WIDTH_PX.axis + 4}" y1="${Y(p)}" y2="${Y(p)}"/>`);
    svg.push(`<text class="addr" x="${WIDTH_PX.axis - 6}" y="${Y(p) + 3}">${addr(p)}</text>`);
  }

  // Bands behind the columns, so the eye finds a change where a column is empty; ranges a mark touches get an outline.
  const marked = columns.map(() => new Set<number>());
  for (const m of marks) {
    const x0 = columnX(0) + WIDTH_PX.window + 4;
    const x1 = columnX(columns.length - 1) + WIDTH_PX.window + 4 + WIDTH_PX.range;
    svg.push(`<rect class="band band-${m.kind}" x="${x0 - 2}" y="${Y(m.virt)}" width="${x1 - x0 + 4}" height="${Y(m.virt + m.size) - Y(m.virt)}"/>`);
    columns.forEach((col, c) => overlapping(col.ranges, m.virt, m.size).forEach((i) => marked[c]!.add(i)));
  }

  columns.forEach((col, c) => {
    const x = columnX(c);
    // Windows.
    col.windows.forEach((w, k) => {
      const key = `c${c}-w${k}`;
      details[key] = {
        title: `${w.name} (${col.column.title})`,
        rows: [['virtual', `${addr(w.virt)}-${addr(w.virt + w.size)}`], ['size', `${sizeText(w.size)}, ${pagesText(w.size)}`]],
        related: overlapping(col.ranges, w.virt, w.size).map((i) => col.ids[i]!),
      };
      const h = Y(w.virt + w.size) - Y(w.virt);
      svg.push(`<rect class="window ${windowClass(w.name)}" data-key="${key}" data-window="${esc(w.name)}" x="${x}" y="${Y(w.virt)}" width="${WIDTH_PX.window}" height="${h}"/>`);
      if (h >= 60) {
        const cx = x + WIDTH_PX.window / 2 + 3;
        const cy = Y(w.virt) + h / 2;
        svg.push(`<text class="window-label" transform="translate(${cx} ${cy}) rotate(-90)">${esc(w.name)}</text>`);
      }
    });
    // Ranges.
    const rx = x + WIDTH_PX.window + 4;
    col.ranges.forEach((r, i) => {
      const id = col.ids[i]!;
      const top = Y(r.virt);
      const h = Y(r.virt + r.size) - top;
      const same = col.aliases[i]!.map((k) => col.ids[k]!);
      details[id] = {
        title: `${describeAccess(r)} ${col.labels[i]!.length > 0 ? col.labels[i]!.join(', ') : 'range'} (${col.column.title})`,
        rows: [
          ['virtual', `${addr(r.virt)}-${addr(r.virt + r.size)}`],
          ['size', `${sizeText(r.size)}, ${pagesText(r.size)}`],
          ['physical', `${hex(r.phys)}-${hex(r.phys + r.size)}`],
          ['permissions', `${describeAccess(r)}${r.writable && r.executable ? ' (W+X)' : ''}`],
          ...(col.labels[i]!.length > 0 ? [['region', col.labels[i]!.join(', ')] as const] : []),
          ['window', windowName(r, col.column.mode, col.column.kernel?.dualOffset ?? null)],
          ...(same.length > 0
            ? [['same memory as', col.aliases[i]!.map((k) => `${addr(col.ranges[k]!.virt)}-${addr(col.ranges[k]!.virt + col.ranges[k]!.size)}`).join(', ')] as const]
            : []),
        ],
        alias: same,
      };
      const wx = r.writable && r.executable ? ' wx' : '';
      const mark = marked[c]!.has(i) ? ' marked' : '';
      svg.push(`<rect class="range ${permClass(r)}${wx}${mark}" id="${id}" data-key="${id}" data-col="${c}" data-virt="${hex(r.virt)}" data-end="${hex(r.virt + r.size)}" `
        + `data-phys="${hex(r.phys)}" data-perm="${describeAccess(r)}" x="${rx}" y="${top}" width="${WIDTH_PX.range}" height="${h}"/>`);
      if (h >= 13) {
        const text = `${describeAccess(r)}  ${sizeText(r.size)}  → ${hex(r.phys)}`;
        svg.push(`<text class="range-label${r.user ? '' : ' on-dark'}" x="${rx + 6}" y="${top + Math.min(h / 2, 12) + 4}">${esc(text)}</text>`);
      }
    });
    // Linker-script regions, where the column's kernel names them.
    const gx = rx + WIDTH_PX.range + 4;
    col.regions.forEach((g, k) => {
      const key = `c${c}-g${k}`;
      details[key] = {
        title: `${g.name} (${col.column.title})`,
        rows: [['virtual', `${addr(g.virt)}-${addr(g.virt + g.size)}`], ['size', `${sizeText(g.size)}, ${pagesText(g.size)}`]],
        related: [col.ids[g.range]!],
      };
      const h = Y(g.virt + g.size) - Y(g.virt);
      svg.push(`<rect class="region" data-key="${key}" data-region="${esc(g.name)}" x="${gx}" y="${Y(g.virt)}" width="${WIDTH_PX.region}" height="${h}"/>`);
      if (h >= 12) svg.push(`<text class="region-label" x="${gx + 5}" y="${Y(g.virt) + Math.min(h / 2, 11) + 4}">${esc(g.name)}</text>`);
    });
  });

  // Marks between the columns, with a band across both so the eye finds them.
  marks.forEach((m, k) => {
    const key = `m${k}`;
    const top = Y(m.virt);
    const h = Y(m.virt + m.size) - top;
    const related = columns.flatMap((col) => overlapping(col.ranges, m.virt, m.size).map((i) => col.ids[i]!));
    details[key] = {
      title: `${m.kind}: ${addr(m.virt)}-${addr(m.virt + m.size)}`,
      rows: [['virtual', `${addr(m.virt)}-${addr(m.virt + m.size)}`], ['size', `${sizeText(m.size)}, ${pagesText(m.size)}`], ['how', m.text]],
      related,
    };
    svg.push(`<rect class="mark mark-${m.kind}" data-key="${key}" data-virt="${hex(m.virt)}" data-end="${hex(m.virt + m.size)}" x="${marksX}" y="${top}" width="${WIDTH_PX.mark - 12}" height="${h}"/>`);
    const glyph = m.kind === 'added' ? '+' : m.kind === 'removed' ? '−' : m.kind === 'changed' ? '~' : '≠';
    if (h >= 12) svg.push(`<text class="mark-label" x="${marksX + (WIDTH_PX.mark - 12) / 2}" y="${top + Math.min(h / 2, 10) + 4}">${glyph}</text>`);
  });

  // Violations, in lanes so overlapping ones stay apart.
  violations.forEach((v, k) => {
    const key = `v${k}`;
    const related = v.span ? columns.flatMap((col) => overlapping(col.ranges, v.span!.virt, v.span!.size).map((i) => col.ids[i]!)) : [];
    details[key] = {
      title: `violation: ${v.violation.level}${v.violation.path.length > 0 ? ` ${v.violation.path.join('/')}` : ''}${v.change ? ` (${v.change})` : ''}`,
      rows: [
        ['entry', `${v.violation.level} at ${hex(v.violation.entryAddr)}`],
        ...(v.span ? [['controls', `${addr(v.span.virt)}-${addr(v.span.virt + v.span.size)}`] as const] : []),
        ['what', v.violation.message],
      ],
      related,
    };
    if (!v.span) return;
    const top = Y(v.span.virt);
    const h = Y(v.span.virt + v.span.size) - top;
    svg.push(`<rect class="violation${v.change ? ` v-${v.change}` : ''}" data-key="${key}" x="${lanesX + lanes[k]! * WIDTH_PX.lane}" y="${top}" width="${WIDTH_PX.lane - 3}" height="${h}"/>`);
  });
  svg.push('</svg>');

  return pageDocument(page, columns, violations, svg.join('\n'), details, addr);
}

/** Lanes for overlapping spans: the first lane free at a span's start. */
function assignLanes(spans: readonly (VirtSpan | null)[]): number[] {
  const ends: bigint[] = [];
  const order = spans.map((_, i) => i).filter((i) => spans[i]).sort((a, b) => byVirt(spans[a]!, spans[b]!));
  const lanes = spans.map(() => 0);
  for (const i of order) {
    const s = spans[i]!;
    let lane = ends.findIndex((end) => end <= s.virt);
    if (lane < 0) lane = ends.length;
    ends[lane] = s.virt + s.size;
    lanes[i] = lane;
  }
  return lanes;
}

function patternDefs(): string {
  return '<defs>'
    + '<pattern id="hatch-red" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fee2e2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#dc2626" stroke-width="3"/></pattern>'
    + '<pattern id="hatch-grey" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f4f6"/><line x1="0" y1="0" x2="0" y2="6" stroke="#d1d5db" stroke-width="2"/></pattern>'
    + '</defs>';
}

const STYLE = `
:root { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; }
body { margin: 0; background: #fafafa; }
header { padding: 14px 20px 10px; background: #fff; border-bottom: 1px solid #e5e7eb; }
h1 { font-size: 18px; margin: 0 0 8px; }
.verdict { font-weight: 600; padding: 6px 10px; border-radius: 6px; display: inline-block; }
.verdict.ok { background: #dcfce7; color: #14532d; }
.verdict.fail { background: #fee2e2; color: #7f1d1d; }
.verdict.info { background: #e0e7ff; color: #1e1b4b; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; margin: 10px 0 0; font-size: 13px; }
dl.facts dt { color: #6b7280; } dl.facts dd { margin: 0; font-family: ui-monospace, monospace; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; margin-top: 10px; font-size: 12px; align-items: center; }
.legend .sw { display: inline-block; width: 14px; height: 12px; border: 1px solid #0003; vertical-align: -2px; margin-right: 4px; }
main { display: flex; gap: 16px; padding: 12px 20px; align-items: flex-start; }
#map-wrap { overflow: auto; background: #fff; border: 1px solid #e5e7eb; border-radius: 6px; flex: 0 1 auto; max-height: 85vh; }
aside { position: sticky; top: 12px; width: 380px; flex: 0 0 380px; }
#details { background: #fff; border: 1px solid #e5e7eb; border-radius: 6px; padding: 10px 12px; font-size: 13px; min-height: 80px; }
#details.pinned { border-color: #7c3aed; box-shadow: 0 0 0 2px #ddd6fe; }
#details h2 { font-size: 14px; margin: 0 0 6px; }
#details table { border-collapse: collapse; } #details td { padding: 1px 8px 1px 0; vertical-align: top; }
#details td:first-child { color: #6b7280; white-space: nowrap; } #details td:last-child { font-family: ui-monospace, monospace; word-break: break-word; }
.hint { color: #6b7280; font-size: 12px; }
section.lists { padding: 0 20px 20px; font-size: 13px; }
section.lists h2 { font-size: 15px; margin: 16px 0 6px; }
ul.violations li, ul.wx li { margin: 2px 0; font-family: ui-monospace, monospace; cursor: pointer; }
table.ranges { border-collapse: collapse; font-size: 12px; background: #fff; }
table.ranges th, table.ranges td { border: 1px solid #e5e7eb; padding: 2px 6px; text-align: left; }
table.ranges td.mono { font-family: ui-monospace, monospace; }
table.ranges tr[data-key] { cursor: pointer; }
tr.hl, li.hl { background: #ede9fe; } tr.alias-hl, li.alias-hl { background: #f5f3ff; outline: 2px dashed #7c3aed; } tr.related-hl, li.related-hl { background: #fef9c3; }
svg text { font-size: 10px; pointer-events: none; }
.addr { font-family: ui-monospace, monospace; text-anchor: end; fill: #374151; }
.tick { stroke: #9ca3af; }
.col-title { font-size: 12px; font-weight: 600; fill: #111827; } .col-title.small { font-size: 11px; }
.gap.unmapped { fill: url(#hatch-grey); opacity: 0.6; } .gap.non-canonical { fill: #e5e7eb; }
.gap-label { fill: #6b7280; font-style: italic; }
.range { stroke: #ffffff; stroke-width: 1; cursor: pointer; }
${(Object.entries(PERMISSION_COLOURS) as [PermissionKey, { kernel: string; user: string }][])
    .map(([key, c]) => `.range.p-${key.replace(/-/g, '_')}.u-kernel { fill: ${c.kernel}; } .range.p-${key.replace(/-/g, '_')}.u-user { fill: ${c.user}; }`).join('\n')}
.range.wx { stroke: #7f1d1d; stroke-width: 2; stroke-dasharray: 5 2; }
.range.marked { stroke: #ca8a04; stroke-width: 3; }
.range-label { fill: #111827; font-family: ui-monospace, monospace; } .range-label.on-dark { fill: #ffffff; }
.window { cursor: pointer; stroke: #fff; } .w-identity { fill: #cbd5e1; } .w-dual { fill: #c4b5fd; } .w-other { fill: #fdba74; }
.window-label { fill: #1f2937; text-anchor: middle; font-size: 9px; }
.region { fill: #f1f5f9; stroke: #64748b; stroke-width: 1; cursor: pointer; } .region-label { fill: #0f172a; font-size: 10px; }
.band { pointer-events: none; } .band-mismatch, .band-changed { fill: #facc15; opacity: 0.35; } .band-added { fill: #22c55e; opacity: 0.3; } .band-removed { fill: #ef4444; opacity: 0.3; }
.mark { cursor: pointer; stroke: #111827; stroke-width: 0.5; } .mark-mismatch, .mark-changed { fill: #facc15; } .mark-added { fill: #22c55e; } .mark-removed { fill: #ef4444; }
.mark-label { text-anchor: middle; font-weight: 700; fill: #111827; font-size: 11px; }
.violation { fill: url(#hatch-red); stroke: #b91c1c; stroke-width: 1; cursor: pointer; } .violation.v-removed { opacity: 0.45; }
svg .hl { stroke: #111827 !important; stroke-width: 3 !important; stroke-dasharray: none !important; }
svg .alias-hl { stroke: #7c3aed !important; stroke-width: 4 !important; stroke-dasharray: 6 3 !important; }
svg .related-hl { stroke: #ca8a04 !important; stroke-width: 3 !important; }
`;

const SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('x86pt-data').textContent);
  var panel = document.getElementById('details');
  var idle = panel.innerHTML;
  var pinned = null;
  function each(key, fn) { document.querySelectorAll('[data-key="' + key + '"]').forEach(fn); }
  function clear() {
    document.querySelectorAll('.hl, .alias-hl, .related-hl').forEach(function (e) { e.classList.remove('hl', 'alias-hl', 'related-hl'); });
  }
  function show(key) {
    clear();
    var d = data[key];
    if (!d) return;
    each(key, function (e) { e.classList.add('hl'); });
    (d.alias || []).forEach(function (k) { each(k, function (e) { e.classList.add('alias-hl'); }); });
    (d.related || []).forEach(function (k) { each(k, function (e) { e.classList.add('related-hl'); }); });
    panel.textContent = '';
    var h = document.createElement('h2');
    h.textContent = d.title;
    panel.appendChild(h);
    var table = document.createElement('table');
    d.rows.forEach(function (row) {
      var tr = document.createElement('tr');
      row.forEach(function (text) { var td = document.createElement('td'); td.textContent = text; tr.appendChild(td); });
      table.appendChild(tr);
    });
    panel.appendChild(table);
    panel.dataset.key = key;
  }
  function reset() { clear(); panel.innerHTML = idle; delete panel.dataset.key; panel.classList.remove('pinned'); }
  function keyOf(target) { var t = target && target.closest ? target.closest('[data-key]') : null; return t ? t.getAttribute('data-key') : null; }
  document.addEventListener('mouseover', function (ev) { if (pinned) return; var k = keyOf(ev.target); if (k) show(k); });
  document.addEventListener('mouseout', function (ev) {
    if (pinned) return;
    var from = keyOf(ev.target);
    if (from && keyOf(ev.relatedTarget) !== from) reset();
  });
  document.addEventListener('click', function (ev) {
    var k = keyOf(ev.target);
    if (!k || pinned === k) { pinned = null; reset(); return; }
    pinned = k;
    show(k);
    panel.classList.add('pinned');
  });
})();
`;

interface ColumnView {
  readonly column: MapColumn;
  readonly ranges: readonly MappedRange[];
  readonly ids: readonly string[];
  readonly labels: readonly string[][];
  readonly aliases: readonly number[][];
}

/** The document around the map: verdict, facts, legend, lists and tables, details panel. */
function pageDocument(
  page: MapPage,
  columns: readonly ColumnView[],
  violations: readonly (MapViolation & { span: VirtSpan | null })[],
  svg: string,
  details: Record<string, Details>,
  addr: (v: bigint) => string,
): string {
  const out: string[] = [];
  out.push('<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
    // Nothing may be fetched: the file is the whole report.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(page.title)}</title>`, `<style>${STYLE}</style>`, '</head>', '<body>');
  out.push('<header>', `<h1>${esc(page.title)}</h1>`, `<div class="verdict ${page.verdict.status}" id="verdict">${esc(page.verdict.text)}</div>`);
  out.push('<dl class="facts">', ...page.facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`), '</dl>');
  out.push('<div class="legend" id="legend">');
  for (const [key, c] of Object.entries(PERMISSION_COLOURS) as [PermissionKey, { kernel: string; user: string }][]) {
    out.push(`<span data-perm="${key} kernel"><span class="sw" style="background:${c.kernel}"></span>${key} kernel</span>`);
    out.push(`<span data-perm="${key} user"><span class="sw" style="background:${c.user}"></span>${key} user</span>`);
  }
  out.push('<span><span class="sw" style="background:#cbd5e1"></span>identity window</span>',
    '<span><span class="sw" style="background:#c4b5fd"></span>dual / high-half window</span>',
    '<span><span class="sw" style="background:#fdba74"></span>other offset</span>',
    '<span><span class="sw" style="background:repeating-linear-gradient(45deg,#dc2626 0 3px,#fee2e2 3px 6px)"></span>architectural violation</span>');
  if (page.command === 'verify') out.push('<span><span class="sw" style="background:#facc15"></span>mismatch</span>');
  if (page.command === 'diff') {
    out.push('<span><span class="sw" style="background:#22c55e"></span>added</span>', '<span><span class="sw" style="background:#ef4444"></span>removed</span>',
      '<span><span class="sw" style="background:#facc15"></span>changed</span>');
  }
  out.push('</div>');
  out.push('<p class="hint">Heights: a mapped stretch grows with the logarithm of its size (one 4 KiB page is 16 px, each doubling adds 5 px); '
    + 'an unmapped stretch is 16 px whatever its size. Every boundary is labelled with its address. Hover for details, click to pin; '
    + 'hovering a range outlines the other ranges that map the same physical memory.</p>');
  out.push('</header>');

  out.push('<main>', `<div id="map-wrap">${svg}</div>`,
    '<aside><div id="details"><p class="hint">Hover over a range, window, region, change or violation.</p></div></aside>', '</main>');

  out.push('<section class="lists">');
  const wx = page.wx;
  const last = columns[columns.length - 1]!;
  out.push(`<h2 id="wx-heading">${wx.ranges.length === 0 ? 'W+X: none' : `W+X: ${wx.ranges.length} range${wx.ranges.length === 1 ? '' : 's'} writable and executable${wx.denied ? ' (denied by --deny wx)' : ''}`}</h2>`);
  if (wx.ranges.length > 0) {
    out.push('<ul class="wx" id="wx">');
    for (const r of wx.ranges) {
      const i = last.ranges.findIndex((x) => x.virt === r.virt);
      out.push(`<li${i >= 0 ? ` data-key="${last.ids[i]}"` : ''}>${esc(`${addr(r.virt)}-${addr(r.virt + r.size)} -> ${hex(r.phys)} ${describeAccess(r)}`)}</li>`);
    }
    out.push('</ul>');
  }
  out.push(`<h2 id="violations-heading">${violations.length === 0 ? 'No architectural violations' : `Architectural violations (${violations.length})`}</h2>`);
  if (violations.length > 0) {
    out.push('<ul class="violations" id="violations">');
    violations.forEach((v, k) => {
      out.push(`<li class="violation-item" data-key="v${k}">${v.change && v.change !== 'unchanged' ? `[${v.change}] ` : ''}${esc(violationLine(v.violation))}</li>`);
    });
    out.push('</ul>');
  }
  for (const note of page.notes ?? []) out.push(`<p>${esc(note)}</p>`);
  if (page.marks.length > 0) {
    out.push(`<h2>${page.command === 'diff' ? 'Changes' : 'Mismatches'} (${page.marks.length})</h2>`, '<table class="ranges" id="marks"><tr><th>virtual</th><th>size</th><th>how</th></tr>');
    [...page.marks].sort(byVirt).forEach((m, k) => {
      out.push(`<tr data-key="m${k}"><td class="mono">${addr(m.virt)}-${addr(m.virt + m.size)}</td><td>${esc(sizeText(m.size))}</td><td>${esc(m.text)}</td></tr>`);
    });
    out.push('</table>');
  }
  columns.forEach((col, c) => {
    out.push(`<h2>${esc(col.column.title)}: ${col.ranges.length} range${col.ranges.length === 1 ? '' : 's'}, ${esc(formatSize(mappedBytes(col.ranges)))} mapped</h2>`);
    if (col.ranges.length === 0) {
      out.push(`<p id="ranges-${c}">No page is mapped.</p>`);
      return;
    }
    out.push(`<table class="ranges" id="ranges-${c}"><tr><th>virtual</th><th>size</th><th>physical</th><th>permissions</th><th>region</th><th>window</th></tr>`);
    col.ranges.forEach((r, i) => {
      out.push(`<tr data-key="${col.ids[i]}"><td class="mono">${addr(r.virt)}-${addr(r.virt + r.size)}</td><td>${esc(sizeText(r.size))}</td>`
        + `<td class="mono">${hex(r.phys)}</td><td class="mono">${esc(describeAccess(r))}</td><td>${esc(col.labels[i]!.join(', '))}</td>`
        + `<td>${esc(windowName(r, col.column.mode, col.column.kernel?.dualOffset ?? null))}</td></tr>`);
    });
    out.push('</table>');
  });
  out.push('</section>');
  // In a <script> element only "</" can end it early: escape every '<'.
  out.push(`<script type="application/json" id="x86pt-data">${JSON.stringify(details).replace(/</g, '\\u003c')}</script>`);
  out.push(`<script>${SCRIPT}</script>`, '</body>', '</html>', '');
  return out.join('\n');
}

/* ------------------------------------------------------------------ the three pages */

/** What the text dump shows, and the kernel's regions and the W+X audit for the map. */
export interface DumpMapInput extends DumpContext {
  readonly kernel: KernelRegions | null;
  readonly wx: readonly MappedRange[];
}

export function dumpHtml(d: DumpMapInput): string {
  const title = PAGING_MODE_RECORDS[d.mode].title;
  return mapHtml({
    command: 'dump',
    title: `x86pt dump: ${d.tablesFile}`,
    verdict: {
      status: d.violations.length > 0 ? 'fail' : 'info',
      text: `${d.ranges.length} range${d.ranges.length === 1 ? '' : 's'}, ${formatSize(mappedBytes(d.ranges))} mapped, `
        + `${d.violations.length === 0 ? 'no architectural violations' : `${d.violations.length} architectural violation${d.violations.length === 1 ? '' : 's'}`}`,
    },
    facts: [
      ['tables', d.tablesFile], ['mode', title], ['block', `${hex(d.tablesPhys)}-${hex(d.tablesPhys + BigInt(d.tableBytes))}`],
      ['top level (CR3)', hex(d.topTablePhys)],
      ...(d.note ? [['shown', d.note] as [string, string]] : []),
    ],
    columns: [{ title: 'translation', mode: d.mode, ranges: d.ranges, kernel: d.kernel }],
    marks: [],
    violations: d.violations.map((violation) => ({ violation, mode: d.mode })),
    wx: { ranges: d.wx, denied: false },
  });
}

export interface VerifyMapInput {
  readonly tablesFile: string;
  readonly kernelFile: string;
  readonly result: Pick<VerifyResult,
    'ok' | 'engine' | 'version' | 'mode' | 'tablesPhys' | 'expected' | 'actual' | 'mismatches' | 'violations' | 'blockProblems'>;
  readonly kernel: KernelRegions;
  readonly wx: readonly MappedRange[];
  readonly wxDenied: boolean;
}

const translationText = (t: { phys: bigint; writable: boolean; user: boolean; executable: boolean } | null): string =>
  (t ? `-> ${hex(t.phys)} ${describeAccess(t)}` : 'unmapped');

export function verifyHtml(v: VerifyMapInput): string {
  const r = v.result;
  const denied = v.wxDenied && v.wx.length > 0;
  const ok = r.ok && !denied;
  const counts = [
    `${r.mismatches.length} mismatch${r.mismatches.length === 1 ? '' : 'es'}`,
    `${r.violations.length} violation${r.violations.length === 1 ? '' : 's'}`,
    ...(r.blockProblems.length > 0 ? ['wrong size'] : []),
    ...(denied ? [`${v.wx.length} W+X range${v.wx.length === 1 ? '' : 's'} (denied)`] : []),
  ];
  return mapHtml({
    command: 'verify',
    title: `x86pt verify: ${v.tablesFile} against ${v.kernelFile}`,
    verdict: ok
      ? { status: 'ok', text: `OK: the tables do what the kernel asks: ${r.expected.length} range${r.expected.length === 1 ? '' : 's'}, ${formatSize(mappedBytes(r.expected))} mapped, no violations` }
      : { status: 'fail', text: `FAIL: the tables do not do what the kernel asks: ${counts.join(', ')}` },
    facts: [
      ['tables', v.tablesFile], ['kernel', v.kernelFile], ['mode', PAGING_MODE_RECORDS[r.mode].title],
      ['tables at', hex(r.tablesPhys)], ['engine', `${r.engine} ${r.version}`],
    ],
    columns: [
      { title: 'expected (the kernel\'s layout)', mode: r.mode, ranges: r.expected, kernel: v.kernel },
      { title: `actual (engine ${r.engine})`, mode: r.mode, ranges: r.actual, kernel: v.kernel },
    ],
    marks: r.mismatches.map((m) => ({
      virt: m.virt, size: m.size, kind: 'mismatch' as const,
      text: `${mismatchKind(m)}: expected ${translationText(m.expected)}, actual ${translationText(m.actual)}`,
    })),
    violations: r.violations.map((violation) => ({ violation, mode: r.mode })),
    wx: { ranges: v.wx, denied },
    notes: r.blockProblems.map((p) => `size: ${p}`),
  });
}

export interface DiffMapSide extends DiffSide {
  readonly kernel: KernelRegions | null;
}

export interface DiffMapInput extends DiffReport {
  readonly old: DiffMapSide;
  readonly new: DiffMapSide;
  /** Lines such as '_image_rodata_size 0x80000 -> 0x100000', when both sides had kernels. */
  readonly symbolChanges: readonly string[] | null;
  readonly wx: readonly MappedRange[];
}

export function diffHtml(d: DiffMapInput): string {
  const counts = { added: 0, removed: 0, changed: 0 };
  const kindOf = (m: Mismatch): 'added' | 'removed' | 'changed' => (!m.expected ? 'added' : !m.actual ? 'removed' : 'changed');
  for (const m of d.changes) counts[kindOf(m)]++;
  const same = d.changes.length === 0 && d.violationsAdded.length === 0 && d.violationsRemoved.length === 0;
  const summary = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  if (d.violationsAdded.length + d.violationsRemoved.length > 0) summary.push('violations differ');
  const added = new Set(d.violationsAdded);
  const side = (s: DiffMapSide): string => `${s.file} (${PAGING_MODE_RECORDS[s.mode].title} at ${hex(s.tablesPhys)})`;
  return mapHtml({
    command: 'diff',
    title: `x86pt diff: ${d.old.file} -> ${d.new.file}`,
    verdict: same ? { status: 'ok', text: 'same translation, same violations' } : { status: 'fail', text: `different: ${summary.join(', ')}` },
    facts: [
      ['old', side(d.old)], ['new', side(d.new)],
      ...(d.symbolChanges === null ? [] : [['layout symbols', d.symbolChanges.length === 0 ? 'unchanged' : d.symbolChanges.join('; ')] as const]),
    ],
    columns: [
      { title: `old: ${d.old.file}`, mode: d.old.mode, ranges: d.old.ranges, kernel: d.old.kernel },
      { title: `new: ${d.new.file}`, mode: d.new.mode, ranges: d.new.ranges, kernel: d.new.kernel },
    ],
    marks: d.changes.map((m) => ({
      virt: m.virt, size: m.size, kind: kindOf(m),
      text: kindOf(m) === 'changed' ? `${mismatchKind(m)}: ${translationText(m.expected)} => ${translationText(m.actual)}`
        : kindOf(m) === 'added' ? `added: ${translationText(m.actual)}` : `removed: ${translationText(m.expected)}`,
    })),
    violations: [
      ...d.new.violations.map((violation) => ({ violation, mode: d.new.mode, change: added.has(violation) ? 'added' as const : 'unchanged' as const })),
      ...d.violationsRemoved.map((violation) => ({ violation, mode: d.old.mode, change: 'removed' as const })),
    ],
    wx: { ranges: d.wx, denied: false },
  });
}
