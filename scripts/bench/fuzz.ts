/**
 * Fuzzing throughput: an in-process campaign (x86pt's generator, the walker
 * engine, the determinism check on) over every mode, in layouts per second,
 * after a warm-up; and per mode for information.
 */
import type { BenchSection } from './report.js';
import { runCampaign } from '../../src/fuzz/campaign.js';
import { inProcessGenerator } from '../../src/fuzz/generators.js';
import { createWalkerEngine } from '../../src/engines/walker.js';
import type { PagingMode } from '../../src/verify/model.js';

const SEED = 0x5eed;
const RUNS = 5000;
const TARGET = 500;

async function rate(modes: readonly PagingMode[], runs: number): Promise<number> {
  const result = await runCampaign({
    modes, runs, seed: SEED, shrinkBudget: 0, generator: inProcessGenerator(), engine: await createWalkerEngine(),
    determinism: true, ignore: new Set(),
  });
  if (result.counterexample) throw new Error(`the benchmark campaign found a counterexample at path ${result.counterexample.path}: ${result.counterexample.finding.summary}`);
  return result.stats.layouts / (result.searchMs / 1000);
}

const section: BenchSection = async (report) => {
  await rate(['32bit', 'pae', 'ia32e'], 500); // warm-up
  const all = await rate(['32bit', 'pae', 'ia32e'], RUNS);
  report({ section: 'fuzz', name: `in-process campaign, walker, all modes (${RUNS} layouts)`, value: all, unit: 'layouts/s', target: `>= ${TARGET} layouts/s`, ok: all >= TARGET });
  for (const mode of ['32bit', 'pae', 'ia32e'] as const) {
    report({ section: 'fuzz', name: `in-process campaign, walker, ${mode} only`, value: await rate([mode], RUNS / 5), unit: 'layouts/s' });
  }
};

export default section;
