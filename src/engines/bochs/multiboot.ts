/**
 * Multiboot (version 1) loading of an image that carries the a.out address
 * fields (header flag 16), as the QEMU probe stub does: the image's bytes go
 * to load_addr, its bss is zeroed, and the entry gets EAX 0x2BADB002 and EBX
 * the address of a multiboot information block (memory sizes only). The
 * loader (loader.S) supplies the rest of the multiboot machine state: flat
 * 32-bit segments, A20 on, paging and interrupts off.
 */
import { InputError } from '../../core/errors.js';
import { hex } from '../../core/text.js';
import type { EntryRegisters, PhysBlob, PhysZero } from './rom.js';

const HEADER_MAGIC = 0x1badb002;
export const BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie in the image's first 8 KiB, 4-byte aligned. */
const SEARCH_BYTES = 8192;
const FLAG_ADDRESS_FIELDS = 1 << 16;
/** Flags 0-15 are requirements: page-aligned modules (none are loaded) and memory information are met; any other is not. */
const MET_REQUIREMENTS = 0x0000_0003;
const INFO_BYTES = 16;

export interface MultibootLoad {
  readonly blobs: readonly PhysBlob[];
  readonly zero: readonly PhysZero[];
  readonly entry: EntryRegisters;
}

export interface MultibootOptions {
  /** Where the information block goes (low memory the image does not use). */
  readonly infoPhys: number;
  readonly memoryBytes: number;
}

/** The blobs and entry state a multiboot loader would give the image. */
export function multibootLoad(image: Uint8Array, options: MultibootOptions): MultibootLoad {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  let header = -1;
  for (let at = 0; at + 32 <= Math.min(image.byteLength, SEARCH_BYTES); at += 4) {
    const magic = view.getUint32(at, true);
    const flags = view.getUint32(at + 4, true);
    if (magic === HEADER_MAGIC && ((magic + flags + view.getUint32(at + 8, true)) >>> 0) === 0) {
      header = at;
      break;
    }
  }
  if (header < 0) throw new InputError('the image has no multiboot header (magic, flags and checksum) in its first 8 KiB');
  const flags = view.getUint32(header + 4, true);
  if ((flags & 0xffff & ~MET_REQUIREMENTS) !== 0) throw new InputError(`the multiboot header requires features (flags ${hex(BigInt(flags))}) this loader does not offer`);
  if ((flags & FLAG_ADDRESS_FIELDS) === 0) throw new InputError('the multiboot header has no address fields (flag 16); ELF images are not loaded');
  const [headerAddr, loadAddr, loadEndAddr, bssEndAddr, entryAddr] = [12, 16, 20, 24, 28].map((o) => view.getUint32(header + o, true)) as [number, number, number, number, number];
  const fileStart = header - (headerAddr - loadAddr);
  if (headerAddr < loadAddr || fileStart < 0) throw new InputError(`multiboot header_addr ${hex(BigInt(headerAddr))} is not inside the image loaded at ${hex(BigInt(loadAddr))}`);
  const loadBytes = loadEndAddr === 0 ? image.byteLength - fileStart : loadEndAddr - loadAddr;
  if (loadBytes <= 0 || fileStart + loadBytes > image.byteLength) throw new InputError(`multiboot load_end_addr ${hex(BigInt(loadEndAddr))} lies outside the image`);
  const loadEnd = loadAddr + loadBytes;
  if (entryAddr < loadAddr || entryAddr >= loadEnd) throw new InputError(`multiboot entry_addr ${hex(BigInt(entryAddr))} is outside the loaded bytes ${hex(BigInt(loadAddr))}-${hex(BigInt(loadEnd))}`);
  const zero: PhysZero[] = bssEndAddr > loadEnd ? [{ phys: loadEnd, length: bssEndAddr - loadEnd }] : [];
  const info = new Uint8Array(INFO_BYTES);
  const infoView = new DataView(info.buffer);
  infoView.setUint32(0, 1, true); // flags: mem_lower and mem_upper are valid
  infoView.setUint32(4, 640, true); // KiB below the legacy window
  infoView.setUint32(8, Math.max(0, options.memoryBytes - 0x100000) / 1024, true); // KiB from 1 MiB on
  return {
    blobs: [{ phys: loadAddr, bytes: image.subarray(fileStart, fileStart + loadBytes) }, { phys: options.infoPhys, bytes: info }],
    zero,
    // The stack is undefined under multiboot; the low memory below the information block is a safe one.
    entry: { eip: entryAddr, eax: BOOTLOADER_MAGIC, ebx: options.infoPhys, esp: options.infoPhys },
  };
}
