import { InputError } from '../core/errors.js';
import type { Layout, Symbols } from './layout.js';
import type { PagingModeName } from '../elf/kernel.js';
import { detectZephyrEra, ERA_TITLES, type ZephyrEra } from '../elf/zephyr-era.js';
import { buildEraTables, ERA_DEFINITIONS, seedPlan, type EraBuildOptions } from './eras.js';
import { parseExtraMapping, type ExtraMapping } from './map-option.js';

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

/** Builds the tables a checked seed layout asks for (the seed's steps, from that layout). */
export function buildTables(layout: Layout, options: GenerateOptions = {}): GeneratedTables {
  const built = buildEraTables(ERA_DEFINITIONS.seed, layout.mode.name, new Map(), new Map(), eraOptions(options, []), seedPlan(layout));
  return { mode: layout.mode.name, ...built };
}

/** Symbols in, table bytes out, under the seed's contract; throws InputError for every layout it refuses. */
export function generateTables(symbols: Symbols, options: GenerateOptions = {}): GeneratedTables {
  const mode = modeOf(symbols);
  return { mode, ...buildEraTables(ERA_DEFINITIONS.seed, mode, symbols, new Map(), eraOptions(options, [])) };
}

/** CONFIG_X86_64, else CONFIG_X86_PAE, else 32-bit paging: every era's rule. */
const modeOf = (symbols: Symbols): PagingModeName => (symbols.has('CONFIG_X86_64') ? 'ia32e' : symbols.has('CONFIG_X86_PAE') ? 'pae' : '32bit');

const eraOptions = (options: GenerateOptions, extraMappings: readonly ExtraMapping[], trace?: (line: string) => void): EraBuildOptions => ({
  fixed: !(options.compat ?? false),
  extraMappings,
  maxTablesBytes: options.maxTablesBytes ?? DEFAULT_MAX_TABLES_BYTES,
  log: options.log ?? (() => {}),
  verbose: options.log !== undefined,
  ...(trace ? { trace } : {}),
});

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

/** Any era's kernel in, its tables out; throws InputError for every layout that era's tables cannot express. */
export function generateForEra(kernel: KernelSymbols, options: EraGenerateOptions = {}): EraGeneratedTables {
  const decision = options.era ? { era: options.era, decidedBy: ['given'] } : detectZephyrEra(kernel.symbols);
  const { era } = decision;
  options.log?.(`Zephyr era ${era}: ${ERA_TITLES[era]} (${options.era ? 'chosen with --zephyr' : `from ${decision.decidedBy.join(' ')}`})`);
  const definition = ERA_DEFINITIONS[era];
  const maps = options.maps ?? [];
  if (maps.length > 0 && !definition.mapNumbers) throw new InputError(`--map is not an option of the ${era} gen_mmu.py`);
  const extraMappings = maps.map((m) => parseExtraMapping(m, definition.mapNumbers!));
  const symbols = kernel.symbols;
  const mode = modeOf(symbols);
  const trace = definition.countsVerbose ? options.trace : undefined;
  const built = buildEraTables(definition, mode, symbols, kernel.sizes ?? new Map(), eraOptions(options, extraMappings, trace));
  return { mode, ...built, era, decidedBy: decision.decidedBy };
}
