/**
 * Dumps show what the MMU sees: each range's real page size and the leaf
 * attributes (G, PCD/PWT/PAT, A/D), never merged across a change of either;
 * the translation ranges verify compares stay merged by permissions alone.
 */
import { describe, expect, it } from 'vitest';
import { dumpTables, walkTables } from '../src/verify/walker.js';
import { dumpJson, dumpText } from '../src/verify/format.js';
import { describeAttributes } from '../src/verify/ranges.js';
import { P, PS, RW, TableBlockBuilder, US } from './support/verify-tables.js';
import { range } from './support/verify-ranges.js';
import { scratchDir, writeScratch, x86pt } from './support/cli.js';

const G = 0x100n;
const PWT = 0x8n;
const PCD = 0x10n;
const A = 0x20n;
const D = 0x40n;
const PAT_PTE = 0x80n;
const PAT_LARGE = 0x1000n;

const NONE = { global: false, pcd: false, pwt: false, pat: false, accessed: false, dirty: false };
const KiB4 = 0x1000n;
const MiB4 = 0x400000n;

function thirtyTwoBit() {
  const t = new TableBlockBuilder('32bit', 0x10000n, 1);
  const [pt, pd] = [0, t.top];
  t.set(pd, 0, t.tableAddr(pt) | P | RW);
  t.set(pt, 5, 0x5000n | P | RW | PAT_PTE); // PAT is bit 7 in a PTE
  t.set(pt, 6, 0x6000n | P | RW);
  t.set(pt, 1023, 0x3ff000n | P | RW);
  t.set(pd, 1, 0x400000n | P | RW | PS); // continues the 4 KiB page before it
  t.set(pd, 2, 0x800000n | P | RW | PS | G);
  t.set(pd, 3, 0xc00000n | P | RW | PS | PAT_LARGE | PCD | PWT | A | D); // PAT is bit 12 in a large page
  return { mode: '32bit' as const, tables: t.bytes, tablesPhys: t.base };
}

describe('the dump walk', () => {
  const block = thirtyTwoBit();
  const rwx = { writable: true, user: false, executable: true };

  it('splits ranges where the page size or an attribute changes, and reports both', () => {
    expect(dumpTables(block).ranges).toEqual([
      { virt: 0x5000n, phys: 0x5000n, size: KiB4, ...rwx, pageSize: KiB4, ...NONE, pat: true },
      { virt: 0x6000n, phys: 0x6000n, size: KiB4, ...rwx, pageSize: KiB4, ...NONE },
      { virt: 0x3ff000n, phys: 0x3ff000n, size: KiB4, ...rwx, pageSize: KiB4, ...NONE },
      { virt: 0x400000n, phys: 0x400000n, size: MiB4, ...rwx, pageSize: MiB4, ...NONE },
      { virt: 0x800000n, phys: 0x800000n, size: MiB4, ...rwx, pageSize: MiB4, ...NONE, global: true },
      { virt: 0xc00000n, phys: 0xc00000n, size: MiB4, ...rwx, pageSize: MiB4, global: false, pcd: true, pwt: true, pat: true, accessed: true, dirty: true },
    ]);
  });

  it('leaves the translation ranges verify compares as they were: merged by permissions only', () => {
    expect(walkTables(block).ranges).toEqual([range(0x5000n, 0x5000n, 0x2000n, 'wx'), range(0x3ff000n, 0x3ff000n, 0xc01000n, 'wx')]);
  });

  it('equal pages with equal attributes still merge', () => {
    const t = new TableBlockBuilder('pae', 0x100000n, 1);
    t.set(t.top, 0, t.tableAddr(0) | P);
    for (let i = 0; i < 3; i++) t.set(0, i, (BigInt(i) << 21n) | P | RW | US | PS | G | A);
    const ranges = dumpTables({ mode: 'pae', tables: t.bytes, tablesPhys: t.base }).ranges;
    expect(ranges).toHaveLength(1);
    expect(ranges[0]).toMatchObject({ size: 3n << 21n, pageSize: 1n << 21n, global: true, accessed: true, dirty: false });
  });

  it('IA-32e: 2 MiB and 1 GiB pages', () => {
    const t = new TableBlockBuilder('ia32e', 0x200000n, 2);
    const [pdpt, pd, pml4] = [0, 1, t.top];
    t.set(pml4, 0, t.tableAddr(pdpt) | P | RW);
    t.set(pdpt, 0, t.tableAddr(pd) | P | RW);
    t.set(pd, 0, 0x0n | P | RW | PS);
    t.set(pdpt, 1, 0x40000000n | P | RW | PS);
    const ranges = dumpTables({ mode: 'ia32e', tables: t.bytes, tablesPhys: t.base }).ranges;
    expect(ranges.map((r) => [r.virt, r.size, r.pageSize])).toEqual([[0n, 1n << 21n, 1n << 21n], [1n << 30n, 1n << 30n, 1n << 30n]]);
  });
});

describe('dump text and JSON', () => {
  const block = thirtyTwoBit();
  const walked = dumpTables(block);
  const context = { ...block, tablesFile: 't.bin', tableBytes: block.tables.byteLength, topTablePhys: walked.topTablePhys, ranges: walked.ranges, violations: walked.violations };

  it('text: the real page size, and the attributes in fixed columns', () => {
    const lines = dumpText(context).split('\n');
    expect(lines).toContain('0x00400000-0x00800000  4 MiB x 1  -> 0x00400000  rwx kernel');
    expect(lines).toContain('0x00800000-0x00c00000  4 MiB x 1  -> 0x00800000  rwx kernel  G');
    expect(lines).toContain('0x00c00000-0x01000000  4 MiB x 1  -> 0x00c00000  rwx kernel    PCD PWT PAT A D');
    expect(lines).toContain('0x00005000-0x00006000  4 KiB x 1  -> 0x00005000  rwx kernel            PAT');
  });

  it('no attribute column when no leaf sets one', () => {
    const t = new TableBlockBuilder('32bit', 0x10000n, 0);
    t.set(t.top, 0, 0n | P | RW | US | PS);
    const w = dumpTables({ mode: '32bit', tables: t.bytes, tablesPhys: t.base });
    const text = dumpText({ mode: '32bit', tablesPhys: t.base, tablesFile: 'u.bin', tableBytes: t.bytes.byteLength, topTablePhys: w.topTablePhys, ranges: w.ranges, violations: w.violations });
    expect(text.split('\n')[1]).toBe('0x00000000-0x00400000  4 MiB x 1  -> 0x00000000  rwx user');
  });

  it('JSON: pageSize and the attributes beside each range', () => {
    const json = JSON.parse(dumpJson(context));
    expect(json.ranges[5]).toEqual({
      virt: '0xc00000', phys: '0xc00000', size: '0x400000', writable: true, user: false, executable: true,
      pageSize: '0x400000', global: false, pcd: true, pwt: true, pat: true, accessed: true, dirty: true,
    });
    expect(json.ranges[0]).toMatchObject({ pageSize: '0x1000', pat: true, global: false });
  });

  it('describeAttributes keeps every column whatever is set', () => {
    expect(describeAttributes({ ...NONE })).toBe(' '.repeat('G PCD PWT PAT A D'.length));
    expect(describeAttributes({ ...NONE, dirty: true })).toBe(`${' '.repeat(16)}D`);
  });
});

describe('x86pt dump', () => {
  const dir = scratchDir('x86pt-dump-attributes-');
  const block = thirtyTwoBit();
  const file = writeScratch(dir, 't.bin', block.tables);

  it('text and --format json from the CLI', async () => {
    const text = await x86pt(['dump', file, '--mode', '32bit', '--base', '0x10000']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain('4 MiB x 1  -> 0x00800000  rwx kernel  G');
    expect(text.stdout).toMatch(/^6 ranges, /m);
    // W+X counts permissions: the two runs of writable, executable memory, not six ranges.
    expect(text.stdout).toMatch(/W\+X: 2 ranges/);
    const json = JSON.parse((await x86pt(['dump', file, '--mode', '32bit', '--base', '0x10000', '--format', 'json'])).stdout);
    expect(json.ranges.map((r: { pageSize: string }) => r.pageSize)).toEqual(['0x1000', '0x1000', '0x1000', '0x400000', '0x400000', '0x400000']);
  });
});
