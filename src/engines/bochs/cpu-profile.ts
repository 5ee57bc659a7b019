/**
 * CPU profiles for Bochs: what a probe needs the CPU to support, mapped to
 * one of Bochs 2.7's CPU models. Bochs's generic model cannot stand in: its
 * `cpuid:` options for SMEP and SMAP do not reach CPUID leaf 7, and NX comes
 * only with x86_64. The named models' features below were read back with
 * CPUID from a guest on Bochs 2.7 (test/bochs.test.ts checks them on every
 * run); MAXPHYADDR is a build-time constant of Bochs (40 on Debian's build),
 * the same for every model.
 */
import { InputError } from '../../core/errors.js';

export interface CpuProfile {
  /** MAXPHYADDR: reserved physical-address bits start here. */
  readonly maxPhysAddr: number;
  /** EFER.NXE can be set (CPUID 0x80000001 EDX bit 20). */
  readonly nxe: boolean;
  /** 4 MiB pages in 32-bit paging (CPUID 1 EDX bit 3). */
  readonly pse: boolean;
  /** 1 GiB pages in IA-32e paging (CPUID 0x80000001 EDX bit 26). */
  readonly pdpe1gb: boolean;
  /** CR4.SMEP (CPUID 7 EBX bit 7). */
  readonly smep: boolean;
  /** CR4.SMAP (CPUID 7 EBX bit 20). */
  readonly smap: boolean;
}

/** A Bochs CPU model and what it offers. */
export interface BochsCpuModel extends CpuProfile {
  readonly model: string;
  /** IA-32e mode (CPUID 0x80000001 EDX bit 29). */
  readonly longMode: boolean;
}

/** The physical-address width Bochs 2.7 checks page-table entries against, whatever the model. */
export const BOCHS_MAX_PHYS_ADDR = 40;

/** One model per feature set Bochs offers; long mode wherever NX is (IA-32e needs both). */
export const BOCHS_CPU_MODELS: readonly BochsCpuModel[] = [
  { model: 'tigerlake', maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: true, smep: true, smap: true, longMode: true },
  { model: 'corei7_haswell_4770', maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: true, smep: true, smap: false, longMode: true },
  { model: 'corei7_ivy_bridge_3770k', maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: false, smep: true, smap: false, longMode: true },
  { model: 'phenom_8650_toliman', maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: true, smep: false, smap: false, longMode: true },
  { model: 'core2_penryn_t9600', maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: false, smep: false, smap: false, longMode: true },
  { model: 'atom_n270', maxPhysAddr: 40, nxe: false, pse: true, pdpe1gb: false, smep: false, smap: false, longMode: false },
];

/** Instructions per emulated second: with `clock: sync=none` it only paces the emulated timers. */
const IPS = 50_000_000;

const FEATURES = ['nxe', 'pse', 'pdpe1gb', 'smep', 'smap'] as const;

const describe = (p: CpuProfile): string =>
  `MAXPHYADDR ${p.maxPhysAddr}, ${FEATURES.map((f) => `${p[f] ? '' : 'no '}${f.toUpperCase()}`).join(', ')}`;

/** The model with exactly the profile's features; InputError naming what Bochs offers when none has them. */
export function bochsModelFor(profile: CpuProfile): BochsCpuModel {
  if (profile.maxPhysAddr !== BOCHS_MAX_PHYS_ADDR) {
    throw new InputError(`Bochs checks physical addresses against ${BOCHS_MAX_PHYS_ADDR} bits on every CPU model; it cannot model MAXPHYADDR ${profile.maxPhysAddr}`);
  }
  const model = BOCHS_CPU_MODELS.find((m) => FEATURES.every((f) => m[f] === profile[f]));
  if (!model) {
    throw new InputError(`no Bochs CPU model has ${describe(profile)}; Bochs offers: ${BOCHS_CPU_MODELS.map((m) => describe(m)).join('; ')}`);
  }
  return model;
}

/** The bochsrc lines for the profile's model. A triple fault stops the CPU rather than resetting it (the ROM would run again). */
export function cpuConfigLines(profile: CpuProfile): string[] {
  const { model } = bochsModelFor(profile);
  return [`cpu: model=${model}, count=1, ips=${IPS}, reset_on_triple_fault=0, ignore_bad_msrs=0`];
}
