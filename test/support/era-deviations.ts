import type { PagingModeName } from '../../src/elf/kernel.js';
import { parseExtraMapping, type NumberSyntax } from '../../src/gen/map-option.js';

/**
 * The documented differences between an era script's tables and x86pt's
 * default output, applied to the script's bytes:
 * - a present PAE PDPTE keeps only P and the address (bits 1-11 cleared);
 * - a `--map ...,L` large page asked to be non-executable gets XD (bit 63),
 *   which the v2.6 and 2025 scripts filter out of page-directory entries.
 * The walk follows the tables in the file: tablesPhys is the first byte's physical address.
 */
export function withDeviations(reference: Uint8Array, mode: PagingModeName, tablesPhys: bigint, maps: readonly string[] = [], numbers: NumberSyntax = 'hex'): Uint8Array {
  const out = reference.slice();
  const view = new DataView(out.buffer);
  const topBytes = mode === 'pae' ? 32 : 4096;
  const topOffset = out.length - topBytes;
  if (mode === 'pae') {
    for (let at = topOffset; at < out.length; at += 8) {
      const low = view.getUint32(at, true);
      if (low & 1) view.setUint32(at, (low & 0xfffff000) | 1, true);
    }
  }
  if (mode === '32bit') return out;
  const shifts = mode === 'pae' ? [30, 21] : [39, 30, 21];
  const entries = mode === 'pae' ? [4, 512] : [512, 512, 512];
  for (const argument of maps) {
    const m = parseExtraMapping(argument, numbers);
    if (!m.large || m.executable) continue;
    for (let virt = m.virt; virt < m.virt + m.size; virt += 1n << 21n) {
      let table = topOffset;
      for (let level = 0; level < shifts.length; level++) {
        const index = Number((virt >> BigInt(shifts[level]!)) % BigInt(entries[level]!));
        const at = table + index * 8;
        const entry = view.getBigUint64(at, true);
        if (level === shifts.length - 1) {
          view.setBigUint64(at, entry | (1n << 63n), true);
        } else {
          table = Number((entry & 0x7ffffffffffff000n) - tablesPhys);
        }
      }
    }
  }
  return out;
}
