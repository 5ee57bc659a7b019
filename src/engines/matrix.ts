/**
 * `verify --engine all`: every engine on the same tables, one matrix. Rows
 * are the checks (each probe kind, each architectural rule), columns the
 * engines; a cell says what that engine saw. The walker is the reference
 * (the SDM as code); where an emulator's cell differs from it, the
 * catalogue of known deviations (deviations.ts) explains it or the
 * difference is a finding.
 *
 * The verdict: it fails (exit 1) when a cell fails and no catalogued
 * deviation of that cell's own engine explains it. The walker's cells are
 * never explained away; an emulator's are only by its own entry (so Bochs
 * faulting where the walker's gap is catalogued still fails). An engine that
 * cannot host the layout, or whose emulator fails, is listed and adds
 * nothing to the verdict.
 */
import { InputError } from '../core/errors.js';
import { RefusedLayoutError } from '../verify/check.js';
import { compareRanges, mismatchKind, type Mismatch } from '../verify/compare.js';
import type { EngineInput, EngineReport, Violation, WalkOptions } from '../verify/model.js';
import { topTablePhys } from '../verify/paging-modes.js';
import { kernelSpec, type KernelInput } from '../verify/spec.js';
import { tableBlockProblem, walkerReport } from '../verify/walker.js';
import { emulatorProfileFor, type CpuProfile } from './cpu.js';
import { CHECK_TITLES, DEVIATIONS, MATRIX_CHECKS, explainedBy, type DeviationContext, type MatrixCheck } from './deviations.js';
import { ENGINE_NAMES, loadEngine } from './index.js';
import type { TableChange } from './table-changes.js';

export type CellStatus = 'pass' | 'fail' | 'n/a';

export interface MatrixCell {
  readonly status: CellStatus;
  /** What was seen: pages that differ, the fault, the entries changed. */
  readonly detail: string;
  /** The catalogue entry of this engine that explains the cell, when it differs from the walker's. */
  readonly explainedBy: string | null;
}

export interface MatrixEngine {
  readonly name: string;
  readonly version: string | null;
  /** Why the engine produced no report (cannot host the layout, or its emulator failed). */
  readonly error: string | null;
  readonly cells: Readonly<Record<MatrixCheck, MatrixCell>> | null;
}

export interface Disagreement {
  readonly engine: string;
  readonly check: MatrixCheck;
  readonly walker: CellStatus;
  readonly seen: CellStatus;
  readonly explainedBy: string | null;
}

export interface EngineMatrix {
  readonly ok: boolean;
  readonly mode: EngineInput['mode'];
  readonly tablesPhys: bigint;
  readonly cpu: CpuProfile;
  readonly engines: readonly MatrixEngine[];
  readonly disagreements: readonly Disagreement[];
  /** Failing cells no catalogue entry of their engine explains. */
  readonly findings: readonly { readonly engine: string; readonly check: MatrixCheck; readonly detail: string }[];
}

export interface MatrixInput extends KernelInput {
  readonly tables: Uint8Array;
  readonly walkOptions: WalkOptions;
  /** The processor the emulators model; by default the walker's settings on the richest model. */
  readonly cpu: CpuProfile | null;
  /** Engines to run; all by default. */
  readonly engines?: readonly string[];
}

const NA: MatrixCell = { status: 'n/a', detail: '', explainedBy: null };
const pages = (size: bigint): bigint => size / 4096n;

/** Whether an IA-32e PML4E's table holds a present PDPTE with PS (a 1 GiB page). */
function hasGiBPage(input: EngineInput): boolean {
  if (input.mode !== 'ia32e') return false;
  const view = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
  const top = Number(topTablePhys('ia32e', input.tablesPhys, input.tables.byteLength) - input.tablesPhys);
  for (let i = 0; i < 512; i++) {
    const e = view.getBigUint64(top + i * 8, true);
    if ((e & 1n) === 0n) continue;
    const at = Number((e & 0x000ffffffffff000n) - input.tablesPhys);
    if (at < 0 || at + 4096 > input.tables.byteLength) continue;
    for (let j = 0; j < 512; j++) if ((view.getBigUint64(at + j * 8, true) & 0x81n) === 0x81n) return true;
  }
  return false;
}

/** Which rule rows an engine's violation belongs to. */
function ruleOf(v: Violation, mode: EngineInput['mode']): MatrixCheck {
  if (v.engine === undefined) {
    if (/^reserved bits? /.test(v.message)) return v.level === 'PDPTE' && mode === 'pae' ? 'pdpte-reserved' : 'reserved-walk';
    return 'other-rules';
  }
  if (/#GP\(0\).*PDPTE/.test(v.message)) return 'pdpte-reserved';
  if (/RSVD/.test(v.message)) return 'reserved-walk';
  return 'other-rules';
}

function probeCells(mismatches: readonly Mismatch[], observed: boolean): Record<'translation' | 'write' | 'execute' | 'user', MatrixCell> {
  if (!observed) return { translation: NA, write: NA, execute: NA, user: NA };
  const count = { translation: 0n, write: 0n, execute: 0n, user: 0n };
  for (const m of mismatches) {
    const kind = mismatchKind(m);
    if (kind !== 'permissions') count.translation += pages(m.size);
    if (m.expected && m.actual) {
      if (m.expected.writable !== m.actual.writable) count.write += pages(m.size);
      if (m.expected.executable !== m.actual.executable) count.execute += pages(m.size);
      if (m.expected.user !== m.actual.user) count.user += pages(m.size);
    }
  }
  const cell = (n: bigint): MatrixCell => (n === 0n ? { status: 'pass', detail: '', explainedBy: null } : { status: 'fail', detail: `${n} page${n === 1n ? '' : 's'} differ`, explainedBy: null });
  return { translation: cell(count.translation), write: cell(count.write), execute: cell(count.execute), user: cell(count.user) };
}

/** One engine's column. */
function cellsOf(name: string, report: EngineReport, input: EngineInput): Record<MatrixCheck, MatrixCell> {
  const mismatches = compareRanges(input.expected, report.actual, report.coverage);
  const observed = report.coverage === 'all' || report.coverage.length > 0;
  const changes = (report as { tableChanges?: readonly TableChange[] }).tableChanges;
  const changeMessages = new Set((changes ?? []).map((c) => `${name}: ${c.message}`));
  const byRule: Record<'pdpte-reserved' | 'reserved-walk' | 'other-rules', string[]> = { 'pdpte-reserved': [], 'reserved-walk': [], 'other-rules': [] };
  for (const v of report.violations) {
    if (changeMessages.has(v.message)) continue;
    const rule = ruleOf(v, input.mode);
    if (rule === 'pdpte-reserved' || rule === 'reserved-walk' || rule === 'other-rules') byRule[rule].push(`${v.level} at 0x${v.entryAddr.toString(16)}: ${v.message}`);
  }
  const rule = (found: string[], seen: boolean): MatrixCell =>
    !seen ? NA : found.length === 0 ? { status: 'pass', detail: '', explainedBy: null } : { status: 'fail', detail: found.join('; '), explainedBy: null };
  const isWalker = name === 'walker';
  // Emulators other than Bochs turn a reserved-bit #PF into an unmapped page and report no RSVD: they do not observe that rule.
  const seesRsvd = isWalker || name === 'bochs';
  const unexpected = (changes ?? []).filter((c) => c.kind !== 'architectural');
  return {
    ...probeCells(mismatches, observed),
    'pdpte-reserved': input.mode === 'pae' ? rule(byRule['pdpte-reserved'], true) : NA,
    'reserved-walk': rule(byRule['reserved-walk'], seesRsvd),
    'other-rules': rule(byRule['other-rules'], true),
    'tables-unchanged': changes === undefined ? NA
      : unexpected.length === 0 ? { status: 'pass', detail: 'A/D set by walks, nothing else', explainedBy: null }
      : { status: 'fail', detail: unexpected.map((c) => c.message).join('; '), explainedBy: null },
  };
}

/** Runs every engine on the tables and builds the matrix. Throws RefusedLayoutError / InputError as verify does. */
export async function engineMatrix(m: MatrixInput): Promise<EngineMatrix> {
  const spec = kernelSpec(m);
  if (!spec.valid) throw new RefusedLayoutError(spec.reasons, spec.rules);
  const problem = tableBlockProblem(spec.mode, m.tables.byteLength);
  if (problem) throw new InputError(problem);
  const input: EngineInput = { mode: spec.mode, tables: m.tables, tablesPhys: spec.tablesPhys, expected: spec.expected };
  const cpu = m.cpu ?? emulatorProfileFor(m.walkOptions);
  const walker = walkerReport(input, m.walkOptions);
  const ctx: DeviationContext = {
    input, cpu,
    pdpteReserved: walker.violations.some((v) => ruleOf(v, input.mode) === 'pdpte-reserved'),
    pdpteAccessed: false,
    hasGiBPage: hasGiBPage(input),
  };
  const reference = cellsOf('walker', walker, input);
  const engines: MatrixEngine[] = [{ name: 'walker', version: walker.version, error: null, cells: reference }];
  for (const name of (m.engines ?? ENGINE_NAMES).filter((n) => n !== 'walker')) {
    let report: EngineReport;
    try {
      const engine = await loadEngine(name, m.walkOptions, cpu);
      report = await engine.run(input);
      await (engine as { close?: () => Promise<void> | void }).close?.();
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      engines.push({ name, version: null, error: err.message, cells: null });
      continue;
    }
    const cells = cellsOf(name, report, input);
    const unexpected = ((report as { tableChanges?: readonly TableChange[] }).tableChanges ?? []).filter((c) => c.kind !== 'architectural');
    const own: DeviationContext = { ...ctx, pdpteAccessed: unexpected.length > 0 && unexpected.every((c) => c.kind === 'pdpte-accessed') };
    for (const check of MATRIX_CHECKS) {
      const cell = cells[check];
      const ref = reference[check].status === 'n/a' ? 'pass' : reference[check].status;
      if (cell.status !== 'n/a' && cell.status !== ref) cells[check] = { ...cell, explainedBy: explainedBy(name, check, own)?.id ?? null };
    }
    engines.push({ name, version: report.version, error: null, cells });
  }
  const disagreements: Disagreement[] = [];
  const findings: { engine: string; check: MatrixCheck; detail: string }[] = [];
  for (const e of engines) {
    if (!e.cells) continue;
    for (const check of MATRIX_CHECKS) {
      const cell = e.cells[check];
      const ref = reference[check].status === 'n/a' ? 'pass' : reference[check].status;
      if (e.name !== 'walker' && cell.status !== 'n/a' && cell.status !== ref) {
        disagreements.push({ engine: e.name, check, walker: reference[check].status, seen: cell.status, explainedBy: cell.explainedBy });
      }
      if (cell.status === 'fail' && cell.explainedBy === null) findings.push({ engine: e.name, check, detail: cell.detail });
    }
  }
  return { ok: findings.length === 0, mode: input.mode, tablesPhys: input.tablesPhys, cpu, engines, disagreements, findings };
}

const hex = (n: bigint): string => `0x${n.toString(16)}`;
const cpuLine = (c: CpuProfile): string =>
  `MAXPHYADDR ${c.maxPhysAddr}, ${(['nxe', 'pse', 'pdpe1gb', 'wp', 'smep', 'smap'] as const).map((f) => `${c[f] ? '' : 'no '}${f.toUpperCase()}`).join(', ')}`;

export interface MatrixNames {
  readonly tablesFile: string;
  readonly kernelFile: string;
}

export function matrixText(mx: EngineMatrix, names: MatrixNames): string {
  const notes = new Map<string, number>();
  const label = (e: MatrixEngine, c: MatrixCell): string => {
    if (c.status === 'n/a') return '-';
    let text: string = c.status;
    if (c.explainedBy) {
      const key = `${e.name}:${c.explainedBy}`;
      if (!notes.has(key)) notes.set(key, notes.size + 1);
      text += ` [${notes.get(key)}]`;
    } else if (c.status === 'fail') text = 'FAIL';
    return text;
  };
  const header = ['check', ...mx.engines.map((e) => e.name)];
  const rows = MATRIX_CHECKS.map((check) => [CHECK_TITLES[check], ...mx.engines.map((e) => (e.cells ? label(e, e.cells[check]) : 'refused'))]);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
  const line = (r: readonly string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [
    `engines on ${names.tablesFile} for ${names.kernelFile} (${mx.mode} at ${hex(mx.tablesPhys)}; emulated CPU: ${cpuLine(mx.cpu)})`,
    `engines: ${mx.engines.map((e) => (e.version ? `${e.name} ${e.version}` : `${e.name} (none)`)).join(', ')}`,
    line(header),
    ...rows.map(line),
  ];
  for (const [key, n] of notes) {
    const [engine, id] = key.split(':');
    const d = DEVIATIONS.find((x) => x.engine === engine && x.id === id)!;
    out.push(`[${n}] ${engine}: ${id}: ${d.what}`);
  }
  for (const e of mx.engines) if (e.error) out.push(`${e.name} did not run: ${e.error}`);
  if (mx.findings.length > 0) {
    out.push(`findings (${mx.findings.length}):`);
    for (const f of mx.findings) out.push(`  ${f.engine} ${CHECK_TITLES[f.check]}: ${f.detail}`);
  }
  const ran = mx.engines.filter((e) => e.cells).length;
  out.push(mx.ok
    ? `OK: ${ran} engines agree with the spec, or differ only as their catalogued deviations say`
    : `FAIL: ${mx.findings.length} finding${mx.findings.length === 1 ? '' : 's'} no catalogued deviation explains`);
  return `${out.join('\n')}\n`;
}

export function matrixJson(mx: EngineMatrix): string {
  return `${JSON.stringify({
    ok: mx.ok,
    engine: 'all',
    mode: mx.mode,
    tablesPhys: hex(mx.tablesPhys),
    cpu: mx.cpu,
    engines: mx.engines.map((e) => ({ name: e.name, version: e.version, error: e.error, cells: e.cells })),
    disagreements: mx.disagreements,
    findings: mx.findings,
    deviations: DEVIATIONS.map(({ id, engine, checks, what }) => ({ id, engine, checks, what })),
  }, null, 2)}\n`;
}

const escapeXml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

/** One test case per engine and check that engine observes; a failure for each finding. */
export function matrixJunit(mx: EngineMatrix, names: MatrixNames, seconds: number): string {
  const cases: string[] = [];
  let failures = 0;
  let skipped = 0;
  for (const e of mx.engines) {
    for (const check of MATRIX_CHECKS) {
      const name = `${e.name}: ${CHECK_TITLES[check]}`;
      const open = `    <testcase classname="x86pt.verify.${escapeXml(e.name)}" name="${escapeXml(name)}"`;
      const cell = e.cells?.[check];
      if (!cell || cell.status === 'n/a') {
        skipped++;
        cases.push(`${open}><skipped message="${escapeXml(e.error ?? 'not observed by this engine')}"/></testcase>`);
      } else if (cell.status === 'fail' && cell.explainedBy === null) {
        failures++;
        cases.push(`${open}><failure message="${escapeXml(cell.detail)}"/></testcase>`);
      } else {
        cases.push(cell.explainedBy ? `${open}><system-out>${escapeXml(`${cell.status}, explained by ${cell.explainedBy}`)}</system-out></testcase>` : `${open}/>`);
      }
    }
  }
  const time = seconds.toFixed(3);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="x86pt verify --engine all" tests="${cases.length}" failures="${failures}" errors="0" time="${time}">`,
    `  <testsuite name="${escapeXml(`x86pt verify ${names.tablesFile}`)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

/** What `verify --engine all` prints (JSON for --json/--format json, else text) and writes for --junit. */
export function matrixOutputs(mx: EngineMatrix, names: MatrixNames, format: string, seconds: number): { readonly stdout: string; readonly junit: string } {
  return { stdout: format === 'json' ? matrixJson(mx) : matrixText(mx, names), junit: matrixJunit(mx, names, seconds) };
}
