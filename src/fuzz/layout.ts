/**
 * A fuzzed kernel: the layout its ELF describes, plus the symbols left out of
 * the ELF on purpose (to exercise the missing-symbol refusal). Turned into a
 * real ELF by the project's writer, exactly as a linker would hand it over.
 */
import { writeElf, type ElfSymbolDef } from '../elf/writer.js';
import { hex } from '../core/text.js';
import { elfClassOf, kernelSymbols, symbolKernelElf, symbolKernelMaps, type KernelDescription, type SymbolKernel } from '../elf/kernel.js';
import type { ZephyrEra } from '../elf/zephyr-era.js';
import type { PagingMode } from '../verify/model.js';

/** A seed-era kernel, described in Kconfig terms. */
export interface SeedFuzzLayout {
  readonly era?: undefined;
  readonly kernel: KernelDescription;
  /** Symbols the description defines but the ELF leaves out. */
  readonly omit: readonly string[];
}

/** A kernel of a released era, by its symbols (and sizes: the placeholder's), with the `--map` arguments its build passes. */
export interface EraFuzzLayout {
  readonly era: Exclude<ZephyrEra, 'seed'>;
  readonly mode: PagingMode;
  readonly kernel: SymbolKernel;
  readonly maps: readonly string[];
  /** What the layout's choices aimed at, for the report. */
  readonly features: readonly string[];
}

export type FuzzLayout = SeedFuzzLayout | EraFuzzLayout;

export const layoutMode = (layout: FuzzLayout): PagingMode => (layout.era ? layout.mode : layout.kernel.mode);
export const layoutMaps = (layout: FuzzLayout): readonly string[] => (layout.era ? layout.maps : []);
export const layoutEra = (layout: FuzzLayout): ZephyrEra => layout.era ?? 'seed';

/** st_size by name, as the ELF reader returns it (the placeholder dummy_pagetables in v2.6+). */
export function layoutSizes(layout: FuzzLayout): Map<string, bigint> {
  return layout.era ? symbolKernelMaps(layout.kernel).sizes : new Map();
}

/** The symbols the layout's ELF carries, in the order they are written. */
export function layoutSymbols(layout: SeedFuzzLayout): ElfSymbolDef[] {
  const omitted = new Set(layout.omit);
  return kernelSymbols(layout.kernel).filter((s) => !omitted.has(s.name));
}

/** The layout as an ELF file's bytes. */
export function layoutElf(layout: FuzzLayout): Uint8Array {
  if (layout.era) return symbolKernelElf(layout.kernel);
  return writeElf({ elfClass: elfClassOf(layout.kernel.mode), symbols: layoutSymbols(layout) });
}

/** The symbols as a map, as the ELF reader would return them. */
export function layoutSymbolMap(layout: FuzzLayout): Map<string, bigint> {
  if (layout.era) return symbolKernelMaps(layout.kernel).symbols;
  return new Map(layoutSymbols(layout).map((s) => [s.name, s.value] as const));
}

/** A few readable lines: the mode and features, then every symbol of the ELF. */
export function describeLayout(layout: FuzzLayout): string[] {
  if (layout.era) return describeEraLayout(layout);
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

const KIB_SYMBOLS = new Set(['CONFIG_SRAM_SIZE', 'CONFIG_FLASH_SIZE']);

function describeEraLayout(layout: EraFuzzLayout): string[] {
  const lines = [`${layout.era} ${layout.mode}: ${layout.features.join(', ') || 'plain'}`];
  for (const [name, value] of Object.entries(layout.kernel.symbols).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const size = layout.kernel.sizes?.[name];
    lines.push(`  ${name} = ${KIB_SYMBOLS.has(name) ? `${value} (KiB)` : hex(value)}${size ? ` (size ${size})` : ''}`);
  }
  for (const m of layout.maps) lines.push(`  --map ${m}`);
  return lines;
}
