/**
 * Unicorn engine speed: the full check of a 64 MiB IA-32e layout (every
 * page read, written, executed and accessed from CPL 3, and the pages around
 * each range), and page probes per second on layouts of all three modes.
 */
import type { BenchSection } from './report.js';
import { checkInChild, engineInput, IA32E_64MIB_LAYOUT, medianOf } from './engine-layouts.js';
import { generateTables } from '../../src/gen/generate.js';
import { kernelSymbolMap, type KernelDescription } from '../../src/elf/kernel.js';
import { checkTables } from '../../src/verify/check.js';
import { createUnicornEngine } from '../../src/engines/unicorn/engine.js';
import { probeTables } from '../../src/engines/unicorn/prober.js';
import { runCampaign } from '../../src/fuzz/campaign.js';
import { inProcessGenerator } from '../../src/fuzz/generators.js';

const MiB = 0x100000n;
const HIGH_HALF = 0xffff800000000000n;

/** 16 MiB layouts per mode, with permissions (every data page faults on execute and at CPL 3) and without. */
const RATE_LAYOUTS: Readonly<Record<string, KernelDescription>> = {
  '32bit dual, perms': {
    mode: '32bit', sramBase: 4n * MiB, sramSizeKiB: 16n * 1024n, kernelVmBase: 0xc0400000n, pagetablesStart: 0xc13f0000n,
    regionPermissions: true,
    regions: { _image_text: { start: 0xc0400000n, size: MiB }, _image_rodata: { start: 5n * MiB, size: MiB } },
  },
  'pae identity': { mode: 'pae', sramBase: 2n * MiB, sramSizeKiB: 16n * 1024n, pagetablesStart: 17n * MiB + 0xf0000n },
  'ia32e high half, perms': {
    mode: 'ia32e', sramBase: MiB, sramSizeKiB: 16n * 1024n, kernelVmBase: HIGH_HALF + MiB, pagetablesStart: HIGH_HALF + 16n * MiB + 0xf0000n,
    regionPermissions: true,
    regions: {
      _image_text: { start: HIGH_HALF + MiB, size: MiB }, _image_rodata: { start: HIGH_HALF + 2n * MiB, size: MiB },
      _locore: { start: 3n * MiB, size: 0x1000n }, _lorodata: { start: 3n * MiB + 0x1000n, size: 0x1000n },
    },
  },
};

const SMALL_LAYOUT: KernelDescription = {
  mode: 'pae', sramBase: 2n * MiB, sramSizeKiB: 256n, pagetablesStart: 2n * MiB + 0x30000n, regionPermissions: true,
  regions: { _image_text: { start: 2n * MiB, size: 0x8000n }, _image_rodata: { start: 2n * MiB + 0x8000n, size: 0x4000n } },
};
const SMALL_CHECKS = 1000;

/** The default fuzz campaign `x86pt fuzz --runs 1000 --seed 5 --engine unicorn` judges. */
const HOSTING_RUNS = 1000;
const HOSTING_SEED = 5;

const section: BenchSection = async (report) => {
  const engine = await createUnicornEngine();

  // How many of a default campaign's layouts with tables the engine hosts, and why not the rest.
  const campaign = await runCampaign({
    modes: ['32bit', 'pae', 'ia32e'], runs: HOSTING_RUNS, seed: HOSTING_SEED, shrinkBudget: 0, generator: inProcessGenerator(), engine,
    determinism: false, ignore: new Set(),
  });
  const { engineHosted, engineFallbacks, unhostedByReason, probed } = campaign.stats;
  const hostedShare = (100 * engineHosted) / (engineHosted + engineFallbacks);
  report({ section: 'unicorn', name: `fuzz --runs ${HOSTING_RUNS} --seed ${HOSTING_SEED}: layouts with tables hosted (${engineHosted} of ${engineHosted + engineFallbacks})`, value: hostedShare, unit: '%', target: '>= 95%', ok: hostedShare >= 95 });
  for (const [reason, n] of Object.entries(unhostedByReason)) report({ section: 'unicorn', name: `fuzz: not hosted, ${reason}`, value: n, unit: 'layouts' });
  report({ section: 'unicorn', name: 'fuzz: pages probed of those the full plans would probe', value: (100 * probed.pages) / probed.fullPages, unit: '%' });

  const symbols = kernelSymbolMap(IA32E_64MIB_LAYOUT);
  const tables = generateTables(symbols).bytes;
  // The first run also finds the error code's place in Unicorn's state (once per process); time it apart.
  const cold = performance.now();
  const first = await checkTables({ symbols, tables, engine });
  const coldMs = performance.now() - cold;
  if (!first.ok) throw new Error('the 64 MiB layout failed verification under the unicorn engine');
  const started = performance.now();
  const result = await checkTables({ symbols, tables, engine });
  const seconds = (performance.now() - started) / 1000;
  if (!result.ok) throw new Error('the 64 MiB layout failed verification under the unicorn engine');
  report({ section: 'unicorn', name: '64 MiB IA-32e layout, full check (verify)', value: seconds, unit: 's', target: '<= 3 s', ok: seconds <= 3 });
  report({ section: 'unicorn', name: '64 MiB IA-32e layout, first check of the process', value: coldMs / 1000, unit: 's' });

  let pages = 0;
  let elapsed = 0;
  for (const [name, kernel] of Object.entries(RATE_LAYOUTS)) {
    const input = engineInput(kernel);
    const t = performance.now();
    const probed = probeTables(input);
    const s = (performance.now() - t) / 1000;
    pages += probed.pagesProbed;
    elapsed += s;
    report({ section: 'unicorn', name: `${name}: pages probed per second`, value: probed.pagesProbed / s, unit: 'pages/s' });
    report({ section: 'unicorn', name: `${name}: faults taken per page`, value: probed.faults / probed.pagesProbed, unit: 'faults' });
  }
  const rate = pages / elapsed;
  report({ section: 'unicorn', name: 'page probes per second (read, write, exec, user)', value: rate, unit: 'pages/s', target: '>= 20000', ok: rate >= 20_000 });

  // Many small checks in one process, as a fuzzer makes them: the emulator is reused, so memory stays flat.
  const small = engineInput(SMALL_LAYOUT);
  await engine.run(small);
  const rssBefore = process.memoryUsage().rss;
  const batchStart = performance.now();
  for (let i = 0; i < SMALL_CHECKS; i++) await engine.run(small);
  const batchSeconds = (performance.now() - batchStart) / 1000;
  report({ section: 'unicorn', name: `${SMALL_CHECKS} small checks: checks per second`, value: SMALL_CHECKS / batchSeconds, unit: 'checks/s' });
  report({ section: 'unicorn', name: `${SMALL_CHECKS} small checks: resident memory growth`, value: (process.memoryUsage().rss - rssBefore) / 2 ** 20, unit: 'MiB' });

  // Large layouts: the default plan samples them and backs only the probed pages (medians of 3, each in its own process).
  for (const [mib, seconds] of [[1024, 2], [65536, 10]] as const) {
    const m = await medianOf(3, () => checkInChild('unicorn', mib), (r) => r.seconds);
    if (!m.ok) throw new Error(`the ${mib} MiB layout failed verification under the unicorn engine`);
    const name = `${mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`} IA-32e identity map (sampled plan)`;
    report({ section: 'unicorn', name: `${name}: check`, value: m.seconds, unit: 's', target: `<= ${seconds} s`, ok: m.seconds <= seconds });
    report({ section: 'unicorn', name: `${name}: peak memory`, value: m.peakMiB, unit: 'MiB', target: '< 1024 MiB', ok: m.peakMiB < 1024 });
  }
};

export default section;
