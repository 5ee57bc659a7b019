/**
 * Mutation test: every single-bit flip of a leaf entry in generated tables
 * (present, writable, user, XD, frame bits; P of every empty entry too) must
 * make verify fail with a mismatch on exactly the pages that entry maps.
 */
import { describe, expect, it } from 'vitest';
import { checkTables } from '../src/verify/check.js';
import { SMALL_LAYOUTS, generate, symbolsOf } from './support/verify-kernels.js';
import { naiveWalk } from './support/verify-naive-walk.js';
import { flipBit } from './support/verify-tables.js';

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
