/**
 * The guest's physical memory as the probe stub's host plans it: where RAM
 * can back what the stub writes (tables, signatures, its code and context),
 * what lies in the holes between, and MAXPHYADDR. A layout that needs memory
 * nothing can back is refused with a stable reason code (UnhostableLayout).
 */
import { HostingRefusal } from '../../verify/model.js';
import { intersect, normalize, subtract, type Interval } from '../probe/intervals.js';
import { hex } from '../probe/pages.js';

const GIB = 1n << 30n;

/** Why a layout cannot be hosted, as a code a summary can count. */
export type UnhostableReason = 'phys-above-maxphyaddr' | 'mmio-hole' | 'no-ram' | 'cr3-out-of-reach' | 'no-code-page' | 'no-context-pages' | 'no-stub-room';

/** Bad input for this engine: the guest cannot back what the layout needs, or the layout leaves the stub no page. The message starts with the reason code. */
export class UnhostableLayout extends HostingRefusal {
  constructor(override readonly reason: UnhostableReason, detail: string) {
    super(reason, `${reason}: ${detail}`);
  }
}

export interface GuestMemory {
  /** Physical memory the guest has RAM in, sorted and disjoint. */
  readonly ram: readonly Interval[];
  /** Device holes: a mapped page there is left out of the probes (nothing can carry its signature); tables or stub pages there are refused. */
  readonly holes: readonly Interval[];
  /** What the holes are, for messages. */
  readonly holeName: string;
  /** What RAM there is, for messages. */
  readonly ramName: string;
  /** The CPU's MAXPHYADDR, which the walker models as well. */
  readonly maxPhysAddr: number;
}

/**
 * QEMU's MAXPHYADDR under TCG (the engine sets `phys-bits` to it; CPUID
 * 0x80000008 reports it and TCG's reserved-bit checks follow it), and where
 * the guest's RAM ends. TCG takes more, and a sparse memfd backs up to
 * 2^46, but QEMU's dirty bitmaps cost it about 100 MiB of resident memory
 * per TiB of guest RAM, whether touched or not: 2^44 bounds a boot at about 1.6 GiB.
 */
export const QEMU_MAX_PHYS_ADDR = 44;

/** RAM below 3 GiB only: what the stub reaches with paging off on QEMU's microvm and on Bochs (the default). */
export const GUEST_MEMORY_LOW: GuestMemory = {
  ram: [{ start: 0n, end: 3n * GIB }],
  holes: [],
  holeName: 'the PCI and I/O hole from 3 GiB',
  ramName: 'RAM only below 3 GiB',
  maxPhysAddr: QEMU_MAX_PHYS_ADDR,
};

/**
 * QEMU's microvm with sparse RAM (a memory backend with reserve=off): RAM
 * below 3 GiB and from 4 GiB up to MAXPHYADDR. Between lie its devices (IO
 * APICs at 0xfec00000, the local APIC at 0xfee00000, virtio-mmio at
 * 0xfeb00000, the firmware ROM below 4 GiB), and no machine type gives RAM
 * there once RAM passes 3 GiB: that gigabyte is a hole.
 */
export const GUEST_MEMORY_MICROVM: GuestMemory = {
  ram: [{ start: 0n, end: 3n * GIB }, { start: 4n * GIB, end: 1n << BigInt(QEMU_MAX_PHYS_ADDR) }],
  holes: [{ start: 3n * GIB, end: 4n * GIB }],
  holeName: "QEMU microvm's device hole 0xc0000000-0x100000000",
  ramName: `RAM below 3 GiB and from 4 GiB to 2^${QEMU_MAX_PHYS_ADDR}`,
  maxPhysAddr: QEMU_MAX_PHYS_ADDR,
};

/** The first hole `interval` reaches into, or null. */
export const holeAt = (memory: GuestMemory, interval: Interval): Interval | null => intersect([interval], memory.holes)[0] ?? null;

/**
 * Refuses `interval` (named by `what`) where RAM does not back it; with
 * `holesAllowed`, the parts in holes pass (the probes leave them out).
 */
export function refuseUnbacked(memory: GuestMemory, interval: Interval, what: string, why: string, holesAllowed = false): void {
  const missing = subtract(normalize([interval]), memory.ram);
  const outside = holesAllowed ? subtract(missing, memory.holes) : missing;
  const first = outside[0];
  if (!first) return;
  const part = `physical ${hex(first.start)}-${hex(first.end)}`;
  if (holeAt(memory, first)) throw new UnhostableLayout('mmio-hole', `${what}: ${part} lies in ${memory.holeName}, where nothing backs it (${why})`);
  throw new UnhostableLayout('no-ram', `${what}: ${part} lies outside the guest's RAM (${memory.ramName}; ${why})`);
}
