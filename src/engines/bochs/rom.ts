/**
 * The ROM image Bochs boots in place of a BIOS: the host's blobs and their
 * manifest, then the loader (loader.S) in the last 64 KiB, whose parameter
 * block says where the manifest is and which registers the entry gets.
 */
import { InputError } from '../../core/errors.js';
import { hex } from '../../core/text.js';

/** Bytes to place at a physical address before the entry runs. */
export interface PhysBlob {
  readonly phys: number;
  readonly bytes: Uint8Array;
}

/** A physical range the loader zeroes (a multiboot bss, say); Bochs's RAM starts zeroed, so this matters only over a blob. */
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
}

export const LOADER_BYTES = 0x10000;
/** Where the loader is linked: the last 64 KiB below 4 GiB, where the reset vector is. */
export const LOADER_BASE = 0x1_0000_0000 - LOADER_BYTES;
/** Bochs 2.7 maps at most 4 MiB of system ROM (its BIOSROMSZ). */
export const MAX_ROM_BYTES = 4 * 1024 * 1024;
/** The legacy video and ROM window below 1 MiB is not RAM the loader can fill. */
export const LOW_HOLE = { start: 0xa0000, end: 0x100000 } as const;

const MAGIC = 'X86PTBXL';
const ENTRY_BYTES = 16;
const KIND_COPY = 0;
const KIND_ZERO = 1;
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
  }
  // Zeroing runs after no particular copy, so only blobs must not overlap one another.
  const blobs = spans.filter((s) => s.what.startsWith('blob')).sort((a, b) => a.start - b.start);
  for (let i = 1; i < blobs.length; i++) {
    if (blobs[i]!.start < blobs[i - 1]!.end) throw new InputError(`${blobs[i - 1]!.what} and ${blobs[i]!.what} overlap at ${hex(BigInt(blobs[i]!.start))}`);
  }
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** The ROM's size for these blobs: a power of two (Bochs maps ROM images of such sizes), at least the loader's 64 KiB. */
export function romSize(input: Pick<RomInput, 'blobs' | 'zero'>): number {
  const entries = input.blobs.length + (input.zero?.length ?? 0);
  const data = input.blobs.reduce((n, b) => n + align(b.bytes.byteLength, 16), 0) + ENTRY_BYTES * entries;
  let size = LOADER_BYTES;
  while (size < data + LOADER_BYTES) size *= 2;
  return size;
}

/** The ROM: blobs from its first byte on, the manifest after them, the loader at the end. */
export function buildRom(loader: Uint8Array, input: RomInput): Uint8Array {
  if (loader.byteLength !== LOADER_BYTES || new TextDecoder().decode(loader.subarray(0, 8)) !== MAGIC) {
    throw new Error(`the Bochs loader must be ${LOADER_BYTES} bytes starting with ${MAGIC}`);
  }
  checkSpans(input);
  const size = romSize(input);
  if (size > MAX_ROM_BYTES) {
    throw new InputError(`the blobs need a ${size / 1024} KiB ROM; Bochs maps at most ${MAX_ROM_BYTES / 1024} KiB`);
  }
  const rom = new Uint8Array(size);
  const view = new DataView(rom.buffer);
  const romBase = 0x1_0000_0000 - size;
  let at = 0;
  const manifest: { dest: number; src: number; len: number; kind: number }[] = [];
  for (const b of input.blobs) {
    rom.set(b.bytes, at);
    manifest.push({ dest: b.phys, src: romBase + at, len: b.bytes.byteLength, kind: KIND_COPY });
    at += align(b.bytes.byteLength, 16);
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
  return rom;
}
