/**
 * The Bochs engine: the QEMU probe stub, unchanged in what it probes, booted
 * by our ROM loader as a multiboot kernel on a Bochs CPU model with the
 * profile's features. The same plan (qemu/case-plan.ts, probe/plan.ts), the
 * same staging format (qemu/stub-abi.ts); what differs is the witness: there
 * is no monitor, so the stub's own observations are all there is, and the
 * faults Bochs raises are its findings (it checks what QEMU's TCG skips).
 */
import { InputError } from '../../core/errors.js';
import type { Engine, EngineInput, EngineOutcome, EngineReport, MappedRange, Violation, VirtSpan } from '../../verify/model.js';
import { coalesceRanges } from '../../verify/ranges.js';
import { topTablePhys } from '../../verify/paging-modes.js';
import type { CpuProfile } from '../cpu.js';
import { EngineFailure, cannotRunViolation, duration, msFromEnv } from '../probe/failure.js';
import { intersect, normalize, subtract, type Interval } from '../probe/intervals.js';
import { PAGE, hex, pageAddress } from '../probe/pages.js';
import { pageOfSignature } from '../probe/signature.js';
import { planNextBoot, type BootPlan } from '../qemu/boot-plan.js';
import { planCase, type CasePlan } from '../qemu/case-plan.js';
import { parseGuestCase, type GuestCase } from '../qemu/case-report.js';
import { STUB_ABI as ABI } from '../qemu/stub-abi.js';
import { buildProbeStub, imageLoadedAt } from '../qemu/stub-build.js';
import { bochsModelFor } from './cpu-profile.js';
import { bochsVersion, runMultiboot } from './harness.js';
import { classifyTableChanges, type TableChange } from '../table-changes.js';

export const BOCHS_ENGINE = 'bochs';

/** Physical memory the loader keeps: page 0, and the legacy VGA window and ROM shadow (writes there do not stick). */
export const LOADER_RESERVED: readonly (Interval & { readonly what: string })[] = [
  { start: 0n, end: 0x1000n, what: "page 0 (the Bochs loader's)" },
  { start: 0xa0000n, end: 0x100000n, what: 'the legacy VGA window and ROM shadow at 0xa0000-0xfffff' },
];

/** A fault Bochs raised that the probes did not provoke, or one they provoked with RSVD set. */
export interface BochsFault {
  readonly vector: number;
  readonly ip: bigint;
  readonly errorCode: number;
  readonly cr2: bigint;
  /** Where: loading the PDPTEs (paging not on yet), or probing a virtual page. */
  readonly during: 'paging-on' | 'probe' | 'stub';
}

export interface BochsReport extends EngineReport {
  readonly engine: 'bochs';
  /** The CPU model Bochs ran. */
  readonly model: string;
  /** Faults that stopped the stub, and reserved-bit #PFs the probes saw. */
  readonly faults: readonly BochsFault[];
  /** Entries of the tables Bochs changed while the case ran (the stub compared them with the originals). */
  readonly tableChanges: readonly TableChange[];
}

export type BochsCaseResult = Extract<EngineOutcome, { ok: false }> | { readonly ok: true; readonly report: BochsReport };

export interface BochsRunOptions {
  /** Wall-clock limit per boot; by default X86PT_BOCHS_TIMEOUT_MS, else scaled with the boot's work. */
  readonly timeoutMs?: number;
}

/** A boot's time: start-up (Bochs's grows with RAM), then so much per page probed or signed. */
const BUDGET = { bootMs: 20_000, perGiBMs: 10_000, probedPageMs: 0.5, signedPageMs: 0.1 } as const;
const VEC_GP = 0x0d;
const VEC_PF = 0x0e;
const PF_RSVD = 0x08;

const pagesOf = (runs: readonly { pages: number }[]): number => runs.reduce((n, r) => n + r.pages, 0);

/** Why Bochs cannot run this profile (for this mode), or null. */
export function profileProblem(profile: CpuProfile, mode: EngineInput['mode'] | null): string | null {
  let model;
  try {
    model = bochsModelFor(profile);
  } catch (err) {
    if (err instanceof InputError) return err.message;
    throw err;
  }
  if (!profile.wp) return 'the probe stub always sets CR0.WP (write probes of read-only pages rely on it); a profile without it cannot be run';
  if (mode !== null && mode !== '32bit' && !profile.nxe) return `the probe stub turns EFER.NXE on in ${mode} mode; the ${model.model} model has no NX`;
  if (mode === 'ia32e' && !model.longMode) return `the ${model.model} model has no IA-32e mode`;
  return null;
}

/** Why Bochs cannot host the planned case, or null. */
function hostProblem(plan: CasePlan, profile: CpuProfile): string | null {
  const mode = plan.input.mode;
  const problem = profileProblem(profile, mode);
  if (problem) return problem;
  for (const reserved of LOADER_RESERVED) {
    const hit = intersect(plan.footprint, [reserved])[0];
    if (hit) return `the layout maps or holds tables in physical ${hex(hit.start)}-${hex(hit.end)}, in ${reserved.what}: the Bochs engine cannot sign or place pages there`;
  }
  if (!plan.code.ringThree && !profile.smap) return 'no page lets the stub run ring-3 code, and the CPU has no SMAP to check user access with instead';
  return null;
}

/** The boot's staging area as Bochs needs it: no pause for a monitor (Bochs has none), and the tables compared afterwards. */
export function stagingForBochs(boot: BootPlan): Uint8Array {
  const staging = boot.staging.slice();
  const view = new DataView(staging.buffer);
  for (let i = 0; i < boot.cases.length; i++) {
    const at = ABI.S_BYTES + ABI.D_BYTES * i + ABI.D_FLAGS;
    view.setUint32(at, ((view.getUint32(at, true) & ~ABI.F_PAUSE) | ABI.F_TABLE_DIFF) >>> 0, true);
  }
  return staging;
}

/** Runs every case on Bochs; refusals come back per case, emulator failures throw EngineFailure. */
export async function runBochsCases(inputs: readonly EngineInput[], profile: CpuProfile, options: BochsRunOptions = {}): Promise<BochsCaseResult[]> {
  const results: (BochsCaseResult | undefined)[] = inputs.map(() => undefined);
  if (inputs.length === 0) return [];
  const [stub, version] = await Promise.all([buildProbeStub(), bochsVersion()]);
  const planned: { index: number; plan: CasePlan }[] = [];
  inputs.forEach((input, index) => {
    try {
      const plan = planCase(input);
      const problem = hostProblem(plan, profile);
      if (problem) throw new InputError(problem);
      planNextBoot([plan], stub);
      planned.push({ index, plan });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      results[index] = { ok: false, error: new InputError(`bochs: ${err.message.replace(/the QEMU stub/g, 'the probe stub')}`) };
    }
  });
  const model = bochsModelFor(profile).model;
  let pending = planned.slice();
  const total = planned.length;
  while (pending.length > 0) {
    const boot = planNextBoot(pending.map((p) => p.plan), stub);
    const first = total - pending.length + 1;
    const probed = boot.cases.reduce((n, c) => n + pagesOf(c.probeRuns), 0);
    const signed = boot.cases.reduce((n, c) => n + pagesOf(c.signRuns), 0);
    const timeoutMs = options.timeoutMs ?? msFromEnv('X86PT_BOCHS_TIMEOUT_MS')
      ?? Math.ceil(BUDGET.bootMs + (Number(boot.memoryBytes) / 2 ** 30) * BUDGET.perGiBMs + probed * BUDGET.probedPageMs + signed * BUDGET.signedPageMs);
    const run = await runMultiboot({
      image: imageLoadedAt(stub, boot.homePhys, boot.stagingPhys),
      extra: [{ phys: boot.stagingPhys, bytes: stagingForBochs(boot) }],
      profile,
      memoryBytes: Number(boot.memoryBytes),
      timeoutMs,
      // The stub ends by writing QEMU's exit port, which Bochs ignores, and halting: 'z' is the end, 'x' a case that died.
      stopAtLine: (line) => line === 'z' || line.startsWith('x '),
    });
    if (process.env.X86PT_BOCHS_TRACE) process.stderr.write(`${Buffer.from(run.console).toString("latin1")}\n--- log\n${run.log}\n`);
    const sections = caseSections(Buffer.from(run.console).toString('latin1'));
    const caseOf = (k: number): string => `case ${first + k} of ${total}`;
    let finished = 0;
    let died = false;
    for (let k = 0; k < boot.cases.length && !died; k++) {
      const lines = sections[k];
      if (!lines) break;
      died = lines.some((l) => l.startsWith('x '));
      // A case is over when the stub died on it, the next one started, or the stub printed 'z'.
      if (!died && k + 1 >= sections.length && !sections.ended) break;
      results[pending[k]!.index] = { ok: true, report: caseReport(boot.cases[k]!, lines, version, model) };
      finished++;
    }
    if (finished < boot.cases.length && !died) {
      const current = sections[finished];
      if (run.exit.kind === 'triple-fault' && current) {
        // The stub's own handlers could not take the fault (with paging off its IDT points at the dual alias): Bochs's log says which check failed.
        const plan = boot.cases[finished]!;
        const guest = parseGuestCase(current);
        const pdptr = /Set(CR[03])\(\): PDPTR check failed/.exec(run.log);
        const report = pdptr && guest.ranAt === null && plan.input.mode === 'pae'
          ? pdpteLoadReport(plan, version, model, `MOV to ${pdptr[1]}`)
          : diedReport(plan, version, model, `Bochs stopped on a triple fault (${run.exit.message})`, guest);
        results[pending[finished]!.index] = { ok: true, report };
        finished++;
      } else {
        const why = run.exit.kind === 'timeout' ? `Bochs did not finish in ${duration(run.exit.afterMs)}`
          : run.exit.kind === 'failed' ? `Bochs failed (${run.exit.message})`
          : run.exit.kind === 'triple-fault' ? `Bochs stopped on a triple fault before the stub reported (${run.exit.message})`
          : `Bochs ended (${run.exit.kind}) before the stub reported`;
        throw new EngineFailure(BOCHS_ENGINE, `${why} while probing ${caseOf(finished)}`);
      }
    }
    pending = pending.slice(finished);
  }
  return results as BochsCaseResult[];
}

/** The console's lines per case (after its `c` line); `ended` when the stub printed `z`. */
function caseSections(text: string): string[][] & { ended: boolean } {
  const sections: string[][] = [];
  let ended = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('c ')) sections.push([]);
    else if (line === 'z') ended = true;
    else if (line !== '' && sections.length > 0) sections[sections.length - 1]!.push(line);
  }
  return Object.assign(sections, { ended });
}

function parseTrap(line: string): { vector: number; ip: bigint; errorCode: number; cr2: bigint } {
  const [, vector, ip, error, cr2] = line.split(' ');
  const num = (s: string | undefined): bigint => {
    if (!s || !/^[0-9a-f]+$/.test(s)) throw new Error(`malformed exception line '${line}' from the stub`);
    return BigInt(`0x${s}`);
  };
  return { vector: Number(num(vector)), ip: num(ip), errorCode: Number(num(error)), cr2: num(cr2) };
}

/** An engine's own violation: at the top table, naming Bochs. */
function bochsViolation(level: string, entryAddr: bigint, message: string): Violation {
  return { level, path: [], entryAddr, message: `bochs: ${message}`, engine: BOCHS_ENGINE };
}

function faultViolation(plan: CasePlan, fault: BochsFault): Violation {
  const { mode, tablesPhys, tables } = plan.input;
  const top = topTablePhys(mode, tablesPhys, tables.byteLength);
  const code = `error code ${hex(fault.errorCode)}`;
  if (fault.vector === VEC_GP && fault.during === 'paging-on' && mode === 'pae') {
    return bochsViolation('PDPTE', top, `#GP(0) at MOV to CR0/CR3 (${hex(fault.ip)}) loading the PAE PDPTEs: a PDPTE has a reserved bit set, so paging never came on`);
  }
  if (fault.vector === VEC_PF && (fault.errorCode & PF_RSVD) !== 0) {
    return bochsViolation('CR3', top, `#PF (${code}, RSVD) at virtual ${hex(fault.cr2)}: an entry on its walk has a reserved bit set`);
  }
  return cannotRunViolation(plan.input, 'the probe stub on Bochs', `exception ${fault.vector} (${code}) at ${hex(fault.ip)}, CR2 ${hex(fault.cr2)}`, `code at virtual ${hex(plan.code.runVirt)}`);
}

/** Bochs refused the PDPTEs when loading them (its log says so): #GP(0), paging never came on. */
function pdpteLoadReport(plan: CasePlan, version: string, model: string, at: string): BochsReport {
  const { mode, tablesPhys, tables } = plan.input;
  const violation = bochsViolation('PDPTE', topTablePhys(mode, tablesPhys, tables.byteLength),
    `#GP(0) at ${at} loading the PAE PDPTEs (Bochs: "PDPTR check failed"): a PDPTE has a reserved bit set, so paging never came on`);
  return { engine: 'bochs', version, model, actual: [], coverage: [], violations: [violation], tableChanges: [], faults: [{ vector: VEC_GP, ip: 0n, errorCode: 0, cr2: 0n, during: 'paging-on' }] };
}

function diedReport(plan: CasePlan, version: string, model: string, why: string, guest: GuestCase): BochsReport {
  return {
    engine: 'bochs', version, model,
    actual: [], coverage: [], faults: [], tableChanges: [],
    violations: [{ ...cannotRunViolation(plan.input, 'the probe stub on Bochs', why, guest.ranAt === null ? 'before paging came on' : `code at virtual ${hex(plan.code.runVirt)}`), engine: BOCHS_ENGINE }],
  };
}

function caseReport(plan: CasePlan, lines: readonly string[], version: string, model: string): BochsReport {
  const guest = parseGuestCase(lines);
  const trapLine = lines.find((l) => l.startsWith('x '));
  const faults: BochsFault[] = [];
  const violations: Violation[] = [];
  if (trapLine) {
    const trap = parseTrap(trapLine);
    const fault: BochsFault = { ...trap, during: guest.ranAt === null ? 'paging-on' : 'stub' };
    faults.push(fault);
    const v = faultViolation(plan, fault);
    violations.push({ ...v, engine: BOCHS_ENGINE });
    // Nothing was observed: the stub stopped on this case.
    return { engine: 'bochs', version, model, actual: [], coverage: [], violations, faults, tableChanges: [] };
  }
  if (!guest.finished) return diedReport(plan, version, model, 'the stub stopped without finishing the case', guest);
  const { actual, coverage, unplaced } = observed(plan, guest);
  for (const run of guest.runs) {
    if (run.flags & ABI.O_READ) continue;
    if ((Number(run.value) & PF_RSVD) !== 0) {
      const fault: BochsFault = { vector: VEC_PF, ip: 0n, errorCode: Number(run.value), cr2: run.virt, during: 'probe' };
      faults.push(fault);
      violations.push(faultViolation(plan, fault));
    }
  }
  for (const virt of unplaced) {
    violations.push(bochsViolation('CR3', topTablePhys(plan.input.mode, plan.input.tablesPhys, plan.input.tables.byteLength),
      `virtual ${hex(virt)} reads content no signed page or table page has: it maps memory the spec does not`));
  }
  const tableChanges = classifyTableChanges(plan.input, lines);
  for (const change of tableChanges) {
    if (change.kind !== 'architectural') violations.push({ level: change.level, path: [], entryAddr: change.entryAddr, message: `bochs: ${change.message}`, engine: BOCHS_ENGINE });
  }
  return { engine: 'bochs', version, model, actual, coverage, violations, faults, tableChanges };
}

/**
 * Translations from the stub's observations alone. Signed pages name their
 * physical page; the tables' own pages carry no signature and the stub never
 * executes them, so their virtual pages leave the coverage (their
 * executability stays unobserved). Unsigned content elsewhere is unplaced.
 */
function observed(plan: CasePlan, guest: GuestCase): { actual: MappedRange[]; coverage: VirtSpan[]; unplaced: bigint[] } {
  const out: MappedRange[] = [];
  const unplaced: bigint[] = [];
  const tableVirt: Interval[] = [];
  for (const r of plan.input.expected) {
    for (const part of intersect([{ start: r.phys, end: r.phys + r.size }], [plan.tablePages])) {
      tableVirt.push({ start: r.virt + (part.start - r.phys), end: r.virt + (part.end - r.phys) });
    }
  }
  const tableVirtN = normalize(tableVirt);
  for (const run of guest.runs) {
    if (!(run.flags & ABI.O_READ)) continue;
    const access = { writable: (run.flags & ABI.O_WRITE) !== 0, user: (run.flags & ABI.O_USER) !== 0 };
    const signed = run.flags & ABI.O_SIGNED ? pageOfSignature(run.value) : null;
    if (signed !== null) {
      out.push({ virt: run.virt, phys: pageAddress(signed), size: run.pages * PAGE, ...access, executable: (run.flags & ABI.O_EXEC) !== 0 });
      continue;
    }
    const runSpan = [{ start: run.virt, end: run.virt + run.pages * PAGE }];
    const outsideTables = subtract(runSpan, tableVirtN);
    for (const part of outsideTables) unplaced.push(part.start);
  }
  const probed = normalize(plan.coverage.map((s) => ({ start: s.virt, end: s.virt + s.size })));
  const coverage = subtract(probed, tableVirtN).map((i) => ({ virt: i.start, size: i.end - i.start }));
  return { actual: coalesceRanges(out), coverage, unplaced };
}

export interface BochsEngine extends Engine {
  readonly name: 'bochs';
  run(input: EngineInput): Promise<BochsReport>;
  runBatch(inputs: readonly EngineInput[]): Promise<BochsCaseResult[]>;
}

/** The Bochs engine on a CPU profile; InputError now when Bochs is missing or cannot model the profile. */
export async function createBochsEngine(profile: CpuProfile, options: BochsRunOptions = {}): Promise<BochsEngine> {
  await bochsVersion();
  const problem = profileProblem(profile, null);
  if (problem) throw new InputError(`bochs: ${problem}`);
  return {
    name: 'bochs',
    async run(input) {
      const [result] = await runBochsCases([input], profile, options);
      if (!result!.ok) throw result!.error;
      return result!.report;
    },
    runBatch: (inputs) => runBochsCases(inputs, profile, options),
  };
}
