/**
 * QEMU engine speed: one boot and full check (every page probed, MMU
 * cross-checked) of a 64 MiB IA-32e layout, batched checking of many
 * small layouts of all three modes, the way a fuzzer would call it, and
 * large identity maps (1 GiB, 64 GiB) under the default plan with their
 * peak memory, node's and QEMU's.
 */
import type { BenchSection } from './report.js';
import { IA32E_64MIB_LAYOUT, medianOf } from './engine-layouts.js';
import { generateTables } from '../../src/gen/generate.js';
import { kernelSymbolMap, type KernelDescription } from '../../src/elf/kernel.js';
import { checkTables } from '../../src/verify/check.js';
import { compareRanges } from '../../src/verify/compare.js';
import type { EngineInput, PagingMode } from '../../src/verify/model.js';
import { specFromSymbols } from '../../src/verify/spec.js';
import { createQemuEngine } from '../../src/engines/qemu/engine.js';

const MiB = 0x100000n;

/** Small layouts spread over modes, bases, sizes, dual windows and permissions, from a fixed seed. */
function smallLayouts(count: number): EngineInput[] {
  let seed = 0x9e3779b9;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % n;
  };
  const modes: PagingMode[] = ['32bit', 'pae', 'ia32e'];
  const inputs: EngineInput[] = [];
  while (inputs.length < count) {
    const mode = modes[next(3)]!;
    const base = MiB + BigInt(next(256)) * MiB;
    const kib = 64n + BigInt(next(16)) * 64n;
    const dual = mode !== 'ia32e' && next(2) === 1;
    const vmBase = dual ? base + 0x80000000n : base;
    const perms = next(2) === 1;
    const kernel: KernelDescription = {
      mode, sramBase: base, sramSizeKiB: kib, kernelVmBase: vmBase, pagetablesStart: vmBase + kib * 1024n - 0x10000n,
      regionPermissions: perms,
      ...(perms && {
        regions: {
          _image_text: { start: vmBase, size: 0x4000n }, _image_rodata: { start: vmBase + 0x4000n, size: 0x2000n },
          ...(mode === 'ia32e' && { _locore: { start: base + 0x6000n, size: 0x1000n }, _lorodata: { start: base + 0x7000n, size: 0x1000n } }),
        },
      }),
    };
    const symbols = kernelSymbolMap(kernel);
    const spec = specFromSymbols(symbols);
    if (!spec.valid) continue;
    inputs.push({ mode: spec.mode, tables: generateTables(symbols).bytes, tablesPhys: spec.tablesPhys, expected: spec.expected });
  }
  return inputs;
}

/**
 * Checks a fully mapped IA-32e identity layout of `sizeMiB` (from physical 0,
 * so it crosses QEMU's device hole past 3 GiB) in a child process
 * (qemu-large.ts): seconds, and node's and QEMU's peak memory.
 */
async function largeCheck(sizeMiB: number): Promise<{ seconds: number; nodeMiB: number; qemuMiB: number; ok: boolean }> {
  const { execFileSync } = await import('node:child_process');
  const child = new URL('./qemu-large.js', import.meta.url).pathname;
  return JSON.parse(execFileSync(process.execPath, [child, String(sizeMiB)], { encoding: 'utf8', maxBuffer: 1 << 20 }));
}

const section: BenchSection = async (report) => {
  const engine = await createQemuEngine();
  const symbols = kernelSymbolMap(IA32E_64MIB_LAYOUT);
  const tables = generateTables(symbols).bytes;
  await checkTables({ symbols, tables, engine }); // warm-up: builds the stub once
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const result = await checkTables({ symbols, tables, engine });
    times.push(performance.now() - start);
    if (!result.ok) throw new Error('the 64 MiB layout failed verification under QEMU');
  }
  const median = times.sort((a, b) => a - b)[1]!;
  report({ section: 'qemu', name: 'boot + full check, 64 MiB IA-32e (16K pages)', value: median, unit: 'ms', target: '<= 1000 ms', ok: median <= 1000 });

  const inputs = smallLayouts(300);
  const start = performance.now();
  const results = await engine.runBatch(inputs);
  let failed = 0;
  results.forEach((r, i) => {
    if (!r.ok || r.report.guestFailure !== null || compareRanges(inputs[i]!.expected, r.report.actual, r.report.coverage).length > 0) failed++;
  });
  const perSecond = inputs.length / ((performance.now() - start) / 1000);
  if (failed > 0) throw new Error(`${failed} of the batched layouts failed verification under QEMU`);
  report({ section: 'qemu', name: `batched checks, ${inputs.length} small layouts`, value: perSecond, unit: 'layouts/s', target: '>= 100 layouts/s', ok: perSecond >= 100 });

  // Large layouts: sparse guest RAM, signatures only where the sampled plan probes (medians of 3, each in its own process).
  for (const [mib, seconds] of [[1024, 2], [65536, 10]] as const) {
    const m = await medianOf(3, () => largeCheck(mib), (r) => r.seconds);
    if (!m.ok) throw new Error(`the ${mib} MiB layout failed verification under QEMU`);
    const name = `${mib / 1024} GiB IA-32e identity map (default plan)`;
    const peak = m.nodeMiB + m.qemuMiB;
    report({ section: 'qemu', name: `${name}: check`, value: m.seconds, unit: 's', target: `<= ${seconds} s`, ok: m.seconds <= seconds });
    report({ section: 'qemu', name: `${name}: peak memory, node + QEMU (${Math.round(m.nodeMiB)} + ${Math.round(m.qemuMiB)} MiB)`, value: peak, unit: 'MiB', target: '< 1024 MiB', ok: peak < 1024 });
  }
};

export default section;
