/**
 * Packs planned cases into boots: each boot loads the stub and one staging
 * area (the cases' descriptors, tables, signature runs and probe runs) into
 * physical memory no case of that boot maps or writes.
 */
import { InputError } from '../../core/errors.js';
import type { PagingMode } from '../../verify/model.js';
import type { CasePlan } from './case-plan.js';
import { FIRMWARE_END, GUEST_RAM_END } from './case-plan.js';
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

export interface BootPlan {
  readonly cases: readonly CasePlan[];
  /** Where QEMU loads the stub (multiboot load address). */
  readonly homePhys: number;
  readonly stagingPhys: number;
  readonly staging: Uint8Array;
  /** Guest RAM size to give QEMU. */
  readonly memoryBytes: bigint;
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

function stagingSize(cases: readonly CasePlan[]): number {
  let size = HEADER_BYTES + DESCRIPTOR_BYTES * cases.length;
  for (const c of cases) size += align(c.input.tables.byteLength, 16) + ABI.SIGN_RUN_BYTES * c.signRuns.length + ABI.PROBE_RUN_BYTES * c.probeRuns.length;
  return size;
}

interface Placement {
  readonly homePhys: number;
  readonly stagingPhys: number;
  readonly stagingBytes: number;
  readonly memoryBytes: bigint;
}

/** Where the stub and the staging area go for exactly these cases, or null when no free memory below 3 GiB holds them. */
function place(cases: readonly CasePlan[], stub: ProbeStub): Placement | null {
  const home = BigInt(homeFootprint(stub));
  const stagingBytes = stagingSize(cases);
  if (stagingBytes > MAX_STAGING_BYTES) return null;
  const busy = normalize(cases.flatMap((c) => c.footprint));
  const free = subtract([{ start: FIRMWARE_END, end: GUEST_RAM_END }], busy);
  const at = firstFit(free, home + BigInt(align(stagingBytes, 4096)), PAGE);
  if (at === null) return null;
  const stagingEnd = at + home + BigInt(align(stagingBytes, 4096));
  const used = busy.length > 0 ? busy[busy.length - 1]!.end : 0n;
  const top = stagingEnd > used ? stagingEnd : used;
  const mib2 = 2n << 20n;
  const memoryBytes = ((top + mib2 - 1n) / mib2) * mib2;
  return { homePhys: Number(at), stagingPhys: Number(at + home), stagingBytes, memoryBytes: memoryBytes < 16n * mib2 ? 16n * mib2 : memoryBytes };
}

/**
 * The next boot: as many of the cases, from the first on, as one boot holds.
 * Throws InputError when not even the first case leaves room for the stub.
 */
export function planNextBoot(cases: readonly CasePlan[], stub: ProbeStub): BootPlan {
  let count = 0;
  let placement: Placement | null = null;
  while (count < cases.length && count < MAX_CASES_PER_BOOT) {
    const attempt = place(cases.slice(0, count + 1), stub);
    if (!attempt) break;
    placement = attempt;
    count++;
  }
  if (!placement) {
    throw new InputError(
      'no free physical memory between 1 MiB and 3 GiB is left for the QEMU stub and its staging area: the layout maps or holds tables in all of it',
    );
  }
  const members = cases.slice(0, count);
  return {
    cases: members,
    homePhys: placement.homePhys,
    stagingPhys: placement.stagingPhys,
    staging: writeStaging(members, placement.stagingPhys, placement.stagingBytes),
    memoryBytes: placement.memoryBytes,
  };
}

function writeStaging(cases: readonly CasePlan[], base: number, size: number): Uint8Array {
  const bytes = new Uint8Array(align(size, 4096));
  const view = new DataView(bytes.buffer);
  view.setUint32(ABI.S_MAGIC, ABI.STAGING_MAGIC, true);
  view.setUint32(ABI.S_COUNT, cases.length, true);
  view.setUint32(ABI.S_CASES, base + HEADER_BYTES, true);
  let data = HEADER_BYTES + DESCRIPTOR_BYTES * cases.length;
  cases.forEach((c, i) => {
    const d = HEADER_BYTES + DESCRIPTOR_BYTES * i;
    const u32 = (field: number, value: number): void => view.setUint32(d + field, value, true);
    const { input } = c;
    u32(ABI.D_MODE, MODE_CODES[input.mode]);
    u32(ABI.D_FLAGS, ABI.F_PAUSE | ABI.F_TABLE_DIFF | (c.code.ringThree ? 0 : ABI.F_SMAP));
    u32(ABI.D_CR3, Number(c.cr3));
    u32(ABI.D_TABLES_PHYS, Number(input.tablesPhys));
    u32(ABI.D_TABLES_LEN, input.tables.byteLength);
    u32(ABI.D_TABLES_SRC, base + data);
    bytes.set(input.tables, data);
    data += align(input.tables.byteLength, 16);
    u32(ABI.D_CODE, Number(c.code.phys));
    u32(ABI.D_CTX, Number(c.context.phys));
    view.setBigUint64(d + ABI.D_DELTA, BigInt.asUintN(64, c.code.runVirt - c.code.phys), true);
    u32(ABI.D_SIGN_SRC, base + data);
    u32(ABI.D_SIGN_COUNT, c.signRuns.length);
    for (const run of c.signRuns) {
      view.setUint32(data, Number(run.start), true);
      view.setUint32(data + 4, run.pages, true);
      data += ABI.SIGN_RUN_BYTES;
    }
    u32(ABI.D_PROBE_SRC, base + data);
    u32(ABI.D_PROBE_COUNT, c.probeRuns.length);
    for (const run of c.probeRuns) {
      view.setBigUint64(data, run.start, true);
      view.setUint32(data + 8, run.pages, true);
      data += ABI.PROBE_RUN_BYTES;
    }
  });
  return bytes;
}
