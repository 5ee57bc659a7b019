import { describe, expect, it } from 'vitest';
import { scratchDir, writeKernelAndTables, x86pt } from './support/cli.js';
import { engineInput, withEntryBit } from './support/engine-layouts.js';
import { directoryEntryAbove, entriesPointingAt, QEMU_LAYOUTS } from './support/qemu-layouts.js';
import { generate } from './support/verify-kernels.js';

const dir = scratchDir('x86pt-qemu-cli-');

const files = (name: string, tables: Uint8Array, kernel = QEMU_LAYOUTS[name]!) => writeKernelAndTables(dir, name, kernel, tables);

describe('x86pt verify --engine qemu', () => {
  it('passes generated high-half tables and names QEMU and its version', async () => {
    const name = 'ia32e-high-half-perms';
    const { elf, bin } = files(name, engineInput(QEMU_LAYOUTS[name]!).tables);
    const run = await x86pt(['verify', '--engine', 'qemu', '-k', elf, bin, '--json']);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const report = JSON.parse(String(run.stdout)) as Record<string, unknown>;
    expect(report).toMatchObject({ ok: true, engine: 'qemu', mode: 'ia32e', mismatches: [], violations: [] });
    expect(report.version).toMatch(/^\d+\.\d+/);
  });

  it('fails a leaf mutant with the mismatch QEMU observed', async () => {
    const name = 'pae-dual-perms';
    const input = engineInput(QEMU_LAYOUTS[name]!);
    const [offset] = entriesPointingAt(input, 0x140000n);
    const { elf, bin } = files(`${name}-read-only`, withEntryBit(input, offset!, 1).tables, QEMU_LAYOUTS[name]);
    const run = await x86pt(['verify', '--engine', 'qemu', '-k', elf, bin, '--json']);
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(String(run.stdout)) as { mismatches: { virt: string; size: string; kind: string }[] };
    expect(report.mismatches.map((m) => [m.virt, m.size, m.kind])).toEqual([
      ['0x140000', '0x1000', 'permissions'],
      ['0x80140000', '0x1000', 'permissions'],
    ]);
  });

  it("runs the reference's PAE bytes (QEMU ignores PDPTE reserved bits) and still fails them on the walker's violations", async () => {
    const name = 'pae-identity-perms';
    const compat = generate(QEMU_LAYOUTS[name]!, true).bytes;
    const { elf, bin } = files(`${name}-compat`, compat, QEMU_LAYOUTS[name]);
    const run = await x86pt(['verify', '--engine', 'qemu', '-k', elf, bin, '--json']);
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(String(run.stdout)) as { mismatches: unknown[]; violations: { level: string }[] };
    expect(report.mismatches).toEqual([]);
    expect(report.violations.length).toBeGreaterThan(0);
    expect(report.violations.every((v) => v.level === 'PDPTE')).toBe(true);
  });

  it('fails tables that leave its stub no page to run from, saying so as a violation (not bad input)', async () => {
    const name = 'ia32e-identity-perms';
    const input = engineInput(QEMU_LAYOUTS[name]!);
    // Every executable page (text, locore) lies below 2 MiB: XD in that directory entry leaves none.
    const mutant = withEntryBit(input, directoryEntryAbove(input, 0x104000n), 63);
    const { elf, bin } = files(`${name}-no-exec`, mutant.tables, QEMU_LAYOUTS[name]);
    const run = await x86pt(['verify', '--engine', 'qemu', '-k', elf, bin, '--json']);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(String(run.stdout)) as { engine: string; violations: { level: string; message: string }[] };
    expect(report.engine).toBe('qemu');
    expect(report.violations.map((v) => v.level)).toEqual(['CR3']);
    expect(report.violations[0]!.message).toMatch(/^the QEMU stub could not run under these tables \(code at virtual 0x[0-9a-f]+ .*\): the guest triple-faulted/);
  });

  it('ends with one line and exit 2, naming what timed out, when QEMU does not finish in the time it is given', async () => {
    const name = 'ia32e-identity-perms';
    const { elf, bin } = files(`${name}-slow`, engineInput(QEMU_LAYOUTS[name]!).tables, QEMU_LAYOUTS[name]);
    const run = await x86pt(['verify', '--engine', 'qemu', '-k', elf, bin], { X86PT_QEMU_TIMEOUT_MS: '1' });
    expect(run.exitCode).toBe(2);
    expect(String(run.stdout)).toBe('');
    const lines = String(run.stderr).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/qemu: QEMU did not finish within 1 ms \(its budget for 1 case: \d+ pages probed, \d+ signed, \d+ listed by its MMU\) while (booting for|probing) case 1 of 1$/);
  });

  it('exits 2 with one line, its reason code first, when QEMU cannot host the layout (RAM only in the device hole)', async () => {
    const kernel = { mode: 'pae', sramBase: 0xc0000000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n } as const;
    const { elf, bin } = files('beyond-3gib', engineInput(kernel).tables, kernel);
    const run = await x86pt(['verify', '--engine', 'qemu', '-k', elf, bin]);
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toBe('');
    const lines = String(run.stderr).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^x86pt: .*beyond-3gib\.elf: .*mmio-hole: .*device hole 0xc0000000-0x100000000/);
  });
});
