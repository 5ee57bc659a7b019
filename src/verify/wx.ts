/**
 * The W+X audit, as Linux's CONFIG_DEBUG_WX does it at boot: every range
 * that is at once writable and executable is a place where a write can
 * become code. Reported by `dump` and `verify`; `verify --deny wx` fails on it.
 */
import type { MappedRange, PagingMode } from './model.js';
import { describeAccess } from './ranges.js';
import { rangeJson } from './format.js';

/** The ranges that are writable and executable, in the order given. */
export const writableExecutable = (ranges: readonly MappedRange[]): MappedRange[] => ranges.filter((r) => r.writable && r.executable);

/** What `verify --deny` can refuse. */
export const DENIABLE = ['wx'] as const;
export type Deniable = (typeof DENIABLE)[number];

const padded = (value: bigint, mode: PagingMode): string => `0x${value.toString(16).padStart(mode === 'ia32e' ? 16 : 8, '0')}`;

/** Why a whole map is W+X when it is: 32-bit paging cannot forbid execution at all. */
const whyAll = (mode: PagingMode): string => (mode === '32bit' ? ' (32-bit paging has no execute-disable bit)' : '');

/** The audit's text: 'W+X: none', or a count and one line a range; 'FAIL (--deny wx)' in front when denied. */
export function wxText(wx: readonly MappedRange[], mode: PagingMode, denied: boolean): string {
  if (wx.length === 0) return 'W+X: none\n';
  const pages = wx.reduce((sum, r) => sum + r.size / 4096n, 0n);
  const head = `W+X: ${denied ? 'FAIL (--deny wx): ' : ''}${wx.length} range${wx.length === 1 ? '' : 's'} (${pages} page${pages === 1n ? '' : 's'}) writable and executable${whyAll(mode)}:`;
  const lines = wx.map((r) => `  ${padded(r.virt, mode)}-${padded(r.virt + r.size, mode)}  -> ${padded(r.phys, '32bit')}  ${describeAccess(r)}`);
  return `${[head, ...lines].join('\n')}\n`;
}

/**
 * A JSON report with the audit added: `"wx": [ranges]`, and under a denial
 * `"deny": ["wx"]` with `"ok"` false when W+X ranges exist.
 */
export function withWxJson(json: string, wx: readonly MappedRange[], deny: readonly Deniable[] = []): string {
  const report = JSON.parse(json) as Record<string, unknown>;
  report.wx = wx.map(rangeJson);
  if (deny.length > 0) {
    report.deny = [...deny];
    if (deny.includes('wx') && wx.length > 0 && 'ok' in report) report.ok = false;
  }
  return `${JSON.stringify(report, null, 2)}\n`;
}
