import { describe, expect, it } from 'vitest';
import { scratchDir, x86pt } from './support/cli.js';
import { writeKernelFiles } from './support/verify-cli.js';
import { SMALL_LAYOUTS, symbolsOf } from './support/verify-kernels.js';
import { MARKDOWN_ROWS, verifyMarkdown } from '../src/verify/markdown.js';
import { kernelRegions } from '../src/verify/regions.js';
import type { VerifyResult } from '../src/verify/check.js';
import type { Mismatch } from '../src/verify/compare.js';
import type { KernelDescription } from '../src/elf/kernel.js';

const dir = scratchDir('x86pt-markdown-');

/** The rows of the Markdown table under `heading` (a line starting with it), header and rule excluded, split into cells. */
function tableUnder(markdown: string, heading: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith(heading));
  if (start < 0) throw new Error(`no heading ${heading}`);
  const rows: string[][] = [];
  let k = start + 1;
  while (k < lines.length && !lines[k]!.startsWith('|')) k++;
  for (k += 2; k < lines.length && lines[k]!.startsWith('|'); k++) {
    rows.push(lines[k]!.slice(2, -2).split(' | '));
  }
  return rows;
}

describe('verify --format markdown', () => {
  const kernel = SMALL_LAYOUTS['ia32e-identity-kpti']!;
  const good = writeKernelFiles(dir, 'kpti', kernel);

  it('a passing check: the verdict line first, the W+X audit, each range with its ELF region', async () => {
    const { exitCode, stdout } = await x86pt(['verify', good.tables, '-k', good.elf, '--format', 'markdown']);
    expect(exitCode).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^✅ \*\*OK\*\*: `.*kpti\.bin` does what `.*kpti\.elf` asks \(IA-32e \(4-level\) paging at `0x200000`, engine walker 1\.0\): 6 ranges, 64 KiB mapped, no violations$/);
    expect(stdout).toContain('W+X: none');
    const json = JSON.parse((await x86pt(['dump', good.tables, '-k', good.elf, '--format', 'json'])).stdout) as { ranges: { virt: string }[] };
    const rows = tableUnder(stdout, '#### Ranges the tables map');
    expect(rows.map((r) => r[0]!.slice(1, 19))).toEqual(json.ranges.map((r) => `0x${BigInt(r.virt).toString(16).padStart(16, '0')}`));
    // By address: locore 0x100000, lorodata 0x102000, text 0x104000, rodata 0x108000, gcov 0x10a000, then RAM.
    expect(rows.map((r) => [r[3], r[4], r[5]])).toEqual([
      ['`r-x user`', 'locore', 'identity'],
      ['`r-- user`', 'lorodata', 'identity'],
      ['`r-x user`', 'text', 'identity'],
      ['`r-- user`', 'rodata', 'identity'],
      ['`rw- user`', 'gcov', 'identity'],
      ['`rw- kernel`', 'RAM', 'identity'],
    ]);
    expect(rows.length).toBe(json.ranges.length);
  });

  it('a failing check: FAIL, the mismatch table labelled by region, the violations', async () => {
    const compat = writeKernelFiles(dir, 'pae-compat', SMALL_LAYOUTS['pae-dual-perms']!, { compat: true });
    const { exitCode, stdout } = await x86pt(['verify', compat.tables, '-k', compat.elf, '--format', 'markdown']);
    expect(exitCode).toBe(1);
    const json = JSON.parse((await x86pt(['verify', compat.tables, '-k', compat.elf, '--json'])).stdout) as { mismatches: { virt: string; kind: string }[]; violations: unknown[] };
    expect(stdout.split('\n')[0]).toMatch(new RegExp(`^❌ \\*\\*FAIL\\*\\*: .* ${json.mismatches.length} mismatches, 2 violations$`));
    const rows = tableUnder(stdout, '#### Mismatches');
    expect(rows.map((r) => [BigInt(r[0]!.slice(1, 11)), r[2]])).toEqual(json.mismatches.map((m) => [BigInt(m.virt), m.kind]));
    expect(rows.map((r) => r[5])).toEqual(['text', 'rodata', 'RAM', 'text', 'rodata', 'RAM']);
    expect(stdout).toMatch(/#### Architectural violations \(2\)\n\n- PDPTE 0 at 0x[0-9a-f]+: reserved bits 1-2 set/);
    expect(stdout).toContain('#### Ranges the tables map (0)\n\nNone.');
  });

  it('--deny wx turns a passing check into FAIL and says why', async () => {
    const open = writeKernelFiles(dir, 'open', { mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n });
    const { exitCode, stdout } = await x86pt(['verify', open.tables, '-k', open.elf, '--format', 'markdown', '--deny', 'wx']);
    expect(exitCode).toBe(1);
    expect(stdout.split('\n')[0]).toMatch(/^❌ \*\*FAIL\*\*: .*: 0 mismatches, 0 violations, 1 W\+X range \(denied\)$/);
    expect(tableUnder(stdout, '#### W+X (denied by `--deny wx`)').map((r) => [r[0], r[3], r[4]]))
      .toEqual([['`0x00100000-0x00110000`', '`rwx kernel`', 'RAM']]);
  });

  it(`shows ${MARKDOWN_ROWS} rows of a table and counts the rest (a boundary on each side)`, () => {
    const mismatch = (k: number): Mismatch => ({ virt: BigInt(k) * 0x2000n, size: 0x1000n, expected: null, actual: { phys: 0n, writable: false, user: false, executable: false } });
    const result = (count: number): VerifyResult => ({
      ok: false, engine: 'walker', version: '1.0', mode: 'pae', tablesPhys: 0x400000n, expected: [], actual: [], coverage: 'all',
      mismatches: Array.from({ length: count }, (_, k) => mismatch(k)), violations: [], blockProblems: [],
    });
    const render = (count: number) => verifyMarkdown({
      result: result(count), names: { tablesFile: 't.bin', kernelFile: 'k.elf' }, kernel: kernelRegions(symbolsOf(SMALL_LAYOUTS['pae-dual-perms']!)), wx: [], deny: [],
    });
    expect(tableUnder(render(MARKDOWN_ROWS), '#### Mismatches')).toHaveLength(MARKDOWN_ROWS);
    expect(render(MARKDOWN_ROWS)).not.toContain('more (the JSON report');
    expect(tableUnder(render(MARKDOWN_ROWS + 1), '#### Mismatches')).toHaveLength(MARKDOWN_ROWS);
    expect(render(MARKDOWN_ROWS + 1)).toContain('… and 1 more (the JSON report lists them all).');
  });

  it('file names with Markdown in them stay literal', async () => {
    const odd = writeKernelFiles(dir, 'odd`*name*', SMALL_LAYOUTS['pae-dual-perms']!);
    const { stdout } = await x86pt(['verify', odd.tables, '-k', odd.elf, '--format', 'markdown']);
    // A code span fenced by two backticks holds the one in the name (CommonMark), asterisks and all.
    expect(stdout.split('\n')[0]).toMatch(/ ``[^`]*odd`\*name\*\.bin`` does what ``[^`]*odd`\*name\*\.elf`` asks/);
  });
});

describe('diff --format markdown', () => {
  const before: KernelDescription = SMALL_LAYOUTS['pae-dual-perms']!;
  const after: KernelDescription = { ...before, regions: { ...before.regions, _image_rodata: { start: 0x104000n, size: 0x4000n } } };
  const old = writeKernelFiles(dir, 'before', before);
  const next = writeKernelFiles(dir, 'after', after);

  it('two kernels: the verdict, the symbol change that caused it, the changed pages labelled by region', async () => {
    const { exitCode, stdout } = await x86pt(['diff', old.tables, next.tables, '--old-kernel', old.elf, '--new-kernel', next.elf, '--format', 'markdown']);
    expect(exitCode).toBe(1);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^❌ \*\*DIFFERENT\*\*: `.*before\.bin` \(PAE paging at `0x200000`\) → `.*after\.bin` \(PAE paging at `0x200000`\): 2 changed$/);
    expect(stdout).toContain('#### Layout symbol changes\n\n- `_image_rodata_size 0x2000 -> 0x4000`\n');
    // rodata grew over two RAM pages: in both aliases, rw- kernel became r-- user.
    expect(tableUnder(stdout, '#### Translation changes').map((r) => [r[0], r[1], r[5], r[6]])).toEqual([
      ['~', '`0x00106000-0x00108000`', 'permissions', 'rodata'],
      ['~', '`0xc0106000-0xc0108000`', 'permissions', 'rodata'],
    ]);
  });

  it('the same kernel and tables: SAME, exit 0, no symbol section when one kernel serves both sides', async () => {
    const { exitCode, stdout } = await x86pt(['diff', old.tables, old.tables, '-k', old.elf, '--format', 'markdown']);
    expect(exitCode).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^✅ \*\*SAME\*\*: .*: same translation, same violations$/);
    expect(stdout).not.toContain('symbol');
    const two = await x86pt(['diff', old.tables, old.tables, '--old-kernel', old.elf, '--new-kernel', old.elf, '--format', 'markdown']);
    expect(two.stdout).toContain('None of the symbols the layout reads changed.');
  });
});
