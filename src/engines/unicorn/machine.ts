/**
 * The emulated machine a check runs on: one Unicorn instance per code width,
 * kept for the life of the process. Opening and closing an instance per
 * check leaves the C heap fragmented (the process grew by some 150 KB a
 * check), so checks take turns on one; each leaves it with no memory mapped,
 * nothing translated cached, and the CPU state it had when new.
 */
import { Unicorn, type CpuContext, type MemoryAccessKind } from './binding.js';
import { UC_CPU_X86_BROADWELL } from './constants.js';

/** Where a check's hooks report: the CPU raised a vector, or reached unbacked physical memory. */
export interface MachineListener {
  onVector(vector: number): void;
  onUnmapped(kind: MemoryAccessKind, physical: bigint): void;
}

/** A Unicorn instance, the CPU state it had when new, and whom its hooks report to. */
export interface Machine {
  readonly uc: Unicorn;
  readonly pristine: CpuContext;
  /** Where a fault's CPU state is saved to read its error code. */
  readonly faultState: CpuContext;
  listener: MachineListener | null;
}

const machines = new Map<32 | 64, Machine>();

/** Closes and forgets a machine that could not be left clean. */
export function discardMachine(width: 32 | 64): void {
  machines.get(width)?.uc.close();
  machines.delete(width);
}

/** The machine for a code width, opened (with a CPU model that has SMAP) on first use. */
export function machineFor(width: 32 | 64): Machine {
  const existing = machines.get(width);
  if (existing) return existing;
  const uc = Unicorn.open(width, { cpuModel: UC_CPU_X86_BROADWELL });
  const machine: Machine = { uc, pristine: uc.saveContext(), faultState: uc.saveContext(), listener: null };
  uc.hookInterrupts((vector) => {
    machine.listener?.onVector(vector);
    uc.stop();
  });
  uc.hookUnmappedMemory((kind, physical) => {
    machine.listener?.onUnmapped(kind, physical);
    return false;
  });
  machines.set(width, machine);
  return machine;
}
