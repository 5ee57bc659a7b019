import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { generateForEra, generateTables } from '../../src/gen/generate.js';
import { kernelElf, symbolKernelElf, symbolKernelMaps, type PagingModeName } from '../../src/elf/kernel.js';
import type { ZephyrEra } from '../../src/elf/zephyr-era.js';
import { PAGING_MODE_NAMES } from '../../src/gen/modes.js';
import type { BenchSection } from './report.js';
import { benchKernel, benchKernelSymbols, eraBenchKernel } from './layouts.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const SIZES_MIB = [64n, 1024n, 4096n];

const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function timeInProcess(mode: PagingModeName, sizeMiB: bigint): number {
  const symbols = benchKernelSymbols(mode, sizeMiB);
  const runs: number[] = [];
  for (let i = 0; i < 21; i++) {
    const start = performance.now();
    generateTables(symbols);
    runs.push(performance.now() - start);
  }
  return median(runs);
}

async function peakAboveBaselineMiB(mode: PagingModeName, sizeMiB: bigint): Promise<{ peak: number; output: number }> {
  const child = join(here, 'gen-memory.js');
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const { stdout } = await execa('node', ['--expose-gc', child, mode, String(sizeMiB)]);
    runs.push(JSON.parse(stdout) as { baselineKiB: number; peakKiB: number; outputBytes: number });
  }
  // The median of three runs: V8's heap adds a few hundred KiB of jitter either way.
  const peak = median(runs.map((m) => (m.peakKiB - m.baselineKiB) / 1024));
  return { peak, output: runs[0]!.outputBytes / 2 ** 20 };
}

/** The reference generator: X86PT_REFERENCE names a copy of gen_mmu.py, or ZEPHYR_BASE a Zephyr tree holding one. */
function findReference(): string | undefined {
  const zephyr = process.env.ZEPHYR_BASE && join(process.env.ZEPHYR_BASE, 'arch', 'x86', 'gen_mmu.py');
  const candidates = [process.env.X86PT_REFERENCE, zephyr || undefined];
  return candidates.find((path): path is string => path !== undefined && existsSync(path));
}

async function wholeProcessMs(command: string, args: string[], env: Record<string, string> = {}, count = 5): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await execa(command, args, { env });
    runs.push(performance.now() - start);
  }
  return median(runs);
}

/** Each era's script in X86PT_REFERENCE_DIR (the file names it shipped under), with what it imports besides pyelftools. */
const ERA_REFERENCES: readonly { era: Exclude<ZephyrEra, 'seed'>; file: string; imports: string }[] = [
  { era: 'v2.4', file: 'gen_mmu-v2.4.0.py', imports: 'elftools, distutils' },
  { era: 'v2.5', file: 'gen_mmu-v2.5.0.py', imports: 'elftools, distutils' },
  { era: 'v2.6', file: 'gen_mmu-v2.6.0.py', imports: 'elftools, distutils' },
  { era: '2025', file: 'gen_mmu-zephyr-2025.py', imports: 'elftools, packaging' },
];
const ERA_SIZE_MIB = 512n;

/** Per era: x86pt in process, then whole-process x86pt gen beside that era's own script on the same large kernel. */
async function benchEras(report: Parameters<BenchSection>[0], work: string, cli: string, python: string): Promise<void> {
  const dir = process.env.X86PT_REFERENCE_DIR;
  const env = { PYTHONPATH: [process.env.PYTHONPATH, join(root, '.local', 'python')].filter(Boolean).join(':') };
  for (const { era, file, imports } of ERA_REFERENCES) {
    const { kernel, args } = eraBenchKernel(era, ERA_SIZE_MIB);
    const maps = args.filter((_, i) => args[i - 1] === '--map');
    const symbols = symbolKernelMaps(kernel);
    for (let i = 0; i < 5; i++) generateForEra(symbols, { maps });
    const runs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const start = performance.now();
      generateForEra(symbols, { maps });
      runs.push(performance.now() - start);
    }
    const ms = median(runs);
    report({ section: 'gen', name: `${era} ia32e ${ERA_SIZE_MIB} MiB image: generate`, value: ms, unit: `ms (${(ms / (Number(ERA_SIZE_MIB) / 1024)).toFixed(1)} ms/GiB)` });
    const elf = join(work, `${era}.elf`);
    writeFileSync(elf, symbolKernelElf(kernel));
    const ours = await wholeProcessMs('node', [cli, 'gen', '-k', elf, '-o', join(work, `${era}-ours.bin`), ...args]);
    report({ section: 'gen', name: `${era} ia32e ${ERA_SIZE_MIB} MiB image: x86pt gen, whole process`, value: ours, unit: 'ms' });
    const script = dir && join(dir, file);
    const usable = script !== undefined && existsSync(script) && (await execa(python, ['-c', `import ${imports}`], { env, reject: false })).exitCode === 0;
    if (!usable) {
      process.stdout.write(`gen      ${era} reference skipped: set X86PT_REFERENCE_DIR to a folder holding ${file} (python3 with ${imports} on PYTHONPATH)\n`);
      continue;
    }
    const theirs = await wholeProcessMs(python, [script, '-k', elf, '-o', join(work, `${era}-ref.bin`), ...args], env, 3);
    report({ section: 'gen', name: `${era} ia32e ${ERA_SIZE_MIB} MiB image: ${file}, whole process`, value: theirs, unit: 'ms' });
    report({ section: 'gen', name: `${era} ia32e ${ERA_SIZE_MIB} MiB image: speed-up over ${file}`, value: theirs / ours, unit: 'x' });
  }
}

const section: BenchSection = async (report) => {
  // Warm the generator up, so the first rows measure steady-state code like the rest.
  for (const mode of PAGING_MODE_NAMES) timeInProcess(mode, 1024n);
  for (const mode of PAGING_MODE_NAMES) {
    for (const sizeMiB of SIZES_MIB) {
      const ms = timeInProcess(mode, sizeMiB);
      const perGiB = ms / (Number(sizeMiB) / 1024);
      report({ section: 'gen', name: `${mode} ${sizeMiB} MiB: generate`, value: ms, unit: 'ms' });
      report({ section: 'gen', name: `${mode} ${sizeMiB} MiB: per GiB mapped`, value: perGiB, unit: 'ms/GiB', target: '<= 5', ok: perGiB <= 5 });
      const { peak, output } = await peakAboveBaselineMiB(mode, sizeMiB);
      const ratio = peak / output;
      report({ section: 'gen', name: `${mode} ${sizeMiB} MiB: peak memory above baseline`, value: peak, unit: `MiB (output ${output.toFixed(2)} MiB, ${ratio.toFixed(2)}x)`, target: '<= 3x output', ok: ratio <= 3 });
    }
  }

  const work = mkdtempSync(join(tmpdir(), 'x86pt-bench-'));
  try {
    const kernel = join(work, 'ia32e-4g.elf');
    writeFileSync(kernel, kernelElf(benchKernel('ia32e', 4096n)));
    const cli = join(root, 'dist', 'x86pt.mjs');
    const ours = await wholeProcessMs('node', [cli, 'gen', '-k', kernel, '-o', join(work, 'ours.bin')]);
    report({ section: 'gen', name: 'ia32e 4 GiB: x86pt gen, whole process', value: ours, unit: 'ms' });
    // What Node itself costs before any of x86pt runs; NODE_EXTRA_CA_CERTS, when set, adds to it.
    const empty = join(work, 'empty.mjs');
    writeFileSync(empty, '');
    report({ section: 'gen', name: 'of which Node start-up (an empty module)', value: await wholeProcessMs('node', [empty]), unit: 'ms' });
    const reference = findReference();
    const python = process.env.PYTHON ?? 'python3';
    const env = { PYTHONPATH: join(root, '.local', 'python') };
    const usable = reference !== undefined && (await execa(python, ['-c', 'import elftools, distutils'], { env, reject: false })).exitCode === 0;
    if (usable) {
      const theirs = await wholeProcessMs(python, [reference, '-k', kernel, '-o', join(work, 'ref.bin')], env);
      report({ section: 'gen', name: 'ia32e 4 GiB: gen_mmu.py, whole process', value: theirs, unit: 'ms' });
      report({ section: 'gen', name: 'ia32e 4 GiB: speed-up over gen_mmu.py', value: theirs / ours, unit: 'x', target: '>= 20', ok: theirs / ours >= 20 });
    } else {
      process.stdout.write('gen      reference generator skipped: gen_mmu.py or python3 with pyelftools not found (set X86PT_REFERENCE or ZEPHYR_BASE)\n');
    }
    await benchEras(report, work, cli, python);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
};

export default section;
