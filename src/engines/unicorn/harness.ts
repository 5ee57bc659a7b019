/**
 * What the engine puts into the pages it runs from. The probe routines,
 * the GDT and the interrupt-return frames share one page the layout maps
 * executable (the kernel page), after its signature; the CPL 3 routines go
 * into a page the layout maps executable for user mode (the user page; it
 * may be the same page). Nothing here is written over a page's first
 * 16 bytes, which the probes read and write back.
 */
import type { Unicorn } from './binding.js';
import { pageAddress } from '../probe/pages.js';
import type { ProbeRoutines, Routine } from './routines.js';

/** Segment selectors of the engine's GDT: index << 3 | requested privilege level. */
export const SELECTOR = { kernelCode: 0x08, kernelData: 0x10, userCode: 0x1b, userData: 0x23 } as const;

/**
 * Flat segment descriptors (Intel SDM Vol. 3A, 3.4.5), the accessed bit
 * preset so the CPU never writes to the GDT: null, kernel code, kernel data,
 * user code, user data. 64-bit code segments set L and clear D.
 */
const GDT: Record<32 | 64, readonly bigint[]> = {
  32: [0n, 0x00cf9b000000ffffn, 0x00cf93000000ffffn, 0x00cffb000000ffffn, 0x00cff3000000ffffn],
  64: [0n, 0x00209b0000000000n, 0x0000930000000000n, 0x0020fb0000000000n, 0x0000f30000000000n],
};

/** Byte offsets inside the harness pages: the kernel routines from 0x40, the user ones from 0x400, the GDT, the two frames. */
const OFFSET = { kernelRoutines: 0x40, userRoutines: 0x400, gdt: 0x800, idleFrame: 0xe00, touchFrame: 0xf00 } as const;
/** Each routine starts on a 16-byte boundary. */
const ROUTINE_ALIGN = 16;

/** Where each routine starts in its page. */
export interface HarnessLayout {
  readonly kernel: Readonly<Record<keyof ProbeRoutines, number>>;
  /** The CPL 3 copies of `touch` and `idle`, in the user page. */
  readonly user: { readonly touch: number; readonly idle: number };
  readonly gdt: number;
  readonly gdtLimit: number;
  /** Interrupt-return frames entering the user page's `idle` and `touch` routines. */
  readonly idleFrame: number;
  readonly touchFrame: number;
}

function place(start: number, end: number, routines: readonly [string, Routine][]): Record<string, number> {
  const offsets: Record<string, number> = {};
  let at = start;
  for (const [name, routine] of routines) {
    offsets[name] = at;
    at += Math.ceil(routine.code.byteLength / ROUTINE_ALIGN) * ROUTINE_ALIGN;
  }
  if (at > end) throw new Error(`the probe routines need ${at - start} bytes; the harness page has ${end - start} for them`);
  return offsets;
}

export function harnessLayout(routines: ProbeRoutines): HarnessLayout {
  const kernel = place(OFFSET.kernelRoutines, OFFSET.userRoutines, Object.entries(routines)) as Record<keyof ProbeRoutines, number>;
  const user = place(OFFSET.userRoutines, OFFSET.gdt, [['touch', routines.touch], ['idle', routines.idle]]);
  return {
    kernel,
    user: { touch: user.touch!, idle: user.idle! },
    gdt: OFFSET.gdt,
    gdtLimit: GDT[64].length * 8 - 1,
    idleFrame: OFFSET.idleFrame,
    touchFrame: OFFSET.touchFrame,
  };
}

const qwords = (values: readonly bigint[]): Uint8Array => {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigUint64(i * 8, v, true));
  return bytes;
};

const dwords = (values: readonly bigint[]): Uint8Array => {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, Number(v), true));
  return bytes;
};

/** Writes the CPL 0 routines and the GDT into the kernel page (physical page `ppn`). */
export function writeKernelHarness(uc: Unicorn, width: 32 | 64, ppn: number, routines: ProbeRoutines, layout: HarnessLayout): void {
  const base = pageAddress(ppn);
  for (const name of Object.keys(routines) as (keyof ProbeRoutines)[]) {
    uc.writeMemory(base + BigInt(layout.kernel[name]), routines[name].code);
  }
  uc.writeMemory(base + BigInt(layout.gdt), qwords(GDT[width]));
}

/**
 * Writes the CPL 3 routines into the user page (physical page `userPpn`)
 * and, into the kernel page, the frames that return to them: rip, cs,
 * rflags, rsp, ss, as IRET pops them (4 bytes each in 32-bit code).
 */
export function writeUserHarness(
  uc: Unicorn,
  width: 32 | 64,
  kernelPpn: number,
  userPpn: number,
  userVirt: bigint,
  routines: ProbeRoutines,
  layout: HarnessLayout,
): void {
  const userBase = pageAddress(userPpn);
  uc.writeMemory(userBase + BigInt(layout.user.touch), routines.touch.code);
  uc.writeMemory(userBase + BigInt(layout.user.idle), routines.idle.code);
  const frame = (rip: bigint): Uint8Array => {
    // rflags: only the always-one bit 1; interrupts off, AC clear.
    const values = [rip, BigInt(SELECTOR.userCode), 0x2n, 0n, BigInt(SELECTOR.userData)];
    return width === 64 ? qwords(values) : dwords(values);
  };
  const kernelBase = pageAddress(kernelPpn);
  uc.writeMemory(kernelBase + BigInt(layout.idleFrame), frame(userVirt + BigInt(layout.user.idle)));
  uc.writeMemory(kernelBase + BigInt(layout.touchFrame), frame(userVirt + BigInt(layout.user.touch)));
}
