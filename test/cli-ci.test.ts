/** What CI collects from verify: JSON with the files, base and counts; JUnit suites named apart per build. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir, x86pt } from './support/cli.js';
import { parseXml, writeKernelFiles } from './support/verify-cli.js';
import { SMALL_LAYOUTS } from './support/verify-kernels.js';

const dir = scratchDir('x86pt-cli-ci-');
const good = writeKernelFiles(dir, 'pae-good', SMALL_LAYOUTS['pae-dual-perms']!);
const compat = writeKernelFiles(dir, 'pae-compat', SMALL_LAYOUTS['pae-dual-perms']!, { compat: true });

describe('verify --json', () => {
  it('carries the file names, the tables\' base and the counts of the text line', async () => {
    const text = await x86pt(['verify', good.tables, '-k', good.elf]);
    const run = await x86pt(['verify', good.tables, '-k', good.elf, '--json']);
    expect(run.exitCode).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json).toMatchObject({ ok: true, tables: good.tables, kernel: good.elf, tablesPhys: `0x${good.tablesPhys.toString(16)}` });
    // The same figures as the text verdict: "N ranges, SIZE mapped".
    const [, ranges] = /: (\d+) ranges?, /.exec(text.stdout)!;
    expect(json.counts).toMatchObject({ ranges: Number(ranges), mismatches: 0, violations: 0, blockProblems: 0 });
    expect(BigInt(json.counts.mappedBytes)).toBeGreaterThan(0n);
  });

  it('a failing verify counts what its lists hold', async () => {
    const run = await x86pt(['verify', compat.tables, '-k', compat.elf, '--json']);
    expect(run.exitCode).toBe(1);
    const json = JSON.parse(run.stdout);
    expect(json.counts.mismatches).toBe(json.mismatches.length);
    expect(json.counts.violations).toBe(json.violations.length);
    expect(json.counts.mismatches).toBeGreaterThan(0);
    expect(json.counts.violations).toBeGreaterThan(0);
  });
});

describe('verify --junit', () => {
  it('names the suite by the tables and the kernel\'s absolute path by default', async () => {
    const xml = join(dir, 'default.xml');
    expect((await x86pt(['verify', good.tables, '-k', good.elf, '--junit', xml])).exitCode).toBe(0);
    const text = readFileSync(xml, 'utf8');
    const suite = `x86pt verify ${good.tables} (kernel ${resolve(good.elf)})`;
    expect(text).toContain(`<testsuite name="${suite}"`);
    expect(text).toContain(`<testcase classname="${suite}"`);
  });

  it('--junit-name names the suite and the cases\' class', async () => {
    const xml = join(dir, 'named.xml');
    const run = await x86pt(['verify', compat.tables, '-k', compat.elf, '--junit', xml, '--junit-name', 'qemu_x86 <pae> & co']);
    expect(run.exitCode).toBe(1);
    const text = readFileSync(xml, 'utf8');
    expect(text).toContain('<testsuite name="qemu_x86 &lt;pae&gt; &amp; co"');
    expect(text).toContain('<testcase classname="qemu_x86 &lt;pae&gt; &amp; co"');
    expect(await parseXml(xml)).toMatchObject({ tag: 'testsuites', failures: '2' });
  });
});
