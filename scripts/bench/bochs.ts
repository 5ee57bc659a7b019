/**
 * Bochs engine speed, beside the other engines': one boot and full check
 * (every page probed, the tables compared afterwards) of the 64 MiB IA-32e
 * layout, and the page probes per second it reaches there.
 */
import type { BenchSection } from './report.js';
import { IA32E_64MIB_LAYOUT, engineInput } from './engine-layouts.js';
import { compareRanges } from '../../src/verify/compare.js';
import { CPU_PROFILES } from '../../src/engines/cpu.js';
import { createBochsEngine } from '../../src/engines/bochs/engine.js';
import { planProbes } from '../../src/engines/probe/plan.js';

const section: BenchSection = async (report) => {
  const engine = await createBochsEngine(CPU_PROFILES.tigerlake!);
  const input = engineInput(IA32E_64MIB_LAYOUT);
  const pages = planProbes(input.mode, input.expected).pageCount;
  await engine.run(input); // warm-up: builds the stub once
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const result = await engine.run(input);
    times.push(performance.now() - start);
    if (result.violations.length > 0 || compareRanges(input.expected, result.actual, result.coverage).length > 0) {
      throw new Error('the 64 MiB layout failed verification under Bochs');
    }
  }
  const median = times.sort((a, b) => a - b)[2]!;
  report({ section: 'bochs', name: `boot + full check, 64 MiB IA-32e (${Math.round(pages / 1024)}K pages)`, value: median, unit: 'ms' });
  report({ section: 'bochs', name: 'page probes per second (read, write, execute, user)', value: pages / (median / 1000), unit: 'pages/s' });
};

export default section;
