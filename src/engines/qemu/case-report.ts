/**
 * Turns what the guest printed for a case into translations: signed pages
 * name their physical page themselves; pages whose content the stub does not
 * control (the tables' own pages, or memory no case maps) are placed by their
 * content when it is unique among the table pages, else by QEMU's MMU, and
 * take executability from the MMU (the stub only executes its own `ret`).
 */
import type { MappedRange, PagingMode } from '../../verify/model.js';
import { coalesceRanges } from '../../verify/ranges.js';
import { PAGE, pageAddress } from '../probe/pages.js';
import { containing } from '../probe/search.js';
import { pageOfSignature } from '../probe/signature.js';
import type { CasePlan } from './case-plan.js';
import { STUB_ABI } from './stub-abi.js';

/** Observation flags the guest prints. */
const { O_READ: READ, O_WRITE: WRITE, O_USER: USER, O_EXEC: EXECUTE, O_SIGNED: SIGNED } = STUB_ABI;

/** A run of pages the guest observed alike. */
export interface ObservedRun {
  readonly virt: bigint;
  readonly pages: bigint;
  readonly flags: number;
  /** Signature, raw bytes, or #PF error code. */
  readonly value: bigint;
}

export interface GuestCase {
  /** The code's base as the guest computed it from its own instruction pointer once paging was on. */
  readonly ranAt: bigint | null;
  readonly userCheck: 'cpl3' | 'smap' | null;
  readonly runs: readonly ObservedRun[];
  readonly finished: boolean;
}

const hexArg = (s: string | undefined): bigint => {
  if (!s || !/^[0-9a-f]+$/.test(s)) throw new Error(`malformed number '${s}' in the guest's report`);
  return BigInt(`0x${s}`);
};

export function parseGuestCase(lines: readonly string[]): GuestCase {
  let ranAt: bigint | null = null;
  let userCheck: GuestCase['userCheck'] = null;
  let finished = false;
  const runs: ObservedRun[] = [];
  for (const line of lines) {
    const [word, ...args] = line.trim().split(/\s+/);
    if (word === 'e') ranAt = hexArg(args[0]);
    else if (word === 'u') userCheck = args[0] === 's' ? 'smap' : 'cpl3';
    else if (word === 'o') runs.push({ virt: hexArg(args[0]), pages: hexArg(args[1]), flags: Number(hexArg(args[2])), value: hexArg(args[3]) });
    else if (word === 'd') finished = true;
  }
  return { ranAt, userCheck, runs, finished };
}

/** A page's translation in a sorted range list, or null. */
export const lookup = (ranges: readonly MappedRange[], virt: bigint): MappedRange | null =>
  containing(ranges, virt, (r) => r.virt, (r) => r.virt + r.size);

/** Table pages by their first 8 bytes, without the Accessed and Dirty bits the CPU sets while walking. */
function tablePagesByHead(plan: CasePlan): Map<bigint, bigint[]> {
  const { tables, tablesPhys, mode } = plan.input;
  const view = new DataView(tables.buffer, tables.byteOffset, tables.byteLength);
  const byHead = new Map<bigint, bigint[]>();
  for (let offset = 0; offset + 8 <= tables.byteLength; offset += 4096) {
    const head = withoutWalkBits(mode, view.getBigUint64(offset, true));
    const pages = byHead.get(head) ?? [];
    pages.push(tablesPhys + BigInt(offset));
    byHead.set(head, pages);
  }
  return byHead;
}

const WALK_BITS = 0x60n;
function withoutWalkBits(mode: PagingMode, value: bigint): bigint {
  const mask = mode === '32bit' ? ~(WALK_BITS | (WALK_BITS << 32n)) : ~WALK_BITS;
  return value & mask & ((1n << 64n) - 1n);
}

/**
 * The translations the guest observed, as maximal ranges. `mmu` (QEMU's own
 * list for the case) places and rates pages the signatures cannot; where it
 * is not listed, `physOf` places them (QEMU's translation of each).
 */
export function observedTranslations(plan: CasePlan, guest: GuestCase, mmu: readonly MappedRange[], physOf?: ReadonlyMap<bigint, bigint>): MappedRange[] {
  const byHead = tablePagesByHead(plan);
  const out: MappedRange[] = [];
  for (const run of guest.runs) {
    if (!(run.flags & READ)) continue;
    const access = { writable: (run.flags & WRITE) !== 0, user: (run.flags & USER) !== 0 };
    const signed = run.flags & SIGNED ? pageOfSignature(run.value) : null;
    if (signed !== null) {
      const phys = pageAddress(signed);
      out.push({ virt: run.virt, phys, size: run.pages * PAGE, ...access, executable: (run.flags & EXECUTE) !== 0 });
      continue;
    }
    for (let i = 0n; i < run.pages; i++) {
      const virt = run.virt + i * PAGE;
      const seen = lookup(mmu, virt);
      const seenPhys = seen ? seen.phys + (virt - seen.virt) : physOf?.get(virt) ?? null;
      const matches = byHead.get(withoutWalkBits(plan.input.mode, run.value)) ?? [];
      const phys = seenPhys !== null && matches.includes(seenPhys) ? seenPhys : matches.length === 1 ? matches[0]! : seenPhys;
      if (phys === null) throw new Error(`the guest read virtual 0x${virt.toString(16)} but neither its content nor QEMU's MMU tells which physical page answered`);
      out.push({ virt, phys, size: PAGE, ...access, executable: seen?.executable ?? false });
    }
  }
  return coalesceRanges(out);
}
