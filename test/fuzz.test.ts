/**
 * Property-based fuzzing of layouts: the arbitraries reach the edges, x86pt's
 * generator satisfies every property on a fixed-seed campaign, each property
 * catches the kind of bug it is for, counterexamples shrink and replay, and
 * `x86pt fuzz` behaves as documented. X86PT_LONG_FUZZ=1 runs the same tests
 * on campaigns fifty times longer.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { createWalkerEngine } from '../src/engines/walker.js';
import type { Engine, EngineInput, EngineReport, PagingMode } from '../src/verify/model.js';
import { SEED_REFUSAL_RULES, specFromSymbols } from '../src/verify/spec.js';
import { layoutArbitrary } from '../src/fuzz/arbitraries.js';
import { drawLayouts, runCampaign, type CampaignOptions } from '../src/fuzz/campaign.js';
import { commandGenerator, inProcessGenerator, splitCommand, type TableGenerator } from '../src/fuzz/generators.js';
import { layoutElf, layoutSymbolMap, type SeedFuzzLayout as FuzzLayout } from '../src/fuzz/layout.js';
import { evaluateLayout, type EngineResult } from '../src/fuzz/properties.js';
import { CLI, scratchDir, x86pt } from './support/cli.js';
import { PLANTED } from './support/fuzz-generators.js';

const LONG = process.env.X86PT_LONG_FUZZ === '1';
/** Campaigns run SCALE times longer in the long run; samples of the arbitraries grow less (they are held in memory). */
const SCALE = LONG ? 50 : 1;
const SAMPLE_SCALE = LONG ? 10 : 1;
if (LONG) vi.setConfig({ testTimeout: 60 * 60_000 });
const SEED = 0x86f022;
const ALL_MODES: readonly PagingMode[] = ['32bit', 'pae', 'ia32e'];

const walker = await createWalkerEngine();

function campaign(generator: TableGenerator, overrides: Partial<CampaignOptions> = {}): CampaignOptions {
  return {
    modes: ALL_MODES, runs: 1000, seed: SEED, shrinkBudget: 500, generator, engine: walker,
    determinism: true, ignore: new Set(), ...overrides,
  };
}

const ramEnd = (l: FuzzLayout): bigint => l.kernel.sramBase + l.kernel.sramSizeKiB * 1024n;
const identityEnd = (l: FuzzLayout): bigint => (l.kernel.mode === 'ia32e' ? 1n << 47n : 1n << 32n);
const crosses = (l: FuzzLayout, unit: bigint): boolean => l.kernel.sramBase / unit !== (ramEnd(l) - 1n) / unit;
const regions = (l: FuzzLayout) => Object.values(l.kernel.regions ?? {});

describe('layout arbitraries', () => {
  const samples = fc.sample(layoutArbitrary({ modes: ALL_MODES }), { seed: SEED, numRuns: 6000 * SAMPLE_SCALE });
  const judged = samples.map((layout) => ({ layout, spec: specFromSymbols(layoutSymbolMap(layout)) }));
  const valid = judged.filter((j) => j.spec.valid).map((j) => j.layout);

  it('always make an ELF the writer accepts (every value fits the class)', () => {
    for (const layout of samples) expect(() => layoutElf(layout)).not.toThrow();
  });

  it('draw valid layouts mostly, and layouts breaking each refusal rule of the policy', () => {
    expect(valid.length / samples.length).toBeGreaterThan(0.5);
    expect(valid.length / samples.length).toBeLessThan(0.8);
    const rules = new Set(judged.flatMap((j) => (j.spec.valid ? [] : j.spec.rules)));
    expect([...rules].sort()).toEqual([...SEED_REFUSAL_RULES].sort());
  });

  it('reach the edges: page 0, the ends of RAM and of the address space, every paging boundary', () => {
    const small = valid.filter((l) => l.kernel.sramSizeKiB <= 64n * 4n);
    const seen: Record<string, number> = {
      'RAM at page 0': valid.filter((l) => l.kernel.sramBase === 0n).length,
      'RAM ending where the mode stops': valid.filter((l) => ramEnd(l) === identityEnd(l)).length,
      'small RAM across 2 MiB': small.filter((l) => crosses(l, 2n << 20n)).length,
      'small RAM across 4 MiB (32-bit)': small.filter((l) => l.kernel.mode === '32bit' && crosses(l, 4n << 20n)).length,
      'small RAM across 1 GiB': small.filter((l) => crosses(l, 1n << 30n)).length,
      'small RAM across 512 GiB (IA-32e)': small.filter((l) => l.kernel.mode === 'ia32e' && crosses(l, 512n << 30n)).length,
      'high-half dual window': valid.filter((l) => (l.kernel.kernelVmBase ?? 0n) >= 0xffff800000000000n).length,
      'dual window in 32-bit and PAE': valid.filter((l) => l.kernel.mode !== 'ia32e' && l.kernel.kernelVmBase !== undefined).length,
      'XIP flash at page 0': valid.filter((l) => l.kernel.xip?.flashBase === 0n).length,
      'XIP flash right after RAM': valid.filter((l) => l.kernel.xip?.flashBase === ramEnd(l)).length,
      'a region on the first page of RAM': valid.filter((l) => regions(l).some((r) => r.start === l.kernel.sramBase && r.size > 0n)).length,
      'a region on the last page of RAM': valid.filter((l) => regions(l).some((r) => r.start + r.size === ramEnd(l) && r.size > 0n)).length,
      'a region at page 0': valid.filter((l) => regions(l).some((r) => r.start === 0n && r.size > 0n)).length,
      'a region through the dual window': valid.filter((l) => l.kernel.kernelVmBase !== undefined && regions(l).some((r) => r.start >= l.kernel.kernelVmBase!)).length,
      'KPTI with locore (IA-32e)': valid.filter((l) => l.kernel.mode === 'ia32e' && l.kernel.kpti && l.kernel.regionPermissions).length,
      'gcov with userspace': valid.filter((l) => l.kernel.coverageGcov && l.kernel.userspace && l.kernel.regionPermissions).length,
      'RAM of 256 MiB or more': valid.filter((l) => l.kernel.sramSizeKiB >= 256n * 1024n).length,
    };
    for (const [what, count] of Object.entries(seen)) expect(count, what).toBeGreaterThan(0);
    // Most cases stay small, so that a campaign stays fast.
    expect(valid.filter((l) => l.kernel.sramSizeKiB * 1024n <= 16n << 20n).length / valid.length).toBeGreaterThan(0.9);
    // Regions across RAM's edges appear too (refused unless something else maps the pages).
    const across = samples.filter((l) => regions(l).some((r) => r.start < l.kernel.sramBase && r.start + r.size > l.kernel.sramBase));
    expect(across.length).toBeGreaterThan(0);
  });

  it('number layouts the way fast-check numbers its runs, so a path replays a layout', () => {
    const arbitrary = layoutArbitrary({ modes: ALL_MODES });
    const sequence = fc.sample(arbitrary, { seed: SEED, numRuns: 300 });
    expect(drawLayouts(arbitrary, SEED, 0, 300)).toEqual(sequence);
    expect(drawLayouts(arbitrary, SEED, 257, 7)).toEqual(sequence.slice(257, 264));
  });

  it('draw only the modes asked for', () => {
    for (const mode of ALL_MODES) {
      const layouts = fc.sample(layoutArbitrary({ modes: [mode] }), { seed: SEED, numRuns: 200 });
      expect(new Set(layouts.map((l) => l.kernel.mode))).toEqual(new Set([mode]));
    }
  });
});

describe("x86pt's generator under every property", () => {
  it('passes a fixed-seed campaign in all three modes: accepts exactly what the spec accepts, tables exact and minimal', async () => {
    const runs = 3000 * SCALE;
    const result = await runCampaign(campaign(inProcessGenerator(), { runs }));
    expect(result.counterexample?.finding.summary).toBeUndefined();
    const { stats } = result;
    expect(stats.layouts).toBe(runs);
    expect(stats.generatorWrote).toBe(stats.valid);
    expect(stats.generatorRefused).toBe(stats.refused);
    expect(Object.keys(stats.refusedByRule).sort()).toEqual([...SEED_REFUSAL_RULES].sort());
    for (const mode of ALL_MODES) expect(stats.byMode[mode]).toBeGreaterThan(runs / 5);
  });

  it('--compat is caught in PAE for the PDPTE reserved bits, and only there', async () => {
    const pae = await runCampaign(campaign(inProcessGenerator({ compat: true }), { modes: ['pae'], runs: 200 * SCALE }));
    expect(pae.counterexample?.finding.kind).toBe('violation');
    expect(pae.counterexample?.finding.summary).toMatch(/PDPTE .*reserved bits 1-2/);
    const others = await runCampaign(campaign(inProcessGenerator({ compat: true }), { modes: ['32bit', 'ia32e'], runs: 500 * SCALE }));
    expect(others.counterexample).toBeUndefined();
  });
});

describe('each property catches its kind of bug', () => {
  for (const [name, { generator, finds }] of Object.entries(PLANTED)) {
    it(`${name}: ${finds}`, async () => {
      const result = await runCampaign(campaign(generator, { runs: 2000 * SCALE, shrinkBudget: 100 }));
      expect(result.counterexample?.finding.kind).toBe(finds);
      // Found early, and the shrunk case still fails the same way.
      expect(result.stats.layouts).toBeLessThan(300);
    });
  }

  it('a refusal that leaves a file behind, or exits with the wrong status, is a finding', async () => {
    const layout = fc.sample(layoutArbitrary({ modes: ['32bit'] }), { seed: SEED, numRuns: 200 })
      .find((l) => !specFromSymbols(layoutSymbolMap(l)).valid)!;
    const refusing: TableGenerator = {
      description: 'refuses untidily',
      generate: async () => ({ kind: 'refused', exitCode: 1, message: 'no', leftovers: [{ name: 'tables.bin', bytes: 0 }] }),
    };
    const report = await evaluateLayout(layout, { generator: refusing, engine: walker, determinism: false, ignore: new Set(), refusalExit: 2 });
    expect(report.findings.map((f) => f.kind)).toEqual(['wrote-on-refusal', 'refusal-exit']);
    const tolerant = await evaluateLayout(layout, { generator: refusing, engine: walker, determinism: false, ignore: new Set(['wrote-on-refusal']) });
    expect(tolerant.findings).toEqual([]);
    expect(tolerant.ignored.map((f) => f.kind)).toEqual(['wrote-on-refusal']);
  });
});

describe('engines', () => {
  /** The walker under another name, so that the campaign treats it as an emulator. */
  const emulator = (name: string, change: (report: EngineReport) => EngineReport = (r) => r): Engine => ({
    name,
    async run(input) {
      return change({ ...(await walker.run(input)), engine: name });
    },
  });

  it('a batch engine gets the accepted cases in batches; a case it cannot host is judged by the walker', async () => {
    const batches: number[] = [];
    let unhosted = 0;
    const inner = emulator('batch');
    const engine: Engine & { runBatch(inputs: readonly EngineInput[]): Promise<EngineResult[]> } = {
      ...inner,
      async runBatch(inputs) {
        batches.push(inputs.length);
        return Promise.all(inputs.map(async (input, i): Promise<EngineResult> => {
          if (i % 5 === 0) {
            unhosted++;
            return { ok: false, error: new InputError('cannot host this one') };
          }
          return { ok: true, report: await inner.run(input) };
        }));
      },
    };
    const result = await runCampaign(campaign(inProcessGenerator(), { engine, runs: 300 }));
    expect(result.counterexample).toBeUndefined();
    expect(batches.length).toBeGreaterThan(1);
    expect(Math.max(...batches)).toBeLessThanOrEqual(32);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(result.stats.valid);
    expect(result.stats.engineFallbacks).toBe(unhosted);

    const buggy = await runCampaign(campaign(PLANTED['last page lost']!.generator, { engine, runs: 300 }));
    expect(buggy.counterexample?.finding.kind).toBe('translation');
  });

  it("an emulator's mismatch the walker does not see is an engine disagreement, not a generator bug", async () => {
    const dropsFirstRange = emulator('dropper', (r) => ({ ...r, actual: r.actual.slice(1) }));
    const result = await runCampaign(campaign(inProcessGenerator(), { engine: dropsFirstRange, runs: 300 }));
    expect(result.counterexample?.finding.kind).toBe('engine-disagreement');
    expect(result.counterexample?.finding.summary).toMatch(/^engine dropper sees 1 mismatch with the spec, .*; the SDM walker sees none$/);
    const real = await runCampaign(campaign(PLANTED['KPTI ignored']!.generator, { engine: emulator('honest'), runs: 300 }));
    expect(real.counterexample?.finding.kind).toBe('translation');
  });
});

describe('counterexamples', () => {
  it('shrink to a minimal layout failing the same way, and replay from their path', async () => {
    const { generator } = PLANTED['last page lost']!;
    const options = campaign(generator, { modes: ['ia32e', '32bit'], runs: 1000 });
    const found = await runCampaign(options);
    const cx = found.counterexample!;
    expect(cx.finding.kind).toBe('translation');
    expect(cx.path.startsWith(`${cx.original.path}:`)).toBe(true);
    // Two pages of RAM (one page less would leave none), at 1 MiB, in the first mode, nothing else going on.
    const layout = cx.report.layout;
    if (layout.era) throw new Error('a seed campaign drew an era layout');
    const k = layout.kernel;
    expect({ mode: k.mode, base: k.sramBase, kib: k.sramSizeKiB, dual: k.kernelVmBase, xip: k.xip, omit: layout.omit })
      .toEqual({ mode: 'ia32e', base: 0x100000n, kib: 8n, dual: undefined, xip: undefined, omit: [] });
    expect(cx.finding.summary).toMatch(/^1 mismatch with the spec, the first at 0x101000 \(missing, 1 page\)/);

    const replayed = await runCampaign({ ...options, path: cx.path });
    expect(replayed.counterexample?.report.layout).toEqual(cx.report.layout);
    expect(replayed.counterexample?.path).toBe(cx.path);
    expect(replayed.counterexample?.shrinks).toBe(0);
  });

  it('a replayed path that passes says so', async () => {
    const result = await runCampaign(campaign(inProcessGenerator(), { path: '17' }));
    expect(result.replayPassed).toBe(true);
    expect(result.counterexample).toBeUndefined();
  });

  it('shrinking stays within its budget', async () => {
    const { generator } = PLANTED['last page lost']!;
    const result = await runCampaign(campaign(generator, { shrinkBudget: 3 }));
    expect(result.counterexample!.shrinkRuns).toBeLessThanOrEqual(4);
    expect(result.counterexample!.finding.kind).toBe('translation');
  });
});

describe('external generators', () => {
  const work = scratchDir('x86pt-fuzz-');

  it('split command templates like a shell, without one', () => {
    expect(splitCommand(`python3 "my gen.py" -k {kernel} -o '{output}' a\\ b`)).toEqual(['python3', 'my gen.py', '-k', '{kernel}', '-o', '{output}', 'a b']);
    expect(splitCommand(`sh -c 'echo "it''s"' ""`)).toEqual(['sh', '-c', 'echo "its"', '']);
    expect(() => splitCommand(`gen 'open`)).toThrow(InputError);
    expect(() => commandGenerator('gen -k {kernel}', { timeoutMs: 1000, workDir: work })).toThrow(/no \{output\}/);
  });

  it("x86pt's own CLI, run as an external generator, refuses with exit 2 and writes nothing", async () => {
    const generator = commandGenerator(`node ${CLI} gen -k {kernel} -o {output}`, { timeoutMs: 30_000, workDir: work });
    const result = await runCampaign(campaign(generator, { runs: 40 * SCALE, refusalExit: 2 }));
    expect(result.counterexample?.finding.summary).toBeUndefined();
    expect(result.stats.generatorRefused).toBeGreaterThan(0);
    expect(result.stats.generatorWrote).toBeGreaterThan(0);
  });

  const oneLayout = fc.sample(layoutArbitrary({ modes: ['32bit'] }), { seed: SEED, numRuns: 1 })[0]!;
  const judge = (template: string, timeoutMs = 10_000) =>
    evaluateLayout(oneLayout, { generator: commandGenerator(template, { timeoutMs, workDir: work }), engine: walker, determinism: false, ignore: new Set() });

  it('a generator that hangs is stopped at --timeout and reported', async () => {
    const report = await judge(`node -e "setTimeout(() => {}, 60000)" {kernel} {output}`, 300);
    expect(report.outcome.kind).toBe('timeout');
    expect(report.findings[0]?.kind).toBe('timeout');
  });

  it('a generator killed by a signal is a crash', async () => {
    const report = await judge(`node -e "process.kill(process.pid, 'SIGSEGV')" {kernel} {output}`);
    expect(report.findings[0]?.kind).toBe('crash');
    expect(report.findings[0]?.summary).toMatch(/SIGSEGV/);
  });

  it('exit 0 without output is a crash; a program that cannot start is bad usage', async () => {
    expect((await judge('node -e "" {kernel} {output}')).findings[0]?.kind).toBe('crash');
    await expect(judge(`${join(work, 'no-such-generator')} {kernel} {output}`)).rejects.toThrow(InputError);
  });
});

describe('x86pt fuzz', () => {
  const work = scratchDir('x86pt-fuzz-cli-');

  it('--help lists the options and the finding kinds', async () => {
    const r = await x86pt(['fuzz', '--help']);
    expect(r.exitCode).toBe(0);
    for (const option of ['--runs', '--seed', '--path', '--modes', '--generator', '--timeout', '--engine', '--save', '--ignore', '--refusal-exit', '--shrink-budget']) {
      expect(r.stdout).toContain(option);
    }
    for (const kind of ['accepted-refused', 'rejected-valid', 'translation', 'violation', 'structure', 'nondeterministic']) expect(r.stdout).toContain(kind);
  });

  it.each([
    [['--modes', '16bit'], /--modes: unknown paging mode '16bit'/],
    [['--runs', '0'], /--runs: '0' is not a whole number/],
    [['--seed', 'abc'], /--seed: 'abc' is not a 32-bit integer/],
    [['--path', '3:1'], /--path needs the --seed/],
    [['--seed', '1', '--path', '3;1'], /--path: '3;1' is not a fast-check path/],
    [['--ignore', 'typos'], /--ignore: unknown finding kind 'typos'/],
    [['--engine', 'simics'], /--engine: unknown engine 'simics'/],
    [['--generator', 'gen -k {kernel}'], /--generator: .* has no \{output\}/],
    [['--generator', 'gen -k {kernel} -o {output}', '--compat'], /--compat applies to the in-process generator/],
    [['--generator', '/nonexistent/gen -k {kernel} -o {output}'], /--generator: cannot run \/nonexistent\/gen/],
  ])('bad usage %j exits 2 with one line', async (args, message) => {
    const r = await x86pt(['fuzz', '--runs', '5', ...args]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('a clean campaign exits 0 with a summary (no progress bar off a terminal)', async () => {
    const r = await x86pt(['fuzz', '--runs', '300', '--seed', '42']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^x86pt fuzz: 300 layouts in [\d.]+ s \(\d+\/s\), seed 42, modes 32bit,pae,ia32e\n/);
    expect(r.stdout).toMatch(/the policy accepts \d+, refuses \d+ \(by rule [a-z0-9-]+: \d+(, [a-z0-9-]+: \d+)*\)/);
    expect(r.stdout).toMatch(/(rule |, )symbol-missing: \d+/);
    expect(r.stdout).toMatch(/\nno counterexample$/);
  });

  it('a counterexample exits 1, shrunk, with a command that reproduces it and the files to look at', async () => {
    const dir = join(work, 'cx');
    const r = await x86pt(['fuzz', '--runs', '100', '--seed', '9', '--modes', 'pae', '--compat', '--save', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/COUNTEREXAMPLE \(violation\): .*PDPTE .*reserved bits 1-2/);
    expect(r.stdout).toMatch(/seed 9, path [\d:]+; shrunk from path \d+ in \d+ steps/);
    expect(r.stdout).toContain('CONFIG_X86_PAE = 0x1');
    const command = /^reproduce: (x86pt fuzz .*)$/m.exec(r.stdout)![1]!;
    expect(command).toMatch(/^x86pt fuzz --seed 9 --path [\d:]+ --modes pae --compat$/);

    for (const file of ['kernel.elf', 'tables.bin', 'report.txt']) expect(existsSync(join(dir, file)), file).toBe(true);
    expect(readFileSync(join(dir, 'report.txt'), 'utf8')).toContain(command);
    const verified = await x86pt(['verify', '-k', join(dir, 'kernel.elf'), join(dir, 'tables.bin')]);
    expect(verified.exitCode).toBe(1);
    expect(verified.stdout).toMatch(/PDPTE 0 at 0x[0-9a-f]+: reserved bits 1-2 set/);

    const replay = await x86pt(splitCommand(command).slice(1));
    expect(replay.exitCode).toBe(1);
    expect(replay.stdout).toContain('not shrunk further');
    const layoutOf = (out: string) => out.slice(out.indexOf('layout:'), out.indexOf('evidence:'));
    expect(layoutOf(replay.stdout)).toBe(layoutOf(r.stdout));
  });

  it.each([
    ['unicorn', '30'],
    ['qemu', '24'],
  ])('--engine %s observes the tables in an emulator (cases it cannot host go to the walker)', async (engine, runs) => {
    const r = await x86pt(['fuzz', '--engine', engine, '--runs', runs, '--seed', '4', '--modes', '32bit,pae']);
    expect(r.stdout).toContain(`engine: ${engine}`);
    expect(r.stdout).toMatch(/no counterexample$/);
    expect(r.exitCode).toBe(0);
  });

  it('--engine unicorn finds a planted bug too', async () => {
    const plant = join(import.meta.dirname, 'support', 'mutants', 'plant.mjs');
    const r = await x86pt([
      'fuzz', '--engine', 'unicorn', '--runs', '100', '--seed', '3', '--modes', '32bit,ia32e', '--shrink-budget', '4',
      '--generator', `node ${plant} rodata-writable -k {kernel} -o {output}`,
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^COUNTEREXAMPLE \(translation\): .*\(permissions, /m);
  });

  it('--ignore lets a campaign look past a known kind of finding, and tallies it', async () => {
    const r = await x86pt(['fuzz', '--runs', '60', '--seed', '9', '--modes', 'pae', '--compat', '--ignore', 'violation,translation']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/ignored findings: violation \d+, translation \d+/);
  });
});
