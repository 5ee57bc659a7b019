import { describe, expect, it } from 'vitest';
import { expectBadInput, scratchDir, x86pt } from './support/cli.js';
import { writeKernelFiles } from './support/verify-cli.js';
import { SMALL_LAYOUTS } from './support/verify-kernels.js';
import { naiveWalk } from './support/verify-naive-walk.js';
import { flipBit } from './support/verify-tables.js';
import type { KernelDescription } from '../src/elf/kernel.js';

const dir = scratchDir('x86pt-diff-');

describe('x86pt diff', () => {
  const kernel = SMALL_LAYOUTS['pae-dual-perms']!;
  const base = writeKernelFiles(dir, 'base', kernel);
  const hex = (v: bigint) => `0x${v.toString(16)}`;

  it('exit 0 when nothing changed', async () => {
    const { exitCode, stdout } = await x86pt(['diff', base.tables, base.tables, '-k', base.elf]);
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/: same translation, same violations$/);
  });

  it('a permission change on one page: both aliases, as "~" lines; JSON gives old and new', async () => {
    const leaf = naiveWalk('pae', base.bytes, base.tablesPhys).leaves.find((l) => l.virt === 0x108000n)!;
    const changed = writeKernelFiles(dir, 'changed', kernel, { alter: (b) => flipBit(b, Number(leaf.entryAddr - base.tablesPhys), 1) });
    const text = await x86pt(['diff', base.tables, changed.tables, '-k', base.elf]);
    expect(text.exitCode).toBe(1);
    expect(text.stdout.split('\n').slice(1)).toEqual([
      '~ 0x00108000-0x00109000  4 KiB x 1  -> 0x00108000 rw- kernel  =>  -> 0x00108000 r-- kernel  (permissions)',
      '~ 0xc0108000-0xc0109000  4 KiB x 1  -> 0x00108000 rw- kernel  =>  -> 0x00108000 r-- kernel  (permissions)',
    ]);
    expect(text.stdout.split('\n')[0]).toMatch(/base\.bin \(PAE paging at 0x200000\) -> .*changed\.bin \(PAE paging at 0x200000\): 2 changed$/);

    const json = await x86pt(['diff', base.tables, changed.tables, '-k', base.elf, '--format', 'json']);
    expect(json.exitCode).toBe(1);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.same).toBe(false);
    expect(parsed.changes[0]).toEqual({
      kind: 'changed', virt: '0x108000', size: '0x1000',
      old: { phys: '0x108000', writable: true, user: false, executable: false },
      new: { phys: '0x108000', writable: false, user: false, executable: false },
    });
  });

  it('a different kernel per side: the dual window added, page 0 behaviour', async () => {
    const identity: KernelDescription = { mode: 'ia32e', sramBase: 0x0n, sramSizeKiB: 16n, pagetablesStart: 0x100000n };
    const dual: KernelDescription = { ...identity, kernelVmBase: 0xffff800000000000n, pagetablesStart: 0xffff800000100000n };
    const a = writeKernelFiles(dir, 'identity', identity);
    const b = writeKernelFiles(dir, 'dual', dual);
    const { exitCode, stdout } = await x86pt(['diff', a.tables, b.tables, '--old-kernel', a.elf, '--new-kernel', b.elf]);
    expect(exitCode).toBe(1);
    expect(stdout.split('\n').slice(1)).toEqual([
      '+ 0x0000000000000000-0x0000000000001000  4 KiB x 1  -> 0x00000000 rwx kernel',
      '+ 0xffff800000000000-0xffff800000004000  4 KiB x 4  -> 0x00000000 rwx kernel',
    ]);
    // The same, with mode and bases instead of kernels.
    const byBase = await x86pt(['diff', a.tables, b.tables, '--mode', 'ia32e', '--base', hex(a.tablesPhys), '--new-base', hex(b.tablesPhys)]);
    expect(byBase.stdout.split('\n').slice(1)).toEqual(stdout.split('\n').slice(1));
  });

  it('--compat against default PAE tables: the violation goes away and the translation appears', async () => {
    const compat = writeKernelFiles(dir, 'compat', kernel, { compat: true });
    const { exitCode, stdout } = await x86pt(['diff', compat.tables, base.tables, '-k', base.elf]);
    expect(exitCode).toBe(1);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/: 6 added, violations differ$/); // text, rodata, the rest; twice
    expect(lines.filter((l) => l.startsWith('+ 0x'))).toHaveLength(6);
    expect(lines.filter((l) => l.startsWith('- violation: PDPTE'))).toHaveLength(2);
  });

  describe('bad input: exit 2', () => {
    const cases: [string, string[], RegExp][] = [
      ['no way to place a side', ['diff', base.tables, base.tables, '--old-kernel', base.elf], /NEW .*base\.bin: give -k\/--new-kernel, or --mode\/--new-mode with --base\/--new-base/],
      ['kernel and mode for both', ['diff', base.tables, base.tables, '-k', base.elf, '--mode', 'pae', '--base', '0'], /either -k or --mode\/--base/],
      ['own kernel and own base', ['diff', base.tables, base.tables, '--old-kernel', base.elf, '--old-base', '0', '-k', base.elf], /either --old-kernel or --old-mode\/--old-base/],
      ['a missing file', ['diff', base.tables, `${dir}/gone.bin`, '-k', base.elf], /gone\.bin: cannot read tables/],
    ];
    for (const [name, args, message] of cases) {
      it(name, async () => expectBadInput(await x86pt(args), message));
    }
  });

  it('--help explains how to give each side', async () => {
    const { exitCode, stdout } = await x86pt(['diff', '--help']);
    expect(exitCode).toBe(0);
    for (const option of ['--kernel', '--old-kernel', '--new-kernel', '--mode', '--base', '--old-mode', '--old-base', '--new-mode', '--new-base', '--format']) {
      expect(stdout).toMatch(new RegExp(`${option} (<[a-z]+> )?\\s*\\S`));
    }
    expect(stdout).toMatch(/Exit status: 0 same, 1 different, 2 bad input/);
  });
});
