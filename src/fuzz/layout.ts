/**
 * A fuzzed kernel: the layout its ELF describes, plus the symbols left out of
 * the ELF on purpose (to exercise the missing-symbol refusal). Turned into a
 * real ELF by the project's writer, exactly as a linker would hand it over.
 */
import { writeElf, type ElfSymbolDef } from '../elf/writer.js';
import { hex } from '../core/text.js';
import { elfClassOf, kernelSymbols, type KernelDescription } from '../elf/kernel.js';

export interface FuzzLayout {
  readonly kernel: KernelDescription;
  /** Symbols the description defines but the ELF leaves out. */
  readonly omit: readonly string[];
}

/** The symbols the layout's ELF carries, in the order they are written. */
export function layoutSymbols(layout: FuzzLayout): ElfSymbolDef[] {
  const omitted = new Set(layout.omit);
  return kernelSymbols(layout.kernel).filter((s) => !omitted.has(s.name));
}

/** The layout as an ELF file's bytes. */
export function layoutElf(layout: FuzzLayout): Uint8Array {
  return writeElf({ elfClass: elfClassOf(layout.kernel.mode), symbols: layoutSymbols(layout) });
}

/** The symbols as a map, as the ELF reader would return them. */
export function layoutSymbolMap(layout: FuzzLayout): Map<string, bigint> {
  return new Map(layoutSymbols(layout).map((s) => [s.name, s.value] as const));
}

/** A few readable lines: the mode and features, then every symbol of the ELF. */
export function describeLayout(layout: FuzzLayout): string[] {
  const k = layout.kernel;
  const features = [
    k.kernelVmBase !== undefined && k.kernelVmBase !== k.sramBase ? 'dual' : 'identity',
    ...(k.xip ? ['xip'] : []),
    ...(k.regionPermissions ? ['region permissions'] : []),
    ...(k.userspace ? ['userspace'] : []),
    ...(k.coverageGcov ? ['gcov'] : []),
    ...(k.kpti ? ['kpti'] : []),
  ];
  const lines = [`${k.mode}: ${features.join(', ')}`];
  for (const s of layoutSymbols(layout)) lines.push(`  ${s.name} = ${s.name === 'CONFIG_SRAM_SIZE' || s.name === 'CONFIG_FLASH_SIZE' ? `${s.value} (KiB)` : hex(s.value)}`);
  if (layout.omit.length > 0) lines.push(`  left out: ${layout.omit.join(', ')}`);
  return lines;
}
