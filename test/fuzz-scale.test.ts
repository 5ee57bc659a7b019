/**
 * Campaigns split over a CI matrix: shards partition the seed's sequence,
 * each reproducible alone, and merged reports give what one campaign gives:
 * the same counts, and the counterexample of the lowest index.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { createWalkerEngine } from '../src/engines/walker.js';
import { runCampaign, shardSize, type CampaignOptions } from '../src/fuzz/campaign.js';
import { inProcessGenerator, type TableGenerator } from '../src/fuzz/generators.js';
import { mergeShardReports, parseShard, shardReport, type Shard } from '../src/fuzz/shards.js';
import { PLANTED } from './support/fuzz-generators.js';
import { scratchDir, x86pt } from './support/cli.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const walker = await createWalkerEngine();
const MODES = ['32bit', 'pae', 'ia32e'] as const;

function campaign(generator: TableGenerator, overrides: Partial<CampaignOptions> = {}): CampaignOptions {
  return { modes: MODES, runs: 240, seed: 11, shrinkBudget: 50, generator, engine: walker, determinism: true, ignore: new Set(), ...overrides };
}

async function shards(generator: TableGenerator, count: number, overrides: Partial<CampaignOptions> = {}) {
  const reports = [];
  for (let index = 0; index < count; index++) {
    const shard: Shard = { index, count };
    const options = campaign(generator, { ...overrides, shard });
    const result = await runCampaign(options);
    reports.push({ ...shardReport(result, { runs: options.runs, modes: options.modes, engine: 'walker', shard }), file: `shard-${index + 1}.json` });
  }
  return reports;
}

describe('--shard K/N', () => {
  it('parses K/N with 1 <= K <= N, and refuses anything else', () => {
    expect(parseShard('1/1')).toEqual({ index: 0, count: 1 });
    expect(parseShard('3/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/3', '4/3', '1/0', '1', 'a/b', '-1/2']) expect(() => parseShard(bad)).toThrow(InputError);
  });

  it('splits the layouts so the shards judge each once: merged counts equal one campaign\'s', async () => {
    const whole = await runCampaign(campaign(inProcessGenerator()));
    const parts = await shards(inProcessGenerator(), 3);
    expect(parts.map((p) => p.stats.layouts)).toEqual([80, 80, 80]);
    expect(parts.map((_, index) => shardSize({ runs: 240, shard: { index, count: 3 } }))).toEqual([80, 80, 80]);
    expect(shardSize({ runs: 10, shard: { index: 0, count: 3 } }) + shardSize({ runs: 10, shard: { index: 2, count: 3 } })).toBe(7);
    const merged = mergeShardReports(parts);
    expect(merged.stats).toEqual(whole.stats);
    expect(merged.counterexample).toBeNull();
    expect(merged.missing).toEqual([]);
    expect(mergeShardReports(parts.slice(1)).missing).toEqual([0]);
  });

  it('merges to the counterexample of the lowest index, which replays alone from its shard\'s path', async () => {
    const { generator, finds } = PLANTED['last page lost']!;
    const whole = await runCampaign(campaign(generator, { runs: 600 }));
    expect(whole.counterexample?.finding.kind).toBe(finds);
    const parts = await shards(generator, 4, { runs: 600 });
    const merged = mergeShardReports(parts);
    expect(merged.counterexample?.originalPath).toBe(whole.counterexample!.original.path);
    expect(merged.counterexample?.kind).toBe(finds);
    // The shard that found it holds the same index modulo the shard count.
    const index = Number(merged.counterexample!.originalPath);
    expect(parts[index % 4]!.counterexample?.originalPath).toBe(String(index));
    const replay = await runCampaign(campaign(generator, { runs: 600, path: merged.counterexample!.originalPath }));
    expect(replay.counterexample?.finding.kind).toBe(finds);
  });

  it('refuses to merge reports of different campaigns or the same shard twice', async () => {
    const parts = await shards(inProcessGenerator(), 2, { runs: 20 });
    expect(() => mergeShardReports([parts[0]!, parts[0]!])).toThrow(/given twice/);
    expect(() => mergeShardReports([parts[0]!, { ...parts[1]!, seed: 12 }])).toThrow(/another campaign/);
  });
});

describe('x86pt fuzz --workers, --report, --merge', () => {
  it('two workers find the counterexample one process finds, at the same path', async () => {
    const args = ['fuzz', '--runs', '400', '--seed', '7', '--modes', 'pae', '--compat', '--no-progress', '--shrink-budget', '50'];
    const one = await x86pt(args);
    const two = await x86pt([...args, '--workers', '2']);
    expect(one.exitCode).toBe(1);
    expect(two.exitCode).toBe(1);
    const pathOf = (out: string): string | undefined => /--path (\S+)/.exec(out)?.[1];
    expect(pathOf(two.stdout)).toBeDefined();
    expect(pathOf(two.stdout)).toBe(pathOf(one.stdout));
  });

  it('merges shard reports written by --report into the summary one campaign gives', async () => {
    const dir = scratchDir();
    const base = ['fuzz', '--runs', '300', '--seed', '5', '--no-progress'];
    const files = [1, 2].map((k) => join(dir, `s${k}.json`));
    for (const [i, file] of files.entries()) expect((await x86pt([...base, '--shard', `${i + 1}/2`, '--report', file])).exitCode).toBe(0);
    const merged = await x86pt(['fuzz', '--merge', ...files]);
    expect(merged.exitCode).toBe(0);
    expect(merged.stdout).toMatch(/merged 2 of 2 shards, seed 5: 300 layouts/);
    const whole = JSON.parse(readFileSync(files[0]!, 'utf8'));
    expect(whole.shard).toEqual({ index: 0, count: 2 });
    const bad = await x86pt(['fuzz', '--merge', files[0]!, files[0]!]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/shard 1\/2 given twice/);
  });
});
