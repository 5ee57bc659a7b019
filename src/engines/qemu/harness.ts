/**
 * The QEMU harness end to end: plans cases, packs them into boots, runs the
 * boots, and turns each case's guest report and MMU dump into a report in the
 * verifier's terms. A boot whose guest dies on one case is resumed with a new
 * boot from the next case.
 */
import type { ProbePlanOptions } from '../probe/plan.js';
import { execa } from 'execa';
import { InputError } from '../../core/errors.js';
import type { EngineInput, EngineOutcome, EngineReport, MappedRange, Violation, VirtSpan } from '../../verify/model.js';
import { compareRanges, type Mismatch } from '../../verify/compare.js';
import { coalesceRanges } from '../../verify/ranges.js';
import { cannotRunViolation, msFromEnv } from '../probe/failure.js';
import { planNextBoot } from './boot-plan.js';
import { planCase, type CasePlan } from './case-plan.js';
import { observedTranslations, parseGuestCase } from './case-report.js';
import { classifyTableChanges, tableChangesFrom, type TableChange } from '../table-changes.js';
import { intersect, normalize, subtract, type Interval } from '../probe/intervals.js';
import { QEMU_BINARY, runBoot, type BootOptions, type CaseOutput, type CaseStart } from './machine.js';
import { mmuTranslations } from './mmu-dump.js';
import { buildProbeStub } from './stub-build.js';
import { GUEST_MEMORY_MICROVM } from './guest-memory.js';

export interface QemuReport extends EngineReport {
  readonly engine: 'qemu';
  /** The probed spans, plus spans where QEMU's MMU and the walker disagree. */
  readonly coverage: readonly VirtSpan[];
  /** Where the stub's code ran once paging was on, from its own instruction pointer; null if it never got there. */
  readonly ranAt: bigint | null;
  /** Where it was sent: the dual alias of its code page, or the identity address when there is none. */
  readonly sentTo: bigint;
  /** How user access was checked: a read from CPL 3, or a supervisor read with SMAP (no page could run ring-3 code). */
  readonly userCheck: 'cpl3' | 'smap' | null;
  /** Null when the guest probed every page; otherwise why it stopped (its translations then come from QEMU's MMU). */
  readonly guestFailure: string | null;
  /** QEMU's MMU against the walker, over the whole address space (when listed: see CasePlan.mmuListed). */
  readonly mmu: {
    readonly listed: boolean;
    readonly translations: readonly MappedRange[];
    /** Where they differ (executability only where the MMU's leaf refutes the walker). */
    readonly disagreements: readonly Mismatch[];
  };
  /** Mapped pages left out of the probes, and why (the walker still reads their entries). */
  readonly unprobed: readonly { readonly pages: number; readonly reason: string }[];
  /** Entries QEMU changed while probing (the stub lists them after the case, with paging off, or the host reads them back). */
  readonly tableChanges: readonly TableChange[];
}

/** One case's outcome in a batch: a report, or why QEMU cannot host the layout. */
export type QemuCaseResult = Extract<EngineOutcome, { ok: false }> | { readonly ok: true; readonly report: QemuReport };

export interface QemuRunOptions {
  /**
   * Wall-clock limit per boot (X86PT_QEMU_TIMEOUT_MS). By default a boot is
   * held to a CPU-time budget scaled with its work, and the wall clock to
   * four times that.
   */
  readonly timeoutMs?: number;
  /** QEMU's CPU-time budget per boot, instead of the one scaled with its work (the wall clock gets four times it unless `timeoutMs` says otherwise). */
  readonly cpuBudgetMs?: number;
  /** How long QEMU may leave QMP unanswered before it counts as hung; by default X86PT_QEMU_QMP_TIMEOUT_MS, else 30 s. */
  readonly qmpTimeoutMs?: number;
  /** Called as the guest starts each case, with QEMU's pid (tests use it to interfere with QEMU). */
  readonly onCaseStart?: (start: CaseStart) => void;
  /** Which pages the stub probes (default: every page up to 64 MiB mapped, the sampled plan above). */
  readonly probe?: ProbePlanOptions;
}

/**
 * Time a boot is given, in QEMU's CPU time: a start-up allowance, then so
 * much per page probed, signed and listed by QEMU's MMU. The wall clock may
 * run `wallPerCpu` times longer, on a machine shared with other work.
 */
const BUDGET = { bootMs: 10_000, probedPageMs: 0.1, signedPageMs: 0.05, mmuPageMs: 0.05, wallPerCpu: 4 } as const;
const DEFAULT_QMP_TIMEOUT_MS = 30_000;

const pagesOf = (runs: readonly { pages: number }[]): number => runs.reduce((n, r) => n + r.pages, 0);
/** Pages QEMU's monitor lists for the case: all it maps, when listed at all. */
const mappedPages = (plan: CasePlan): number => (plan.mmuListed ? plan.mappedPages : 0);

/** The boot options for one boot of `plans`, numbered from `first` of `total`. */
export function bootOptions(plans: readonly CasePlan[], options: QemuRunOptions, first: number, total: number): BootOptions {
  const probed = plans.reduce((n, c) => n + pagesOf(c.probeRuns), 0);
  const signed = plans.reduce((n, c) => n + pagesOf(c.signRuns), 0);
  const listed = plans.reduce((n, c) => n + mappedPages(c), 0);
  const budget = BUDGET.bootMs + probed * BUDGET.probedPageMs + signed * BUDGET.signedPageMs + listed * BUDGET.mmuPageMs;
  const given = options.timeoutMs ?? msFromEnv('X86PT_QEMU_TIMEOUT_MS');
  const cpu = options.cpuBudgetMs ?? (given === undefined ? Math.ceil(budget) : undefined);
  return {
    timeoutMs: given ?? cpu! * BUDGET.wallPerCpu,
    ...(cpu !== undefined && { cpuBudgetMs: cpu }),
    budgetFor: `${plans.length} case${plans.length === 1 ? '' : 's'}: ${probed} pages probed, ${signed} signed, ${listed} listed by its MMU`,
    qmpTimeoutMs: options.qmpTimeoutMs ?? msFromEnv('X86PT_QEMU_QMP_TIMEOUT_MS') ?? DEFAULT_QMP_TIMEOUT_MS,
    mmuReadMs: (i) => (plans[i] ? mappedPages(plans[i]) * BUDGET.mmuPageMs : 0),
    numbering: { first, total },
    ...(options.onCaseStart && { onCaseStart: options.onCaseStart }),
  };
}

let versionOnce: Promise<string> | undefined;

/** '7.2.22', from `qemu-system-x86_64 --version`. */
export function qemuVersion(): Promise<string> {
  versionOnce ??= execa(QEMU_BINARY, ['--version']).then(
    (r) => {
      const m = /version (\d+\.\d+(?:\.\d+)?)/.exec(r.stdout);
      if (!m) throw new Error(`cannot read the version from '${r.stdout.split('\n')[0]}'`);
      return m[1]!;
    },
    (err: unknown) => {
      versionOnce = undefined;
      throw new InputError(`${QEMU_BINARY} is not usable (${(err as Error).message.split('\n')[0]}); install it with: npm run setup (or: apt-get install --no-install-recommends qemu-system-x86)`);
    },
  );
  return versionOnce;
}

/** Runs every case; refusals come back per case, everything else throws. */
export async function runQemuCases(inputs: readonly EngineInput[], options: QemuRunOptions = {}): Promise<QemuCaseResult[]> {
  const results: (QemuCaseResult | undefined)[] = inputs.map(() => undefined);
  const planned: { index: number; plan: CasePlan }[] = [];
  const stub = inputs.length > 0 ? await buildProbeStub() : undefined;
  inputs.forEach((input, index) => {
    try {
      const plan = planCase(input, options.probe, GUEST_MEMORY_MICROVM);
      planNextBoot([plan], stub!); // refuses a layout that leaves no room for the stub
      planned.push({ index, plan });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      results[index] = { ok: false, error: err };
    }
  });
  const reports = await runPlans(planned.map((p) => p.plan), options);
  planned.forEach((p, i) => {
    results[p.index] = { ok: true, report: reports[i]! };
  });
  return results as QemuCaseResult[];
}

/** Runs planned cases, as many per boot as fit, in order; a boot whose guest dies goes on in a new boot. */
export async function runPlans(plans: readonly CasePlan[], options: QemuRunOptions = {}): Promise<QemuReport[]> {
  const reports: QemuReport[] = [];
  if (plans.length === 0) return reports;
  const [stub, version] = await Promise.all([buildProbeStub(), qemuVersion()]);
  let pending = plans.slice();
  while (pending.length > 0) {
    const boot = planNextBoot(pending, stub);
    const out = await runBoot(stub, boot, bootOptions(boot.cases, options, plans.length - pending.length + 1, plans.length));
    let finished = 0;
    for (const [i, output] of out.cases.entries()) {
      if (!output.done && !output.died) break;
      reports.push(caseReport(boot.cases[i]!, output, version));
      finished++;
    }
    if (finished === 0) throw new Error(`QEMU stopped before finishing any case of a boot${out.stderr ? `: ${out.stderr.trim()}` : ''}`);
    pending = pending.slice(finished);
  }
  return reports;
}

function caseReport(plan: CasePlan, output: CaseOutput, version: string): QemuReport {
  const { input } = plan;
  if (!output.mmu) throw new Error('the guest finished a case without halting for the MMU dump');
  const mmu = plan.mmuListed ? mmuTranslations(input.mode, output.mmu.tlb, output.mmu.mem) : [];
  const disagreements = plan.mmuListed ? compareRanges(plan.walker.walk().ranges, mmu, 'all').filter((m) => !hiddenNonLeafXd(m)) : [];
  const guest = parseGuestCase(output.lines);
  const probed = plan.coverage;
  const failure = output.died ? `${output.died.reason}; QEMU's registers then:\n${output.died.registers.trim()}` : guest.finished ? null : 'the guest stopped without finishing';
  // A guest that could not finish leaves QEMU's MMU as the only witness of the probed spans.
  const seen = failure === null ? observedTranslations(plan, guest, mmu, output.physOf) : clip(mmu, probed);
  // Where the MMU and the walker disagree outside the probes, the MMU's view is reported too.
  const extra = subtractSpans(disagreements.map((m) => ({ virt: m.virt, size: m.size })), probed);
  const coverage = mergeSpans([...probed, ...extra]);
  return {
    engine: 'qemu',
    version,
    actual: coalesceRanges([...seen, ...clip(mmu, extra)]),
    coverage,
    violations: output.died ? [stubDied(plan, output.died.reason)] : [],
    ranAt: guest.ranAt,
    sentTo: plan.code.runVirt,
    userCheck: guest.userCheck,
    guestFailure: failure,
    mmu: { listed: plan.mmuListed, translations: mmu, disagreements },
    unprobed: plan.unprobed,
    tableChanges: output.tableXors ? tableChangesFrom(input, output.tableXors) : classifyTableChanges(input, output.lines),
  };
}

/**
 * The guest died: the tables did not let the stub run where it was sent.
 * Reported as a violation so the verdict fails even where QEMU's MMU dump
 * (blind to non-leaf XD) matches the spec.
 */
function stubDied(plan: CasePlan, reason: string): Violation {
  const where = `code at virtual 0x${plan.code.runVirt.toString(16)} (physical 0x${plan.code.phys.toString(16)}), context at 0x${plan.context.phys.toString(16)}`;
  const why = plan.walkerAgrees
    ? `the walker maps these pages as the stub needs, so QEMU's CPU and the walker disagree about these tables`
    : 'no page both should and does (by the walker) give the stub what it needs';
  return cannotRunViolation(plan.input, 'the QEMU stub', `${reason}; ${why}`, where);
}

/** The walker says not executable, the MMU's leaf has no XD, and all else agrees: a non-leaf XD the monitor cannot show. */
function hiddenNonLeafXd(m: Mismatch): boolean {
  const { expected: walker, actual: qemu } = m;
  return walker !== null && qemu !== null && walker.phys === qemu.phys && walker.writable === qemu.writable
    && walker.user === qemu.user && !walker.executable && qemu.executable;
}

const toIntervals = (spans: readonly VirtSpan[]): Interval[] => normalize(spans.map((s) => ({ start: s.virt, end: s.virt + s.size })));
const toSpans = (intervals: readonly Interval[]): VirtSpan[] => intervals.map((i) => ({ virt: i.start, size: i.end - i.start }));
const mergeSpans = (spans: readonly VirtSpan[]): VirtSpan[] => toSpans(toIntervals(spans));

const subtractSpans = (spans: readonly VirtSpan[], remove: readonly VirtSpan[]): VirtSpan[] =>
  toSpans(subtract(toIntervals(spans), toIntervals(remove)));

/** The parts of the ranges inside the spans. */
function clip(ranges: readonly MappedRange[], spans: readonly VirtSpan[]): MappedRange[] {
  const within = toIntervals(spans);
  const out: MappedRange[] = [];
  for (const r of ranges) {
    for (const part of intersect([{ start: r.virt, end: r.virt + r.size }], within)) {
      out.push({ ...r, virt: part.start, phys: r.phys + (part.start - r.virt), size: part.end - part.start });
    }
  }
  return out;
}
