import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CPU_PROFILES, emulatorProfileFor, walkOptionsFor } from '../src/engines/cpu.js';
import { DEVIATIONS, explainedBy, MATRIX_CHECKS, type DeviationContext } from '../src/engines/deviations.js';
import { expectBadInput, scratchDir, writeKernel, x86pt } from './support/cli.js';
import { engineInput, ENGINE_LAYOUTS } from './support/engine-layouts.js';

const dir = scratchDir('x86pt-engine-matrix-');
const PAE = ENGINE_LAYOUTS['pae-identity-perms'];

/** The PAE kernel and its tables from `gen`, with --compat (the reference's PDPTE bits 1-2 included) or without. */
async function paeFiles(compat: boolean): Promise<{ elf: string; bin: string }> {
  const name = compat ? 'pae-compat' : 'pae';
  const elf = writeKernel(dir, name, PAE);
  const bin = join(dir, `${name}.bin`);
  const run = await x86pt(['gen', '-k', elf, '-o', bin, ...(compat ? ['--compat'] : [])]);
  expect(run.exitCode).toBe(0);
  return { elf, bin };
}

describe('verify --engine bochs on gen --compat PAE tables', () => {
  it('fails (exit 1) with Bochs\'s own #GP at the PDPTE load, attributed to Bochs; the same kernel\'s own tables pass', async () => {
    const bad = await paeFiles(true);
    const run = await x86pt(['verify', '--engine', 'bochs', '-k', bad.elf, bad.bin, '--json']);
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; engine: string; violations: { level: string; message: string; engine?: string }[] };
    expect(report).toMatchObject({ ok: false, engine: 'bochs' });
    const own = report.violations.filter((v) => v.engine === 'bochs');
    expect(own.map((v) => v.level)).toEqual(['PDPTE']);
    expect(own[0]!.message).toMatch(/^bochs: #GP\(0\) at MOV to CR[03].* loading the PAE PDPTEs/);
    const good = await paeFiles(false);
    const clean = await x86pt(['verify', '--engine', 'bochs', '-k', good.elf, good.bin]);
    expect(clean.exitCode).toBe(0);
    expect(clean.stdout).toMatch(/^OK: .*engine bochs 2\.\d/);
  });
});

describe('verify --engine all', () => {
  it('prints one matrix: QEMU and Unicorn accept the compat PDPTEs (explained by the catalogue), the walker and Bochs fail them; exit 1; JSON and JUnit carry it', async () => {
    const bad = await paeFiles(true);
    const junit = join(dir, 'all.xml');
    const text = await x86pt(['verify', '--engine', 'all', '-k', bad.elf, bad.bin, '--junit', junit]);
    expect(text.exitCode).toBe(1);
    const row = text.stdout.split('\n').find((l) => l.startsWith('PAE PDPTE reserved bits'))!;
    expect(row.split(/\s{2,}/).slice(1)).toEqual(['FAIL', 'pass [1]', 'pass [2]', 'FAIL']);
    expect(text.stdout).toMatch(/\[1\] unicorn: tcg-pdpte-unchecked: /);
    expect(text.stdout).toMatch(/\[2\] qemu: tcg-pdpte-unchecked: /);
    const json = await x86pt(['verify', '--engine', 'all', '-k', bad.elf, bad.bin, '--json']);
    expect(json.exitCode).toBe(1);
    const mx = JSON.parse(json.stdout) as { ok: boolean; engines: { name: string }[]; disagreements: { engine: string; check: string; explainedBy: string | null }[]; findings: { engine: string; check: string }[] };
    expect(mx.ok).toBe(false);
    expect(mx.engines.map((e) => e.name)).toEqual(['walker', 'unicorn', 'qemu', 'bochs']);
    expect(mx.disagreements.filter((d) => d.check === 'pdpte-reserved')).toEqual([
      { engine: 'unicorn', check: 'pdpte-reserved', walker: 'fail', seen: 'pass', explainedBy: 'tcg-pdpte-unchecked' },
      { engine: 'qemu', check: 'pdpte-reserved', walker: 'fail', seen: 'pass', explainedBy: 'tcg-pdpte-unchecked' },
    ]);
    expect(mx.findings.filter((f) => f.engine !== 'walker')).toEqual([{ engine: 'bochs', check: 'pdpte-reserved', detail: expect.stringMatching(/bochs: #GP\(0\)/) as unknown }]);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testcase classname="x86pt.verify.bochs" name="bochs: PAE PDPTE reserved bits[^"]*"><failure /);
    expect(xml).toMatch(/name="qemu: PAE PDPTE reserved bits[^"]*"><system-out>pass, explained by tcg-pdpte-unchecked/);
  });

  it('passes (exit 0) generated tables every engine observes as specified, QEMU\'s accessed bit in the PDPTE explained', async () => {
    const good = await paeFiles(false);
    const run = await x86pt(['verify', '--engine', 'all', '-k', good.elf, good.bin, '--json']);
    expect(run.exitCode).toBe(0);
    const mx = JSON.parse(run.stdout) as { ok: boolean; disagreements: unknown[]; findings: unknown[]; engines: { error: string | null }[] };
    // QEMU's TCG sets bit 5 of the PAE PDPTE it walks: the one disagreement, and the catalogue's.
    expect(mx).toMatchObject({ ok: true, findings: [] });
    expect(mx.disagreements).toEqual([{ engine: 'qemu', check: 'tables-unchanged', walker: 'n/a', seen: 'fail', explainedBy: 'tcg-pdpte-accessed' }]);
    expect(mx.engines.map((e) => e.error)).toEqual([null, null, null, null]);
  });

  it('turns a failing cell no entry of its own engine explains into a finding: Bochs is never excused by the walker\'s gap', () => {
    const input = engineInput(ENGINE_LAYOUTS['ia32e-identity']);
    const ctx: DeviationContext = { input, cpu: CPU_PROFILES['ivy-bridge']!, pdpteReserved: false, pdpteAccessed: false, hasGiBPage: true };
    expect(explainedBy('walker', 'translation', ctx)?.id).toBe('walker-no-pdpe1gb');
    expect(explainedBy('qemu', 'translation', ctx)?.id).toBe('tcg-1g-without-pdpe1gb');
    for (const check of MATRIX_CHECKS) expect(explainedBy('bochs', check, ctx)).toBeNull();
    // With PDPE1GB the same tables excuse nobody.
    expect(explainedBy('qemu', 'translation', { ...ctx, cpu: CPU_PROFILES.tigerlake! })).toBeNull();
    expect(new Set(DEVIATIONS.map((d) => d.engine))).toEqual(new Set(['walker', 'unicorn', 'qemu']));
  });

  it('refuses --cpu names it does not know, and a MAXPHYADDR Bochs cannot model, in one line', async () => {
    const good = await paeFiles(false);
    expectBadInput(await x86pt(['verify', '--engine', 'bochs', '--cpu', 'pentium', '-k', good.elf, good.bin]), /--cpu.*'pentium' is invalid/);
    expectBadInput(await x86pt(['verify', '--engine', 'bochs', '--max-phys-addr', '46', '-k', good.elf, good.bin]), /^x86pt: bochs: Bochs checks physical addresses against 40 bits on every CPU model; it cannot model MAXPHYADDR 46$/);
    expect(emulatorProfileFor({ maxPhysAddr: 52, nxe: true, pse: true }).maxPhysAddr).toBe(40);
  });
});

describe('--cpu', () => {
  it('sets the walker\'s settings: XD is reserved on the atom profile (no NX), not on penryn', async () => {
    expect(walkOptionsFor(CPU_PROFILES.atom!)).toEqual({ maxPhysAddr: 40, nxe: false, pse: true });
    const kernel = ENGINE_LAYOUTS['ia32e-identity-perms'];
    const elf = writeKernel(dir, 'ia32e-perms', kernel);
    const bin = join(dir, 'ia32e-perms.bin');
    expect((await x86pt(['gen', '-k', elf, '-o', bin])).exitCode).toBe(0);
    expect((await x86pt(['verify', '--cpu', 'penryn', '-k', elf, bin])).exitCode).toBe(0);
    const atom = await x86pt(['verify', '--cpu', 'atom', '-k', elf, bin]);
    expect(atom.exitCode).toBe(1);
    expect(atom.stdout).toMatch(/XD with IA32_EFER\.NXE = 0/);
  });
});

describe('tables untouched by probing', () => {
  it('a good PAE PDPTE after the walks: QEMU sets bit 5 (0x21), Unicorn and Bochs leave it; nobody changes more than A/D', async () => {
    const { createQemuEngine } = await import('../src/engines/qemu/engine.js');
    const { createUnicornEngine } = await import('../src/engines/unicorn/engine.js');
    const { createBochsEngine } = await import('../src/engines/bochs/engine.js');
    const input = engineInput(PAE);
    const reports = [await (await createQemuEngine()).run(input), await (await createUnicornEngine()).run(input), await (await createBochsEngine(CPU_PROFILES.tigerlake!)).run(input)];
    const changes = reports.map((r) => (r as unknown as { tableChanges: { kind: string; before: bigint; after: bigint }[] }).tableChanges);
    const [qemu, unicorn, bochs] = changes as [typeof changes[0], typeof changes[0], typeof changes[0]];
    expect(qemu.filter((c) => c.kind === 'pdpte-accessed')).toHaveLength(1);
    expect(qemu.filter((c) => c.kind === 'pdpte-accessed').every((c) => (c.after ^ c.before) === 0x20n)).toBe(true);
    // Unicorn's memory is read back whole: the walks' A/D bits show; the stub lists none for Bochs here (PDPTEs have no A, Bochs sets none).
    expect(unicorn.length).toBeGreaterThan(0);
    expect(unicorn.every((c) => c.kind === 'architectural')).toBe(true);
    expect(bochs).toEqual([]);
    expect(qemu.every((c) => c.kind !== 'finding')).toBe(true);
  });
});
