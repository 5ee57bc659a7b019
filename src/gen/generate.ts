import { InputError } from '../core/errors.js';
import { formatSize, hex } from '../core/text.js';
import { describeFlags } from './flags.js';
import { indexedAddress, topLevel, topLevelBytes, type Level } from './modes.js';
import { layoutFromSymbols, mappedSpan, type Layout, type Symbols } from './layout.js';
import { lowerTablesNeeded, PageTables } from './tables.js';
import type { PagingModeName } from '../elf/kernel.js';

export interface GenerateOptions {
  /**
   * Reproduce the reference generator's bytes exactly, including R/W and U/S
   * in PAE PDPTEs, which are reserved bits there (MOV to CR3 raises #GP).
   */
  readonly compat?: boolean;
  /** Receives a line for each step: mode, bases, each table, each region's flags. */
  readonly log?: (line: string) => void;
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
