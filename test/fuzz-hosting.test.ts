/**
 * What a campaign says about its engine: the layouts it hosted, those it
 * could not by reason code (in the text summary, the JSON report and merged
 * reports), and the pages it probed under which plan; and `--workers`, whose
 * chunks, dealt in any order to any number of judges, give the result of one
 * process.
 */
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { EngineFailure } from '../src/engines/probe/failure.js';
import { createWalkerEngine } from '../src/engines/walker.js';
import { campaignFromChunks, chunkJudge, drawLayouts, runCampaign, type CampaignOptions } from '../src/fuzz/campaign.js';
import { layoutArbitrary } from '../src/fuzz/arbitraries.js';
import { inProcessGenerator, type TableGenerator } from '../src/fuzz/generators.js';
import { engineInputOf, prepareCase } from '../src/fuzz/properties.js';
import { campaignSummary } from '../src/fuzz/report.js';
import { mergeShardReports, mergedSummary, shardReport } from '../src/fuzz/shards.js';
import { chunkSize, defaultWorkers, workerArguments } from '../src/fuzz/workers.js';
import { HostingRefusal, type Engine, type PagingMode } from '../src/verify/model.js';
import { PLANTED } from './support/fuzz-generators.js';
import { scratchDir, x86pt } from './support/cli.js';

const walker = await createWalkerEngine();
const MODES = ['32bit', 'pae', 'ia32e'] as const;
const SEED = 23;
const RUNS = 120;

/**
 * An engine that hosts 32-bit layouts only (observing them as the walker
 * does, on a made-up sampled plan of 3 pages of 4), refuses IA-32e ones with
 * a reason code and PAE ones with a bare InputError.
 */
const picky: Engine = {
  name: 'picky',
  async run(input) {
    if (input.mode === 'ia32e') throw new HostingRefusal('phys-above-maxphyaddr', `tables at 0x${input.tablesPhys.toString(16)}: beyond reach`);
    if (input.mode === 'pae') throw new InputError('no free page for the harness');
    return { ...(await walker.run(input)), engine: 'picky', probe: { plan: 'sampled', seed: 9, pagesProbed: 3, fullPageCount: 4 } };
  },
};

function campaign(overrides: Partial<CampaignOptions> = {}): CampaignOptions {
  return { modes: MODES, runs: RUNS, seed: SEED, shrinkBudget: 30, generator: inProcessGenerator(), engine: picky, determinism: false, ignore: new Set(), ...overrides };
}

/** Layouts of the campaign that reach an engine (accepted, with a table block), by mode: counted apart from the campaign. */
async function withTablesByMode(): Promise<Record<PagingMode, number>> {
  const counts: Record<PagingMode, number> = { '32bit': 0, pae: 0, ia32e: 0 };
  const context = campaign();
  for (const layout of drawLayouts(layoutArbitrary({ modes: MODES }), SEED, 0, RUNS)) {
    const input = engineInputOf(await prepareCase(layout, context));
    if (input) counts[input.mode]++;
  }
  return counts;
}

const settings = { seed: SEED, modes: MODES, engine: 'picky', ignore: [], determinism: false };

describe('unhosted layouts counted per reason code', () => {
  it('a batch whose boot fails as a whole is run case by case: only the case that fails is charged, as engine-failed', async () => {
    const expected = await withTablesByMode();
    let batches = 0;
    // Boots every case of a batch at once; a PAE case kills the whole boot, and alone it kills its own.
    const batching: Engine = {
      name: 'batching',
      async run(input) {
        if (input.mode === 'pae') throw new EngineFailure('batching', 'did not finish');
        return walker.run(input);
      },
      async runBatch(inputs) {
        batches++;
        if (inputs.some((input) => input.mode === 'pae')) throw new EngineFailure('batching', 'did not finish in a batch');
        return Promise.all(inputs.map(async (input) => ({ ok: true as const, report: await walker.run(input) })));
      },
    };
    const result = await runCampaign(campaign({ engine: batching }));
    expect(batches).toBeGreaterThan(0);
    expect(result.counterexample).toBeUndefined();
    expect(result.stats.unhostedByReason).toEqual({ 'engine-failed': expected.pae });
    expect(result.stats.engineHosted).toBe(expected['32bit'] + expected.ia32e);
    expect(result.stats.unhostedExample['engine-failed']).toBe('batching: did not finish');
  });

  it('counts each refusal under its code (the default for a bare InputError), and the hosted ones', async () => {
    const expected = await withTablesByMode();
    expect(expected.ia32e).toBeGreaterThan(0);
    expect(expected.pae).toBeGreaterThan(0);
    const result = await runCampaign(campaign());
    expect(result.counterexample).toBeUndefined();
    const stats = result.stats;
    expect(stats.unhostedByReason).toEqual({ 'phys-above-maxphyaddr': expected.ia32e, 'cannot-host': expected.pae });
    expect(stats.engineFallbacks).toBe(expected.ia32e + expected.pae);
    expect(stats.engineHosted).toBe(expected['32bit']);
    expect(stats.unhostedExample['phys-above-maxphyaddr']).toMatch(/^picky: tables at 0x[0-9a-f]+: beyond reach$/);
    expect(stats.unhostedExample['cannot-host']).toBe('picky: no free page for the harness');
    expect(stats.probed).toEqual({ pages: 3 * expected['32bit'], fullPages: 4 * expected['32bit'], casesByPlan: { sampled: expected['32bit'] }, seeds: [9] });

    const text = campaignSummary(result, settings, 'x86pt gen');
    const total = expected['32bit'] + expected.pae + expected.ia32e;
    expect(text).toContain(`the engine hosted ${expected['32bit']} of ${total} layouts with tables`);
    expect(text).toContain(`phys-above-maxphyaddr: ${expected.ia32e}`);
    expect(text).toContain(`cannot-host: ${expected.pae}`);
    expect(text).toMatch(/\n {4}cannot-host, e\.g\.: picky: no free page for the harness\n/);
    expect(text).toContain(`pages probed: ${3 * expected['32bit']} of ${4 * expected['32bit']} (75.0%), plan sampled for ${expected['32bit']} layouts (seed 9)`);

    const json = JSON.parse(JSON.stringify(shardReport(result, { runs: RUNS, modes: MODES, engine: 'picky' })));
    expect(json.stats.unhostedByReason).toEqual(stats.unhostedByReason);
    expect(json.stats.probed).toEqual(stats.probed);
  });

  it('merged shard reports count the same per reason as the whole campaign, and say so', async () => {
    const whole = await runCampaign(campaign());
    const parts = [];
    for (const index of [1, 0]) {
      const shard = { index, count: 2 };
      parts.push({ ...shardReport(await runCampaign(campaign({ shard })), { runs: RUNS, modes: MODES, engine: 'picky', shard }), file: `s${index}.json` });
    }
    const merged = mergeShardReports(parts);
    expect(merged.stats.unhostedByReason).toEqual(whole.stats.unhostedByReason);
    expect(merged.stats.engineHosted).toBe(whole.stats.engineHosted);
    expect(merged.stats.probed).toEqual(whole.stats.probed);
    const text = mergedSummary(merged);
    expect(text).toContain(`phys-above-maxphyaddr: ${whole.stats.unhostedByReason['phys-above-maxphyaddr']}`);
    expect(text).toContain('pages probed:');
  });

  it('merges a report written before reasons were counted (no reason fields) with one that has them', async () => {
    const shard = (index: number) => ({ index, count: 2 });
    const a = shardReport(await runCampaign(campaign({ shard: shard(0) })), { runs: RUNS, modes: MODES, engine: 'picky', shard: shard(0) });
    const b = shardReport(await runCampaign(campaign({ shard: shard(1) })), { runs: RUNS, modes: MODES, engine: 'picky', shard: shard(1) });
    const { unhostedByReason: _r, unhostedExample: _e, probed: _p, engineHosted: _h, ...old } = a.stats;
    const merged = mergeShardReports([{ ...a, stats: old as typeof a.stats, file: 'a.json' }, { ...b, file: 'b.json' }]);
    expect(merged.stats.unhostedByReason).toEqual(b.stats.unhostedByReason);
    expect(merged.stats.engineFallbacks).toBe(a.stats.engineFallbacks + b.stats.engineFallbacks);
  });

  it('the walker engine prints no hosting lines', async () => {
    const result = await runCampaign(campaign({ engine: walker }));
    const text = campaignSummary(result, { ...settings, engine: 'walker' }, 'x86pt gen');
    expect(text).not.toMatch(/hosted|pages probed/);
  });
});

describe('chunks judged in any order give one process\'s result', () => {
  /** Judges the campaign's chunks in a scrambled order, as workers might return them. */
  async function scrambled(options: CampaignOptions, size: number) {
    const judge = chunkJudge(options);
    const starts = Array.from({ length: Math.ceil(options.runs / size) }, (_, i) => i * size);
    const order = starts.map((_, i) => starts[(i * 7) % starts.length]!).filter((s, i, all) => all.indexOf(s) === i);
    expect(order.length).toBe(starts.length);
    const chunks = [];
    for (const from of order) chunks.push(await judge(from, Math.min(size, options.runs - from)));
    return campaignFromChunks(options, chunks, performance.now());
  }

  it('without a finding: the same counts, reasons and examples', async () => {
    const options = campaign();
    const one = await runCampaign(options);
    const dealt = await scrambled(options, 16);
    expect(dealt.stats).toEqual(one.stats);
    expect(dealt.counterexample).toBeUndefined();
  });

  it('with a finding: counts up to it, and the counterexample shrunk from the same path', async () => {
    const { generator, finds } = PLANTED['last page lost'] as { generator: TableGenerator; finds: string };
    const options = campaign({ generator, engine: walker, runs: 400 });
    const one = await runCampaign(options);
    expect(one.counterexample?.finding.kind).toBe(finds);
    const dealt = await scrambled(options, 8);
    expect(dealt.stats).toEqual(one.stats);
    expect(dealt.counterexample?.original.path).toBe(one.counterexample!.original.path);
    expect(dealt.counterexample?.path).toBe(one.counterexample!.path);
    expect(dealt.counterexample?.finding.summary).toBe(one.counterexample!.finding.summary);
  });

  it('chunks are small enough to balance the judges and never beyond 256 layouts', () => {
    expect(chunkSize(1000, 2)).toBe(32);
    expect(chunkSize(10, 2)).toBe(8);
    expect(chunkSize(10_000_000, 2)).toBe(256);
    expect(defaultWorkers()).toBe(availableParallelism());
    expect(workerArguments(['--runs', '9', '--workers', '2', '--report=r.json', '--save', 'cx', '--no-progress', '--seed', '3'])).toEqual(['--runs', '9', '--seed', '3']);
  });
});

describe('x86pt fuzz --workers', () => {
  const lines = (out: string): string[] => out.split('\n');
  const rest = (out: string): string[] => lines(out).filter((l) => !/^x86pt fuzz: |^ {2}generator: /.test(l));

  it('one and two workers print the same summary; the default is one judge per core', async () => {
    const dir = scratchDir();
    const base = ['fuzz', '--runs', '300', '--seed', '5', '--no-progress'];
    const one = await x86pt([...base, '--workers', '1', '--report', join(dir, 'one.json')]);
    const two = await x86pt([...base, '--workers', '2', '--report', join(dir, 'two.json')]);
    const auto = await x86pt(base);
    for (const r of [one, two, auto]) expect(r.exitCode).toBe(0);
    expect(lines(one.stdout)[1]).toMatch(/; 1 worker$/);
    expect(lines(two.stdout)[1]).toMatch(/; 2 workers$/);
    const cores = availableParallelism();
    expect(lines(auto.stdout)[1]).toMatch(new RegExp(`; ${cores} worker${cores === 1 ? '' : 's'}$`));
    expect(rest(two.stdout)).toEqual(rest(one.stdout));
    expect(rest(auto.stdout)).toEqual(rest(one.stdout));
    const stats = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')).stats;
    expect(stats('two.json')).toEqual(stats('one.json'));
  });

  it('two workers print the counterexample one prints, shrunk alike', async () => {
    const args = ['fuzz', '--runs', '400', '--seed', '7', '--modes', 'pae', '--compat', '--no-progress', '--shrink-budget', '50'];
    const one = await x86pt([...args, '--workers', '1']);
    const two = await x86pt([...args, '--workers', '2']);
    expect(one.exitCode).toBe(1);
    expect(two.exitCode).toBe(1);
    expect(rest(two.stdout)).toEqual(rest(one.stdout));
    expect(two.stdout).toMatch(/COUNTEREXAMPLE/);
  });

  it('the unicorn engine\'s summary says what it hosted and the fraction of pages it probed', async () => {
    const dir = scratchDir();
    const r = await x86pt(['fuzz', '--runs', '40', '--seed', '5', '--engine', 'unicorn', '--no-progress', '--workers', '1', '--report', join(dir, 'u.json')]);
    expect(r.exitCode).toBe(0);
    const stats = JSON.parse(readFileSync(join(dir, 'u.json'), 'utf8')).stats;
    const plans = stats.probed.casesByPlan as Record<string, number>;
    expect(Object.values(plans).reduce((a, b) => a + b, 0)).toBe(stats.engineHosted);
    expect(stats.engineHosted).toBeGreaterThan(0);
    expect(stats.probed.pages).toBeLessThanOrEqual(stats.probed.fullPages);
    const percent = ((100 * stats.probed.pages) / stats.probed.fullPages).toFixed(1);
    expect(r.stdout).toContain(`pages probed: ${stats.probed.pages} of ${stats.probed.fullPages} (${percent}%), plan `);
    expect(r.stdout).toContain(`the engine hosted ${stats.engineHosted} of `);
  });
});
