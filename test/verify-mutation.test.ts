/**
 * Mutation tests: every single-bit flip of a leaf entry in generated tables
 * (present, writable, user, XD, frame bits; P of every empty entry too) must
 * make verify fail with a mismatch on exactly the pages that entry maps; and
 * flips of the entries above them (PDEs pointing at page tables, PDPTEs,
 * PML4Es, PAE's PDPTEs), reserved bits included, must make it fail with a
 * mismatch or a violation naming the entry.
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkTables } from '../src/verify/check.js';
import { SMALL_LAYOUTS, generate, symbolsOf } from './support/verify-kernels.js';
import { naiveMerge, naiveWalk } from './support/verify-naive-walk.js';
import { flipBit } from './support/verify-tables.js';
import type { PagingMode, WalkOptions } from '../src/verify/model.js';

describe('verify catches every single-bit flip of a leaf entry', () => {
  for (const [name, kernel] of Object.entries(SMALL_LAYOUTS)) {
    it(name, async () => {
      const symbols = symbolsOf(kernel);
      const generated = generate(kernel);
      const { bytes, tablesPhys } = generated;
      expect((await checkTables({ symbols, tables: bytes })).ok).toBe(true);

      const walk = naiveWalk(kernel.mode, bytes, tablesPhys);
      const entryBytes = kernel.mode === '32bit' ? 4 : 8;
      const entries = 4096 / entryBytes;
      // Every page table once, with every virtual address it is reached at (identity and dual window).
      const tables = new Map<bigint, bigint[]>();
      for (const t of walk.leafTables) tables.set(t.addr, [...(tables.get(t.addr) ?? []), t.virtBase]);
      expect(tables.size).toBeGreaterThan(0);
      if (kernel.kernelVmBase !== undefined) expect([...tables.values()].every((bases) => bases.length === 2)).toBe(true);

      const presentBits = kernel.mode === '32bit' ? [0, 1, 2, 12, 13, 31] : [0, 1, 2, 63, 12, 13, 40];
      let flips = 0;
      for (const [tableAddr, virtBases] of tables) {
        for (let index = 0; index < entries; index++) {
          const offset = Number(tableAddr - tablesPhys) + index * entryBytes;
          const present = (bytes[offset]! & 1) === 1;
          for (const bit of present ? presentBits : [0]) {
            const mutated = flipBit(bytes, offset, bit);
            const result = await checkTables({ symbols, tables: mutated });
            const pages = virtBases.map((base) => base + BigInt(index) * 4096n);
            const where = `${name}: bit ${bit} of entry ${index} of the table at 0x${tableAddr.toString(16)}`;
            expect(result.ok, where).toBe(false);
            // One mismatch per alias of the page, each exactly that page.
            expect(result.mismatches.map((m) => [m.virt, m.size]), where).toEqual(pages.map((virt) => [virt, 4096n]));
            flips++;
          }
        }
      }
      expect(flips).toBeGreaterThan(entries);
    });
  }
});

/** The bits to flip in an entry that points at a table, and which of them the SDM reserves there (a violation must name the entry). */
function pointerBits(mode: PagingMode, name: string): { bits: number[]; reserved: number[] } {
  if (mode === '32bit') return { bits: [0, 1, 2, 7, 12, 13, 31], reserved: [] };
  if (mode === 'pae' && name === 'PDPTE') return { bits: [0, 12, 13, 31], reserved: [1, 2, 5, 6, 7, 8, 52, 63] };
  // Bit 7 of a PML4E is PS, which is reserved there; elsewhere it turns the entry into a large page.
  const reserved = mode === 'pae' ? [52] : name === 'PML4E' ? [7] : [];
  return { bits: [0, 1, 2, 12, 13, 40, 63, ...(reserved.includes(7) ? [] : [7])], reserved };
}

describe('verify catches single-bit flips of entries that point at tables, reserved bits included', () => {
  for (const [name, kernel] of Object.entries(SMALL_LAYOUTS)) {
    it(name, async () => {
      const symbols = symbolsOf(kernel);
      const { bytes, tablesPhys } = generate(kernel);
      const entryBytes = kernel.mode === '32bit' ? 4 : 8;
      // Every kind of pointer entry once or twice: the first and the last of each name.
      const byName = new Map<string, bigint[]>();
      for (const p of naiveWalk(kernel.mode, bytes, tablesPhys).pointers) {
        const list = byName.get(p.name) ?? [];
        if (!list.includes(p.entryAddr)) list.push(p.entryAddr);
        byName.set(p.name, list);
      }
      const expectedNames = { '32bit': ['PDE'], pae: ['PDPTE', 'PDE'], ia32e: ['PML4E', 'PDPTE', 'PDE'] }[kernel.mode];
      expect([...byName.keys()].sort()).toEqual([...expectedNames].sort());

      const baseline = (options: WalkOptions) => naiveMerge(naiveWalk(kernel.mode, bytes, tablesPhys, options).leaves);
      let equivalent = 0;
      const caught = async (entryAddr: bigint, bit: number, options: WalkOptions, mustName: boolean, where: string): Promise<void> => {
        const mutated = flipBit(bytes, Number(entryAddr - tablesPhys), bit);
        // A flip the plain walk sees no effect of (R/W cleared above read-only pages only) is no bug to catch.
        const naive = naiveWalk(kernel.mode, mutated, tablesPhys, options);
        if (!naive.badEntries.has(entryAddr) && isDeepStrictEqual(naiveMerge(naive.leaves), baseline(options))) {
          expect(mustName, `${where}: a reserved bit the plain walk accepts`).toBe(false);
          equivalent++;
          return;
        }
        const result = await checkTables({ symbols, tables: mutated, walkOptions: options });
        const named = result.violations.some((v) => v.entryAddr === entryAddr);
        expect(result.ok, where).toBe(false);
        if (mustName) expect(named, `${where}: a violation naming the entry`).toBe(true);
        else expect(result.mismatches.length > 0 || named, `${where}: a mismatch or a violation naming the entry`).toBe(true);
      };

      let flips = 0;
      for (const [entryName, addrs] of byName) {
        const { bits, reserved } = pointerBits(kernel.mode, entryName);
        for (const entryAddr of new Set([addrs[0]!, addrs[addrs.length - 1]!])) {
          const where = (bit: number, how: string) => `${name}: bit ${bit} of the ${entryName} at 0x${entryAddr.toString(16)}${how}`;
          for (const bit of bits) await caught(entryAddr, bit, {}, false, where(bit, ''));
          for (const bit of reserved) await caught(entryAddr, bit, {}, true, where(bit, ' (reserved)'));
          if (entryBytes === 8) {
            // Address bits at or above MAXPHYADDR, and XD without NXE, are reserved in every 8-byte entry.
            await caught(entryAddr, 45, { maxPhysAddr: 40 }, true, where(45, ' with MAXPHYADDR = 40'));
            await caught(entryAddr, 63, { nxe: false }, true, where(63, ' with NXE off'));
            flips += 2;
          }
          flips += bits.length + reserved.length;
        }
      }
      expect(equivalent).toBeLessThan(flips / 4);
      expect(flips - equivalent).toBeGreaterThan(5);
    });
  }
});
