/**
 * The bochsrc for a run: the ROM in place of a BIOS, RAM, the CPU lines of
 * a profile (cpu-profile.ts), and what makes Bochs headless and fast:
 * SDL2 (run with its dummy video driver), no sound, no optional devices, no
 * clock synchronisation, a fixed time of day, and panics that end the run.
 */
import { DISK_HEADS, DISK_SECTORS_PER_TRACK } from './rom.js';

export interface BochsConfigInput {
  readonly rom: Uint8Array;
  /** The disk the loader reads blobs from, when they did not fit in the ROM. */
  readonly disk: { readonly image: Uint8Array; readonly cylinders: number } | null;
  /** Guest RAM in bytes, a whole number of MiB. */
  readonly memoryBytes: number;
  /** `cpu:` and `cpuid:` lines (cpu-profile.ts). */
  readonly cpuLines: readonly string[];
}

const MiB = 1024 * 1024;
/**
 * Guest RAM ends below 3 GiB, as on QEMU's microvm: Bochs puts its VGA frame
 * buffer at 0xe0000000 and the APIC and ROM above. Start-up time grows with
 * the square of the RAM size (Bochs registers each 128 KiB block in a list
 * that checks names linearly): about 0.1 s at 32 MiB, 0.3 s at 1 GiB, 2 s at
 * 2 GiB, 4.6 s at 3 GiB; size it to what a boot needs.
 */
export const MAX_GUEST_MiB = 3072;
/** Bochs allocates at most 2 GiB of host memory; guest RAM beyond it lives in a swap file Bochs manages. */
const MAX_HOST_MiB = 2048;

export interface ConfigFiles {
  readonly romPath: string;
  readonly diskPath: string;
  readonly logPath: string;
}

export function bochsConfig(input: BochsConfigInput, files: ConfigFiles): string {
  if (input.memoryBytes % MiB !== 0 || input.memoryBytes < MiB) throw new Error(`guest RAM must be a whole number of MiB, not ${input.memoryBytes} bytes`);
  const mib = input.memoryBytes / MiB;
  return [
    `romimage: file="${files.romPath}"`,
    // Bochs insists on a VGA ROM image even though nothing runs it.
    'vgaromimage: file=/usr/share/vgabios/vgabios.bin',
    `memory: guest=${mib}, host=${Math.min(mib, MAX_HOST_MiB)}`,
    ...input.cpuLines,
    ...(input.disk
      ? [
          'ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14',
          `ata0-master: type=disk, path="${files.diskPath}", mode=flat, cylinders=${input.disk.cylinders}, heads=${DISK_HEADS}, spt=${DISK_SECTORS_PER_TRACK}`,
        ]
      : ['ata0: enabled=0']),
    'display_library: sdl2',
    'speaker: enabled=0',
    'sound: driver=dummy',
    'plugin_ctrl: unmapped=1, biosdev=0, speaker=0, extfpuirq=0, parallel=0, serial=0, gameport=0, iodebug=0',
    'port_e9_hack: enabled=1',
    'clock: sync=none, time0=946684800',
    'mouse: enabled=0',
    `log: "${files.logPath}"`,
    'panic: action=fatal',
    'error: action=report',
    'info: action=ignore',
    'debug: action=ignore',
    '',
  ].join('\n');
}
