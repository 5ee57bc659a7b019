/**
 * Probes page tables by running code under them in Unicorn. For every
 * planned page the CPU, at CPL 0, reads the page's signature (which names
 * the physical page reached), writes the value back (CR0.WP = 1, so a
 * read-only page faults), and jumps to it (an execute-disabled page faults
 * on the fetch); then the page is read from CPL 3, or, when the layout
 * offers no page that CPL 3 code could run from, at CPL 0 with CR4.SMAP set
 * (a supervisor read of a user page then faults). Loops cover runs of
 * pages; a fault stops the CPU, is confirmed by its vector, CR2, the
 * faulting instruction and its error code, and the loop resumes after the
 * page from a saved CPU state.
 */
import type { EngineInput, MappedRange, Violation, VirtSpan } from '../../verify/model.js';
import { coalesceRanges } from '../../verify/ranges.js';
import { topTablePhys } from '../../verify/paging-modes.js';
import { chooseCodePage, codePageCandidates, type CodePage as CodePageAt, type CodePageQuery } from '../probe/code-page.js';
import { cannotRunViolation } from '../probe/failure.js';
import { PAGE_BYTES, hex, pageAddress, pageNumber } from '../probe/pages.js';
import { planProbes, type ProbePlan, type ProbePlanOptions, type ProbeSegment } from '../probe/plan.js';
import { UnicornError, type CpuContext, type MemoryAccessKind, type Unicorn } from './binding.js';
import { discardMachine, machineFor, type Machine } from './machine.js';
import { MODE_BOOT, bootPaging, enablePaging, type ModeBoot } from './boot.js';
import { UC_ERR_FETCH_UNMAPPED, UC_ERR_OK, UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, X86_REG } from './constants.js';
import { errorCodeAt, errorCodeLocation } from './fault-code.js';
import { harnessLayout, writeKernelHarness, writeUserHarness, type HarnessLayout } from './harness.js';
import { NO_SIGNATURE, RETURN_STUB_OFFSET, isPlannedPage, isTablePage, loadMemory, planMemory, signedPageHeader, type MemoryPlan, type MemoryRegion } from './memory.js';
import { pageOfSignature, signatureOf } from '../probe/signature.js';
import { probeRoutines, type ProbeRoutines, type Routine } from './routines.js';
import { CR4_SMAP, PF_PRESENT, PF_RESERVED, PF_USER, PF_WRITE, VECTOR_PAGE_FAULT } from './x86.js';

/** How the user bit was tested. */
export type UserAccessMethod = 'cpl3' | 'smap';

/**
 * How pages were probed: by running the routines (`execute`), or, when the
 * layout maps no page they could run from, by asking the emulator's MMU to
 * translate each access (`translate`: the same walk and permission checks,
 * no instruction run).
 */
export type ProbeMethod = 'execute' | 'translate';

export interface ProbeResult {
  /** What the probes observed, as maximal ranges sorted by virtual address. */
  readonly actual: MappedRange[];
  readonly coverage: readonly VirtSpan[];
  /** Set when the tables left the routines no page to run from (nothing was probed then). */
  readonly violations: readonly Violation[];
  readonly pagesProbed: number;
  /** Which plan chose the pages, its seed, and how many pages the full plan would have probed. */
  readonly plan: { readonly kind: ProbePlan['kind']; readonly seed: number; readonly fullPageCount: number };
  readonly userAccess: UserAccessMethod;
  readonly method: ProbeMethod;
  /** Virtual addresses of the pages the routines ran from (null: nowhere). */
  readonly kernelPage: bigint | null;
  readonly userPage: bigint | null;
  /** uc_emu_start calls and page faults taken. */
  readonly runs: number;
  readonly faults: number;
  /** The tables' bytes in guest memory after probing (what the emulator wrote into them shows against the input). */
  readonly tablesAfter?: Uint8Array;
}

/** The most candidate pages tried for the routines, spread over all candidates. */
const MAX_CANDIDATES = 64;

interface Fault {
  readonly vector: number;
  readonly cr2: bigint;
  readonly rip: bigint;
  readonly errorCode: number;
}

type Outcome =
  | { readonly kind: 'stopped'; readonly rip: bigint }
  | { readonly kind: 'fault'; readonly fault: Fault }
  | { readonly kind: 'unmapped'; readonly access: MemoryAccessKind; readonly physical: bigint };

/** Consecutive probed pages: the first's virtual page number and index among all probed pages. */
interface PageRun {
  readonly vpn: number;
  readonly count: number;
  readonly firstIndex: number;
}

/** A page the routines can run from. */
interface CodePage {
  readonly vpn: number;
  readonly ppn: number;
}

const pageOf = (page: CodePageAt): CodePage => ({ vpn: pageNumber(page.virt), ppn: pageNumber(page.phys) });

/** Per probed page, what was seen; indexed like the plan's pages. */
class Observations {
  readonly present: Uint8Array;
  readonly ppn: Float64Array;
  readonly writable: Uint8Array;
  readonly executable: Uint8Array;
  readonly user: Uint8Array;
  constructor(count: number) {
    this.present = new Uint8Array(count);
    this.ppn = new Float64Array(count);
    this.writable = new Uint8Array(count);
    this.executable = new Uint8Array(count);
    this.user = new Uint8Array(count);
  }
}

/** Probes the tables of `input` and reports the translations seen. */
export function probeTables(input: EngineInput, probe: ProbePlanOptions = {}): ProbeResult {
  const boot = MODE_BOOT[input.mode];
  const errorCodeSlot = errorCodeLocation(boot.width);
  const machine = machineFor(boot.width);
  const prober = new TableProber(machine, input, boot, errorCodeSlot, probe);
  try {
    return prober.probe();
  } finally {
    try {
      prober.release();
    } catch (err) {
      discardMachine(boot.width);
      throw err;
    }
  }
}

class TableProber {
  private readonly plan: ProbePlan;
  private readonly memory: MemoryPlan;
  private readonly routines: ProbeRoutines;
  private readonly layout: HarnessLayout;
  private readonly seen: Observations;
  /** Physical pages mapped (and signed) because a translation reached past the planned memory. */
  private readonly extraPages = new Set<number>();
  /** Everything mapped into the machine for this check, and the CPU states saved. */
  private readonly mapped: MemoryRegion[] = [];
  private readonly contexts: CpuContext[] = [];
  private readonly reg: { ip: number; si: number; cx: number; ax: number; bx: number; dx: number; di: number; sp: number };
  private readonly uc: Unicorn;
  private vector: number | null = null;
  private unmappedAccess: { kind: MemoryAccessKind; physical: bigint } | null = null;
  private runs = 0;
  private faults = 0;

  constructor(
    private readonly machine: Machine,
    private readonly input: EngineInput,
    private readonly boot: ModeBoot,
    private readonly errorCodeSlot: number,
    probe: ProbePlanOptions,
  ) {
    this.plan = planProbes(input.mode, input.expected, probe);
    const firstTablePage = pageNumber(input.tablesPhys);
    const tables = { start: input.tablesPhys, end: pageAddress(firstTablePage) + BigInt(Math.ceil(input.tables.byteLength / PAGE_BYTES) * PAGE_BYTES) };
    // Where the routines may run must be backed too: the code-page candidates, kernel and user.
    const candidates = [(r: MappedRange) => r.executable, (r: MappedRange) => r.executable && r.user].flatMap((want) =>
      codePageCandidates(input.expected, { runsFrom: want, avoid: [tables], limit: MAX_CANDIDATES }).map((c) => pageNumber(c.phys)),
    );
    this.memory = planMemory(input, this.plan, candidates);
    this.routines = probeRoutines(boot.width);
    this.layout = harnessLayout(this.routines);
    this.seen = new Observations(this.plan.pageCount);
    const r = X86_REG;
    this.reg =
      boot.width === 64
        ? { ip: r.RIP, si: r.RSI, cx: r.RCX, ax: r.RAX, bx: r.RBX, dx: r.RDX, di: r.RDI, sp: r.RSP }
        : { ip: r.EIP, si: r.ESI, cx: r.ECX, ax: r.EAX, bx: r.EBX, dx: r.EDX, di: r.EDI, sp: r.ESP };
    this.uc = machine.uc;
    machine.listener = {
      onVector: (vector) => {
        this.vector ??= vector;
      },
      onUnmapped: (kind, physical) => {
        this.unmappedAccess ??= { kind, physical };
      },
    };
  }

  /** Leaves the machine as this check found it: no memory mapped, nothing cached, the CPU as new. */
  release(): void {
    this.machine.listener = null;
    for (const context of this.contexts.splice(0)) context.free();
    for (const region of this.mapped.splice(0)) this.uc.unmapMemory(pageAddress(region.ppn), pageAddress(region.count));
    this.machine.pristine.restore();
    this.uc.flushTranslations();
  }

  private planSummary(): ProbeResult['plan'] {
    return { kind: this.plan.kind, seed: this.plan.seed, fullPageCount: this.plan.fullPageCount };
  }

  private saveContext(): CpuContext {
    const context = this.uc.saveContext();
    this.contexts.push(context);
    return context;
  }

  probe(): ProbeResult {
    loadMemory(this.uc, this.memory, this.input, this.mapped);
    const started = this.startKernel();
    if (started === null) return this.probeByTranslation();
    if ('tried' in started) return this.cannotRun(started.tried);
    const { page: kernel, context: kernelContext } = started;
    const user = this.startUser(kernel, kernelContext);
    const userContext = user ? kernelContext : this.smapContext(kernelContext);

    for (const segment of this.plan.segments) this.readSegment(kernelContext, kernel, segment);
    for (const run of this.presentRuns()) this.writeRun(kernelContext, kernel, run);
    for (const run of this.presentRuns()) {
      for (const part of this.splitBySignature(run)) {
        if (part.signed) this.executeRun(kernelContext, kernel, part);
        else for (let i = 0; i < part.count; i++) this.executeUnsignedPage(kernelContext, kernel, part.firstIndex + i, part.vpn + i);
      }
    }
    for (const run of this.presentRuns()) {
      if (user) this.userRun(kernelContext, kernel, user, run);
      else this.smapRun(userContext, kernel, run);
    }
    return this.observed({ userAccess: user ? 'cpl3' : 'smap', method: 'execute', kernelPage: pageAddress(kernel.vpn), userPage: user ? pageAddress(user.vpn) : null });
  }

  /** What the probes saw, probed the way `how` says. */
  private observed(how: Pick<ProbeResult, 'userAccess' | 'method' | 'kernelPage' | 'userPage'>): ProbeResult {
    return {
      actual: this.ranges(),
      coverage: this.plan.coverage,
      violations: [],
      pagesProbed: this.plan.pageCount,
      plan: this.planSummary(),
      ...how,
      runs: this.runs,
      faults: this.faults,
      tablesAfter: this.uc.readMemory(this.input.tablesPhys, this.input.tables.byteLength),
    };
  }

  // ---- running the CPU ----

  /**
   * Runs from `entry` until the CPU reaches `until` (or, with a code hook
   * that stops it, `stopAt`), a page fault, or an access to unbacked
   * physical memory. Every run starts from a saved state: Unicorn never
   * delivers a fault, so the CPU still counts it as being delivered, and a
   * second one would become a double fault.
   */
  private run(context: CpuContext, entry: bigint, until: bigint, registers: readonly (readonly [number, bigint])[], stopAt: bigint = until): Outcome {
    context.restore();
    for (const [id, value] of registers) this.uc.writeRegister(id, value);
    this.vector = null;
    this.unmappedAccess = null;
    this.runs++;
    const err = this.uc.start(entry, until);
    if (this.vector !== null) {
      this.faults++;
      this.machine.faultState.save();
      return {
        kind: 'fault',
        fault: {
          vector: this.vector,
          cr2: this.uc.readRegister(X86_REG.CR2),
          rip: this.uc.readRegister(this.reg.ip),
          errorCode: errorCodeAt(this.machine.faultState, this.errorCodeSlot),
        },
      };
    }
    if (err === UC_ERR_READ_UNMAPPED || err === UC_ERR_WRITE_UNMAPPED || err === UC_ERR_FETCH_UNMAPPED) {
      // Set by the hook during start(), which the compiler cannot see.
      const access = this.unmappedAccess as { kind: MemoryAccessKind; physical: bigint } | null;
      if (!access) throw new UnicornError('uc_emu_start', err);
      return { kind: 'unmapped', access: access.kind, physical: access.physical };
    }
    if (err !== UC_ERR_OK) throw new UnicornError('uc_emu_start', err);
    const rip = this.uc.readRegister(this.reg.ip);
    if (rip !== stopAt) throw new Error(`unicorn: the CPU stopped at ${hex(rip)}, not at ${hex(stopAt)}`);
    return { kind: 'stopped', rip };
  }

  private routineAt(page: CodePage, offset: number): bigint {
    return pageAddress(page.vpn) + BigInt(offset);
  }

  private kernelEntry(page: CodePage, name: keyof ProbeRoutines): bigint {
    return this.routineAt(page, this.layout.kernel[name]);
  }

  private doneOf(entry: bigint, routine: Routine): bigint {
    return entry + BigInt(routine.labels.done!);
  }

  /** The virtual page number rsi/esi points at: the page a loop stopped on. */
  private currentPage(): number {
    return pageNumber(this.uc.readRegister(this.reg.si));
  }

  /**
   * Checks that a fault is the page fault the probe provokes: raised by one
   * of the access instructions of `routine` (placed at `routineEntry`), with
   * CR2 at the address it accesses in the page, and an error code `accept`s.
   */
  private confirm(fault: Fault, what: string, routineEntry: bigint, routine: Routine, pageVirt: bigint, accept: (kind: 'read' | 'write', code: number) => boolean): void {
    const site = routine.accesses.find((a) => routineEntry + BigInt(a.offset) === fault.rip);
    const ok =
      fault.vector === VECTOR_PAGE_FAULT &&
      site !== undefined &&
      fault.cr2 === pageVirt + BigInt(site.displacement) &&
      accept(site.kind, fault.errorCode);
    if (!ok) {
      throw new Error(
        `unicorn: unexpected exception during the ${what} probe of ${hex(pageVirt)}: vector ${fault.vector}, ` +
          `RIP ${hex(fault.rip)}, CR2 ${hex(fault.cr2)}, error code ${hex(fault.errorCode)}`,
      );
    }
  }

  // ---- where the routines run ----

  /** Pages the routines may be written to: executable in the spec (`want`), outside the tables. */
  private codeQuery(want: (r: MappedRange) => boolean): CodePageQuery {
    const tables = { start: pageAddress(this.memory.firstTablePage), end: pageAddress(this.memory.firstTablePage + this.memory.tablePageCount) };
    return { runsFrom: want, avoid: [tables], limit: MAX_CANDIDATES };
  }

  /**
   * Boots the CPU with the routines in the first candidate page that really
   * executes at CPL 0, or says which were tried; null when the spec offers
   * no candidate at all.
   */
  private startKernel(): { page: CodePage; context: CpuContext } | { tried: readonly CodePageAt[] } | null {
    let context: CpuContext | undefined;
    const tried: CodePageAt[] = [];
    const chosen = chooseCodePage(this.input.expected, this.codeQuery((r) => r.executable), (candidate) => {
      const page = pageOf(candidate);
      this.machine.pristine.restore();
      writeKernelHarness(this.uc, this.boot.width, page.ppn, this.routines, this.layout);
      const base = pageAddress(page.vpn);
      bootPaging(this.uc, this.input.mode, {
        topTable: topTablePhys(this.input.mode, this.input.tablesPhys, this.input.tables.byteLength),
        gdtPhys: pageAddress(page.ppn) + BigInt(this.layout.gdt),
        gdtVirt: base + BigInt(this.layout.gdt),
        gdtLimit: this.layout.gdtLimit,
        stack: base + BigInt(this.layout.touchFrame),
      });
      const entry = this.kernelEntry(page, 'idle');
      if (!this.leadsTo(entry, page)) return false;
      const saved = this.saveContext();
      const outcome = this.run(saved, entry, this.doneOf(entry, this.routines.idle), []);
      if (outcome.kind === 'stopped') {
        context = saved;
        return true;
      }
      this.expectFetchFault(outcome, page, 'CPL 0');
      return false;
    }, tried);
    if (chosen && context) return { page: pageOf(chosen), context };
    if (tried.length === 0) return null;
    return { tried };
  }

  /** The tables let the routines run from none of the pages tried: a finding about them, nothing probed. */
  private cannotRun(tried: readonly CodePageAt[]): ProbeResult {
    const names = tried.map((p) => hex(p.virt));
    const violation = cannotRunViolation(
      this.input,
      "the unicorn engine's probe routine",
      `none of the ${tried.length} pages tried that the spec maps executable ` +
        `(${names.slice(0, 4).join(', ')}${names.length > 4 ? ', ...' : ''}) executes at CPL 0; ` +
        'the walker engine (--engine walker) reports what the tables do',
    );
    return { actual: [], coverage: [], violations: [violation], pagesProbed: 0, plan: this.planSummary(), userAccess: 'smap', method: 'execute', kernelPage: null, userPage: null, runs: this.runs, faults: this.faults };
  }

  /**
   * The layout maps nothing executable outside the tables (the routines would
   * overwrite what they test), so no code runs: with paging on, the
   * emulator's MMU translates a read, a write and a fetch of every planned
   * page at CPL 0 (CR0.WP set, so a read-only page refuses the write), then
   * a read with CR4.SMAP set, which it refuses for a user page.
   */
  private probeByTranslation(): ProbeResult {
    this.machine.pristine.restore();
    enablePaging(this.uc, this.input.mode, topTablePhys(this.input.mode, this.input.tablesPhys, this.input.tables.byteLength));
    this.uc.flushTranslations();
    const allowed = (vpn: number, prot: number): bigint | null => this.uc.translate(pageAddress(vpn), prot);
    const present: [index: number, vpn: number][] = [];
    for (const segment of this.plan.segments) {
      for (let i = 0; i < segment.count; i++) {
        const vpn = segment.vpn + i;
        const physical = allowed(vpn, UC_PROT_READ);
        if (physical === null) continue;
        const index = segment.firstIndex + i;
        this.markPresent(index, pageNumber(physical));
        if (allowed(vpn, UC_PROT_WRITE) !== null) this.seen.writable[index] = 1;
        if (allowed(vpn, UC_PROT_EXEC) !== null) this.seen.executable[index] = 1;
        present.push([index, vpn]);
      }
    }
    this.setSmap();
    this.uc.flushTranslations();
    for (const [index, vpn] of present) if (allowed(vpn, UC_PROT_READ) === null) this.seen.user[index] = 1;
    return this.observed({ userAccess: 'smap', method: 'translate', kernelPage: null, userPage: null });
  }

  /** The first candidate page that CPL 3 code really executes from, or null. */
  private startUser(kernel: CodePage, context: CpuContext): CodePage | null {
    const chosen = chooseCodePage(this.input.expected, this.codeQuery((r) => r.executable && r.user), (candidate) => {
      const page = pageOf(candidate);
      const idle = this.routineAt(page, this.layout.user.idle);
      context.restore(); // translate at CPL 0, not in whatever state the last trial left
      if (!this.leadsTo(idle, page)) return false;
      writeUserHarness(this.uc, this.boot.width, kernel.ppn, page.ppn, pageAddress(page.vpn), this.routines, this.layout);
      const outcome = this.run(context, this.kernelEntry(kernel, 'returnToUser'), this.doneOf(idle, this.routines.idle), [
        [this.reg.sp, this.routineAt(kernel, this.layout.idleFrame)],
      ]);
      if (outcome.kind === 'stopped') return true;
      this.expectFetchFault(outcome, page, 'CPL 3');
      return false;
    });
    return chosen && pageOf(chosen);
  }

  /**
   * Whether the emulator's MMU lets the CPU fetch `address` at CPL 0 from the
   * physical page the routines were written to: a table that sends the
   * candidate elsewhere would have the CPU run whatever is there.
   */
  private leadsTo(address: bigint, page: CodePage): boolean {
    const physical = this.uc.translate(address, UC_PROT_EXEC);
    return physical !== null && pageNumber(physical) === page.ppn;
  }

  /** A candidate code page may fail only by a page fault on fetching from it; anything else is a fault of the engine. */
  private expectFetchFault(outcome: Outcome, page: CodePage, privilege: string): void {
    if (outcome.kind === 'fault' && outcome.fault.vector === VECTOR_PAGE_FAULT && pageNumber(outcome.fault.cr2) === page.vpn && outcome.fault.rip === outcome.fault.cr2) {
      return;
    }
    const detail = outcome.kind === 'fault' ? `vector ${outcome.fault.vector}, RIP ${hex(outcome.fault.rip)}, CR2 ${hex(outcome.fault.cr2)}` : outcome.kind;
    throw new Error(`unicorn: trying ${hex(pageAddress(page.vpn))} for ${privilege} code failed unexpectedly: ${detail}`);
  }

  private smapContext(kernelContext: CpuContext): CpuContext {
    kernelContext.restore();
    this.setSmap();
    return this.saveContext();
  }

  /** Sets CR4.SMAP: a supervisor read of a user page then faults (EFLAGS.AC stays clear). */
  private setSmap(): void {
    this.uc.writeRegister(X86_REG.CR4, this.uc.readRegister(X86_REG.CR4) | CR4_SMAP);
    if ((this.uc.readRegister(X86_REG.CR4) & CR4_SMAP) === 0n) throw new Error('unicorn: the emulated CPU does not support CR4.SMAP');
  }

  // ---- the probes ----

  /** Maps and signs a physical page a translation reached outside the planned memory. */
  private mapExtraPage(physical: bigint): void {
    const ppn = pageNumber(physical);
    if (this.extraPages.has(ppn)) throw new Error(`unicorn: physical page ${hex(pageAddress(ppn))} stays unmapped after mapping it`);
    this.extraPages.add(ppn);
    this.uc.mapMemory(pageAddress(ppn), BigInt(PAGE_BYTES));
    this.mapped.push({ ppn, count: 1 });
    this.uc.writeMemory(pageAddress(ppn), signedPageHeader(ppn));
  }

  private isSignedPage(ppn: number): boolean {
    if (this.extraPages.has(ppn)) return true;
    if (isTablePage(this.memory, ppn)) return false;
    return isPlannedPage(this.memory, ppn);
  }

  private firstQword(physical: bigint): bigint {
    return new DataView(this.uc.readMemory(physical, 8).buffer).getBigUint64(0, true);
  }

  private markPresent(index: number, ppn: number): void {
    this.seen.present[index] = 1;
    this.seen.ppn[index] = ppn;
  }

  /** Records what a read of the page at `vpn` returned, and which physical page that was. */
  private resolveRead(index: number, vpn: number, value: bigint): void {
    const named = pageOfSignature(value);
    if (named !== null && this.isSignedPage(named) && this.firstQword(pageAddress(named)) === value) {
      this.markPresent(index, named);
      return;
    }
    // Not a signature: a paging structure (or other unsigned memory). Ask the
    // emulator's MMU where the page is, and check that it holds what was read.
    const virt = pageAddress(vpn);
    const physical = this.uc.translate(virt, UC_PROT_READ);
    const held = physical === null ? null : this.firstQword(physical);
    if (physical === null || held !== value) {
      throw new Error(`unicorn: the read of ${hex(virt)} returned ${hex(value)}, which no physical page the emulator maps it to holds`);
    }
    this.markPresent(index, pageNumber(physical));
  }

  private readSegment(context: CpuContext, kernel: CodePage, segment: ProbeSegment): void {
    const routine = this.routines.readCompare;
    const entry = this.kernelEntry(kernel, 'readCompare');
    const done = this.doneOf(entry, routine);
    let i = 0;
    while (i < segment.count) {
      const vpn = segment.vpn + i;
      const left = segment.count - i;
      const expected = segment.expectedPpn === null ? NO_SIGNATURE : signatureOf(segment.expectedPpn + i);
      const registers: [number, bigint][] = [
        [this.reg.si, pageAddress(vpn)],
        [this.reg.cx, BigInt(left)],
      ];
      if (this.boot.width === 64) registers.push([this.reg.dx, expected]);
      else registers.push([this.reg.dx, expected & 0xffffffffn], [this.reg.di, expected >> 32n]);
      const outcome = this.run(context, entry, done, registers);
      // Pages before the one the loop stopped at matched their signatures.
      const stoppedAt = outcome.kind === 'stopped' && this.uc.readRegister(this.reg.cx) === 0n ? segment.vpn + segment.count : this.currentPage();
      for (let p = vpn; p < stoppedAt; p++) {
        const index = segment.firstIndex + (p - segment.vpn);
        if (segment.expectedPpn === null) this.resolveRead(index, p, NO_SIGNATURE);
        else this.markPresent(index, segment.expectedPpn + (p - segment.vpn));
      }
      i = stoppedAt - segment.vpn;
      if (i >= segment.count) break;
      const index = segment.firstIndex + i;
      if (outcome.kind === 'stopped') {
        const value =
          this.boot.width === 64
            ? this.uc.readRegister(this.reg.ax)
            : this.uc.readRegister(this.reg.ax) | (this.uc.readRegister(this.reg.bx) << 32n);
        this.resolveRead(index, stoppedAt, value);
      } else if (outcome.kind === 'unmapped') {
        this.mapExtraPage(outcome.physical);
        continue; // read the same page again, now that memory backs it
      } else {
        // Not present, or a reserved bit set: either way nothing is translated here.
        this.confirm(outcome.fault, 'read', entry, routine, pageAddress(stoppedAt), (kind, code) =>
          kind === 'read' && (code & ~(PF_PRESENT | PF_RESERVED)) === 0 && ((code & PF_PRESENT) === 0 || (code & PF_RESERVED) !== 0),
        );
      }
      i++;
    }
  }

  /** Runs of consecutive probed pages that were read successfully. */
  private *presentRuns(): Generator<PageRun> {
    for (const segment of this.plan.segments) {
      let start = -1;
      for (let i = 0; i <= segment.count; i++) {
        const present = i < segment.count && this.seen.present[segment.firstIndex + i] === 1;
        if (present && start < 0) start = i;
        if (!present && start >= 0) {
          yield { vpn: segment.vpn + start, count: i - start, firstIndex: segment.firstIndex + start };
          start = -1;
        }
      }
    }
  }

  /**
   * Probes a run of pages with a loop routine (`start` runs it from a page,
   * with the number of pages left), calling `onPass` for each page that
   * passed and `onFault` for a page whose probe faulted, and resuming after
   * it; a page that reached unbacked memory is backed and probed again.
   */
  private loop(
    run: PageRun,
    start: (vpn: number, left: number) => Outcome,
    onPass: (index: number) => void,
    onFault: (index: number, vpn: number, fault: Fault) => void,
  ): void {
    let i = 0;
    while (i < run.count) {
      const vpn = run.vpn + i;
      const outcome = start(vpn, run.count - i);
      const stoppedAt = outcome.kind === 'stopped' ? run.vpn + run.count : this.currentPage();
      for (let p = vpn; p < stoppedAt; p++) onPass(run.firstIndex + (p - run.vpn));
      i = stoppedAt - run.vpn;
      if (i >= run.count) break;
      if (outcome.kind === 'unmapped') {
        this.mapExtraPage(outcome.physical);
        continue;
      }
      if (outcome.kind === 'fault') onFault(run.firstIndex + i, stoppedAt, outcome.fault);
      i++;
    }
  }

  private writeRun(context: CpuContext, kernel: CodePage, run: PageRun): void {
    const routine = this.routines.writeBack;
    const entry = this.kernelEntry(kernel, 'writeBack');
    const done = this.doneOf(entry, routine);
    this.loop(
      run,
      (vpn, left) => this.run(context, entry, done, [[this.reg.si, pageAddress(vpn)], [this.reg.cx, BigInt(left)]]),
      (index) => (this.seen.writable[index] = 1),
      (_index, vpn, fault) =>
        // The page was read before, so only the write can fault: present, write, supervisor.
        this.confirm(fault, 'write', entry, routine, pageAddress(vpn), (kind, code) => kind === 'write' && code === (PF_PRESENT | PF_WRITE)),
    );
  }

  /** Splits a run of pages by whether the physical page each reached carries the return stub. */
  private *splitBySignature(run: PageRun): Generator<PageRun & { signed: boolean }> {
    let start = 0;
    for (let i = 1; i <= run.count; i++) {
      const signed = this.isSignedPage(this.seen.ppn[run.firstIndex + start]!);
      if (i === run.count || this.isSignedPage(this.seen.ppn[run.firstIndex + i]!) !== signed) {
        yield { vpn: run.vpn + start, count: i - start, firstIndex: run.firstIndex + start, signed };
        start = i;
      }
    }
  }

  /** Confirms a refused fetch at `target`: a page fault on the fetch itself, present, execute-disabled. */
  private confirmFetchFault(fault: Fault, target: bigint): void {
    const code = PF_PRESENT | this.boot.fetchFaultBits;
    if (fault.vector !== VECTOR_PAGE_FAULT || fault.cr2 !== target || fault.rip !== target || fault.errorCode !== code) {
      throw new Error(
        `unicorn: unexpected exception during the execute probe of ${hex(target)}: vector ${fault.vector}, ` +
          `RIP ${hex(fault.rip)}, CR2 ${hex(fault.cr2)}, error code ${hex(fault.errorCode)} (expected ${hex(code)})`,
      );
    }
  }

  private executeRun(context: CpuContext, kernel: CodePage, run: PageRun): void {
    const routine = this.routines.execute;
    const entry = this.kernelEntry(kernel, 'execute');
    const back = entry + BigInt(routine.labels.back!);
    this.loop(
      run,
      (vpn, left) => this.run(context, entry, this.doneOf(entry, routine), [[this.reg.si, pageAddress(vpn)], [this.reg.cx, BigInt(left)], [this.reg.bx, back]]),
      (index) => (this.seen.executable[index] = 1),
      (_index, vpn, fault) => this.confirmFetchFault(fault, pageAddress(vpn) + BigInt(RETURN_STUB_OFFSET)),
    );
  }

  /**
   * A page that reached unsigned memory (a paging structure) has no return
   * stub: a code hook on the target stops the CPU once the fetch was allowed,
   * before the bytes there run.
   */
  private executeUnsignedPage(context: CpuContext, kernel: CodePage, index: number, vpn: number): void {
    const target = pageAddress(vpn) + BigInt(RETURN_STUB_OFFSET);
    const hook = this.uc.hookCode(target, target, () => this.uc.stop());
    try {
      const idle = this.kernelEntry(kernel, 'idle');
      // `until` is never reached; it must lie in code the CPU may fetch, as Unicorn looks at it when starting.
      const outcome = this.run(context, this.kernelEntry(kernel, 'jumpTo'), this.doneOf(idle, this.routines.idle), [[this.reg.ax, target]], target);
      if (outcome.kind === 'stopped') this.seen.executable[index] = 1;
      else if (outcome.kind === 'fault') this.confirmFetchFault(outcome.fault, target);
      else throw new Error(`unicorn: the execute probe of ${hex(target)} reached unbacked memory`);
    } finally {
      this.uc.removeHook(hook);
    }
  }

  private userRun(kernelContext: CpuContext, kernel: CodePage, user: CodePage, run: PageRun): void {
    const routine = this.routines.touch;
    const entry = this.routineAt(user, this.layout.user.touch);
    const frame = this.routineAt(kernel, this.layout.touchFrame);
    this.loop(
      run,
      (vpn, left) =>
        this.run(kernelContext, this.kernelEntry(kernel, 'returnToUser'), this.doneOf(entry, routine), [
          [this.reg.si, pageAddress(vpn)],
          [this.reg.cx, BigInt(left)],
          [this.reg.sp, frame],
        ]),
      (index) => (this.seen.user[index] = 1),
      // A supervisor page: present, read, user mode.
      (_index, vpn, fault) => this.confirm(fault, 'CPL 3 read', entry, routine, pageAddress(vpn), (kind, code) => kind === 'read' && code === (PF_PRESENT | PF_USER)),
    );
  }

  private smapRun(smapContext: CpuContext, kernel: CodePage, run: PageRun): void {
    const routine = this.routines.touch;
    const entry = this.kernelEntry(kernel, 'touch');
    this.loop(
      run,
      (vpn, left) => this.run(smapContext, entry, this.doneOf(entry, routine), [[this.reg.si, pageAddress(vpn)], [this.reg.cx, BigInt(left)]]),
      () => undefined,
      // SMAP refuses a supervisor read of a user page: present, read, supervisor mode.
      (index, vpn, fault) => {
        this.confirm(fault, 'SMAP read', entry, routine, pageAddress(vpn), (kind, code) => kind === 'read' && code === PF_PRESENT);
        this.seen.user[index] = 1;
      },
    );
  }

  // ---- the report ----

  private ranges(): MappedRange[] {
    const pages: MappedRange[] = [];
    const size = BigInt(PAGE_BYTES);
    for (const segment of this.plan.segments) {
      for (let i = 0; i < segment.count; i++) {
        const index = segment.firstIndex + i;
        if (this.seen.present[index] !== 1) continue;
        pages.push({
          virt: pageAddress(segment.vpn + i),
          phys: pageAddress(this.seen.ppn[index]!),
          size,
          writable: this.seen.writable[index] === 1,
          user: this.seen.user[index] === 1,
          executable: this.seen.executable[index] === 1,
        });
      }
    }
    return coalesceRanges(pages);
  }
}
