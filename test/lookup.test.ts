/**
 * `lookup`: one address walked level by level, through the walker's own
 * reading of the entries; the translation agrees with the walker's fast path
 * everywhere, and each way a walk stops is named with its level.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { flipBit } from './support/verify-tables.js';
import { createWalker, type TableBlock } from '../src/verify/walker.js';
import { lookupAddress, lookupJson, lookupText, type LookupReport } from '../src/verify/lookup.js';
import { expectBadInput, scratchDir, x86pt } from './support/cli.js';
import { ia32eBlock, ia32eFile, paeBlock, thirtyTwoBitBlock } from './support/lookup-tables.js';
import { writeKernelFiles } from './support/verify-cli.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';

const look = (block: TableBlock, virt: bigint, asWritten = false): LookupReport =>
  lookupAddress(createWalker(block, { ignoreReservedBits: asWritten }), block.tablesPhys, virt);

/** The translation a lookup gives, in a form the cases below state. */
function outcome(r: LookupReport): string {
  if (r.translation) {
    const t = r.translation;
    return `0x${t.phys.toString(16)} ${t.pageSize / 1024n}K ${t.writable ? 'w' : '-'}${t.executable ? 'x' : '-'}${t.user ? 'u' : 'k'}`;
  }
  return `${r.stop!.reason} ${r.stop!.level ?? ''}`.trimEnd();
}

const CASES: readonly [string, () => TableBlock, [bigint, string][]][] = [
  ['32-bit', thirtyTwoBitBlock, [
    [0x5abcn, '0x5abc 4K wxu'],
    [0x4fffn, 'not-present 32-bit PTE'], // the page before
    [0x6000n, 'not-present 32-bit PTE'], // the page after
    [0x400000n, '0xc00000 4096K wxk'],
    [0x7fffffn, '0xffffff 4096K wxk'], // last byte of the 4 MiB page
    [0x800000n, 'not-present 32-bit PDE'], // first byte past it
    [0xc01234n, '0x300401234 4096K -xk'], // PSE-36: physical bits 32-33 from bits 13-14
    [0x1000000n, 'reserved 32-bit PDE'],
    [0x1400000n, 'outside 32-bit PDE'],
    [0xffffffffn, 'not-present 32-bit PDE'],
    [0x100000000n, 'non-linear'],
  ]],
  ['PAE', paeBlock, [
    [0x1234n, '0x1234 4K w-k'], // XD in the PTE, U/S clear in it
    [0xfffn, 'not-present PTE'],
    [0x200000n, '0x200000 2048K wxk'],
    [0x3fffffn, '0x3fffff 2048K wxk'],
    [0x400000n, 'outside PDE'],
    [0x600000n, 'reserved PDE'],
    [0x40000000n, 'not-present PAE PDPTE'],
    [0x80001234n, 'reserved PAE PDPTE'],
    [0xc0000000n, 'not-present PAE PDPTE'],
    [0x100000000n, 'non-linear'],
  ]],
  ['IA-32e', ia32eBlock, [
    [0x0n, '0x0 4K wxu'],
    [0xfffn, '0xfff 4K wxu'],
    [0x1000n, 'not-present PTE'],
    [0x2000n, '0x2000 4K --u'],
    [0x200000n, '0x400000 2048K -xk'],
    [0x3fffffn, '0x5fffff 2048K -xk'],
    [0x400000n, 'not-present PDE'],
    [0x40000000n, '0x40000000 1048576K wxu'],
    [0x7fffffffn, '0x7fffffff 1048576K wxu'],
    [0x80000000n, 'not-present PDPTE'],
    [0xc0000000n, 'outside PDPTE'],
    [0x8000000000n, 'reserved PML4E'],
    [0x10000000000n, 'not-present PML4E'],
    [0xffffff8000000000n, '0x0 4K wxk'], // upper half: PML4E 511, which leaves out U/S
    [0x00007fffffffffffn, 'not-present PML4E'], // last canonical lower-half address
    [0x0000800000000000n, 'non-linear'], // first non-canonical one
    [0xffff7fffffffffffn, 'non-linear'], // last non-canonical one
    [0xffff800000000000n, 'not-present PML4E'], // first canonical upper-half address
  ]],
];

describe('lookup: every mode, page size and stop', () => {
  for (const [name, make, cases] of CASES) {
    const block = make();
    const walker = createWalker(block);
    for (const [virt, expected] of cases) {
      it(`${name} 0x${virt.toString(16)}: ${expected}`, () => {
        const r = look(block, virt);
        expect(outcome(r)).toBe(expected);
        // The fast path agrees with the level-by-level walk.
        const fast = walker.lookup(virt);
        expect(fast === null ? null : { ...fast }).toEqual(r.translation && {
          phys: r.translation.phys, writable: r.translation.writable, user: r.translation.user, executable: r.translation.executable,
        });
      });
    }
  }

  it('lists each entry read, top level first, with its table, index and value', () => {
    const block = ia32eBlock();
    const r = look(block, 0x2123n);
    expect(r.entries.map((e) => [e.level, e.tablePhys, e.index, e.outcome])).toEqual([
      ['PML4E', 0x203000n, 0, 'table'], ['PDPTE', 0x200000n, 0, 'table'], ['PDE', 0x201000n, 0, 'table'], ['PTE', 0x202000n, 2, 'page'],
    ]);
    expect(r.entries[3]!.value).toBe(0x2000n | 1n | 4n | (1n << 63n));
    expect(r.entries[3]!.flags).toEqual(['P', 'US', 'XD']);
    expect(r.entries[3]!.entryAddr).toBe(0x202010n);
  });

  it('names the level of each stop and why, in text', () => {
    expect(lookupText(look(paeBlock(), 0x40000000n))).toContain('does not translate: not present at PAE PDPTE 0x102000[1] (at 0x102008): #PF');
    expect(lookupText(look(ia32eBlock(), 0x8000000000n))).toMatch(/does not translate: PML4E 0x203000\[1\] .*reserved bit 7 set \(PS is reserved in a PML4E\)/);
    expect(lookupText(look(ia32eBlock(), 0xc0000000n))).toMatch(/points to a table at 0x80000000 outside the tables given/);
    expect(lookupText(look(ia32eBlock(), 0x800000000000n))).toMatch(/0x800000000000 is not canonical/);
  });

  it('text ends with the translation: physical address, page size, permissions, attributes', () => {
    const text = lookupText(look(thirtyTwoBitBlock(), 0x5abcn));
    expect(text.trimEnd().split('\n').at(-1)).toBe('translates to 0x5abc: 4 KiB page, rwx user (read, write, execute, user and kernel), G A');
    expect(text.split('\n').every((l) => l.length <= 120)).toBe(true);
    const large = lookupText(look(thirtyTwoBitBlock(), 0x400000n));
    expect(large).toContain('translates to 0xc00000: 4 MiB page, rwx kernel');
    expect(large).toMatch(/ A D$/m);
  });

  it('as written, an entry with reserved bits is followed, and its violation still shown', () => {
    const exact = look(paeBlock(), 0x80001234n);
    expect(exact.translation).toBeNull();
    const written = look(paeBlock(), 0x80001234n, true);
    expect(outcome(written)).toBe('0x1234 4K w-k');
    expect(written.entries[0]!.reserved).toMatch(/reserved bit 1 set \(R\/W and U\/S are reserved in a PAE PDPTE\)/);
    expect(outcome(look(ia32eBlock(), 0x8000000000n, true))).toBe('0x0 4K wxk'); // PML4E 1 -> the same PDPT, PS ignored
  });

  it('a top-level table CR3 cannot reach stops the walk before it starts', () => {
    const block = { ...paeBlock(), tablesPhys: 0xfffff000n }; // the PDPT would sit past 4 GiB
    const r = look(block, 0x1234n);
    expect(r.stop).toMatchObject({ reason: 'cr3', level: 'CR3' });
    expect(r.stop!.message).toMatch(/which CR3 cannot address in PAE paging/);
    expect(r.entries).toEqual([]);
  });

  it('JSON: the entries and the translation or the stop', () => {
    const json = JSON.parse(lookupJson(look(ia32eBlock(), 0x200010n)));
    expect(json).toMatchObject({ mode: 'ia32e', virt: '0x200010', translates: true, stop: null });
    expect(json.translation).toEqual({
      phys: '0x400010', pageSize: '0x200000', writable: false, user: false, executable: true,
      global: true, pat: false, pcd: false, pwt: false, accessed: false, dirty: false,
    });
    expect(json.entries.map((e: { level: string }) => e.level)).toEqual(['PML4E', 'PDPTE', 'PDE']);
    const stopped = JSON.parse(lookupJson(look(ia32eBlock(), 0x1000n)));
    expect(stopped).toMatchObject({ translates: false, translation: null, stop: { reason: 'not-present', level: 'PTE' } });
  });
});

describe('x86pt lookup', () => {
  const dir = scratchDir('x86pt-lookup-');
  const { file, placed } = ia32eFile(dir);

  it('exit 0 when the address translates, with the walk printed', async () => {
    const run = await x86pt(['lookup', '0x2000', ...placed]);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe('0x0000000000002000: IA-32e (4-level) paging, top level (CR3) at 0x203000');
    expect(lines[4]).toMatch(/^ {8}PTE {3}0x00202000\[  2\] 0x8000000000002005  P {4}US .* XD {2}-> 4 KiB page 0x00002000$/);
    expect(lines[5]).toBe('translates to 0x2000: 4 KiB page, r-- user (read, no write, no execute, user and kernel), no G/PAT/PCD/PWT/A/D');
  });

  it('exit 1 when it does not, decimal addresses too', async () => {
    const run = await x86pt(['lookup', String(0x1000), ...placed]);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('does not translate: not present at PTE 0x202000[1] (at 0x202008): #PF');
  });

  it('a full 64-bit address, exactly: the upper half, and a non-canonical one', async () => {
    const upper = await x86pt(['lookup', '18446743523953737728', ...placed]); // 0xffffff8000000000
    expect(upper.exitCode).toBe(0);
    expect(upper.stdout).toMatch(/^0xffffff8000000000: /);
    const bad = await x86pt(['lookup', '0xffff7fffffffffff', ...placed, '--json']);
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stdout).stop.reason).toBe('non-linear');
  });

  it('--json', async () => {
    const run = await x86pt(['lookup', '0x40000000', ...placed, '--format', 'json']);
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout).translation).toMatchObject({ phys: '0x40000000', pageSize: '0x40000000' });
  });

  it('--as-written follows a PML4E with PS set', async () => {
    expect((await x86pt(['lookup', '0x8000000000', ...placed])).exitCode).toBe(1);
    const run = await x86pt(['lookup', '0x8000000000', ...placed, '--as-written']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('reserved bit 7 set (PS is reserved in a PML4E)');
  });

  it('-k: the kernel places the tables the generator wrote', async () => {
    const files = writeKernelFiles(dir, 'pae-identity', GOLDEN_LAYOUTS['pae-identity-perms']!);
    const run = await x86pt(['lookup', '0x100000', files.tables, '-k', files.elf]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('translates to 0x100000: 4 KiB page, r-x');
  });

  it('bad input: exit 2, one line naming the address', async () => {
    const cases = [
      ['0xzz', /^x86pt: address: '0xzz' is not an address \(use hex 0x\.\.\. or decimal\)$/],
      ['12abc', /^x86pt: address: '12abc' is not an address/],
      ['-5', /^x86pt: address: '-5' is not an address/],
      ['0x10000000000000000', /^x86pt: address: 0x10000000000000000 does not fit in 64 bits$/],
    ] as const;
    for (const [addr, problem] of cases) {
      const run = await x86pt(['lookup', addr, ...placed]);
      expectBadInput(run, problem);
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
    expectBadInput(await x86pt(['lookup', '0x1000', file]), /give -k KERNEL\.elf, or both --mode and --base/);
  });

  it('help says the exit statuses', async () => {
    const run = await x86pt(['lookup', '--help']);
    expect(run.stdout).toContain('Exit status: 0 the address translates, 1 it does not, 2 bad input');
  });
});

describe('one reading of the entries: fast path, whole walk and single-address walk agree', () => {
  const blocks = [thirtyTwoBitBlock(), paeBlock(), ia32eBlock()];
  for (const asWritten of [false, true]) {
    for (const block of blocks) {
      it(`${block.mode}${asWritten ? ', as written' : ''}: every mapped page and its neighbours, after random bit flips`, () => {
        fc.assert(fc.property(fc.array(fc.nat(block.tables.byteLength * 8 - 1), { maxLength: 3 }), (flips) => {
          let tables = block.tables;
          for (const b of flips) tables = flipBit(tables, b >> 3, b & 7);
          const flipped = { ...block, tables };
          const walker = createWalker(flipped, { ignoreReservedBits: asWritten });
          const ranges = walker.walk().ranges;
          const probes = new Set<bigint>();
          for (const r of ranges) for (const v of [r.virt - 0x1000n, r.virt, r.virt + r.size - 0x1000n, r.virt + r.size]) probes.add(v);
          for (const virt of probes) {
            if (virt < 0n) continue;
            const inRange = ranges.find((r) => virt >= r.virt && virt < r.virt + r.size);
            const fast = walker.lookup(virt);
            const slow = lookupAddress(walker, flipped.tablesPhys, virt).translation;
            expect(fast?.phys ?? null).toBe(inRange ? inRange.phys + (virt - inRange.virt) : null);
            expect(slow?.phys ?? null).toBe(fast?.phys ?? null);
            if (fast && slow) expect([slow.writable, slow.user, slow.executable]).toEqual([fast.writable, fast.user, fast.executable]);
          }
        }), { numRuns: 60, seed: 7 });
      });
    }
  }
});
