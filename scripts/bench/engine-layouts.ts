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
