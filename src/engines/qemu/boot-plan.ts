/**
 * Packs planned cases into boots: each boot loads the stub and one staging
 * area (the cases' descriptors, tables, signature runs and probe runs) into
 * physical memory no case of that boot maps or writes.
 */
import { InputError } from '../../core/errors.js';
import type { PagingMode } from '../../verify/model.js';
import type { CasePlan } from './case-plan.js';
import { FIRMWARE_END, GUEST_RAM_END } from './case-plan.js';
import { firstFit, normalize, subtract } from './intervals.js';
import { homeFootprint, type ProbeStub } from './stub-build.js';

const PAGE = 4096n;
const STAGING_MAGIC = 0x70363878; // "x86p"
const HEADER_BYTES = 0x40;
const DESCRIPTOR_BYTES = 0x40;
const MODE_CODES: Readonly<Record<PagingMode, number>> = { '32bit': 0, pae: 1, ia32e: 2 };
const FLAG_PAUSE = 1;
const FLAG_SMAP = 2;
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
  for (const c of cases) size += align(c.input.tables.byteLength, 16) + 8 * c.signRuns.length + 16 * c.probeRuns.length;
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
  view.setUint32(0, STAGING_MAGIC, true);
  view.setUint32(4, cases.length, true);
  view.setUint32(8, base + HEADER_BYTES, true);
  let data = HEADER_BYTES + DESCRIPTOR_BYTES * cases.length;
  cases.forEach((c, i) => {
    const d = HEADER_BYTES + DESCRIPTOR_BYTES * i;
    const { input } = c;
    view.setUint32(d + 0x00, MODE_CODES[input.mode], true);
    view.setUint32(d + 0x04, FLAG_PAUSE | (c.ringThree ? 0 : FLAG_SMAP), true);
    view.setUint32(d + 0x08, Number(c.cr3), true);
    view.setUint32(d + 0x0c, Number(input.tablesPhys), true);
    view.setUint32(d + 0x10, input.tables.byteLength, true);
    view.setUint32(d + 0x14, base + data, true);
    bytes.set(input.tables, data);
    data += align(input.tables.byteLength, 16);
    view.setUint32(d + 0x18, Number(c.codePhys), true);
    view.setUint32(d + 0x1c, Number(c.contextPhys), true);
    view.setBigUint64(d + 0x20, BigInt.asUintN(64, c.runVirt - c.codePhys), true);
    view.setUint32(d + 0x28, base + data, true);
    view.setUint32(d + 0x2c, c.signRuns.length, true);
    for (const run of c.signRuns) {
      view.setUint32(data, Number(run.start), true);
      view.setUint32(data + 4, run.pages, true);
      data += 8;
    }
    view.setUint32(d + 0x30, base + data, true);
    view.setUint32(d + 0x34, c.probeRuns.length, true);
    for (const run of c.probeRuns) {
      view.setBigUint64(data, run.start, true);
      view.setUint32(data + 8, run.pages, true);
      data += 16;
    }
  });
  return bytes;
}
