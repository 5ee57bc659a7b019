import { InputError } from '../core/errors.js';
import { formatSize, hex } from '../core/text.js';
import { describeFlags } from './flags.js';
import { indexedAddress, topLevel, topLevelBytes, type Level } from './modes.js';
import { layoutFromSymbols, mappedSpan, type Layout, type Symbols } from './layout.js';
import { lowerTablesNeeded, PageTables } from './tables.js';
import type { PagingModeName } from '../elf/kernel.js';
import { detectZephyrEra, ERA_TITLES, type ZephyrEra } from '../elf/zephyr-era.js';
import { buildEraTables, ERA_DEFINITIONS, type EraDefinition } from './eras.js';
import { parseExtraMapping } from './map-option.js';

export interface GenerateOptions {
  /**
   * Reproduce the reference generator's bytes exactly, including R/W and U/S
   * in PAE PDPTEs, which are reserved bits there (MOV to CR3 raises #GP).
   */
  readonly compat?: boolean;
  /** Receives a line for each step: mode, bases, each table, each region's flags. */
  readonly log?: (line: string) => void;
  /** Refuse a layout whose tables would take more bytes than this (default DEFAULT_MAX_TABLES_BYTES). */
  readonly maxTablesBytes?: number;
}

/** 1 GiB of tables: 512 GiB mapped with 4 KiB pages in PAE or IA-32e, 1 TiB in 32-bit paging. */
export const DEFAULT_MAX_TABLES_BYTES = 2 ** 30;

/** Refuses, before anything is allocated, tables larger than the limit. */
export function checkTablesSize(bytes: number, limit: number): void {
  if (bytes > limit) {
    throw new InputError(`the page tables would take ${bytes} bytes (${formatSize(BigInt(bytes))}), more than the limit of ${limit} bytes; raise it with --max-tables-size`);
  }
}

export interface GeneratedTables {
  readonly mode: PagingModeName;
  /** Lower tables by physical address, then the top-level table. */
  readonly bytes: Uint8Array;
  /** Physical address of the first byte. */
  readonly tablesPhys: bigint;
  /** Physical address of the top-level table (what CR3 gets). */
  readonly topLevelPhys: bigint;
  /** Tables in the file, the top level included. */
  readonly tableCount: number;
}

/** Builds the tables a checked layout asks for. */
export function buildTables(layout: Layout, options: GenerateOptions = {}): GeneratedTables {
  const log = options.log ?? (() => {});
  const { mode } = layout;
  log(`building ${mode.title} tables (${mode.levels.map((l) => l.name).join(' > ')}) from physical ${hex(layout.tablesPhys)}`);

  const filled = layout.identity.map((m) => {
    const { start, end } = mappedSpan(m);
    return { start: Number(start), end: Number(end) };
  });
  const lowerTables = lowerTablesNeeded(mode, filled);
  checkTablesSize(lowerTables * 4096 + topLevelBytes(mode), options.maxTablesBytes ?? DEFAULT_MAX_TABLES_BYTES);
  const end = layout.tablesPhys + BigInt(lowerTables * 4096 + topLevelBytes(mode));
  if (end > mode.tablesLimit) {
    throw new InputError(`page tables ${hex(layout.tablesPhys)}-${hex(end)} (z_x86_pagetables_start) end above ${hex(mode.tablesLimit)}, beyond what ${mode.title} can address`);
  }
  const onNewTable = options.log && ((level: Level, phys: number) => log(`new ${level.name} at physical ${hex(BigInt(phys))}`));
  const tables = new PageTables(mode, layout.tablesPhys, lowerTables, options.compat ?? false, onNewTable);
  layout.identity.forEach((m, i) => {
    log(`identity-map ${m.what} ${hex(m.base)}-${hex(m.base + m.size)} (${formatSize(m.size)}): ${describeFlags(m.flags)}${m.skipNullPage && m.base === 0n ? ', page 0 left unmapped' : ''}`);
    tables.mapIdentity(filled[i]!.start, filled[i]!.end, m.flags);
  });
  if (layout.dual) {
    const { dual } = layout;
    const top = topLevel(mode);
    log(`dual-map RAM at ${hex(dual.virtBase)}: ${top.name} entries ${dual.virtIndex}..${dual.virtIndex + dual.entries - 1} share the tables of entries ${dual.physIndex}..${dual.physIndex + dual.entries - 1}`);
    tables.linkTopLevel(dual.virtIndex, dual.physIndex, dual.entries);
  }
  for (const region of layout.regions) {
    log(`region ${region.name} ${hex(region.start)}-${hex(region.start + region.size)} (${formatSize(region.size)}): ${describeFlags(region.flags)}`);
    const start = region.start === 0n ? 4096n : region.start; // the NULL page keeps its flags
    const pages = Number((region.start + region.size - start) / 4096n);
    if (pages > 0) tables.setLeafFlags(indexedAddress(mode, start), pages, region.flags);
  }

  const bytes = tables.toBytes();
  log(`top-level ${topLevel(mode).name} at physical ${hex(BigInt(tables.topLevelPhys))}; ${tables.lowerTableCount + 1} tables, ${bytes.length} bytes`);
  return {
    mode: mode.name,
    bytes,
    tablesPhys: layout.tablesPhys,
    topLevelPhys: BigInt(tables.topLevelPhys),
    tableCount: tables.lowerTableCount + 1,
  };
}

/** Symbols in, table bytes out; throws InputError for every layout it refuses. */
export function generateTables(symbols: Symbols, options: GenerateOptions = {}): GeneratedTables {
  return buildTables(layoutFromSymbols(symbols), options);
}

export interface KernelSymbols {
  readonly symbols: Symbols;
  /** st_size by name (the placeholder dummy_pagetables is checked against it) */
  readonly sizes?: ReadonlyMap<string, bigint>;
}

export interface EraGenerateOptions extends GenerateOptions {
  /** The contract to follow; told from the symbols when absent. */
  readonly era?: ZephyrEra;
  /** `--map` arguments, for the eras that take them. */
  readonly maps?: readonly string[];
  /** Receives a line per entry written (-vv), for the eras that count -v. */
  readonly trace?: (line: string) => void;
}

export interface EraGeneratedTables extends GeneratedTables {
  readonly era: ZephyrEra;
  /** How the era was chosen: 'given' or the deciding symbols. */
  readonly decidedBy: readonly string[];
}

/** The era's definition, or undefined for the seed (its own builder). */
export const eraDefinition = (era: ZephyrEra): EraDefinition | undefined => (era === 'seed' ? undefined : ERA_DEFINITIONS[era]);

/** Any era's kernel in, its tables out; throws InputError for every layout that era's tables cannot express. */
export function generateForEra(kernel: KernelSymbols, options: EraGenerateOptions = {}): EraGeneratedTables {
  const decision = options.era ? { era: options.era, decidedBy: ['given'] } : detectZephyrEra(kernel.symbols);
  const { era } = decision;
  const log = options.log ?? (() => {});
  log(`Zephyr era ${era}: ${ERA_TITLES[era]} (${options.era ? 'chosen with --zephyr' : `from ${decision.decidedBy.join(' ')}`})`);
  const definition = eraDefinition(era);
  const maps = options.maps ?? [];
  if (!definition) {
    if (maps.length > 0) throw new InputError(`--map is not an option of the ${era} gen_mmu.py`);
    return { ...generateTables(kernel.symbols, options), era, decidedBy: decision.decidedBy };
  }
  if (maps.length > 0 && !definition.mapNumbers) throw new InputError(`--map is not an option of the ${era} gen_mmu.py`);
  const extraMappings = maps.map((m) => parseExtraMapping(m, definition.mapNumbers!));
  const symbols = kernel.symbols;
  const mode: PagingModeName = symbols.has('CONFIG_X86_64') ? 'ia32e' : symbols.has('CONFIG_X86_PAE') ? 'pae' : '32bit';
  const built = buildEraTables(definition, mode, symbols, kernel.sizes ?? new Map(), {
    fixed: !(options.compat ?? false),
    extraMappings,
    maxTablesBytes: options.maxTablesBytes ?? DEFAULT_MAX_TABLES_BYTES,
    log,
    ...(options.trace && definition.countsVerbose ? { trace: options.trace } : {}),
  });
  return { mode, ...built, era, decidedBy: decision.decidedBy };
}
