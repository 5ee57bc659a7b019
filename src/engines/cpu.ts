/**
 * The processor an engine models, shared by every engine: the walker reads
 * entries under its MAXPHYADDR, NXE and PSE, and Bochs runs the CPU model
 * with exactly its features. `verify --cpu NAME` picks one by name.
 */
import { InputError } from '../core/errors.js';
import type { WalkOptions } from '../verify/model.js';

export interface CpuProfile {
  /** MAXPHYADDR: physical-address bits at or above it are reserved in entries. */
  readonly maxPhysAddr: number;
  /** IA32_EFER.NXE can be set: bit 63 is XD (else reserved). */
  readonly nxe: boolean;
  /** CR4.PSE: 4 MiB pages in 32-bit paging. */
  readonly pse: boolean;
  /** 1 GiB pages in IA-32e paging (CPUID 0x80000001 EDX bit 26); PS in a PDPTE is reserved without it. */
  readonly pdpe1gb: boolean;
  /** CR0.WP: supervisor writes honour read-only pages (every probe sets it). */
  readonly wp: boolean;
  readonly smep: boolean;
  readonly smap: boolean;
}

/**
 * Named profiles: the processors of Bochs 2.7's CPU models (their features
 * read back with CPUID from a guest, see bochs/cpu-profile.ts), MAXPHYADDR
 * 40 as Bochs and QEMU's TCG check it.
 */
export const CPU_PROFILES: Readonly<Record<string, CpuProfile>> = {
  tigerlake: { maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: true, wp: true, smep: true, smap: true },
  haswell: { maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: true, wp: true, smep: true, smap: false },
  'ivy-bridge': { maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: false, wp: true, smep: true, smap: false },
  phenom: { maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: true, wp: true, smep: false, smap: false },
  penryn: { maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: false, wp: true, smep: false, smap: false },
  atom: { maxPhysAddr: 40, nxe: false, pse: true, pdpe1gb: false, wp: true, smep: false, smap: false },
};

export const CPU_NAMES = Object.keys(CPU_PROFILES);

/** The profile named; InputError listing the names otherwise. */
export function cpuProfileNamed(name: string): CpuProfile {
  const profile = CPU_PROFILES[name];
  if (!profile) throw new InputError(`--cpu: unknown CPU '${name}' (choose one of: ${CPU_NAMES.join(', ')})`);
  return profile;
}

/** How the walker reads entries on this processor. */
export const walkOptionsFor = (profile: CpuProfile): WalkOptions => ({ maxPhysAddr: profile.maxPhysAddr, nxe: profile.nxe, pse: profile.pse });

/** The architectural limit, the walker's default: a walker option of 52 names no particular processor. */
const ARCHITECTURAL_MAX_PHYS_ADDR = 52;

/**
 * The profile an emulator runs when none is named: the walker's NXE and PSE,
 * its MAXPHYADDR when one below the architectural 52 was asked for (else the
 * emulators' 40), and the richest features (1 GiB pages, SMEP, SMAP).
 */
export function emulatorProfileFor(walkOptions: WalkOptions): CpuProfile {
  const base = CPU_PROFILES.tigerlake!;
  const maxPhysAddr = walkOptions.maxPhysAddr === undefined || walkOptions.maxPhysAddr === ARCHITECTURAL_MAX_PHYS_ADDR ? base.maxPhysAddr : walkOptions.maxPhysAddr;
  return { ...base, maxPhysAddr, nxe: walkOptions.nxe ?? true, pse: walkOptions.pse ?? true };
}
