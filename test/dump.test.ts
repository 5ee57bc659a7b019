import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectBadInput, scratchDir, x86pt } from './support/cli.js';
import { writeKernelFiles } from './support/verify-cli.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { SMALL_LAYOUTS, symbolsOf } from './support/verify-kernels.js';
import { specFromSymbols } from '../src/verify/spec.js';

const dir = scratchDir('x86pt-dump-');
const hex = (v: bigint) => `0x${v.toString(16)}`;

describe('x86pt dump', () => {
  const dual = writeKernelFiles(dir, '32bit-dual', GOLDEN_LAYOUTS['32bit-dual-perms']!);

  it('prints ptdump-like ranges with the aliases of the same memory', async () => {
    const { exitCode, stdout, stderr } = await x86pt(['dump', dual.tables, '-k', dual.elf]);
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`${dual.tables}: 32-bit paging, 4 tables at 0x200000-0x204000, top level (CR3) at 0x203000`);
    expect(lines.slice(1, 5)).toEqual([
      '0x00100000-0x00128000  4 KiB x 40    -> 0x00100000  r-x user  (same memory as 0xc0100000-0xc0128000)',
      '0x00128000-0x00900000  4 KiB x 2008  -> 0x00128000  rwx kernel  (same memory as 0xc0128000-0xc0900000)',
      '0xc0100000-0xc0128000  4 KiB x 40    -> 0x00100000  r-x user  (same memory as 0x00100000-0x00128000)',
      '0xc0128000-0xc0900000  4 KiB x 2008  -> 0x00128000  rwx kernel  (same memory as 0x00128000-0x00900000)',
    ]);
    expect(lines.slice(5)).toEqual([
      '4 ranges, 16 MiB mapped', 'no architectural violations',
      // The W+X audit: 32-bit paging cannot make RAM non-executable.
      'W+X: 2 ranges (4016 pages) writable and executable (32-bit paging has no execute-disable bit):',
      '  0x00128000-0x00900000  -> 0x00128000  rwx kernel',
      '  0xc0128000-0xc0900000  -> 0x00128000  rwx kernel',
    ]);
  });

  it('JSON: the ranges the spec expects, addresses as hex strings, canonical in IA-32e', async () => {
    const kernel = GOLDEN_LAYOUTS['ia32e-high-half']!;
    const files = writeKernelFiles(dir, 'high-half', kernel);
    const { exitCode, stdout } = await x86pt(['dump', files.tables, '-k', files.elf, '--format', 'json']);
    expect(exitCode).toBe(0);
    const spec = specFromSymbols(symbolsOf(kernel));
    if (!spec.valid) throw new Error('refused');
    expect(JSON.parse(stdout)).toEqual({
      mode: 'ia32e',
      // The generator maps 4 KiB pages and sets none of G, PCD, PWT, PAT, A, D.
      ranges: spec.expected.map((r) => ({
        virt: hex(r.virt), phys: hex(r.phys), size: hex(r.size), writable: r.writable, user: r.user, executable: r.executable,
        pageSize: '0x1000', global: false, pcd: false, pwt: false, pat: false, accessed: false, dirty: false,
      })),
      violations: [],
      wx: [],
    });
    expect(stdout).toContain('"virt": "0xffff800000100000"');
  });

  it('--mode and --base instead of a kernel give the same map', async () => {
    const withKernel = await x86pt(['dump', dual.tables, '-k', dual.elf, '--format', 'json']);
    const withBase = await x86pt(['dump', dual.tables, '--mode', '32bit', '--base', hex(dual.tablesPhys), '--format', 'json']);
    expect(withBase.exitCode).toBe(0);
    expect(withBase.stdout).toBe(withKernel.stdout);
  });

  it('lists the violations of --compat PAE tables', async () => {
    const files = writeKernelFiles(dir, 'pae-compat', SMALL_LAYOUTS['pae-dual-perms']!, { compat: true });
    const { exitCode, stdout } = await x86pt(['dump', files.tables, '-k', files.elf, '--format', 'json']);
    expect(exitCode).toBe(0);
    const parsed = JSON.parse(stdout) as { ranges: unknown[]; violations: { level: string; path: number[]; entryAddr: string; message: string }[] };
    expect(parsed.violations.map((v) => [v.level, v.path])).toEqual([['PDPTE', [0]], ['PDPTE', [3]]]);
    expect(parsed.violations[0]!.message).toMatch(/#GP/);
    expect(parsed.ranges).toEqual([]);
    const text = await x86pt(['dump', files.tables, '-k', files.elf]);
    expect(text.stdout).toMatch(/2 architectural violations:\n {2}PDPTE 0 at 0x[0-9a-f]+: reserved bits 1-2/);
  });

  describe('bad input: one line naming the problem, exit 2', () => {
    const odd = join(dir, 'odd.bin');
    writeFileSync(odd, new Uint8Array(4100));
    const garbage = join(dir, 'garbage.elf');
    writeFileSync(garbage, 'not an elf at all');
    const cases: [string, string[], RegExp][] = [
      ['missing tables file', ['dump', join(dir, 'nope.bin'), '-k', dual.elf], /nope\.bin: cannot read tables \(ENOENT\)/],
      ['size not whole tables', ['dump', odd, '--mode', 'ia32e', '--base', '0x1000'], /odd\.bin: 4100 bytes is not a whole number of ia32e tables/],
      ['PAE size without the 32-byte PDPT', ['dump', dual.tables, '--mode', 'pae', '--base', '0x1000'], /32bit-dual\.bin: .*4096 \* n \+ 32/],
      ['neither kernel nor mode', ['dump', dual.tables], /give -k KERNEL\.elf, or both --mode and --base/],
      ['kernel and mode', ['dump', dual.tables, '-k', dual.elf, '--mode', 'pae', '--base', '0'], /either -k or --mode with --base/],
      ['unaligned base', ['dump', dual.tables, '--mode', '32bit', '--base', '0x1234'], /--base: 0x1234 is not 4 KiB aligned/],
      ['not an address', ['dump', dual.tables, '--mode', '32bit', '--base', 'zero'], /--base: 'zero' is not an address/],
      ['bad kernel', ['dump', dual.tables, '-k', garbage], /garbage\.elf: /],
      ['unknown mode', ['dump', dual.tables, '--mode', 'long', '--base', '0'], /long/],
      ['bad MAXPHYADDR', ['dump', dual.tables, '-k', dual.elf, '--max-phys-addr', '64'], /MAXPHYADDR must be an integer from 32 to 52/],
    ];
    for (const [name, args, message] of cases) {
      it(name, async () => expectBadInput(await x86pt(args), message));
    }
  });

  it('--help describes every option', async () => {
    const { exitCode, stdout } = await x86pt(['dump', '--help']);
    expect(exitCode).toBe(0);
    for (const option of ['--kernel <elf>', '--mode <mode>', '--base <addr>', '--format <format>', '--max-phys-addr <bits>', '--no-nxe', '--no-pse']) {
      expect(stdout).toMatch(new RegExp(`${option.replace(/[<>]/g, '.')}\\s+\\S`));
    }
    expect(stdout).toMatch(/Exit status: 0 printed, 2 bad input/);
  });
});
