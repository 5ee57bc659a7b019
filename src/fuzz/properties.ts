/**
 * The properties every fuzzed layout must satisfy, judged against the spec
 * (what the ELF asks for) and the walker (what the tables do):
 *   1. an accepted layout translates exactly as the spec says;
 *   2. the generator accepts what the spec accepts and refuses what it
 *      refuses, and a refusal writes nothing;
 *   3. the tables break no architectural rule;
 *   4. the table block has the minimal size and table count, top level last;
 *   5. the same ELF gives the same bytes.
 * A case yields findings, one per broken property, most telling first.
 */
import { InputError } from '../core/errors.js';
import { parseElf } from '../elf/reader.js';
import { checkTables, type VerifyResult } from '../verify/check.js';
import { mismatchKind } from '../verify/compare.js';
import { hex } from '../core/text.js';
import { verifyText, violationLine } from '../verify/format.js';
import { hostingReason, type Engine, type EngineInput, type EngineReport, type ProbeSummary } from '../verify/model.js';
import { topTablePhys } from '../verify/paging-modes.js';
import { kernelSpec, specFromSymbols, type KernelInput, type Spec } from '../verify/spec.js';
import { tableBlockProblem } from '../verify/walker.js';
import { createWalkerEngine } from '../engines/walker.js';
import type { GeneratorOutcome, TableGenerator } from './generators.js';
import { FINDING_KINDS, type Finding, type FindingKind } from './findings.js';
import { layoutElf, layoutEra, layoutMaps, type FuzzLayout } from './layout.js';

export type { Finding, FindingKind } from './findings.js';

/** Everything known about one fuzzed case. */
export interface CaseReport {
  readonly layout: FuzzLayout;
  readonly elf: Uint8Array;
  readonly spec: Spec;
  readonly outcome: GeneratorOutcome;
  /** The second run's outcome, when determinism was checked. */
  readonly rerun?: GeneratorOutcome;
  /** Findings that count, sorted most telling first. */
  readonly findings: readonly Finding[];
  /** Findings of kinds the campaign was told to ignore. */
  readonly ignored: readonly Finding[];
  /** Set when the engine could not host the case and the walker stood in: why, in one line. */
  readonly engineFallback?: string;
  /** The reason code of that refusal (HostingRefusal's `reason`, or the default). */
  readonly engineFallbackReason?: string;
  /** Which pages a probing engine probed of this case. */
  readonly probe?: ProbeSummary;
  /** Set when an engine other than the walker observed the tables. */
  readonly engineHosted?: boolean;
}

export interface CaseContext {
  readonly generator: TableGenerator;
  /** Who observes the translations (the walker's architectural checks run regardless). */
  readonly engine: Engine;
  /** Exit status a refusal must have; any non-zero status when undefined. */
  readonly refusalExit?: number;
  /** Run the generator twice and compare. */
  readonly determinism: boolean;
  readonly ignore: ReadonlySet<FindingKind>;
}

/** Where `a` and `b` first differ, or -1 when equal. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function describeOutcome(o: GeneratorOutcome): string {
  switch (o.kind) {
    case 'tables': return `${o.bytes.length} bytes of tables`;
    case 'refused': return `refused (exit ${o.exitCode}${o.message ? `: ${o.message}` : ''})`;
    case 'crashed': return `crashed (${o.message})`;
    case 'timeout': return `timed out (${o.message})`;
  }
}

function determinismFinding(first: GeneratorOutcome, second: GeneratorOutcome): Finding | null {
  if (first.kind === 'tables' && second.kind === 'tables') {
    const at = firstDifference(first.bytes, second.bytes);
    if (at < 0) return null;
    return {
      kind: 'nondeterministic',
      summary: `two runs on the same ELF wrote different tables (first difference at byte ${at} of ${first.bytes.length}/${second.bytes.length})`,
      details: [`byte ${at}: ${first.bytes[at] ?? 'end of file'} then ${second.bytes[at] ?? 'end of file'}`],
    };
  }
  if (first.kind === second.kind && first.kind !== 'tables') {
    const same = first.kind !== 'refused' || (second.kind === 'refused' && first.exitCode === second.exitCode);
    if (same) return null;
  }
  return {
    kind: 'nondeterministic',
    summary: `two runs on the same ELF answered differently: ${describeOutcome(first)}, then ${describeOutcome(second)}`,
    details: [],
  };
}

/** What an engine saw of one case, computed ahead (a batch) or to be computed now. */
export type EngineResult =
  | { readonly ok: true; readonly report: EngineReport }
  | { readonly ok: false; readonly error: InputError };

/** An engine that answers with what another run already observed. */
const replayEngine = (name: string, report: EngineReport): Engine => ({ name, run: async () => report });

/** `engine`, telling `seen` each report it makes. */
const recordingEngine = (engine: Engine, seen: (report: EngineReport) => void): Engine => ({
  name: engine.name,
  ...(engine.walkOptions ? { walkOptions: engine.walkOptions } : {}),
  run: async (input) => {
    const report = await engine.run(input);
    seen(report);
    return report;
  },
});

/** What tableFindings and answerFindings return. */
interface Answer {
  readonly findings: Finding[];
  readonly engineFallback?: string;
  readonly engineFallbackReason?: string;
  readonly probe?: ProbeSummary;
  readonly engineHosted?: boolean;
}

/** The findings of tables the spec accepts the layout for. */
async function tableFindings(
  spec: Extract<Spec, { valid: true }>, kernel: KernelInput, outcome: Extract<GeneratorOutcome, { kind: 'tables' }>,
  engine: Engine, observed: EngineResult | undefined,
): Promise<Answer> {
  const findings: Finding[] = [];
  const problem = tableBlockProblem(spec.mode, outcome.bytes.byteLength);
  if (problem) {
    return { findings: [{ kind: 'structure', summary: `the output cannot be a ${spec.mode} table block: ${problem}`, details: [] }] };
  }
  let result: VerifyResult;
  let engineFallback: string | undefined;
  let engineFallbackReason: string | undefined;
  let probe: ProbeSummary | undefined;
  const walkerOnly = async (err: InputError): Promise<VerifyResult> => {
    // The emulator cannot host this layout (e.g. memory it cannot provide); the walker still judges it.
    engineFallback = err.message.startsWith(`${engine.name}: `) ? err.message : `${engine.name}: ${err.message}`;
    engineFallbackReason = hostingReason(err);
    return checkTables({ ...kernel, tables: outcome.bytes, engine: await createWalkerEngine() });
  };
  if (observed && !observed.ok) {
    result = await walkerOnly(observed.error);
  } else {
    try {
      const observer = observed ? replayEngine(engine.name, observed.report) : engine;
      result = await checkTables({ ...kernel, tables: outcome.bytes, engine: recordingEngine(observer, (r) => { probe = r.probe; }) });
    } catch (err) {
      if (!(err instanceof InputError) || engine.name === 'walker') throw err;
      result = await walkerOnly(err);
    }
  }
  const report = verifyText(result, { tablesFile: 'tables.bin', kernelFile: 'kernel.elf' }).trimEnd().split('\n').slice(1);
  if (result.mismatches.length > 0) {
    const m = result.mismatches[0]!;
    const what = `${result.mismatches.length} mismatch${result.mismatches.length === 1 ? '' : 'es'} with the spec, the first at ${hex(m.virt)} (${mismatchKind(m)}, ${m.size / 4096n} page${m.size === 4096n ? '' : 's'})`;
    // An emulator's word alone does not convict the generator: the SDM walker must see it too.
    const walkerAgrees = result.engine === 'walker'
      || (await checkTables({ ...kernel, tables: outcome.bytes, engine: await createWalkerEngine() })).mismatches.length > 0;
    findings.push({
      kind: walkerAgrees ? 'translation' : 'engine-disagreement',
      summary: walkerAgrees ? what : `engine ${result.engine} sees ${what}; the SDM walker sees none`,
      details: report.filter((line) => !line.startsWith('size:')),
    });
  }
  if (result.violations.length > 0) {
    findings.push({
      kind: 'violation',
      summary: `${result.violations.length} architectural violation${result.violations.length === 1 ? '' : 's'}, the first: ${violationLine(result.violations[0]!)}`,
      details: result.violations.slice(0, 8).map(violationLine),
    });
  }
  const structure = [...result.blockProblems];
  if (outcome.tableCount !== undefined && outcome.tableCount !== spec.tableCount) {
    structure.push(`the generator reports ${outcome.tableCount} tables; the layout needs ${spec.tableCount}`);
  }
  const topExpected = topTablePhys(spec.mode, spec.tablesPhys, outcome.bytes.byteLength);
  if (outcome.topLevelPhys !== undefined && outcome.topLevelPhys !== topExpected) {
    structure.push(`the top-level table is at ${hex(outcome.topLevelPhys)}, not last in the block (${hex(topExpected)})`);
  }
  if (structure.length > 0) findings.push({ kind: 'structure', summary: structure[0]!, details: structure.slice(1) });
  const hosted = engine.name !== 'walker' && engineFallback === undefined;
  return { findings, ...(engineFallback ? { engineFallback, engineFallbackReason: engineFallbackReason! } : {}), ...(probe ? { probe } : {}), ...(hosted ? { engineHosted: true } : {}) };
}

/** The findings of the first run's answer. */
async function answerFindings(
  spec: Spec, kernel: KernelInput, outcome: GeneratorOutcome, context: CaseContext, observed: EngineResult | undefined,
): Promise<Answer> {
  switch (outcome.kind) {
    case 'crashed': return { findings: [{ kind: 'crash', summary: `the generator crashed: ${outcome.message}`, details: [] }] };
    case 'timeout': return { findings: [{ kind: 'timeout', summary: `the generator timed out: ${outcome.message}`, details: [] }] };
    case 'refused': {
      if (spec.valid) {
        return { findings: [{ kind: 'rejected-valid', summary: `refused a layout the policy accepts (exit ${outcome.exitCode}${outcome.message ? `: ${outcome.message}` : ''})`, details: [] }] };
      }
      const findings: Finding[] = [];
      if (outcome.leftovers.length > 0) {
        const files = outcome.leftovers.map((f) => `${f.name} (${f.bytes} bytes)`).join(', ');
        findings.push({ kind: 'wrote-on-refusal', summary: `refused (exit ${outcome.exitCode}) but left ${files} behind`, details: [] });
      }
      if (context.refusalExit !== undefined && outcome.exitCode !== context.refusalExit) {
        findings.push({ kind: 'refusal-exit', summary: `refused with exit ${outcome.exitCode}, not ${context.refusalExit}${outcome.message ? `: ${outcome.message}` : ''}`, details: [] });
      }
      return { findings };
    }
    case 'tables': {
      if (!spec.valid) {
        return {
          findings: [{
            kind: 'accepted-refused',
            summary: `wrote ${outcome.bytes.length} bytes of tables for a layout the policy refuses (rule ${[...new Set(spec.rules)].join(', ')}): ${spec.reasons[0]}`,
            details: spec.reasons.slice(1).map((reason, i) => `rule ${spec.rules[i + 1]}: ${reason}`),
          }],
        };
      }
      return tableFindings(spec, kernel, outcome, context.engine, observed);
    }
  }
}

const rank = (f: Finding): number => FINDING_KINDS.indexOf(f.kind);

/** A layout and the generator's answer, not yet judged. */
export interface PreparedCase {
  readonly layout: FuzzLayout;
  readonly elf: Uint8Array;
  readonly symbols: ReadonlyMap<string, bigint>;
  /** The symbols with the era, sizes and --map arguments the spec reads. */
  readonly kernel: KernelInput;
  readonly spec: Spec;
  readonly outcome: GeneratorOutcome;
  readonly rerun?: GeneratorOutcome;
}

/** Writes the layout's ELF and runs the generator on it (twice, for determinism). */
export async function prepareCase(layout: FuzzLayout, context: CaseContext): Promise<PreparedCase> {
  const elf = layoutElf(layout);
  const { symbols, sizes } = parseElf(elf, 'kernel.elf');
  const maps = layoutMaps(layout);
  // Seed layouts are judged by the seed's contract even when a symbol is left out on purpose (no era detection).
  const kernel: KernelInput = { symbols, sizes, era: layoutEra(layout), maps };
  const spec = layout.era ? kernelSpec(kernel) : specFromSymbols(symbols);
  const [outcome, rerun] = await Promise.all([
    context.generator.generate(elf, { era: kernel.era!, maps }),
    context.determinism ? context.generator.generate(elf, { era: kernel.era!, maps }) : Promise.resolve(undefined),
  ]);
  return { layout, elf, symbols, kernel, spec, outcome, ...(rerun ? { rerun } : {}) };
}

/** What an engine must observe for the case, or null when there are no tables to judge (refused, malformed). */
export function engineInputOf(prepared: PreparedCase): EngineInput | null {
  const { spec, outcome } = prepared;
  if (!spec.valid || outcome.kind !== 'tables' || tableBlockProblem(spec.mode, outcome.bytes.byteLength)) return null;
  return { mode: spec.mode, tables: outcome.bytes, tablesPhys: spec.tablesPhys, expected: spec.expected };
}

/** Judges a prepared case; `observed` is the engine's view when a batch already computed it. */
export async function judgeCase(prepared: PreparedCase, context: CaseContext, observed?: EngineResult): Promise<CaseReport> {
  const { layout, elf, kernel, spec, outcome, rerun } = prepared;
  const answer = await answerFindings(spec, kernel, outcome, context, observed);
  const all = [...answer.findings];
  if (rerun) {
    const finding = determinismFinding(outcome, rerun);
    if (finding) all.push(finding);
  }
  all.sort((a, b) => rank(a) - rank(b));
  return {
    layout, elf, spec, outcome,
    ...(rerun ? { rerun } : {}),
    findings: all.filter((f) => !context.ignore.has(f.kind)),
    ignored: all.filter((f) => context.ignore.has(f.kind)),
    ...(answer.engineFallback ? { engineFallback: answer.engineFallback, engineFallbackReason: answer.engineFallbackReason! } : {}),
    ...(answer.probe ? { probe: answer.probe } : {}),
    ...(answer.engineHosted ? { engineHosted: true } : {}),
  };
}

/** Runs one layout through the generator and judges the answer. */
export async function evaluateLayout(layout: FuzzLayout, context: CaseContext): Promise<CaseReport> {
  return judgeCase(await prepareCase(layout, context), context);
}
