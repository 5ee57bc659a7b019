import { describe, expect, it } from 'vitest';
import { scratchDir, x86pt } from './support/cli.js';
import { writeKernelFiles } from './support/verify-cli.js';
import { SMALL_LAYOUTS } from './support/verify-kernels.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { flipBit } from './support/verify-tables.js';
import { naiveWalk } from './support/verify-naive-walk.js';
import { withWxJson, writableExecutable, wxText } from '../src/verify/wx.js';
import type { MappedRange } from '../src/verify/model.js';

const dir = scratchDir('x86pt-wx-');

const range = (virt: bigint, writable: boolean, executable: boolean): MappedRange =>
  ({ virt, phys: virt, size: 0x1000n, writable, user: false, executable });

describe('the W+X audit', () => {
  it('takes exactly the ranges both writable and executable', () => {
    const ranges = [range(0x1000n, true, false), range(0x2000n, false, true), range(0x3000n, true, true), range(0x4000n, false, false)];
    expect(writableExecutable(ranges)).toEqual([ranges[2]]);
  });

  it('text: "W+X: none", or a count and one line a range, FAIL in front when denied', () => {
    expect(wxText([], 'pae', false)).toBe('W+X: none\n');
    expect(wxText([], 'pae', true)).toBe('W+X: none\n');
    const wx = [range(0x3000n, true, true), { ...range(0xffff800000005000n, true, true), phys: 0x5000n, size: 0x2000n }];
    expect(wxText(wx, 'ia32e', false)).toBe([
      'W+X: 2 ranges (3 pages) writable and executable:',
      '  0x0000000000003000-0x0000000000004000  -> 0x00003000  rwx kernel',
      '  0xffff800000005000-0xffff800000007000  -> 0x00005000  rwx kernel',
      '',
    ].join('\n'));
    expect(wxText(wx.slice(0, 1), '32bit', true).split('\n')[0])
      .toBe('W+X: FAIL (--deny wx): 1 range (1 page) writable and executable (32-bit paging has no execute-disable bit):');
  });

  it('JSON: a "wx" list; under --deny wx "ok" turns false only when there is one', () => {
    const base = JSON.stringify({ ok: true, mismatches: [] });
    const wx = [range(0x3000n, true, true)];
    expect(JSON.parse(withWxJson(base, []))).toEqual({ ok: true, mismatches: [], wx: [] });
    expect(JSON.parse(withWxJson(base, wx)).ok).toBe(true);
    expect(JSON.parse(withWxJson(base, [], ['wx']))).toEqual({ ok: true, mismatches: [], wx: [], deny: ['wx'] });
    expect(JSON.parse(withWxJson(base, wx, ['wx']))).toMatchObject({ ok: false, deny: ['wx'], wx: [{ virt: '0x3000', size: '0x1000', writable: true, executable: true }] });
  });

  // PAE without region permissions: RAM is P|RW without XD, so all of it is writable and executable, and that is what the kernel asks.
  const open = writeKernelFiles(dir, 'pae-open', GOLDEN_LAYOUTS['pae-null-page']!);
  const strict = writeKernelFiles(dir, 'ia32e-strict', SMALL_LAYOUTS['ia32e-dual-high-half']!);

  it('verify prints the audit and passes without --deny; --deny wx fails on W+X and only on it', async () => {
    const plain = await x86pt(['verify', open.tables, '-k', open.elf]);
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout.split('\n').slice(1)).toEqual([
      'W+X: 1 range (1023 pages) writable and executable:',
      '  0x00001000-0x00400000  -> 0x00001000  rwx kernel',
    ]);
    const denied = await x86pt(['verify', open.tables, '-k', open.elf, '--deny', 'wx']);
    expect(denied.exitCode).toBe(1);
    expect(denied.stdout).toMatch(/^W\+X: FAIL \(--deny wx\): 1 range/m);
    const json = await x86pt(['verify', open.tables, '-k', open.elf, '--deny', 'wx', '--json']);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, mismatches: [], violations: [], deny: ['wx'], wx: [{ virt: '0x1000', size: '0x3ff000' }] });

    const clean = await x86pt(['verify', strict.tables, '-k', strict.elf, '--deny', 'wx']);
    expect(clean.exitCode).toBe(0);
    expect(clean.stdout.trimEnd().split('\n').at(-1)).toBe('W+X: none');
  });

  it('clearing one XD bit makes that page W+X in both aliases: dump lists it, verify --deny wx names it', async () => {
    const leaf = naiveWalk('ia32e', strict.bytes, strict.tablesPhys).leaves.find((l) => l.virt === 0x108000n)!;
    expect(leaf).toMatchObject({ writable: true, executable: false });
    const files = writeKernelFiles(dir, 'ia32e-xd-cleared', SMALL_LAYOUTS['ia32e-dual-high-half']!, {
      alter: (b) => flipBit(b, Number(leaf.entryAddr - strict.tablesPhys), 63),
    });
    const dump = await x86pt(['dump', files.tables, '-k', files.elf, '--format', 'json']);
    expect(dump.exitCode).toBe(0);
    expect(JSON.parse(dump.stdout).wx.map((r: { virt: string; size: string }) => [r.virt, r.size]))
      .toEqual([['0x108000', '0x1000'], ['0xffff800000108000', '0x1000']]);
    const text = await x86pt(['dump', files.tables, '-k', files.elf]);
    expect(text.stdout).toContain('W+X: 2 ranges (2 pages) writable and executable:\n'
      + '  0x0000000000108000-0x0000000000109000  -> 0x00108000  rwx kernel\n'
      + '  0xffff800000108000-0xffff800000109000  -> 0x00108000  rwx kernel');
    const verify = await x86pt(['verify', files.tables, '-k', files.elf, '--deny', 'wx']);
    expect(verify.exitCode).toBe(1);
    expect(verify.stdout).toContain('W+X: FAIL (--deny wx): 2 ranges (2 pages)');
  });

  it('--deny takes only what it knows, and --json with another --format is refused; exit 2', async () => {
    const bad = await x86pt(['verify', strict.tables, '-k', strict.elf, '--deny', 'nx']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--deny.*nx/);
    const both = await x86pt(['verify', strict.tables, '-k', strict.elf, '--json', '--format', 'markdown']);
    expect(both.exitCode).toBe(2);
    expect(both.stdout).toBe('');
    expect(both.stderr).toMatch(/either --json or --format markdown/);
  });
});
