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

  // --workers: whole CLI processes (start-up included), 1 and 2 workers alternated, medians of 3.
  const { execFileSync } = await import('node:child_process');
  const { loadavg } = await import('node:os');
  const cli = new URL('../../x86pt.mjs', import.meta.url).pathname;
  const WORKER_RUNS = 8000;
  const timed = (workers: number): number => {
    const t = performance.now();
    execFileSync(process.execPath, [cli, 'fuzz', '--runs', String(WORKER_RUNS), '--seed', String(SEED), '--no-progress', '--workers', String(workers)], { stdio: 'ignore' });
    return (performance.now() - t) / 1000;
  };
  const times: Record<1 | 2, number[]> = { 1: [], 2: [] };
  for (let i = 0; i < 3; i++) for (const w of [1, 2] as const) times[w].push(timed(w));
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
  const speedup = median(times[1]) / median(times[2]);
  report({ section: 'fuzz', name: `--workers 1, ${WORKER_RUNS} layouts (whole process)`, value: WORKER_RUNS / median(times[1]), unit: 'layouts/s' });
  report({ section: 'fuzz', name: `--workers 2 over --workers 1 (load average ${loadavg()[0]!.toFixed(1)})`, value: speedup, unit: 'x', target: '>= 1.7x on 2 idle cores', ok: speedup >= 1.7 });
};

export default section;
