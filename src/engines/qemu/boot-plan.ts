/**
 * Packs planned cases into boots: each boot loads the stub and one staging
 * area (the cases' descriptors, tables, signature runs and probe runs) into
 * physical memory no case of that boot maps or writes.
 */
import type { PagingMode } from '../../verify/model.js';
import type { CasePlan, PageRun } from './case-plan.js';
import { PAGING_OFF_END } from './case-plan.js';
import { QEMU_MAX_PHYS_ADDR, UnhostableLayout } from './guest-memory.js';
import { firstFit, normalize, subtract } from '../probe/intervals.js';
import { STUB_ABI as ABI } from './stub-abi.js';
import { homeFootprint, type ProbeStub } from './stub-build.js';

const PAGE = 4096n;
const HEADER_BYTES = ABI.S_BYTES;
const DESCRIPTOR_BYTES = ABI.D_BYTES;
const MODE_CODES: Readonly<Record<PagingMode, number>> = { '32bit': ABI.MODE_32BIT, pae: ABI.MODE_PAE, ia32e: ABI.MODE_IA32E };
/** Cases per boot: bounds the staging area and what one crash costs. */
const MAX_CASES_PER_BOOT = 256;
const MAX_STAGING_BYTES = 256 * 1024 * 1024;
/** Below 1 MiB the firmware works while QEMU boots: nothing the host places may lie there. */
const FIRMWARE_END = 0x100000n;
/** The stub and its staging area lie in the RAM every guest has, below 3 GiB (the stub reads them with paging off). */
const STAGING_END = 0xc0000000n;
const GIB = 1n << 30n;
/** The stub's own IA-32e tables for F_LONG cases: a PML4 and the PDPTs of 1 GiB pages mapping [0, 2^STUB_MAP_BITS) to itself: all the guest's RAM. */
const STUB_MAP_BITS = BigInt(QEMU_MAX_PHYS_ADDR);
const STUB_PDPTS = Number((1n << STUB_MAP_BITS) >> 39n);
const STUB_TABLE_BYTES = 4096 * (1 + STUB_PDPTS);
/** A case with more data than this is staged above every footprint when the guest has RAM above 4 GiB. */
const LOW_DATA_BYTES = 1 << 20;
/** Signature and probe runs share one format (SIGN_RUN_BYTES = PROBE_RUN_BYTES). */
const RUN_BYTES = ABI.PROBE_RUN_BYTES;

export interface BootPlan {
  readonly cases: readonly CasePlan[];
  /** Where QEMU loads the stub (multiboot load address). */
  readonly homePhys: number;
  readonly stagingPhys: number;
  readonly staging: Uint8Array;
  /** What the host stages for F_LONG cases (their tables, signature and probe runs), in RAM from 4 GiB outside every case's footprint; null if none. */
  readonly highStaging: { readonly phys: bigint; readonly bytes: Uint8Array } | null;
  /** Tables the host loads at their physical address itself (F_TABLES_PLACED): a large case's, alone in its boot. */
  readonly placedTables: { readonly phys: bigint; readonly bytes: Uint8Array } | null;
  /** Per case: whether the host, not the stub, lists the table changes (the stub compares with paging off, below 4 GiB only). */
  readonly hostTableDiff: readonly boolean[];
  /**
   * Guest RAM size to give QEMU: it fills memory from 0 to 3 GiB, then goes on
   * from 4 GiB (microvm's split), so a boot needing memory at 4 GiB + n gets 3 GiB + n.
   */
  readonly memoryBytes: bigint;
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Bytes of a case's data in a staging area: its tables, signature runs and probe runs. */
const caseDataBytes = (c: CasePlan): number =>
  align(c.input.tables.byteLength, 16) + ABI.SIGN_RUN_BYTES * c.signRuns.length + ABI.PROBE_RUN_BYTES * c.probeRuns.length;

/**
 * Whether the stub prepares the case in IA-32e mode (F_LONG): it must when
 * the case writes memory at or above 4 GiB; it does for a case with much
 * data when the guest has RAM there, so that the data can go where a large
 * gap is (a sampled plan leaves none below 3 GiB).
 */
const preparedLong = (c: CasePlan): boolean => c.long || large(c);

/** A case whose tables the host loads in place (it boots alone: no other case may write there first). */
const large = (c: CasePlan): boolean => c.highRam !== null && c.input.tables.byteLength > LOW_DATA_BYTES;

/** Bytes of the case's data in its staging area (a large case's tables are not staged). */
const stagedBytes = (c: CasePlan): number => caseDataBytes(c) - (large(c) ? align(c.input.tables.byteLength, 16) : 0);

function stagingSize(cases: readonly CasePlan[]): number {
  let size = HEADER_BYTES + DESCRIPTOR_BYTES * cases.length;
  for (const c of cases) if (!preparedLong(c)) size += stagedBytes(c);
  return cases.some(preparedLong) ? align(size, 4096) + STUB_TABLE_BYTES : size;
}

/** RAM to give the guest for memory up to `top` (see BootPlan.memoryBytes), in whole 2 MiB, at least 32 MiB. */
function ramFor(top: bigint): bigint {
  const mib2 = 2n << 20n;
  const needed = top <= STAGING_END ? top : STAGING_END + (top - 4n * GIB);
  const bytes = ((needed + mib2 - 1n) / mib2) * mib2;
  return bytes < 16n * mib2 ? 16n * mib2 : bytes;
}

interface Placement {
  readonly homePhys: number;
  readonly stagingPhys: number;
  readonly stagingBytes: number;
  readonly highPhys: bigint | null;
  readonly highBytes: number;
  readonly memoryBytes: bigint;
}

/** Where the stub and the staging areas go for exactly these cases, or null when no free memory holds them. */
function place(cases: readonly CasePlan[], stub: ProbeStub): Placement | null {
  const home = BigInt(homeFootprint(stub));
  const stagingBytes = stagingSize(cases);
  const long = cases.filter(preparedLong);
  const highBytes = long.reduce((n, c) => n + stagedBytes(c), 0);
  if (stagingBytes > MAX_STAGING_BYTES || highBytes > MAX_STAGING_BYTES) return null;
  const busy = normalize(cases.flatMap((c) => c.footprint));
  const free = subtract([{ start: FIRMWARE_END, end: STAGING_END }], busy);
  const at = firstFit(free, home + BigInt(align(stagingBytes, 4096)), PAGE);
  if (at === null) return null;
  const stagingEnd = at + home + BigInt(align(stagingBytes, 4096));
  const used = busy.length > 0 ? busy[busy.length - 1]!.end : 0n;
  let top = stagingEnd > used ? stagingEnd : used;
  let highPhys: bigint | null = null;
  if (long.length > 0) {
    const ram = long[0]!.highRam;
    if (!ram) return null;
    highPhys = firstFit(subtract([ram], busy), BigInt(align(highBytes, 4096)), PAGE);
    if (highPhys === null) return null;
    const highEnd = highPhys + BigInt(align(highBytes, 4096));
    if (highEnd > top) top = highEnd;
  }
  return { homePhys: Number(at), stagingPhys: Number(at + home), stagingBytes, highPhys, highBytes, memoryBytes: ramFor(top) };
}

/**
 * The next boot: as many of the cases, from the first on, as one boot holds.
 * Throws InputError when not even the first case leaves room for the stub.
 */
export function planNextBoot(cases: readonly CasePlan[], stub: ProbeStub): BootPlan {
  let count = 0;
  let placement: Placement | null = null;
  while (count < cases.length && count < MAX_CASES_PER_BOOT) {
    if (count > 0 && (large(cases[0]!) || large(cases[count]!))) break;
    const attempt = place(cases.slice(0, count + 1), stub);
    if (!attempt) break;
    placement = attempt;
    count++;
  }
  if (!placement) {
    throw new UnhostableLayout(
      'no-stub-room',
      'no free physical memory between 1 MiB and 3 GiB is left for the QEMU stub and its staging area: the layout holds tables, probed pages or the stub\'s pages in all of it',
    );
  }
  const members = cases.slice(0, count);
  const high = placement.highPhys === null ? null : { phys: placement.highPhys, bytes: new Uint8Array(align(placement.highBytes, 4096)) };
  const hostTableDiff = members.map((c) => preparedLong(c) || c.input.tablesPhys + BigInt(c.input.tables.byteLength) > PAGING_OFF_END);
  return {
    cases: members,
    homePhys: placement.homePhys,
    stagingPhys: placement.stagingPhys,
    staging: writeStaging(members, placement.stagingPhys, placement.stagingBytes, high, hostTableDiff),
    highStaging: high,
    placedTables: members.length === 1 && large(members[0]!) ? { phys: members[0]!.input.tablesPhys, bytes: members[0]!.input.tables } : null,
    hostTableDiff,
    memoryBytes: placement.memoryBytes,
  };
}

/** A staging area being written: its bytes, where the guest sees them, and the next free byte. */
interface Area {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly phys: bigint;
  next: number;
}

function writeStaging(cases: readonly CasePlan[], base: number, size: number, high: BootPlan['highStaging'], hostTableDiff: readonly boolean[]): Uint8Array {
  const bytes = new Uint8Array(align(size, 4096));
  const view = new DataView(bytes.buffer);
  view.setUint32(ABI.S_MAGIC, ABI.STAGING_MAGIC, true);
  view.setUint32(ABI.S_COUNT, cases.length, true);
  view.setUint32(ABI.S_CASES, base + HEADER_BYTES, true);
  if (cases.some(preparedLong)) {
    const at = bytes.byteLength - STUB_TABLE_BYTES;
    writeStubTables(view, at, base + at);
    view.setUint32(ABI.S_STUB_CR3, base + at, true);
  }
  const low: Area = { bytes, view, phys: BigInt(base), next: HEADER_BYTES + DESCRIPTOR_BYTES * cases.length };
  const highArea: Area | null = high && { bytes: high.bytes, view: new DataView(high.bytes.buffer), phys: high.phys, next: 0 };
  cases.forEach((c, i) => {
    const d = HEADER_BYTES + DESCRIPTOR_BYTES * i;
    const u32 = (field: number, value: number): void => view.setUint32(d + field, value, true);
    const u64 = (field: number, value: bigint): void => view.setBigUint64(d + field, BigInt.asUintN(64, value), true);
    const { input } = c;
    const long = preparedLong(c);
    const area = long ? highArea! : low;
    u32(ABI.D_MODE, MODE_CODES[input.mode]);
    const placed = large(c);
    u32(ABI.D_FLAGS, ABI.F_PAUSE | (hostTableDiff[i] ? 0 : ABI.F_TABLE_DIFF) | (c.code.ringThree ? 0 : ABI.F_SMAP) | (long ? ABI.F_LONG : 0) | (placed ? ABI.F_TABLES_PLACED : 0));
    u64(ABI.D_CR3, c.cr3);
    u64(ABI.D_TABLES_PHYS, input.tablesPhys);
    u32(ABI.D_TABLES_LEN, input.tables.byteLength);
    if (placed) {
      u64(ABI.D_TABLES_SRC, input.tablesPhys);
    } else {
      u64(ABI.D_TABLES_SRC, area.phys + BigInt(area.next));
      area.bytes.set(input.tables, area.next);
      area.next += align(input.tables.byteLength, 16);
    }
    u64(ABI.D_CODE, c.code.phys);
    u64(ABI.D_CTX, c.context.phys);
    u64(ABI.D_DELTA, c.code.runVirt - c.code.phys);
    u64(ABI.D_SIGN_SRC, writeRuns(area, c.signRuns));
    u32(ABI.D_SIGN_COUNT, c.signRuns.length);
    u64(ABI.D_PROBE_SRC, writeRuns(area, c.probeRuns));
    u32(ABI.D_PROBE_COUNT, c.probeRuns.length);
  });
  return bytes;
}

/** Writes runs as {u64 start, u32 pages, u32 0} (SIGN_RUN_BYTES and PROBE_RUN_BYTES alike); returns where the guest sees the first. */
function writeRuns(area: Area, runs: readonly PageRun[]): bigint {
  const at = area.phys + BigInt(area.next);
  for (const run of runs) {
    area.view.setBigUint64(area.next, run.start, true);
    area.view.setUint32(area.next + 8, run.pages, true);
    area.next += RUN_BYTES;
  }
  return at;
}

/** The stub's identity map at `offset` of the staging area (physical `phys`): PML4, then PDPTs of present, writable 1 GiB pages. */
function writeStubTables(view: DataView, offset: number, phys: number): void {
  const PRESENT_WRITABLE = 0x3n;
  const LARGE = 0x80n;
  for (let i = 0; i < STUB_PDPTS; i++) {
    view.setBigUint64(offset + 8 * i, BigInt(phys + 4096 * (1 + i)) | PRESENT_WRITABLE, true);
    for (let j = 0; j < 512; j++) {
      view.setBigUint64(offset + 4096 * (1 + i) + 8 * j, (BigInt(i * 512 + j) << 30n) | PRESENT_WRITABLE | LARGE, true);
    }
  }
}
