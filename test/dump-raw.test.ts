/**
 * `dump --raw`: the entries as the MMU reads them, from the walker's own
 * traverse: level names per mode, values, flags by meaning, the address
 * field, ignored and reserved bits, and what each entry leads to.
 */
import { describe, expect, it } from 'vitest';
import { createWalker, type TableBlock } from '../src/verify/walker.js';
import { rawDump, rawDumpJson, rawDumpText, type RawEntry } from '../src/verify/raw.js';
import { P, RW, TableBlockBuilder, US } from './support/verify-tables.js';
import { ia32eBlock, ia32eFile, paeBlock, thirtyTwoBitBlock } from './support/lookup-tables.js';
import { expectBadInput, scratchDir, writeScratch, x86pt } from './support/cli.js';

const walkerOf = (block: TableBlock, asWritten = false) => createWalker(block, { ignoreReservedBits: asWritten });
const raw = (block: TableBlock, asWritten = false) => rawDump(walkerOf(block, asWritten), block.tablesPhys);
const brief = (e: RawEntry) => [e.level, `${e.tablePhys.toString(16)}[${e.index}]`, e.outcome, e.target, e.pageSize];

describe('raw entries', () => {
  it('32-bit: PDEs and PTEs in walk order, 4 MiB pages with PSE-36 addresses, reserved and outside entries', () => {
    const d = raw(thirtyTwoBitBlock());
    expect(d.entries.map(brief)).toEqual([
      ['32-bit PDE', '11000[0]', 'table', 0x10000n, null],
      ['32-bit PTE', '10000[5]', 'page', 0x5000n, 0x1000n],
      ['32-bit PDE', '11000[1]', 'page', 0xc00000n, 0x400000n],
      ['32-bit PDE', '11000[3]', 'page', 0x300400000n, 0x400000n],
      ['32-bit PDE', '11000[4]', 'reserved', null, null],
      ['32-bit PDE', '11000[5]', 'outside', 0x40000000n, null],
    ]);
    const [, pte, large, pse36, reserved] = d.entries;
    expect(pte!.flags).toEqual(['P', 'RW', 'US', 'A', 'G']);
    expect(pte!.access).toEqual({ writable: true, user: true, executable: true });
    expect(large!.flags).toEqual(['P', 'RW', 'A', 'D', 'PS']);
    expect(pse36!.address).toBe(0x300400000n);
    expect(reserved!.reservedBits).toBe(1n << 21n);
    expect(reserved!.reserved).toMatch(/^reserved bit 21 set \(reserved in a PDE that maps a 4 MiB page\)/);
    expect(d.entries.map((e) => e.virt)).toEqual([0n, 0x5000n, 0x400000n, 0xc00000n, 0x1000000n, 0x1400000n]);
  });

  it('PAE: the PDPTE format is its own (R/W and U/S reserved, no flags for them)', () => {
    const d = raw(paeBlock());
    expect(d.entries.map((e) => e.level)).toEqual(['PAE PDPTE', 'PDE', 'PTE', 'PDE', 'PDE', 'PDE', 'PAE PDPTE']);
    const bad = d.entries.at(-1)!;
    expect(bad).toMatchObject({ outcome: 'reserved', index: 2, flags: ['P'], reservedBits: 2n, address: 0x100000n });
    expect(bad.reserved).toMatch(/MOV to CR3 raises #GP\(0\)/);
    expect(d.entries[3]).toMatchObject({ outcome: 'page', pageSize: 0x200000n, flags: ['P', 'RW', 'PCD', 'PS'] });
    expect(d.entries[2]!.flags).toEqual(['P', 'RW', 'XD']);
  });

  it('IA-32e: 1 GiB, 2 MiB and 4 KiB pages, PS reserved in a PML4E, the upper half canonical', () => {
    const d = raw(ia32eBlock());
    const levels = d.entries.map((e) => `${e.level}:${e.outcome}`);
    expect(levels.slice(0, 8)).toEqual([
      'PML4E:table', 'PDPTE:table', 'PDE:table', 'PTE:page', 'PTE:page', 'PDE:page', 'PDPTE:page', 'PDPTE:outside',
    ]);
    expect(d.entries[6]).toMatchObject({ pageSize: 1n << 30n, target: 0x40000000n });
    expect(d.entries[8]).toMatchObject({ level: 'PML4E', index: 1, outcome: 'reserved', reservedBits: 0x80n });
    expect(d.entries[9]).toMatchObject({ level: 'PML4E', index: 511, virt: 0xffffff8000000000n });
  });

  it('a non-present entry with other bits is listed; a zero one is not; ignored bits are named', () => {
    const t = new TableBlockBuilder('ia32e', 0x10000n, 3);
    t.set(t.top, 0, t.tableAddr(0) | P | RW);
    t.set(0, 0, t.tableAddr(1) | P | RW);
    t.set(1, 0, t.tableAddr(2) | P | RW);
    t.set(2, 0, 0x5000n | P | (7n << 9n) | (1n << 52n)); // bits 9-11 and 52 ignored
    t.set(2, 1, 0x6000n | RW); // not present
    const b = { mode: 'ia32e' as const, tables: t.bytes, tablesPhys: t.base };
    const d = raw(b);
    expect(d.entries.map((e) => `${e.level}[${e.index}]:${e.outcome}`)).toEqual(['PML4E[0]:table', 'PDPTE[0]:table', 'PDE[0]:table', 'PTE[0]:page', 'PTE[1]:not-present']);
    expect(d.entries[3]!.ignored).toBe((7n << 9n) | (1n << 52n));
    expect(d.entries[4]).toMatchObject({ present: false, value: 0x6002n, address: null });
    const text = rawDumpText(walkerOf(b), b.tablesPhys, 't.bin');
    expect(text).toMatch(/PTE {3}0x00012000\[  0\] 0x0010000000005e01  P .*-> 4 KiB page 0x00005000\n {10}ignored bits 9-11, 52 set \(the MMU does not read them\)\n/);
    expect(text).toMatch(/PTE {3}0x00012000\[  1\] 0x0000000000006002 +not present$/m);
  });

  it('as written, the entries under a reserved-bit entry are listed too, the violation kept', () => {
    const exact = raw(paeBlock());
    const written = raw(paeBlock(), true);
    expect(written.entries.length).toBeGreaterThan(exact.entries.length);
    const pdpte = written.entries.find((e) => e.level === 'PAE PDPTE' && e.index === 2)!;
    expect(pdpte).toMatchObject({ outcome: 'table', target: 0x100000n });
    expect(pdpte.reserved).toMatch(/reserved bit 1 set/);
  });

  it('text fits 120 columns, the violation on the lines after its entry; JSON has every field', () => {
    const lines = rawDumpText(walkerOf(paeBlock()), paeBlock().tablesPhys, 'pae.bin').trimEnd().split('\n');
    expect(lines.every((l) => l.length <= 120)).toBe(true);
    expect(lines[0]).toBe('pae.bin: PAE paging, top level (CR3) at 0x102000, entries as the MMU reads them');
    const bad = lines.findIndex((l) => l.startsWith('PAE PDPTE 0x00102000[2]'));
    expect(lines[bad]).toContain('-> nothing (reserved bits)  addr 0x100000');
    expect(lines[bad + 1]).toMatch(/^ {4}reserved bit 1 set \(R\/W and U\/S are reserved in a PAE PDPTE\)/);
    expect(lines.at(-1)).toBe('7 entries, 2 with reserved bits set');
    const d = raw(paeBlock());
    const json = JSON.parse(rawDumpJson(walkerOf(paeBlock()), paeBlock().tablesPhys));
    // The JSON written piece by piece reads as the whole object would.
    expect(rawDumpJson(walkerOf(paeBlock()), paeBlock().tablesPhys)).toBe(`${JSON.stringify(json, null, 2)}\n`);
    expect(json.entries).toHaveLength(d.entries.length);
    expect(json.entries[0]).toEqual({
      level: 'PAE PDPTE', table: '0x102000', index: 0, entryAddr: '0x102000', virt: '0x0', span: '0x40000000', value: '0x100001',
      present: true, flags: ['P'], address: '0x100000', ignoredBits: '0x0', reservedBits: '0x0', outcome: 'table', target: '0x100000',
      pageSize: null, reserved: null,
    });
    expect(json.entries[2]).toMatchObject({ level: 'PTE', outcome: 'page', writable: true, user: false, executable: false });
  });
});

describe('x86pt dump --raw', () => {
  const dir = scratchDir('x86pt-raw-');
  const { block, file, placed } = ia32eFile(dir);

  it('text and --json agree with the library', async () => {
    const text = await x86pt(['dump', '--raw', ...placed]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toBe(rawDumpText(walkerOf(block), block.tablesPhys, file).trimEnd());
    const json = await x86pt(['dump', '--raw', '--json', ...placed]);
    expect(json.stdout).toBe(rawDumpJson(walkerOf(block), block.tablesPhys).trimEnd());
    expect(JSON.parse(json.stdout).violations).toEqual([]);
  });

  it('--range keeps the entries meeting it and the table entries above them', async () => {
    const run = await x86pt(['dump', '--raw', '--range', '0x2000-0x3000', ...placed, '--json']);
    const entries = JSON.parse(run.stdout).entries as { level: string; index: number }[];
    expect(entries.map((e) => `${e.level}[${e.index}]`)).toEqual(['PML4E[0]', 'PDPTE[0]', 'PDE[0]', 'PTE[2]']);
  });

  it('--only keeps the pages with the permissions', async () => {
    const run = await x86pt(['dump', '--raw', '--only', 'user', ...placed, '--json']);
    const entries = JSON.parse(run.stdout).entries as { level: string; index: number; virt: string }[];
    expect(entries.filter((e) => e.level !== 'PML4E' && e.level !== 'PDPTE' && e.level !== 'PDE').map((e) => e.virt)).toEqual(['0x0', '0x2000']);
    expect(entries.map((e) => `${e.level}[${e.index}]`)).toContain('PDPTE[1]'); // the 1 GiB user page
    expect(entries.map((e) => `${e.level}[${e.index}]`)).not.toContain('PDE[1]'); // the kernel 2 MiB page
  });

  it('--raw with --html is refused', async () => {
    expectBadInput(await x86pt(['dump', '--raw', ...placed, '--html', `${dir}/m.html`]), /--html maps translations: give it without --raw/);
  });
});

describe('dump --raw on the generator\'s tables', () => {
  const dir = scratchDir('x86pt-raw-gen-');
  it('every PTE of an identity map, one line each, under its PDE', async () => {
    const t = new TableBlockBuilder('32bit', 0x300000n, 1);
    t.set(t.top, 0, t.tableAddr(0) | P | RW | US);
    for (let i = 256; i < 260; i++) t.set(0, i, (BigInt(i) << 12n) | P | RW);
    const file = writeScratch(dir, 't.bin', t.bytes);
    const run = await x86pt(['dump', '--raw', file, '--mode', '32bit', '--base', '0x300000']);
    expect(run.stdout.trimEnd().split('\n').slice(1)).toEqual([
      '32-bit PDE 0x00301000[   0] 0x00300007  P RW US                           -> PT 0x00300000',
      ...[256, 257, 258, 259].map((i) => `  32-bit PTE 0x00300000[ ${i}] 0x00${i.toString(16)}003  P RW                              -> 4 KiB page 0x00${i.toString(16)}000`),
      '5 entries, 0 with reserved bits set',
    ]);
  });
});
