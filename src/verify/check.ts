/**
 * The whole check of a table block against its kernel: the spec says what
 * the tables should do, an engine finds out what they do, and the SDM walker
 * always adds its architectural checks (emulators skip some, e.g. reserved
 * bits in PAE PDPTEs).
 */
import { InputError } from '../core/errors.js';
import type { Engine, MappedRange, ProbeSummary, TablePlacement, Violation, VirtSpan, WalkOptions } from './model.js';
import { compareRanges, type Mismatch } from './compare.js';
import { kernelSpec, type KernelInput, type RefusalRule } from './spec.js';
import { tableBlockProblem, walkerReport, walkTables } from './walker.js';

export interface CheckInput extends KernelInput {
  /** The kernel's symbols (what readElf returns); `sizes`, `era` and `maps` as for kernelSpec. */
  readonly symbols: ReadonlyMap<string, bigint>;
  /** The table block as generated: tables by physical address, the top-level table last. */
  readonly tables: Uint8Array;
  /** Who observes the translations; the SDM walker when omitted. */
  readonly engine?: Engine;
  /** Processor settings for the walker's architectural checks. */
  readonly walkOptions?: WalkOptions;
}

export interface VerifyResult extends TablePlacement {
  /** True when the translations match, nothing is violated and the block has the layout's size. */
  readonly ok: boolean;
  readonly engine: string;
  readonly version: string;
  readonly expected: readonly MappedRange[];
  readonly actual: readonly MappedRange[];
  readonly coverage: readonly VirtSpan[] | 'all';
  readonly mismatches: readonly Mismatch[];
  readonly violations: readonly Violation[];
  /** Problems of the block as a whole: its size against the size the layout needs. */
  readonly blockProblems: readonly string[];
  /** Which pages a probing engine probed (absent for the walker, which reads every entry). */
  readonly probe?: ProbeSummary;
}

/** The kernel's layout is one the policy refuses: there is nothing to verify the tables against. */
export class RefusedLayoutError extends InputError {
  constructor(readonly reasons: readonly string[], readonly rules: readonly RefusalRule[]) {
    super(`the kernel's layout is refused: ${reasons.map((reason, i) => `${reason} (rule ${rules[i]})`).join('; ')}`);
  }
}

/** Whether the engine is the walker reading entries under exactly these settings (its violations are then the walker's). */
function isWalkerUnder(engine: Engine, options: WalkOptions): boolean {
  const own = engine.walkOptions;
  return own !== undefined && own.maxPhysAddr === options.maxPhysAddr && own.nxe === options.nxe && own.pse === options.pse;
}

const violationKey = (v: Violation): string => `${v.level}|${v.entryAddr}|${v.message}`;

/**
 * Verifies a table block against the spec of a kernel's symbols. Throws
 * RefusedLayoutError when the policy refuses the layout, InputError when the
 * block cannot be a table block of the mode.
 */
export async function checkTables(input: CheckInput): Promise<VerifyResult> {
  const spec = kernelSpec(input);
  if (!spec.valid) throw new RefusedLayoutError(spec.reasons, spec.rules);
  const problem = tableBlockProblem(spec.mode, input.tables.byteLength);
  if (problem) throw new InputError(problem);

  const block = { mode: spec.mode, tables: input.tables, tablesPhys: spec.tablesPhys };
  const walkOptions = input.walkOptions ?? {};
  const report = input.engine
    ? await input.engine.run({ ...block, expected: spec.expected })
    : walkerReport(block, walkOptions);
  // A walker engine's report already holds the architectural checks: walk once, not twice.
  const walkedViolations = input.engine && !isWalkerUnder(input.engine, walkOptions) ? walkTables(block, walkOptions).violations : [];

  const violations: Violation[] = [];
  const seen = new Set<string>();
  for (const v of [...walkedViolations, ...report.violations]) {
    const key = violationKey(v);
    if (!seen.has(key)) {
      seen.add(key);
      violations.push(v);
    }
  }
  const blockProblems: string[] = [];
  if (BigInt(input.tables.byteLength) !== spec.tableBytes) {
    blockProblems.push(`the table block is ${input.tables.byteLength} bytes; the layout needs ${spec.tableBytes} (${spec.tableCount} tables, the top-level one last)`);
  }
  const mismatches = compareRanges(spec.expected, report.actual, report.coverage);
  return {
    ok: mismatches.length === 0 && violations.length === 0 && blockProblems.length === 0,
    engine: report.engine,
    version: report.version,
    mode: spec.mode,
    tablesPhys: spec.tablesPhys,
    expected: spec.expected,
    actual: report.actual,
    coverage: report.coverage,
    mismatches,
    violations,
    blockProblems,
    ...(report.probe && { probe: report.probe }),
  };
}
