import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { UNICORN_EXPECTED_VERSION } from '../src/engines/unicorn/library.js';
import { CLI, scratchDir, writeKernelAndTables, x86pt } from './support/cli.js';
import type { EngineInput } from '../src/verify/model.js';
import { engineInput, withEntryBit } from './support/engine-layouts.js';
import { directoryEntryAbove } from './support/qemu-layouts.js';
import { UNICORN_LAYOUTS, leafEntryOffset, type UnicornLayoutName } from './support/unicorn-layouts.js';

const dir = scratchDir('x86pt-unicorn-cli-');

const files = (name: UnicornLayoutName, tables: Uint8Array, suffix = '') =>
  writeKernelAndTables(dir, `${name}${suffix}`, UNICORN_LAYOUTS[name], tables);

/** `verify --engine unicorn` of a layout's tables with one entry bit flipped, as JSON and as text. */
async function verifyFlipped(name: UnicornLayoutName, entryOf: (input: EngineInput) => number, bit: number, suffix: string) {
  const input = engineInput(UNICORN_LAYOUTS[name]);
  const { elf, bin } = files(name, withEntryBit(input, entryOf(input), bit).tables, suffix);
  const json = await x86pt(['verify', '--engine', 'unicorn', '-k', elf, bin, '--json']);
  const text = await x86pt(['verify', '--engine', 'unicorn', '-k', elf, bin]);
  return { json, text };
}

describe('x86pt verify --engine unicorn', () => {
  it('passes generated high-half tables and names Unicorn and its version', async () => {
    const name = 'ia32e-high-half-perms';
    const { elf, bin } = files(name, engineInput(UNICORN_LAYOUTS[name]).tables);
    const run = await x86pt(['verify', '--engine', 'unicorn', '-k', elf, bin, '--json']);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ ok: true, engine: 'unicorn', version: UNICORN_EXPECTED_VERSION, mode: 'ia32e', mismatches: [], violations: [] });
  });

  it('says what it probed: every page under --probe all, a seeded share under --probe sampled, in text and JSON', async () => {
    const name = 'ia32e-high-half-perms';
    const { elf, bin } = files(name, engineInput(UNICORN_LAYOUTS[name]).tables, '-probed');
    const all = await x86pt(['verify', '--engine', 'unicorn', '--probe', 'all', '-k', elf, bin, '--json']);
    expect(all.exitCode).toBe(0);
    const probe = (JSON.parse(all.stdout) as { probe: { plan: string; pagesProbed: number; fullPageCount: number } }).probe;
    expect(probe.plan).toBe('all');
    expect(probe.pagesProbed).toBe(probe.fullPageCount);
    expect(probe.pagesProbed).toBeGreaterThan(0);
    const sampled = await x86pt(['verify', '--engine', 'unicorn', '--probe', 'sampled', '--probe-seed', '9', '-k', elf, bin]);
    expect(sampled.exitCode).toBe(0);
    const line = sampled.stdout.split('\n').find((l) => l.startsWith('probed: '));
    expect(line).toMatch(new RegExp(`^probed: \\d+ of ${probe.fullPageCount} pages \\([\\d.]+%\\), plan sampled, seed 9$`));
    expect(Number(/^probed: (\d+)/.exec(line!)![1])).toBeLessThan(probe.fullPageCount);
    // The walker reads every entry: no probe line.
    const walker = await x86pt(['verify', '-k', elf, bin]);
    expect(walker.stdout).not.toContain('probed:');
  });

  it('fails a leaf mutant with the mismatch Unicorn observed, in both aliases', async () => {
    // Make a text page writable: the leaf is shared by its identity and dual-window aliases.
    const { json: run, text } = await verifyFlipped('32bit-dual-perms', (input) => leafEntryOffset(input, 0xc0402000n), 1, '-writable-text');
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(run.stdout) as { engine: string; mismatches: { virt: string; size: string; kind: string; actual: { writable: boolean } }[] };
    expect(report.engine).toBe('unicorn');
    expect(report.mismatches.map((m) => [m.virt, m.size, m.kind, m.actual.writable])).toEqual([
      ['0x402000', '0x1000', 'permissions', true],
      ['0xc0402000', '0x1000', 'permissions', true],
    ]);
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toContain(`unicorn ${UNICORN_EXPECTED_VERSION}`);
  });

  it('fails tables that leave its probe routine no page to run from, saying so as a violation (not bad input)', async () => {
    // Every executable page (text, locore) lies below 2 MiB: XD in that directory entry leaves none.
    const { json: run, text } = await verifyFlipped('ia32e-identity-perms', (input) => directoryEntryAbove(input, 0x104000n), 63, '-no-exec');
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(run.stdout) as { engine: string; violations: { level: string; message: string }[] };
    expect(report.engine).toBe('unicorn');
    expect(report.violations).toHaveLength(1);
    expect(report.violations[0]!.level).toBe('CR3');
    expect(report.violations[0]!.message).toMatch(/^the unicorn engine's probe routine could not run under these tables: none of the \d+ pages tried that the spec maps executable \(0x100000, .*\) executes at CPL 0/);
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toContain("the unicorn engine's probe routine could not run under these tables");
  });

  it('exits 2 on bad input, with one line and no stack trace', async () => {
    const name = 'pae-dual';
    const { elf } = files(name, engineInput(UNICORN_LAYOUTS[name]).tables);
    const run = await x86pt(['verify', '--engine', 'unicorn', '-k', elf, join(dir, 'missing.bin')]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('without the library, exits 2 naming the command that installs it (no fallback to the walker)', async () => {
    // The same CLI bundle in a package root that has no .local/python.
    const root = join(dir, 'bare-package');
    mkdirSync(join(root, 'dist'), { recursive: true });
    cpSync(CLI, join(root, 'dist', 'x86pt.mjs'));
    cpSync(join(dirname(CLI), 'chunks'), join(root, 'dist', 'chunks'), { recursive: true });
    writeFileSync(join(root, 'package.json'), '{"name": "x86pt", "type": "module"}');
    symlinkSync(join(dirname(CLI), '..', 'node_modules'), join(root, 'node_modules'));
    const name = 'ia32e-identity';
    const { elf, bin } = files(name, engineInput(UNICORN_LAYOUTS[name]).tables);
    const run = await execa('node', [join(root, 'dist', 'x86pt.mjs'), 'verify', '--engine', 'unicorn', '-k', elf, bin], { reject: false });
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/libunicorn\.so\.2.*missing.*npm run setup.*bash scripts\/setup\.sh python/);
  });
});
