/** Repeated violations are one line, and the real cause (the block's size, a moved block) comes first. */
import { describe, expect, it } from 'vitest';
import { dumpTables } from '../src/verify/walker.js';
import { dumpText, groupedViolationLines, verifyText } from '../src/verify/format.js';
import { checkTables } from '../src/verify/check.js';
import { P, RW, TableBlockBuilder } from './support/verify-tables.js';
import { generate, SMALL_LAYOUTS } from './support/verify-kernels.js';
import { kernelSymbolMap } from '../src/elf/kernel.js';

/** A PAE block whose PD points, from entry 256 on, at page tables far outside it. */
function movedTables() {
  const t = new TableBlockBuilder('pae', 0x400000n, 2);
  t.set(t.top, 0, t.tableAddr(0) | P);
  t.set(0, 0, t.tableAddr(1) | P | RW);
  t.set(1, 0, 0x1000n | P | RW);
  for (let i = 256; i < 512; i++) t.set(0, i, (0x900000n + BigInt(i) * 0x1000n) | P | RW);
  return { mode: 'pae' as const, tables: t.bytes, tablesPhys: t.base };
}

describe('grouped violations', () => {
  const block = movedTables();
  const walked = dumpTables(block);

  it('256 neighbouring PDEs failing alike are one line naming the first and last', () => {
    expect(walked.violations).toHaveLength(256);
    const lines = groupedViolationLines(walked.violations);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^PDEs 0\/256-0\/511 \(256 entries at 0x400800-0x400ff8\), the first: points to a table at 0xa00000 outside the tables given/);
  });

  it('a gap or a different message breaks a group', () => {
    const [a, b, c] = walked.violations;
    expect(groupedViolationLines([a!, c!])).toHaveLength(2);
    expect(groupedViolationLines([a!, { ...b!, message: 'something else' }])).toHaveLength(2);
    expect(groupedViolationLines([a!, b!])).toEqual([expect.stringMatching(/^PDEs 0\/256-0\/257 \(2 entries/)]);
  });

  it('the dump says the block looks moved before the grouped line', () => {
    const text = dumpText({ ...block, tablesFile: 'm.bin', tableBytes: block.tables.byteLength, topTablePhys: walked.topTablePhys, ranges: walked.ranges, violations: walked.violations });
    const lines = text.split('\n');
    const at = lines.indexOf('256 architectural violations:');
    expect(lines[at + 1]).toBe('  (most point outside the tables: built for another base address? wrong kernel?)');
    expect(lines[at + 2]).toMatch(/^ {2}PDEs 0\/256-0\/511 /);
    expect(lines.length).toBeLessThan(10);
  });
});

describe('verify: the size mismatch first', () => {
  it('a block of the wrong size says so on the line after the verdict, with the hint', async () => {
    const kernel = SMALL_LAYOUTS['pae-dual-perms']!;
    const good = generate(kernel).bytes;
    // One more table in front: the wrong size, and the same bytes moved by a page.
    const bigger = new Uint8Array(good.length + 4096);
    bigger.set(good, 4096);
    const result = await checkTables({ symbols: kernelSymbolMap(kernel), tables: bigger });
    expect(result.blockProblems.length).toBeGreaterThan(0);
    const lines = verifyText(result, { tablesFile: 't.bin', kernelFile: 'k.elf' }).split('\n');
    expect(lines[0]).toMatch(/^FAIL: .*wrong size$/);
    expect(lines[1]).toMatch(/^size: .* \(wrong kernel\?\)$/);
    expect(lines.filter((l) => l.startsWith('size: '))).toHaveLength(1);
  });
});
