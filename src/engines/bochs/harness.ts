/**
 * The Bochs harness: blobs at physical addresses, a 32-bit protected-mode
 * entry state and a CPU profile in; the guest's debug-console bytes and how
 * the run ended out. Bochs has no -kernel: it boots a ROM of ours in place
 * of the BIOS (rom.ts, loader.S), which puts the blobs in place and jumps.
 */
import { execa } from 'execa';
import { InputError } from '../../core/errors.js';
import { assembleFlat } from './assemble.js';
import { MAX_GUEST_MiB } from './config.js';
import { cpuConfigLines, type CpuProfile } from './cpu-profile.js';
import { BOCHS_BINARY, runBochs, type BochsRunResult } from './machine.js';
import { multibootLoad } from './multiboot.js';
import { buildBootMedia, LOADER_BASE, type EntryRegisters, type PhysBlob, type PhysZero } from './rom.js';

export type { BochsExit, BochsRunResult } from './machine.js';
export type { CpuProfile } from './cpu-profile.js';
export type { EntryRegisters, PhysBlob, PhysZero } from './rom.js';

export interface GuestRun {
  readonly blobs: readonly PhysBlob[];
  readonly zero?: readonly PhysZero[];
  readonly entry: EntryRegisters;
  readonly profile: CpuProfile;
  /** Guest RAM in bytes: a whole number of MiB, at most MAX_GUEST_MiB. */
  readonly memoryBytes: number;
  /** Wall-clock limit; the run ends as 'timeout' after it. */
  readonly timeoutMs: number;
  /** Called with each complete console line (latin1, no newline); true ends the run ('stopped'): for guests that halt instead of shutting down. */
  readonly stopAtLine?: (line: string) => boolean;
  /** The blobs travel in the ROM when they fit in Bochs's 4 MiB, else on an ATA disk; 'disk' forces the disk. */
  readonly carrier?: 'auto' | 'disk';
}

export const MiB = 1024 * 1024;

/** Boots Bochs on the blobs and runs the guest from the entry state. */
export async function runGuest(run: GuestRun): Promise<BochsRunResult> {
  if (run.memoryBytes % MiB !== 0 || run.memoryBytes < 2 * MiB || run.memoryBytes > MAX_GUEST_MiB * MiB) {
    throw new InputError(`Bochs guest RAM must be a whole number of MiB from 2 to ${MAX_GUEST_MiB}, not ${run.memoryBytes} bytes`);
  }
  const cpuLines = cpuConfigLines(run.profile);
  const loader = await assembleFlat('loader.S', LOADER_BASE);
  const media = buildBootMedia(loader, { blobs: run.blobs, zero: run.zero, entry: run.entry, memoryBytes: run.memoryBytes, carrier: run.carrier });
  return runBochs({ ...media, memoryBytes: run.memoryBytes, cpuLines, timeoutMs: run.timeoutMs, stopAtLine: run.stopAtLine });
}

export interface MultibootRun extends Omit<GuestRun, 'blobs' | 'zero' | 'entry'> {
  /** A multiboot image with the a.out address fields. */
  readonly image: Uint8Array;
  /** More blobs (a staging area, say), placed before the entry runs. */
  readonly extra?: readonly PhysBlob[];
  /** Where the multiboot information block goes; by default 0x9000. */
  readonly infoPhys?: number;
}

/** Boots a multiboot image as a multiboot loader would, with the extra blobs in place. */
export function runMultiboot(run: MultibootRun): Promise<BochsRunResult> {
  const load = multibootLoad(run.image, { infoPhys: run.infoPhys ?? 0x9000, memoryBytes: run.memoryBytes });
  return runGuest({ ...run, blobs: [...load.blobs, ...(run.extra ?? [])], zero: load.zero, entry: load.entry });
}

let versionOnce: Promise<string> | undefined;

/** '2.7', from Bochs's banner; InputError with the install command when Bochs is missing. */
export function bochsVersion(): Promise<string> {
  versionOnce ??= execa(BOCHS_BINARY, ['--help'], { reject: false, stdin: 'ignore', all: true }).then(
    (r) => {
      if (r.failed && r.exitCode === undefined) throw new Error((r as { shortMessage?: string }).shortMessage ?? 'cannot run');
      const m = /Bochs x86 Emulator (\d+\.\d+(?:\.\d+)?)/.exec(r.all ?? '');
      if (!m) throw new Error(`cannot read the version from its banner`);
      return m[1]!;
    },
  ).catch((err: unknown) => {
    versionOnce = undefined;
    throw new InputError(`${BOCHS_BINARY} is not usable (${(err as Error).message.split('\n')[0]}); install it with: npm run setup (or: apt-get install --no-install-recommends bochs bochs-sdl bochsbios vgabios)`);
  });
  return versionOnce;
}
