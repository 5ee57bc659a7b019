/**
 * The emulated machine's physical memory: the table block at its physical
 * address, and every other page the expected translation reaches carrying a
 * signature that names the page (probe/signature.ts), so a read through
 * any virtual address tells which physical page it reached, and a two-byte
 * return stub for the execute probe.
 */
import { HostingRefusal, type EngineInput, type MappedRange } from '../../verify/model.js';
import type { Unicorn } from './binding.js';
import { PAGE_BYTES, PAGE_SHIFT, pageAddress, pageNumber } from '../probe/pages.js';
import { SIGNATURE_BYTES, signatureOf } from '../probe/signature.js';
import type { ProbePlan } from '../probe/plan.js';

/** `jmp rbx` (`jmp ebx` in 32-bit code): the execute probe's way back from a signed page. */
const RETURN_STUB = [0xff, 0xe3];

/** Where the return stub sits in every signed page (the execute probe jumps there): right after the signature. */
export const RETURN_STUB_OFFSET = SIGNATURE_BYTES;

/** The first bytes of a signed page: its signature, then the return stub. */
export function signedPageHeader(ppn: number): Uint8Array {
  const header = new Uint8Array(RETURN_STUB_OFFSET + RETURN_STUB.length);
  new DataView(header.buffer).setBigUint64(0, signatureOf(ppn), true);
  header.set(RETURN_STUB, RETURN_STUB_OFFSET);
  return header;
}

/** A value no page holds in its first 8 bytes: the read probe's expectation where nothing should be mapped. */
export const NO_SIGNATURE = (1n << 64n) - 1n;

/** Consecutive physical pages mapped as one block of emulated RAM. */
export interface MemoryRegion {
  readonly ppn: number;
  readonly count: number;
}

export interface MemoryPlan {
  /** The pages backed and signed (and the table pages), sorted, disjoint. */
  readonly regions: readonly MemoryRegion[];
  /**
   * The blocks mapped into the emulator: the regions, with nearby sparse ones
   * joined (Unicorn's cost per mapped block grows with the number of blocks;
   * host memory is committed only for pages touched, so the gaps cost nothing).
   */
  readonly blocks: readonly MemoryRegion[];
  /** Physical pages holding (part of) the table block: no signature there. */
  readonly firstTablePage: number;
  readonly tablePageCount: number;
}

export function isTablePage(plan: MemoryPlan, ppn: number): boolean {
  return ppn >= plan.firstTablePage && ppn < plan.firstTablePage + plan.tablePageCount;
}

/** Whether the plan backs physical page `ppn` (binary search over the sorted, disjoint regions). */
export function isPlannedPage(plan: MemoryPlan, ppn: number): boolean {
  let lo = 0;
  let hi = plan.regions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = plan.regions[mid]!;
    if (ppn < r.ppn) hi = mid - 1;
    else if (ppn >= r.ppn + r.count) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * The most emulated RAM a check may need. Every signed page is touched, so
 * the process holds all of it; beyond this a sampled probe plan (which
 * backs only the pages it probes) or the walker engine is the tool.
 */
export const MAX_EMULATED_RAM = 1n << 30n;

/** Unicorn emulates a CPU with MAXPHYADDR 40: frame bits above are reserved there, and such pages would read as absent. */
export const EMULATED_PHYS_LIMIT = 1n << 40n;

/**
 * The RAM blocks of emulated memory, and the table block. Without a probe
 * plan (or with the full one), every physical page the expected ranges map;
 * with a sampled plan only the physical pages its probes should reach and
 * `alsoPages` (where the routines may run): guest memory is sparse, and a
 * translation reaching elsewhere has its page mapped when it happens.
 */
export function planMemory(input: EngineInput, plan?: ProbePlan, alsoPages: readonly number[] = []): MemoryPlan {
  const firstTablePage = pageNumber(input.tablesPhys);
  const tableEnd = input.tablesPhys + BigInt(input.tables.byteLength);
  const tablePageCount = pageNumber(tableEnd + BigInt(PAGE_BYTES - 1)) - firstTablePage;
  const mappedSpans =
    plan && plan.kind === 'sampled'
      ? [
          ...plan.segments.flatMap((s) => (s.expectedPpn === null ? [] : [{ ppn: s.expectedPpn, count: s.count }])),
          ...alsoPages.map((ppn) => ({ ppn, count: 1 })),
        ]
      : input.expected.map((r: MappedRange) => ({ ppn: pageNumber(r.phys), count: Number(r.size >> PAGE_SHIFT) }));
  const spans = [...mappedSpans, { ppn: firstTablePage, count: tablePageCount }]
    .filter((s) => s.count > 0)
    .sort((a, b) => a.ppn - b.ppn);
  const regions: MemoryRegion[] = [];
  for (const s of spans) {
    const last = regions[regions.length - 1];
    if (last && s.ppn <= last.ppn + last.count) {
      const end = Math.max(last.ppn + last.count, s.ppn + s.count);
      regions[regions.length - 1] = { ppn: last.ppn, count: end - last.ppn };
    } else {
      regions.push(s);
    }
  }
  const last = regions[regions.length - 1];
  if (last && BigInt(last.ppn + last.count) << PAGE_SHIFT > EMULATED_PHYS_LIMIT) {
    throw new HostingRefusal(
      'phys-above-maxphyaddr',
      `the unicorn engine's CPU has a MAXPHYADDR of 40 bits; this layout uses physical memory up to ` +
        `0x${(BigInt(last.ppn + last.count) << PAGE_SHIFT).toString(16)}, beyond 0x${EMULATED_PHYS_LIMIT.toString(16)} (use --engine walker)`,
    );
  }
  const bytes = BigInt(regions.reduce((n, r) => n + r.count, 0)) << PAGE_SHIFT;
  if (bytes > MAX_EMULATED_RAM) {
    throw new HostingRefusal(
      'emulated-ram-limit',
      `the unicorn engine backs every page it probes with emulated RAM; this layout needs ${bytes >> 20n} MiB, ` +
        `more than its limit of ${MAX_EMULATED_RAM >> 20n} MiB (use --probe sampled, or --engine walker)`,
    );
  }
  return { regions, blocks: joinBlocks(regions), firstTablePage, tablePageCount };
}

/** The widest block the joining makes: 256 MiB, well within what one anonymous mapping may reserve. */
export const MAX_BLOCK_PAGES = 65536;

function joinBlocks(regions: readonly MemoryRegion[]): MemoryRegion[] {
  const blocks: MemoryRegion[] = [];
  for (const r of regions) {
    const last = blocks[blocks.length - 1];
    if (last && r.ppn + r.count - last.ppn <= MAX_BLOCK_PAGES) blocks[blocks.length - 1] = { ppn: last.ppn, count: r.ppn + r.count - last.ppn };
    else blocks.push(r);
  }
  return blocks;
}

/**
 * Maps the planned RAM, signs every page that is not a table page, and
 * places the tables. Each region is added to `mapped` once it is mapped, so
 * the caller can unmap what exists even if this fails halfway.
 */
export function loadMemory(uc: Unicorn, plan: MemoryPlan, input: EngineInput, mapped: MemoryRegion[]): void {
  for (const block of plan.blocks) {
    uc.mapMemory(pageAddress(block.ppn), BigInt(block.count) << PAGE_SHIFT);
    mapped.push(block);
  }
  for (const region of plan.regions) {
    for (let ppn = region.ppn; ppn < region.ppn + region.count; ppn++) {
      if (!isTablePage(plan, ppn)) uc.writeMemory(pageAddress(ppn), signedPageHeader(ppn));
    }
  }
  uc.writeMemory(input.tablesPhys, input.tables);
}
