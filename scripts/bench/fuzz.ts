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

  // --workers: whole CLI processes (start-up included), 1 and 2 workers alternated in pairs, medians
  // of 3. On a machine others load, the wall-clock ratio understates what 2 idle cores give (with
  // sched_autogroup on, a session's processes share one share of the CPU, however many there are),
  // so the CPU time both runs spent (their children's included, from /proc) is reported too: its
  // ratio is the cost of splitting the work (start-up, drawing each chunk, cold code in the second
  // process), and the last row the speedup two free cores would give the balanced judges.
  const { execFileSync } = await import('node:child_process');
  const { loadavg } = await import('node:os');
  const { readFileSync } = await import('node:fs');
  const cli = new URL('../../x86pt.mjs', import.meta.url).pathname;
  const WORKER_RUNS = 8000;
  /** CPU seconds of the children this process has waited for (cutime + cstime, in clock ticks of 1/100 s). */
  const childCpu = (): number => {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  };
  const timed = (workers: number): { wall: number; cpu: number } => {
    const t = performance.now();
    const cpu = childCpu();
    execFileSync(process.execPath, [cli, 'fuzz', '--runs', String(WORKER_RUNS), '--seed', String(SEED), '--no-progress', '--workers', String(workers)], { stdio: 'ignore' });
    return { wall: (performance.now() - t) / 1000, cpu: childCpu() - cpu };
  };
  const load = loadavg()[0]!;
  const times: Record<1 | 2, { wall: number; cpu: number }[]> = { 1: [], 2: [] };
  for (let i = 0; i < 3; i++) for (const w of [1, 2] as const) times[w].push(timed(w));
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
  const wall = (w: 1 | 2): number => median(times[w].map((t) => t.wall));
  const cpu = (w: 1 | 2): number => median(times[w].map((t) => t.cpu));
  const speedup = wall(1) / wall(2);
  report({ section: 'fuzz', name: `--workers 1, ${WORKER_RUNS} layouts (whole process)`, value: WORKER_RUNS / wall(1), unit: 'layouts/s' });
  report({ section: 'fuzz', name: `--workers 2, ${WORKER_RUNS} layouts (whole process)`, value: WORKER_RUNS / wall(2), unit: 'layouts/s' });
  report({ section: 'fuzz', name: `--workers 2 over --workers 1 (load average ${load.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after)`, value: speedup, unit: 'x', target: '>= 1.7x on 2 idle cores', ok: speedup >= 1.7 });
  report({ section: 'fuzz', name: '--workers 2: CPU time over --workers 1 (the cost of splitting)', value: cpu(2) / cpu(1), unit: 'x' });
  report({ section: 'fuzz', name: '--workers 2 over --workers 1 if both cores were free (CPU time of 1 over half that of 2)', value: cpu(1) / (cpu(2) / 2), unit: 'x' });
};

export default section;
