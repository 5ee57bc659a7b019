/**
 * The ROM image Bochs boots in place of a BIOS: the host's blobs and their
 * manifest, then the loader (loader.S) in the last 64 KiB, whose parameter
 * block says where the manifest is and which registers the entry gets.
 * Blobs that do not fit in Bochs's 4 MiB of ROM go on an ATA disk image
 * instead, which the loader reads with polled PIO.
 */
import { InputError } from '../../core/errors.js';
import { hex } from '../../core/text.js';

/** Bytes to place at a physical address before the entry runs. */
export interface PhysBlob {
  readonly phys: number;
  readonly bytes: Uint8Array;
}

/** A physical range the loader zeroes (a multiboot bss, say), after every blob is in place. */
export interface PhysZero {
  readonly phys: number;
  readonly length: number;
}

/** The 32-bit protected-mode registers at the entry point (unset ones are 0). */
export interface EntryRegisters {
  readonly eip: number;
  readonly eax?: number;
  readonly ebx?: number;
  readonly ecx?: number;
  readonly edx?: number;
  readonly esi?: number;
  readonly edi?: number;
  readonly ebp?: number;
  readonly esp?: number;
}

export interface RomInput {
  readonly blobs: readonly PhysBlob[];
  readonly zero?: readonly PhysZero[];
  readonly entry: EntryRegisters;
  /** Guest RAM: every blob and zeroed range must lie in it. */
  readonly memoryBytes: number;
  /** Where the blobs travel: in the ROM when they fit (the default), else on a disk; 'disk' forces the disk. */
  readonly carrier?: 'auto' | 'disk';
}

/** What Bochs boots: the ROM, and the disk image when the blobs travel on one. */
export interface BootMedia {
  readonly rom: Uint8Array;
  readonly disk: { readonly image: Uint8Array; readonly cylinders: number } | null;
}

export const LOADER_BYTES = 0x10000;
/** Where the loader is linked: the last 64 KiB below 4 GiB, where the reset vector is. */
export const LOADER_BASE = 0x1_0000_0000 - LOADER_BYTES;
/** Bochs 2.7 maps at most 4 MiB of system ROM (its BIOSROMSZ). */
export const MAX_ROM_BYTES = 4 * 1024 * 1024;
/** The legacy video and ROM window below 1 MiB is not RAM the loader can fill. */
export const LOW_HOLE = { start: 0xa0000, end: 0x100000 } as const;
/** Physical page 0 holds the loader's stack and sector buffer while it runs. */
export const LOADER_PAGE = { start: 0, end: 0x1000 } as const;
/** The disk's geometry: 16 heads, 63 sectors a track; the image is a whole number of cylinders. */
export const DISK_HEADS = 16;
export const DISK_SECTORS_PER_TRACK = 63;
const SECTOR = 512;
const CYLINDER_BYTES = DISK_HEADS * DISK_SECTORS_PER_TRACK * SECTOR;
/** Bochs's ATA disk has at most 65535 cylinders (about 32 GiB); the loader's LBA28 reads reach 128 GiB. */
const MAX_CYLINDERS = 65535;

const MAGIC = 'X86PTBXL';
const ENTRY_BYTES = 16;
const KIND_COPY = 0;
const KIND_ZERO = 1;
const KIND_DISK = 2;
const REGISTER_ORDER = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'eip'] as const;

interface Span {
  readonly start: number;
  readonly end: number;
  readonly what: string;
}

function checkSpans(input: RomInput): void {
  const spans: Span[] = [
    ...input.blobs.map((b, i) => ({ start: b.phys, end: b.phys + b.bytes.byteLength, what: `blob ${i}` })),
    ...(input.zero ?? []).map((z, i) => ({ start: z.phys, end: z.phys + z.length, what: `zeroed range ${i}` })),
  ];
  for (const s of spans) {
    const where = `${s.what} at ${hex(BigInt(s.start))}-${hex(BigInt(s.end))}`;
    if (!Number.isInteger(s.start) || s.start < 0 || s.end < s.start) throw new InputError(`${where}: not a physical range`);
    if (s.end > input.memoryBytes) throw new InputError(`${where} reaches past the guest's RAM (${hex(BigInt(input.memoryBytes))})`);
    if (s.start < LOW_HOLE.end && s.end > LOW_HOLE.start) throw new InputError(`${where} overlaps the legacy video and ROM window ${hex(BigInt(LOW_HOLE.start))}-${hex(BigInt(LOW_HOLE.end))}`);
    if (s.start < LOADER_PAGE.end && s.end > LOADER_PAGE.start) throw new InputError(`${where} overlaps physical page 0, which the loader uses while it runs`);
  }
  // Zeroing runs after no particular copy, so only blobs must not overlap one another.
  const blobs = spans.filter((s) => s.what.startsWith('blob')).sort((a, b) => a.start - b.start);
  for (let i = 1; i < blobs.length; i++) {
    if (blobs[i]!.start < blobs[i - 1]!.end) throw new InputError(`${blobs[i - 1]!.what} and ${blobs[i]!.what} overlap at ${hex(BigInt(blobs[i]!.start))}`);
  }
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** The ROM's size: a power of two (Bochs maps ROM images of such sizes), at least the loader's 64 KiB, holding the blobs it carries and the manifest. */
function romSize(carried: readonly PhysBlob[], entries: number): number {
  const data = carried.reduce((n, b) => n + align(b.bytes.byteLength, 16), 0) + ENTRY_BYTES * entries;
  let size = LOADER_BYTES;
  while (size < data + LOADER_BYTES) size *= 2;
  return size;
}

/** The ROM (and disk): blobs from the ROM's (or the disk's) first byte on, the manifest after them, the loader at the end. */
export function buildBootMedia(loader: Uint8Array, input: RomInput): BootMedia {
  if (loader.byteLength !== LOADER_BYTES || new TextDecoder().decode(loader.subarray(0, 8)) !== MAGIC) {
    throw new Error(`the Bochs loader must be ${LOADER_BYTES} bytes starting with ${MAGIC}`);
  }
  checkSpans(input);
  const entries = input.blobs.length + (input.zero?.length ?? 0);
  const onDisk = input.carrier === 'disk' || romSize(input.blobs, entries) > MAX_ROM_BYTES;
  const size = romSize(onDisk ? [] : input.blobs, entries);
  if (size > MAX_ROM_BYTES) throw new InputError(`${input.blobs.length + (input.zero?.length ?? 0)} blobs and ranges are too many for the ROM's manifest`);
  const rom = new Uint8Array(size);
  const view = new DataView(rom.buffer);
  const romBase = 0x1_0000_0000 - size;
  let at = 0;
  const manifest: { dest: number; src: number; len: number; kind: number }[] = [];
  let disk: BootMedia['disk'] = null;
  if (onDisk) {
    const sectors = input.blobs.map((b) => Math.ceil(b.bytes.byteLength / SECTOR));
    const total = sectors.reduce((n, s) => n + s, 0) * SECTOR;
    const cylinders = Math.max(1, Math.ceil(total / CYLINDER_BYTES));
    if (cylinders > MAX_CYLINDERS) throw new InputError(`the blobs need ${total} bytes of disk; Bochs's ATA disk holds at most ${MAX_CYLINDERS * CYLINDER_BYTES}`);
    const image = new Uint8Array(cylinders * CYLINDER_BYTES);
    let lba = 0;
    input.blobs.forEach((b, i) => {
      image.set(b.bytes, lba * SECTOR);
      manifest.push({ dest: b.phys, src: lba, len: b.bytes.byteLength, kind: KIND_DISK });
      lba += sectors[i]!;
    });
    disk = { image, cylinders };
  } else {
    for (const b of input.blobs) {
      rom.set(b.bytes, at);
      manifest.push({ dest: b.phys, src: romBase + at, len: b.bytes.byteLength, kind: KIND_COPY });
      at += align(b.bytes.byteLength, 16);
    }
  }
  for (const z of input.zero ?? []) manifest.push({ dest: z.phys, src: 0, len: z.length, kind: KIND_ZERO });
  const manifestAt = at;
  for (const e of manifest) {
    view.setUint32(at, e.dest, true);
    view.setUint32(at + 4, e.src, true);
    view.setUint32(at + 8, e.len, true);
    view.setUint32(at + 12, e.kind, true);
    at += ENTRY_BYTES;
  }
  const loaderAt = size - LOADER_BYTES;
  rom.set(loader, loaderAt);
  view.setUint32(loaderAt + 0x08, romBase + manifestAt, true);
  view.setUint32(loaderAt + 0x0c, manifest.length, true);
  REGISTER_ORDER.forEach((name, i) => {
    const value = input.entry[name] ?? 0;
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new InputError(`entry register ${name}=${value} is not a 32-bit value`);
    view.setUint32(loaderAt + 0x10 + 4 * i, value, true);
  });
  return { rom, disk };
}
