/**
 * What one set of tables needs inside the QEMU guest: where the stub's code
 * and context pages go, which physical pages get signatures, which virtual
 * pages are probed, and the refusals for layouts QEMU cannot host.
 */
import { InputError } from '../../core/errors.js';
import type { EngineInput, MappedRange, VirtSpan } from '../../verify/model.js';
import { cr3Limit, reservedLowMask, topTablePhys } from '../../verify/paging-modes.js';
import { createWalker, tableBlockProblem, type PageWalker } from '../../verify/walker.js';
import { chooseCodePage as chooseFrom, type CodePage as CodePageAt } from '../probe/code-page.js';
import { intersect, normalize, subtract, type Interval } from '../probe/intervals.js';
import { PAGE, hex, pageAddress, pageCeil, pageFloor, pageNumber } from '../probe/pages.js';
import { planProbes, type ProbePlanOptions, type ProbeSegment } from '../probe/plan.js';
import { STUB_ABI } from './stub-abi.js';
import { GUEST_MEMORY_LOW, UnhostableLayout, holeAt, refuseUnbacked, type GuestMemory } from './guest-memory.js';

/** Candidate pages tried for the stub's code and context before settling for the spec's word alone. */
const CANDIDATE_LIMIT = 4096;

/** Where the stub reaches memory with paging off: below 4 GiB. */
export const PAGING_OFF_END = 0x100000000n;
/** Probe runs a further context page holds after its signature slot. */
const RUNS_PER_PAGE = Math.floor((4096 - STUB_ABI.SLOT_BYTES) / STUB_ABI.PROBE_RUN_BYTES);
/** Probe runs the first context page holds after its variables, descriptor tables and stacks. */
const RUNS_IN_FIRST_PAGE = Math.floor((4096 - STUB_ABI.C_RUNS_START) / STUB_ABI.PROBE_RUN_BYTES);
/** Context pages for `runs` probe runs: the first page, then pages of runs. */
export const contextPagesFor = (runs: number): number => 1 + Math.ceil(Math.max(0, runs - RUNS_IN_FIRST_PAGE) / RUNS_PER_PAGE);
const MAX_RUN_PAGES = 0xffffffffn;
/** Mapped pages up to which the host reads QEMU's MMU listing (256 MiB: about 3 MB of monitor text). */
export const MMU_LISTING_MAX_PAGES = 65536;

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
  /** Physical pages that get signatures: the pages the probes expect to reach, except the tables' own pages. */
  readonly signRuns: readonly PageRun[];
  /** Virtual pages probed: every expected page and the page on each side of every expected range. */
  readonly probeRuns: readonly PageRun[];
  readonly coverage: readonly VirtSpan[];
  /** Physical memory the case writes: its tables, signed pages, code and context. */
  readonly footprint: readonly Interval[];
  /** Whether the stub reaches some of it only from IA-32e mode (F_LONG): it lies at or above 4 GiB. */
  readonly long: boolean;
  /** Where the guest has RAM from 4 GiB on, for what the host stages for F_LONG cases; null if it has none. */
  readonly highRam: Interval | null;
  /** Mapped pages the probes leave out, and why: nothing backs them (QEMU's device hole), or they hold the tables and QEMU's MMU is not listed. */
  readonly unprobed: readonly { readonly pages: number; readonly reason: string }[];
  /**
   * Whether the host reads QEMU's MMU listing (`info tlb`, `info mem`) for
   * the case: only up to MMU_LISTING_MAX_PAGES mapped pages, since QEMU
   * prints a line a page and its time grows faster than that.
   */
  readonly mmuListed: boolean;
  /** Pages the case maps: what QEMU's monitor would list for it. */
  readonly mappedPages: number;
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

/**
 * Plans one case in `memory` (by default, RAM below 3 GiB only); throws
 * InputError naming why QEMU cannot host the layout (UnhostableLayout, with
 * its reason code, where the guest's memory is what stops it).
 */
export function planCase(input: EngineInput, probe: ProbePlanOptions = {}, memory: GuestMemory = GUEST_MEMORY_LOW): CasePlan {
  const { mode, tables, tablesPhys, expected } = input;
  const problem = tableBlockProblem(mode, tables.byteLength);
  if (problem) throw new InputError(problem);
  if (tablesPhys < 0n || tablesPhys % PAGE !== 0n) throw new InputError(`tables at ${hex(tablesPhys)} are not 4 KiB aligned`);
  const tablesEnd = tablesPhys + BigInt(tables.byteLength);
  const cr3 = topTablePhys(mode, tablesPhys, tables.byteLength);
  const tablePages: Interval = { start: tablesPhys, end: pageCeil(tablesEnd) };
  const limit = 1n << BigInt(memory.maxPhysAddr);
  if (tablePages.end > limit) {
    throw new UnhostableLayout('phys-above-maxphyaddr', `tables ${hex(tablesPhys)}-${hex(tablesEnd)} reach past ${hex(limit)}, QEMU's MAXPHYADDR (${memory.maxPhysAddr} bits)`);
  }
  if (cr3 >= cr3Limit(mode, memory.maxPhysAddr)) {
    throw new UnhostableLayout('cr3-out-of-reach', `the top-level table at ${hex(cr3)} is out of reach of CR3 in ${mode} paging (below ${hex(cr3Limit(mode, memory.maxPhysAddr))})`);
  }
  refuseUnbacked(memory, tablePages, `tables ${hex(tablesPhys)}-${hex(tablesEnd)}`, 'the stub copies them there');
  for (const r of expected) {
    if (r.phys + r.size > limit) {
      throw new UnhostableLayout(
        'phys-above-maxphyaddr',
        `virtual ${hex(r.virt)}-${hex(r.virt + r.size)} maps physical ${hex(r.phys)}-${hex(r.phys + r.size)}, past ${hex(limit)}, QEMU's MAXPHYADDR (${memory.maxPhysAddr} bits)`,
      );
    }
    refuseUnbacked(memory, physOf(r), `virtual ${hex(r.virt)}-${hex(r.virt + r.size)} maps physical ${hex(r.phys)}-${hex(r.phys + r.size)}`, 'the stub signs the pages probed there', true);
  }

  const walker = createWalker(
    { mode, tables: asQemuReadsThem(input), tablesPhys },
    { maxPhysAddr: memory.maxPhysAddr, nxe: mode !== '32bit', pse: true },
  );
  const plan = planProbes(mode, expected, probe);
  const mappedPages = Number(expected.reduce((n, r) => n + r.size, 0n) / PAGE);
  const mmuListed = mappedPages <= MMU_LISTING_MAX_PAGES;
  // A page nothing can back gets no signature, and a table page none either: without QEMU's MMU nothing tells where a read of it went.
  const left = [
    ...(memory.holes.length > 0 ? [{ frames: memory.holes, reason: `mmio-hole: nothing backs ${memory.holeName}` }] : []),
    ...(mmuListed ? [] : [{ frames: [tablePages], reason: `the tables' pages carry no signature, and QEMU's MMU is listed only up to ${MMU_LISTING_MAX_PAGES} mapped pages` }]),
  ];
  let kept = plan.segments.slice();
  const unprobed: { pages: number; reason: string }[] = [];
  for (const { frames, reason } of left) {
    const out = withoutFrames(kept, frames);
    kept = out.kept;
    if (out.dropped > 0) unprobed.push({ pages: out.dropped, reason });
  }
  const probed = unprobed.length === 0 ? plan.coverage : coverageOf(kept);
  const probeRuns = splitRuns(probed.map((span) => ({ start: span.virt, end: span.virt + span.size })));
  const contextPages = contextPagesFor(probeRuns.length);
  // 32-bit and PAE code turns paging on with 32-bit addresses: their stub pages lie below 4 GiB.
  const reach: Interval = { start: 0n, end: mode === 'ia32e' ? limit : PAGING_OFF_END };
  const usable = subtract(intersect(memory.ram, [reach]), [tablePages]);

  // Pages the spec and the walker agree on first; the spec's word alone when the tables are broken everywhere.
  let walkerAgrees = true;
  const avoid = subtract([{ start: 0n, end: 1n << 64n }], usable);
  let code = chooseCodePage(expected, avoid, walker);
  if (!code) {
    walkerAgrees = false;
    code = chooseCodePage(expected, avoid, null);
  }
  if (!code) {
    const what = `no page outside the tables is identity-mapped executable${expected.some((r) => r.virt !== r.phys) ? ' with an executable dual alias' : ''} in memory QEMU can back`;
    const inHole = expected.some((r) => r.executable && r.virt === r.phys && holeAt(memory, physOf(r)) !== null);
    if (inHole) throw new UnhostableLayout('mmio-hole', `${what} (the executable pages lie in ${memory.holeName}): the QEMU stub has nowhere to run`);
    throw new UnhostableLayout('no-code-page', `${what}: the QEMU stub has nowhere to run`);
  }
  const contextUsable = subtract(usable, [{ start: code.phys, end: code.phys + PAGE }]);
  // Supervisor-only pages first; user ones too where the probes drop to ring 3, since no SMAP then faults the stub's own accesses there.
  const userContext = code.ringThree;
  let contextPhys = chooseContextPages(expected, contextUsable, contextPages, walker, userContext);
  if (contextPhys === null) {
    walkerAgrees = false;
    contextPhys = chooseContextPages(expected, contextUsable, contextPages, null, userContext);
  }
  if (contextPhys === null) {
    throw new UnhostableLayout(
      'no-context-pages',
      `${contextPages === 1 ? 'no page outside the tables is' : `no ${contextPages} consecutive pages outside the tables are`} identity-mapped writable${userContext ? '' : ' and supervisor-only'} in memory QEMU can back: the QEMU stub has nowhere for its stack and probe list`,
    );
  }

  const expectedFrames = normalize(kept.filter((s) => s.expectedPpn !== null).map((s) => ({ start: pageAddress(s.expectedPpn!), end: pageAddress(s.expectedPpn! + s.count) })));
  const signed = subtract(intersect(expectedFrames, memory.ram), [tablePages]);
  const footprint = normalize([
    ...signed,
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
    long: footprint.length > 0 && footprint[footprint.length - 1]!.end > PAGING_OFF_END,
    highRam: memory.ram.find((r) => r.start >= PAGING_OFF_END) ?? null,
    unprobed,
    mmuListed,
    mappedPages,
    tablePages,
    walker,
    walkerAgrees,
  };
}

/** The segments without the pages whose expected frame lies in `excluded` (normalized), and how many pages that drops. */
function withoutFrames(segments: readonly ProbeSegment[], excluded: readonly Interval[]): { kept: ProbeSegment[]; dropped: number } {
  const kept: ProbeSegment[] = [];
  let dropped = 0;
  for (const s of segments) {
    if (s.expectedPpn === null) {
      kept.push(s);
      continue;
    }
    const frames: Interval = { start: pageAddress(s.expectedPpn), end: pageAddress(s.expectedPpn + s.count) };
    const holes = intersect([frames], excluded);
    if (holes.length === 0) {
      kept.push(s);
      continue;
    }
    for (const part of subtract([frames], holes)) {
      const offset = pageNumber(part.start) - s.expectedPpn;
      kept.push({ vpn: s.vpn + offset, count: pageNumber(part.end) - pageNumber(part.start), expectedPpn: pageNumber(part.start), firstIndex: s.firstIndex + offset });
    }
    dropped += holes.reduce((n, h) => n + pageNumber(h.end) - pageNumber(h.start), 0);
  }
  return { kept: kept.sort((a, b) => a.vpn - b.vpn), dropped };
}

/** The probed pages of the segments as maximal virtual spans. */
function coverageOf(segments: readonly ProbeSegment[]): VirtSpan[] {
  const spans: VirtSpan[] = [];
  for (const s of segments) {
    const virt = pageAddress(s.vpn);
    const size = BigInt(s.count) * PAGE;
    const last = spans[spans.length - 1];
    if (last && last.virt + last.size === virt) spans[spans.length - 1] = { virt: last.virt, size: last.size + size };
    else spans.push({ virt, size });
  }
  return spans;
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

/** `pages` consecutive pages identity-mapped writable (supervisor-only first; user ones too with `userToo`), which the walker, if given, agrees on. */
function chooseContextPages(expected: readonly MappedRange[], usable: readonly Interval[], pages: number, walker: PageWalker | null, userToo: boolean): bigint | null {
  for (const user of userToo ? [false, true] : [false]) {
    const writable = normalize(expected.filter((r) => r.virt === r.phys && r.writable && (user || !r.user)).map(physOf));
    const size = BigInt(pages) * PAGE;
    let tried = 0;
    for (const window of intersect(writable, usable)) {
      let start = window.start;
      for (let p = window.start; p < window.end && tried < CANDIDATE_LIMIT; p += PAGE, tried++) {
        if (!walkerGives(walker, p, p, { writable: true, supervisorOnly: !user })) start = p + PAGE;
        else if (p + PAGE - start >= size) return start;
      }
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
