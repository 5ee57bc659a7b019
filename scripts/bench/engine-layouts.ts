/**
 * For the emulator engines' benches (and their tests): the 64 MiB layout
 * each engine checks in full, and what the verifier hands an engine for a layout.
 */
import { generateTables } from '../../src/gen/generate.js';
import { kernelSymbolMap, type KernelDescription } from '../../src/elf/kernel.js';
import type { EngineInput } from '../../src/verify/model.js';
import { specFromSymbols } from '../../src/verify/spec.js';

const MiB = 0x100000n;

/** 64 MiB of IA-32e RAM with text, rodata and locore regions. */
export const IA32E_64MIB_LAYOUT: KernelDescription = {
  mode: 'ia32e', sramBase: 16n * MiB, sramSizeKiB: 64n * 1024n, pagetablesStart: 79n * MiB, regionPermissions: true,
  regions: {
    _image_text: { start: 16n * MiB, size: 2n * MiB }, _image_rodata: { start: 18n * MiB, size: MiB },
    _locore: { start: 19n * MiB, size: 0x1000n }, _lorodata: { start: 19n * MiB + 0x1000n, size: 0x1000n },
  },
};

/** The generator's tables for the kernel and the spec's expected translation: what the verifier hands an engine. */
export function engineInput(kernel: KernelDescription): EngineInput {
  const symbols = kernelSymbolMap(kernel);
  const spec = specFromSymbols(symbols);
  if (!spec.valid) throw new Error(`layout refused: ${spec.reasons.join('; ')}`);
  const tables = generateTables(symbols);
  return { mode: spec.mode, tables: tables.bytes, tablesPhys: tables.tablesPhys, expected: spec.expected };
}

/**
 * Checks a fully mapped IA-32e identity layout of `sizeMiB` with an engine in
 * a child process (its peak memory is then the check's alone), the default
 * probe plan or `plan`; returns seconds and VmHWM in MiB.
 */
export async function checkInChild(engine: 'unicorn' | 'qemu', sizeMiB: number, plan = 'auto'): Promise<{ seconds: number; peakMiB: number; ok: boolean }> {
  const { execFileSync } = await import('node:child_process');
  const here = new URL('.', import.meta.url).pathname;
  const code = `
    const { benchKernelSymbols } = await import('${here}layouts.js');
    const { generateTables } = await import('${here}../../src/gen/generate.js');
    const { checkTables } = await import('${here}../../src/verify/check.js');
    const { readFileSync } = await import('node:fs');
    const factory = '${engine}' === 'unicorn'
      ? (await import('${here}../../src/engines/unicorn/engine.js')).createUnicornEngine
      : (await import('${here}../../src/engines/qemu/engine.js')).createQemuEngine;
    const engine = await factory({ probe: { plan: '${plan}' } });
    const symbols = benchKernelSymbols('ia32e', ${sizeMiB}n);
    const tables = generateTables(symbols).bytes;
    const t = performance.now();
    const r = await checkTables({ symbols, tables, engine });
    const seconds = (performance.now() - t) / 1000;
    const peakMiB = Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    process.stdout.write(JSON.stringify({ seconds, peakMiB, ok: r.ok }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', maxBuffer: 1 << 20 }));
}

/** The median of a few runs of `measure`. */
export async function medianOf<T>(runs: number, measure: () => Promise<T>, key: (t: T) => number): Promise<T> {
  const all: T[] = [];
  for (let i = 0; i < runs; i++) all.push(await measure());
  return all.sort((a, b) => key(a) - key(b))[Math.floor(runs / 2)]!;
}
