/**
 * dump's filters (--range A-B: from A up to but not including B; --only:
 * every word must hold) and --as-written (reserved bits ignored, their
 * violations still shown).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dumpTables } from '../src/verify/walker.js';
import { filterMismatches, filterRanges, filterViolations } from '../src/verify/filters.js';
import { P, PS, RW, TableBlockBuilder, US, XD } from './support/verify-tables.js';
import { expectBadInput, scratchDir, writeScratch, x86pt } from './support/cli.js';
import { writeKernelFiles } from './support/verify-cli.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { SMALL_LAYOUTS, symbolsOf } from './support/verify-kernels.js';
import { readGolden } from './support/golden.js';
import { specFromSymbols } from '../src/verify/spec.js';

const dir = scratchDir('x86pt-filters-');

/** IA-32e: 0x100000-0x110000 as 16 4 KiB pages P|RW|US, then a 2 MiB page at 0x200000 P|RW, XD off everywhere. */
function tables(edit?: (t: TableBlockBuilder) => void): Uint8Array {
  const t = new TableBlockBuilder('ia32e', 0x1000000n, 3);
  const [pdpt, pd, pt, pml4] = [0, 1, 2, t.top];
  t.set(pml4, 0, t.tableAddr(pdpt) | P | RW | US);
  t.set(pdpt, 0, t.tableAddr(pd) | P | RW | US);
  t.set(pd, 0, t.tableAddr(pt) | P | RW | US);
  for (let i = 0x100; i < 0x110; i++) t.set(pt, i, (BigInt(i) << 12n) | P | RW | US);
  t.set(pd, 1, 0x200000n | P | RW | PS);
  edit?.(t);
  return t.bytes;
}
const PT = 2;

const dumpRanges = async (bytes: Uint8Array, ...args: string[]) => {
  const file = writeScratch(dir, `t${Math.random().toString(36).slice(2)}.bin`, bytes);
  const run = await x86pt(['dump', file, '--mode', 'ia32e', '--base', '0x1000000', '--json', ...args]);
  expect(run.stderr).toBe('');
  expect(run.exitCode).toBe(0);
  return (JSON.parse(run.stdout).ranges as { virt: string; size: string; phys: string }[]).map((r) => `${r.virt}+${r.size}->${r.phys}`);
};

describe('--range', () => {
  it('the first page is in, the page at B is out; ranges are cut at the edges', async () => {
    expect(await dumpRanges(tables(), '--range', '0x100000-0x101000')).toEqual(['0x100000+0x1000->0x100000']);
    expect(await dumpRanges(tables(), '--range', '0x10f000-0x110000')).toEqual(['0x10f000+0x1000->0x10f000']);
    // One page before the first and one past the last: nothing of them.
    expect(await dumpRanges(tables(), '--range', '0xff000-0x100000')).toEqual([]);
    expect(await dumpRanges(tables(), '--range', '0x110000-0x111000')).toEqual([]);
    expect(await dumpRanges(tables(), '--range', '0x104000-0x106000')).toEqual(['0x104000+0x2000->0x104000']);
    // Decimal works too, and a cut inside a 2 MiB page moves its physical start along.
    expect(await dumpRanges(tables(), '--range', `${0x300000}-${0x301000}`)).toEqual(['0x300000+0x1000->0x300000']);
  });

  it('IA-32e\'s upper half, up to the top of the address space (B = 2^64)', async () => {
    const high = tables((t) => t.set(t.top, 511, t.tableAddr(0) | P | RW));
    expect(await dumpRanges(high, '--range', '0xffffff8000100000-0x10000000000000000')).toEqual([
      '0xffffff8000100000+0x10000->0x100000', '0xffffff8000200000+0x200000->0x200000',
    ]);
    expect(await dumpRanges(high, '--range', '0xffffff8000100000-0xffffff8000101000')).toEqual(['0xffffff8000100000+0x1000->0x100000']);
  });

  it('text says the range and shows a cut large page in 4 KiB', async () => {
    const file = writeScratch(dir, 'cut.bin', tables());
    const run = await x86pt(['dump', file, '--mode', 'ia32e', '--base', '0x1000000', '--range', '0x3f0000-0x500000']);
    expect(run.stdout.split('\n')[0]).toMatch(/ \(in 0x3f0000-0x500000\)$/);
    expect(run.stdout).toContain('0x00000000003f0000-0x0000000000400000  4 KiB x 16 of 2 MiB pages  -> 0x003f0000  rwx kernel');
  });

  it('bad ranges: exit 2, one line', async () => {
    const file = writeScratch(dir, 'bad.bin', tables());
    const base = ['dump', file, '--mode', 'ia32e', '--base', '0x1000000'];
    expectBadInput(await x86pt([...base, '--range', '0x2000-0x1000']), /^x86pt: --range: 0x2000 is not below 0x1000/);
    expectBadInput(await x86pt([...base, '--range', '0x1000-0x1000']), /is not below/);
    expectBadInput(await x86pt([...base, '--range', '0x1000']), /^x86pt: --range: '0x1000' is not A-B/);
    expectBadInput(await x86pt([...base, '--range', '0x1000-0x1800']), /does not start and end on 4 KiB pages/);
    expectBadInput(await x86pt([...base, '--range', '0x1000-0xzz']), /'0xzz' is not an address/);
  });
});

describe('--only', () => {
  it('writable: a PTE with R/W cleared disappears, the rest stays', async () => {
    const readOnly = tables((t) => t.set(PT, 0x105, (0x105n << 12n) | P | US));
    expect(await dumpRanges(tables(), '--only', 'writable')).toEqual(['0x100000+0x10000->0x100000', '0x200000+0x200000->0x200000']);
    expect(await dumpRanges(readOnly, '--only', 'writable')).toEqual(['0x100000+0x5000->0x100000', '0x106000+0xa000->0x106000', '0x200000+0x200000->0x200000']);
  });

  it('user: setting U/S on the 2 MiB page makes it appear', async () => {
    expect(await dumpRanges(tables(), '--only', 'user')).toEqual(['0x100000+0x10000->0x100000']);
    const user = tables((t) => t.set(1, 1, 0x200000n | P | RW | PS | US));
    expect(await dumpRanges(user, '--only', 'user')).toEqual(['0x100000+0x10000->0x100000', '0x200000+0x200000->0x200000']);
  });

  it('exec and wx: XD on one PTE takes it out of both', async () => {
    const xd = tables((t) => t.set(PT, 0x10f, (0x10fn << 12n) | P | RW | US | XD));
    expect(await dumpRanges(tables(), '--only', 'exec')).toHaveLength(2);
    expect(await dumpRanges(xd, '--only', 'exec')).toEqual(['0x100000+0xf000->0x100000', '0x200000+0x200000->0x200000']);
    expect(await dumpRanges(xd, '--only', 'wx')).toEqual(['0x100000+0xf000->0x100000', '0x200000+0x200000->0x200000']);
    const readOnly = tables((t) => t.set(1, 1, 0x200000n | P | PS));
    expect(await dumpRanges(readOnly, '--only', 'wx')).toEqual(['0x100000+0x10000->0x100000']);
    expect(await dumpRanges(readOnly, '--only', 'exec')).toHaveLength(2);
  });

  it('a comma list is the intersection, and combines with --range', async () => {
    expect(await dumpRanges(tables(), '--only', 'user,writable')).toEqual(['0x100000+0x10000->0x100000']);
    expect(await dumpRanges(tables(), '--only', 'user,wx', '--range', '0x200000-0x400000')).toEqual([]);
    expect(await dumpRanges(tables(), '--only', 'writable', '--range', '0x10e000-0x201000')).toEqual(['0x10e000+0x2000->0x10e000', '0x200000+0x1000->0x200000']);
  });

  it('an unknown word: exit 2 with a suggestion', async () => {
    const file = writeScratch(dir, 'w.bin', tables());
    const run = await x86pt(['dump', file, '--mode', 'ia32e', '--base', '0x1000000', '--only', 'user,writeable']);
    expectBadInput(run, /^x86pt: --only: unknown 'writeable' \(did you mean writable\?\)/);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('the W+X audit and the --html map show the filtered ranges', async () => {
    const file = writeScratch(dir, 'h.bin', tables());
    const html = join(dir, 'map.html');
    const run = await x86pt(['dump', file, '--mode', 'ia32e', '--base', '0x1000000', '--only', 'user', '--html', html]);
    expect(run.stdout).toContain('W+X: 1 range (16 pages) writable and executable');
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('only user');
    expect(page).toContain('0x100000');
    expect(page).not.toContain('0x200000-0x400000');
  });
});

describe('filters on the library\'s lists', () => {
  it('ranges, mismatches and violations', () => {
    const block = { mode: 'ia32e' as const, tables: tables((t) => t.set(1, 3, 0x600000n | P | PS | (1n << 13n))), tablesPhys: 0x1000000n };
    const walked = dumpTables(block);
    expect(walked.violations).toHaveLength(1);
    expect(filterViolations('ia32e', walked.violations, { window: { virt: 0x600000n, size: 0x1000n } })).toHaveLength(1);
    expect(filterViolations('ia32e', walked.violations, { window: { virt: 0x800000n, size: 0x1000n } })).toHaveLength(0);
    expect(filterRanges(walked.ranges, { window: { virt: 0x10f000n, size: 0x2000n } }).map((r) => [r.virt, r.size])).toEqual([[0x10f000n, 0x1000n]]);
    const t = { phys: 0x5000n, writable: true, user: false, executable: false };
    const m = [{ virt: 0x1000n, size: 0x4000n, expected: t, actual: null }];
    expect(filterMismatches(m, { window: { virt: 0x3000n, size: 0x1000n } })).toEqual([{ virt: 0x3000n, size: 0x1000n, expected: { ...t, phys: 0x7000n }, actual: null }]);
    expect(filterMismatches(m, { only: ['writable'] })).toHaveLength(1);
    expect(filterMismatches(m, { only: ['exec'] })).toHaveLength(0);
  });
});

describe('--as-written', () => {
  it('gen --compat PAE tables: nothing translated by default, the full mapping as written, the violation shown both ways', async () => {
    const kernel = SMALL_LAYOUTS['pae-identity-perms']!;
    const files = writeKernelFiles(dir, 'pae-compat', kernel, { compat: true });
    const spec = specFromSymbols(symbolsOf(kernel));
    if (!spec.valid) throw new Error('refused');
    const exact = await x86pt(['dump', files.tables, '-k', files.elf, '--json']);
    expect(exact.exitCode).toBe(0);
    const exactJson = JSON.parse(exact.stdout);
    expect(exactJson.ranges).toEqual([]);
    expect(exactJson.violations).toHaveLength(1);
    expect(exactJson.violations[0].message).toMatch(/^reserved bits 1-2 set \(R\/W and U\/S are reserved in a PAE PDPTE\)/);
    const written = await x86pt(['dump', files.tables, '-k', files.elf, '--json', '--as-written']);
    const writtenJson = JSON.parse(written.stdout);
    const hex = (v: bigint) => `0x${v.toString(16)}`;
    expect(writtenJson.ranges.map((r: { virt: string; phys: string; size: string; writable: boolean; user: boolean; executable: boolean }) =>
      ({ virt: r.virt, phys: r.phys, size: r.size, writable: r.writable, user: r.user, executable: r.executable })))
      .toEqual(spec.expected.map((r) => ({ virt: hex(r.virt), phys: hex(r.phys), size: hex(r.size), writable: r.writable, user: r.user, executable: r.executable })));
    expect(writtenJson.violations).toEqual(exactJson.violations);
    const text = await x86pt(['dump', files.tables, '-k', files.elf, '--as-written']);
    expect(text.stdout.split('\n')[0]).toContain('(as written: entries with reserved bits followed as if they were clear)');
    expect(text.stdout).toContain('1 architectural violation:');
  });

  it('a golden vector of the reference (PAE, null page): the same both ways', async () => {
    const file = writeScratch(dir, 'golden-pae.bin', readGolden('pae-null-page'));
    const args = ['dump', file, '--mode', 'pae', '--base', hexOf(GOLDEN_LAYOUTS['pae-null-page']!.pagetablesStart!)];
    const exact = await x86pt(args);
    expect(exact.stdout).toContain('0 ranges, 0 bytes mapped');
    expect(exact.stdout).toMatch(/PDPTE 0 at 0x103000: reserved bits 1-2 set/);
    const written = await x86pt([...args, '--as-written']);
    expect(written.stdout).toContain('0x00001000-0x00400000  4 KiB x 1023  -> 0x00001000  rwx kernel');
    expect(written.stdout).toMatch(/PDPTE 0 at 0x103000: reserved bits 1-2 set/);
    const raw = await x86pt([...args, '--raw', '--as-written', '--json']);
    const levels = (JSON.parse(raw.stdout).entries as { level: string }[]).map((e) => e.level);
    // The PDPTE, two PDEs (two page tables for 4 MiB), 1023 PTEs (no null page).
    expect([levels.filter((l) => l === 'PAE PDPTE').length, levels.filter((l) => l === 'PDE').length, levels.filter((l) => l === 'PTE').length]).toEqual([1, 2, 1023]);
  });
});

const hexOf = (v: bigint): string => `0x${v.toString(16)}`;

describe('--range and --only on verify and diff', () => {
  const kernel = SMALL_LAYOUTS['pae-identity-perms']!;
  const good = writeKernelFiles(dir, 'pae-good', kernel);
  const compat = writeKernelFiles(dir, 'pae-compat-2', kernel, { compat: true });

  it('verify: the lists are cut to the range, the verdict stays the whole block\'s', async () => {
    const whole = await x86pt(['verify', compat.tables, '-k', compat.elf, '--json']);
    expect(whole.exitCode).toBe(1);
    const all = JSON.parse(whole.stdout);
    expect(all.mismatches.length).toBeGreaterThan(0);
    const first = BigInt(all.mismatches[0].virt);
    const window = `${hexOf(first)}-${hexOf(first + 0x1000n)}`;
    const cut = await x86pt(['verify', compat.tables, '-k', compat.elf, '--json', '--range', window]);
    expect(cut.exitCode).toBe(1);
    const json = JSON.parse(cut.stdout);
    expect(json.ok).toBe(false);
    expect(json.mismatches).toEqual([{ ...all.mismatches[0], size: '0x1000' }]);
    const text = await x86pt(['verify', compat.tables, '-k', compat.elf, '--range', window]);
    expect(text.stdout).toMatch(new RegExp(`^shown: in ${window}: 1 of ${all.mismatches.length} mismatches, 1 of 1 violations, 0 of 0 ranges \\(the verdict is the whole block's\\)$`, 'm'));
    // The good tables stay OK whatever is shown.
    expect((await x86pt(['verify', good.tables, '-k', good.elf, '--only', 'wx'])).exitCode).toBe(0);
  });

  it('verify --only shows the ranges with the permissions; bad words are refused before anything runs', async () => {
    const run = await x86pt(['verify', good.tables, '-k', good.elf, '--only', 'exec', '--format', 'markdown']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^shown: only exec: 0 of 0 mismatches, 0 of 0 violations, \d+ of \d+ ranges/m);
    expect(run.stdout).not.toMatch(/\| r-- /);
    expectBadInput(await x86pt(['verify', good.tables, '-k', good.elf, '--only', 'exe']), /did you mean exec\?/);
  });

  it('diff: the changes and the exit status follow the range', async () => {
    const whole = await x86pt(['diff', good.tables, compat.tables, '-k', good.elf, '--format', 'json']);
    expect(whole.exitCode).toBe(1);
    // Past the first GiB (the PDPTE in violation covers 0-1 GiB) neither side maps anything.
    const outside = await x86pt(['diff', good.tables, compat.tables, '-k', good.elf, '--range', '0x40000000-0x40001000']);
    expect(outside.exitCode).toBe(0);
    expect(outside.stdout).toContain('same translation, same violations');
    const inside = await x86pt(['diff', good.tables, compat.tables, '-k', good.elf, '--range', '0x1ff000-0x200000', '--format', 'json']);
    expect(inside.exitCode).toBe(1);
    expect(JSON.parse(inside.stdout).changes).toEqual([expect.objectContaining({ virt: '0x1ff000', size: '0x1000' })]);
  });
});
