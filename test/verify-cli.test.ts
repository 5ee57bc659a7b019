import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectBadInput, scratchDir, writeKernel, x86pt } from './support/cli.js';
import { parseXml, writeKernelFiles } from './support/verify-cli.js';
import { SMALL_LAYOUTS } from './support/verify-kernels.js';
import { flipBit } from './support/verify-tables.js';
import { naiveWalk } from './support/verify-naive-walk.js';

const dir = scratchDir('x86pt-verify-');

interface VerifyJson {
  ok: boolean;
  engine: string;
  version: string;
  mode: string;
  mismatches: { virt: string; size: string; kind: string; expected: Record<string, unknown> | null; actual: Record<string, unknown> | null }[];
  violations: { level: string; path: number[]; entryAddr: string; message: string }[];
  blockProblems: string[];
}

describe('x86pt verify', () => {
  const good = writeKernelFiles(dir, 'ia32e', SMALL_LAYOUTS['ia32e-dual-high-half']!);

  it('exit 0 and a one-line verdict when the tables do what the kernel asks', async () => {
    const { exitCode, stdout, stderr } = await x86pt(['verify', '-k', good.elf, good.tables]);
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/^OK: .*ia32e\.bin does what .*ia32e\.elf asks \(IA-32e \(4-level\) paging at 0x200000, engine walker 1\.0\): \d+ ranges, 128 KiB mapped, no violations\nW\+X: none$/);
  });

  it('--json: the result with hex strings', async () => {
    const { exitCode, stdout } = await x86pt(['verify', good.tables, '-k', good.elf, '--json']);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      ok: true, engine: 'walker', version: '1.0', mode: 'ia32e', tables: good.tables, kernel: good.elf, tablesPhys: `0x${good.tablesPhys.toString(16)}`,
      counts: { ranges: 10, mappedBytes: '0x20000', mismatches: 0, violations: 0, blockProblems: 0 },
      mismatches: [], violations: [], blockProblems: [], wx: [],
    });
  });

  it('catches single-bit flips of leaf entries, reporting the page (both aliases)', async () => {
    // The PTE of virtual page 0x105000 (and of 0xffff800000105000).
    const leaf = naiveWalk('ia32e', good.bytes, good.tablesPhys).leaves.find((l) => l.virt === 0x105000n)!;
    const offset = Number(leaf.entryAddr - good.tablesPhys);
    const flips: [number, string][] = [[0, 'missing'], [1, 'permissions'], [63, 'permissions'], [13, 'target']];
    for (const [bit, kind] of flips) {
      const name = `flip-${bit}`;
      const files = writeKernelFiles(dir, name, SMALL_LAYOUTS['ia32e-dual-high-half']!, { alter: (b) => flipBit(b, offset, bit) });
      const { exitCode, stdout } = await x86pt(['verify', files.tables, '-k', files.elf, '--json']);
      expect(exitCode, name).toBe(1);
      const result = JSON.parse(stdout) as VerifyJson;
      expect(result.ok).toBe(false);
      expect(result.mismatches.map((m) => [m.virt, m.size, m.kind])).toEqual([['0x105000', '0x1000', kind], ['0xffff800000105000', '0x1000', kind]]);
      expect(result.mismatches[0]!.expected).toEqual({ phys: '0x105000', writable: false, user: true, executable: false }); // _image_rodata
    }
  });

  it('flags --compat PAE tables: text report and exit 1', async () => {
    const compat = writeKernelFiles(dir, 'pae-compat', SMALL_LAYOUTS['pae-identity-perms']!, { compat: true });
    const { exitCode, stdout } = await x86pt(['verify', compat.tables, '-k', compat.elf]);
    expect(exitCode).toBe(1);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^FAIL: .*pae-compat\.bin does not do what .*pae-compat\.elf asks \(PAE paging at 0x300000, engine walker 1\.0\): 3 mismatches, 1 violation$/);
    expect(lines[1]).toBe('mismatches (virtual range, pages, how, expected, actual):');
    expect(lines[2]).toMatch(/^ {2}0x001ff000-0x00203000 {2}4 KiB x 4 +missing {2}expected -> 0x001ff000 r-x user +actual unmapped$/);
    const pdpt = `0x${(compat.tablesPhys + BigInt(compat.bytes.length - 32)).toString(16)}`;
    expect(stdout).toContain(`1 architectural violation:\n  PDPTE 0 at ${pdpt}: reserved bits 1-2 set`);
    expect(stdout).toMatch(/MOV to CR3 raises #GP\(0\)/);
  });

  it('--junit writes well-formed JUnit XML, passing and failing', async () => {
    const passing = join(dir, 'pass.xml');
    expect((await x86pt(['verify', good.tables, '-k', good.elf, '--junit', passing])).exitCode).toBe(0);
    expect(await parseXml(passing)).toMatchObject({ tag: 'testsuites', tests: '3', failures: '0', failures_found: 0 });

    const compat = writeKernelFiles(dir, 'pae-compat-j', SMALL_LAYOUTS['pae-dual-perms']!, { compat: true });
    const failing = join(dir, 'fail.xml');
    const { exitCode, stdout } = await x86pt(['verify', compat.tables, '-k', compat.elf, '--junit', failing, '--json']);
    expect(exitCode).toBe(1);
    expect(JSON.parse(stdout).ok).toBe(false);
    expect(await parseXml(failing)).toMatchObject({ tag: 'testsuites', tests: '3', failures: '2', failures_found: 2 });
    expect(readFileSync(failing, 'utf8')).toMatch(/<failure message="2 violation\(s\)" type="verification">PDPTE 0 at 0x[0-9a-f]+: reserved bits 1-2/);
    // Written atomically: no temporary file left beside it.
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  describe('bad input: exit 2, one line, nothing written', () => {
    const refused = writeKernel(dir, 'refused', { ...SMALL_LAYOUTS['ia32e-dual-high-half']!, sramBase: 0x100800n });
    const short = join(dir, 'short.bin');
    writeFileSync(short, new Uint8Array(4096 + 8));
    const cases: [string, string[], RegExp][] = [
      ['layout refused by the policy', ['verify', good.tables, '-k', refused], /refused\.elf: the kernel's layout is refused: CONFIG_SRAM_BASE_ADDRESS 0x100800 is not 4 KiB aligned \(rule not-page-aligned\)/],
      ['tables of the wrong shape', ['verify', short, '-k', good.elf], /short\.bin: 4104 bytes is not a whole number of ia32e tables/],
      ['missing kernel', ['verify', good.tables, '-k', join(dir, 'none.elf')], /none\.elf/],
      ['unknown engine', ['verify', good.tables, '-k', good.elf, '--engine', 'simics'], /simics/],
    ];
    for (const [name, args, message] of cases) {
      it(name, async () => {
        const junit = join(dir, `${name.replace(/\W+/g, '-')}.xml`);
        const run = await x86pt([...args, '--junit', junit]);
        expectBadInput(run, message);
        expect(run.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(2); // the line, and commander's usage hint at most
        expect(existsSync(junit)).toBe(false);
      });
    }

    it('an existing report is left untouched', async () => {
      const junit = join(dir, 'kept.xml');
      writeFileSync(junit, 'previous');
      expect((await x86pt(['verify', short, '-k', good.elf, '--junit', junit])).exitCode).toBe(2);
      expect(readFileSync(junit, 'utf8')).toBe('previous');
    });

    it('a report in a missing directory is an error naming it', async () => {
      const junit = join(dir, 'no-such-dir', 'r.xml');
      const { exitCode, stderr } = await x86pt(['verify', good.tables, '-k', good.elf, '--junit', junit]);
      expect(exitCode).toBe(2);
      expect(stderr).toMatch(/no-such-dir\/r\.xml: cannot write \(ENOENT\)/);
    });
  });
});
