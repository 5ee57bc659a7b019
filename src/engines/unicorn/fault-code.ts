/**
 * The page-fault error code, read from Unicorn.
 *
 * Unicorn never delivers an exception through the guest's IDT: its CPU loop
 * hands the vector to UC_HOOK_INTR instead of running the interrupt logic,
 * so no guest handler can push the error code for us, and the C API has no
 * register for it. The code is still computed by the emulated MMU and kept
 * in the CPU state that uc_context_save copies. Where it sits in that copy
 * is not part of the API, so it is found at run time: faults whose codes are
 * known (not present, write, read-only, execute-disable, reserved bit) are
 * provoked in a small machine, and the one 32-bit slot of the saved state
 * that holds each fault's code is taken. If no slot, or more than one,
 * matches every fault, the engine refuses to run rather than guess.
 */
import type { CpuContext } from './binding.js';
import { X86_REG } from './constants.js';
import { SMALL_PAGE_DIRECTORY, enableSmallPaging, entryBytes, openSmallMachine } from './small-machine.js';
import { PF_FETCH, PF_PRESENT, PF_RESERVED, PF_WRITE, VECTOR_PAGE_FAULT } from './x86.js';

const locations = new Map<32 | 64, number>();

/** Reads the error code of the last page fault from a CPU state saved after it. */
export function errorCodeAt(saved: CpuContext, location: number): number {
  const bytes = saved.bytes();
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(location, true);
}

/** Byte offset of the page-fault error code in Unicorn's saved CPU state, for the code width. */
export function errorCodeLocation(width: 32 | 64): number {
  const known = locations.get(width);
  if (known !== undefined) return known;
  const location = calibrate(width);
  locations.set(width, location);
  return location;
}

/** The calibration machine's code, and the pages its faults hit. */
const AT = { page: 0x1000, code: 0x10000, notPresent: 0x20000, readOnly: 0x21000, noExecute: 0x22000, reservedBit: 0x23000 } as const;

function calibrate(width: 32 | 64): number {
  const uc = openSmallMachine(width, 0x100000n);
  try {
    uc.writeMemory(SMALL_PAGE_DIRECTORY, entryBytes(0x4000n | 7n));
    const pt = new Uint8Array(AT.page);
    const view = new DataView(pt.buffer);
    for (let page = 0; page < 256; page++) {
      const address = BigInt(page * AT.page);
      let value = address | 3n; // present, writable
      if (address === BigInt(AT.notPresent)) value = 0n;
      if (address === BigInt(AT.readOnly)) value = address | 1n;
      if (address === BigInt(AT.noExecute)) value |= 1n << 63n;
      if (address === BigInt(AT.reservedBit)) value |= 1n << 45n; // above MAXPHYADDR (40 for the emulated CPU)
      view.setBigUint64(page * 8, value, true);
    }
    uc.writeMemory(0x4000n, pt);
    // mov eax, [esi/rsi]; mov [esi/rsi], eax; jmp eax/rax
    uc.writeMemory(BigInt(AT.code), Uint8Array.from([0x8b, 0x06]));
    uc.writeMemory(BigInt(AT.code + 0x10), Uint8Array.from([0x89, 0x06]));
    uc.writeMemory(BigInt(AT.code + 0x20), Uint8Array.from([0xff, 0xe0]));
    enableSmallPaging(uc);
    let vector: number | null = null;
    uc.hookInterrupts((v) => {
      vector = v;
      uc.stop();
    });
    const clean = uc.saveContext();
    const afterFault = uc.saveContext();
    const [si, ax] = width === 64 ? [X86_REG.RSI, X86_REG.RAX] : [X86_REG.ESI, X86_REG.EAX];

    const cases = [
      { start: AT.code, target: AT.notPresent, code: 0 },
      { start: AT.code + 0x10, target: AT.notPresent, code: PF_WRITE },
      { start: AT.code + 0x10, target: AT.readOnly, code: PF_PRESENT | PF_WRITE },
      { start: AT.code + 0x20, target: AT.noExecute, code: PF_PRESENT | PF_FETCH },
      { start: AT.code, target: AT.reservedBit, code: PF_PRESENT | PF_RESERVED },
    ];
    const states: Uint8Array[] = [];
    for (const c of cases) {
      clean.restore();
      vector = null;
      uc.writeRegister(si, BigInt(c.target));
      uc.writeRegister(ax, BigInt(c.target));
      uc.start(BigInt(c.start), BigInt(c.start + 2));
      const cr2 = uc.readRegister(X86_REG.CR2);
      if (vector !== VECTOR_PAGE_FAULT || cr2 !== BigInt(c.target)) {
        throw new Error(
          `unicorn: the calibration fault at 0x${c.target.toString(16)} did not happen as a page fault ` +
            `(vector ${vector ?? 'none'}, CR2 0x${cr2.toString(16)}): the emulator does not walk the page tables`,
        );
      }
      afterFault.save();
      states.push(afterFault.bytes().slice());
    }
    const matches: number[] = [];
    const length = states[0]!.byteLength;
    for (let offset = 0; offset + 4 <= length; offset += 4) {
      if (cases.every((c, i) => new DataView(states[i]!.buffer).getInt32(offset, true) === c.code)) matches.push(offset);
    }
    if (matches.length !== 1) {
      throw new Error(
        `unicorn: cannot find the page-fault error code in the saved CPU state (${matches.length} candidate slots); ` +
          'this Unicorn build differs from the one the engine was written for',
      );
    }
    return matches[0]!;
  } finally {
    uc.close();
  }
}
