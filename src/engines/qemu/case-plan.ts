/**
 * What one set of tables needs inside the QEMU guest: where the stub's code
 * and context pages go, which physical pages get signatures, which virtual
 * pages are probed, and the refusals for layouts QEMU cannot host.
 */
import { InputError } from '../../core/errors.js';
import type { EngineInput, MappedRange, VirtSpan } from '../../verify/model.js';
import { reservedLowMask, topTablePhys } from '../../verify/paging-modes.js';
import { createWalker, tableBlockProblem, type PageWalker } from '../../verify/walker.js';
import { chooseCodePage as chooseFrom, type CodePage as CodePageAt } from '../probe/code-page.js';
import { intersect, normalize, subtract, type Interval } from '../probe/intervals.js';
import { PAGE, hex, pageCeil, pageFloor } from '../probe/pages.js';
import { planProbes, type ProbePlanOptions } from '../probe/plan.js';
import { STUB_ABI } from './stub-abi.js';

/** MAXPHYADDR of QEMU's TCG CPUs (its reserved-bit checks use it). */
export const QEMU_MAX_PHYS_ADDR = 40;
/** Candidate pages tried for the stub's code and context before settling for the spec's word alone. */
const CANDIDATE_LIMIT = 4096;

/** QEMU's microvm has RAM from 0 up to 3 GiB, then its PCI and I/O hole; the stub reaches memory with paging off. */
export const GUEST_RAM_END = 0xc0000000n;
/** Below 1 MiB the firmware works while QEMU boots: nothing the host places may lie there. */
export const FIRMWARE_END = 0x100000n;
/** Probe runs a context page holds after its signature slot. */
const RUNS_PER_PAGE = Math.floor((4096 - STUB_ABI.SLOT_BYTES) / STUB_ABI.PROBE_RUN_BYTES);
/** Context page, stack page, then the probe runs. */
const CONTEXT_FIXED_PAGES = Math.floor(STUB_ABI.C_RUNS_START / 4096);
const MAX_RUN_PAGES = 0xffffffffn;

export interface PageRun {
  /** First page's address (virtual for probes, physical for signatures). */
  readonly start: bigint;
  readonly pages: number;
}

/** Where the stub's code goes. */
export interface StubCodePage {
  /** The page the code is copied to: identity-mapped, executable. */
  readonly phys: bigint;
  /** Where the code runs once paging is on: the page's dual alias, or its identity address. */
  readonly runVirt: bigint;
  /** Whether it runs at CPL 3 too (user access checked from ring 3); otherwise SMAP stands in. */
  readonly ringThree: boolean;
}

export interface CasePlan {
  readonly input: EngineInput;
  /** Physical address of the top-level table. */
  readonly cr3: bigint;
  readonly code: StubCodePage;
  /** Context pages: variables and descriptor tables, stack, probe runs; identity-mapped, supervisor-writable. */
  readonly context: { readonly phys: bigint; readonly pages: number };
  /** Physical pages that get signatures: everything the layout maps except the tables' own pages. */
  readonly signRuns: readonly PageRun[];
  /** Virtual pages probed: every expected page and the page on each side of every expected range. */
  readonly probeRuns: readonly PageRun[];
  readonly coverage: readonly VirtSpan[];
  /** Physical memory the case maps, holds tables in, or writes. */
  readonly footprint: readonly Interval[];
  readonly tablePages: Interval;
  /** The walker over the tables as QEMU's CPU reads them (for the MMU cross-check). */
  readonly walker: PageWalker;
  /**
   * Whether the walker agrees the stub's pages have the access it needs; when
   * not (the tables are broken right there), the guest is expected to die.
   */
  readonly walkerAgrees: boolean;
}

/** The tables as QEMU's TCG reads them: it ignores the reserved low bits (1-2, 5-8) of PAE PDPTEs. */
export function asQemuReadsThem(input: EngineInput): Uint8Array {
  if (input.mode !== 'pae') return input.tables;
  const tables = input.tables.slice();
  const ignored = reservedLowMask('pae', 0);
  const top = Number(topTablePhys('pae', 0n, tables.length));
  for (let entry = top; entry < tables.length; entry += 8) {
    const view = new DataView(tables.buffer, tables.byteOffset + entry, 4);
    view.setUint32(0, (view.getUint32(0, true) & ~ignored) >>> 0, true);
  }
  return tables;
}

const physOf = (r: MappedRange): Interval => ({ start: r.phys, end: r.phys + r.size });

/** Plans one case; throws InputError naming why QEMU cannot host the layout. */
export function planCase(input: EngineInput, probe: ProbePlanOptions = {}): CasePlan {
  const { mode, tables, tablesPhys, expected } = input;
  const problem = tableBlockProblem(mode, tables.byteLength);
  if (problem) throw new InputError(problem);
  if (tablesPhys < 0n || tablesPhys % PAGE !== 0n) throw new InputError(`tables at ${hex(tablesPhys)} are not 4 KiB aligned`);
  const tablesEnd = tablesPhys + BigInt(tables.byteLength);
  if (tablesEnd > GUEST_RAM_END) {
    throw new InputError(
      `tables ${hex(tablesPhys)}-${hex(tablesEnd)} reach past ${hex(GUEST_RAM_END)}: QEMU's microvm has RAM only below 3 GiB (its PCI and I/O hole follows), where the stub can copy them with paging off`,
    );
  }
  const cr3 = topTablePhys(mode, tablesPhys, tables.byteLength);
  const tablePages: Interval = { start: tablesPhys, end: pageCeil(tablesEnd) };

  for (const r of expected) {
    if (r.phys + r.size > GUEST_RAM_END) {
      throw new InputError(
        `virtual ${hex(r.virt)}-${hex(r.virt + r.size)} maps physical ${hex(r.phys)}-${hex(r.phys + r.size)}, past ${hex(GUEST_RAM_END)}: QEMU's microvm has RAM only below 3 GiB (its PCI and I/O hole follows), and the stub signs every mapped page with paging off`,
      );
    }
  }

  const walker = createWalker(
    { mode, tables: asQemuReadsThem(input), tablesPhys },
    { maxPhysAddr: QEMU_MAX_PHYS_ADDR, nxe: mode !== '32bit', pse: true },
  );
  const mapped = normalize(expected.map(physOf));
  const usable = subtract([{ start: 0n, end: GUEST_RAM_END }], [tablePages]);
  const probed = planProbes(mode, expected, probe).coverage;
  const probeRuns = splitRuns(probed.map((span) => ({ start: span.virt, end: span.virt + span.size })));
  const contextPages = CONTEXT_FIXED_PAGES + Math.ceil(probeRuns.length / RUNS_PER_PAGE);

  // Pages the spec and the walker agree on first; the spec's word alone when the tables are broken everywhere.
  let walkerAgrees = true;
  const avoid = [tablePages, { start: GUEST_RAM_END, end: 1n << 64n }];
  let code = chooseCodePage(expected, avoid, walker);
  if (!code) {
    walkerAgrees = false;
    code = chooseCodePage(expected, avoid, null);
  }
  if (!code) {
    throw new InputError(
      `no page outside the tables is identity-mapped executable${expected.some((r) => r.virt !== r.phys) ? ' with an executable dual alias' : ''} below 3 GiB: the QEMU stub has nowhere to run`,
    );
  }
  const contextUsable = subtract(usable, [{ start: code.phys, end: code.phys + PAGE }]);
  let contextPhys = chooseContextPages(expected, contextUsable, contextPages, walker);
  if (contextPhys === null) {
    walkerAgrees = false;
    contextPhys = chooseContextPages(expected, contextUsable, contextPages, null);
  }
  if (contextPhys === null) {
    throw new InputError(
      `no ${contextPages} consecutive pages outside the tables are identity-mapped writable and supervisor-only below 3 GiB: the QEMU stub has nowhere for its stack and probe list`,
    );
  }

  const signed = subtract(mapped, [tablePages]);
  const footprint = normalize([
    ...mapped,
    tablePages,
    { start: code.phys, end: code.phys + PAGE },
    { start: contextPhys, end: contextPhys + BigInt(contextPages) * PAGE },
  ]);
  return {
    input,
    cr3,
    code,
    context: { phys: contextPhys, pages: contextPages },
    signRuns: splitRuns(signed),
    probeRuns,
    coverage: probed,
    footprint,
    tablePages,
    walker,
    walkerAgrees,
  };
}


/** Whether the walker translates `virt` to `phys` with at least the access asked for. */
function walkerGives(walker: PageWalker | null, virt: bigint, phys: bigint, need: { executable?: boolean; writable?: boolean; user?: boolean; supervisorOnly?: boolean }): boolean {
  if (!walker) return true;
  const t = walker.lookup(virt);
  if (!t || t.phys !== phys) return false;
  return (!need.executable || t.executable) && (!need.writable || t.writable) && (!need.user || t.user) && (!need.supervisorOnly || !t.user);
}

/**
 * A page identity-mapped executable (paging is turned on there) whose dual
 * alias (when the layout has one) is executable too; preferably one that is
 * also user-executable where the code runs, so probes can drop to ring 3.
 * With a walker, the tables must agree.
 */
function chooseCodePage(expected: readonly MappedRange[], avoid: readonly Interval[], walker: PageWalker | null): StubCodePage | null {
  const dual = expected.some((r) => r.virt !== r.phys);
  for (const ringThree of [true, false]) {
    const page = chooseFrom(expected, {
      runsFrom: (r) => r.executable && (dual ? r.virt !== r.phys : r.virt === r.phys) && (r.user || !ringThree),
      physAlso: (r) => r.executable && r.virt === r.phys,
      avoid,
      limit: CANDIDATE_LIMIT,
    }, (p: CodePageAt) => walkerGives(walker, p.phys, p.phys, { executable: true }) && walkerGives(walker, p.virt, p.phys, { executable: true, user: ringThree }));
    if (page) return { phys: page.phys, runVirt: page.virt, ringThree };
  }
  return null;
}

function chooseContextPages(expected: readonly MappedRange[], usable: readonly Interval[], pages: number, walker: PageWalker | null): bigint | null {
  const writable = normalize(expected.filter((r) => r.virt === r.phys && r.writable && !r.user).map(physOf));
  const size = BigInt(pages) * PAGE;
  let tried = 0;
  for (const window of intersect(writable, usable)) {
    let start = window.start;
    for (let p = window.start; p < window.end && tried < CANDIDATE_LIMIT; p += PAGE, tried++) {
      if (!walkerGives(walker, p, p, { writable: true, supervisorOnly: true })) start = p + PAGE;
      else if (p + PAGE - start >= size) return start;
    }
  }
  return null;
}

/** Intervals of whole pages as runs the stub's 32-bit page counters can hold. */
function splitRuns(intervals: readonly Interval[]): PageRun[] {
  const runs: PageRun[] = [];
  for (const i of intervals) {
    let start = pageFloor(i.start);
    const end = pageCeil(i.end);
    while (start < end) {
      const pages = (end - start) / PAGE > MAX_RUN_PAGES ? MAX_RUN_PAGES : (end - start) / PAGE;
      runs.push({ start, pages: Number(pages) });
      start += pages * PAGE;
    }
  }
  return runs;
}
