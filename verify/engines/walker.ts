import type { Engine, EngineInput, EngineReport } from '../model.js';
import { walkTables, type WalkOptions } from '../walker.js';

/** Bumped whenever the walker's reading of the SDM changes, so reports say which model produced them. */
export const WALKER_VERSION = '1.0';

/** The walker as an engine, with the processor settings it reads entries under. */
export interface WalkerEngine extends Engine {
  readonly name: 'walker';
  readonly walkOptions: WalkOptions;
}

/**
 * The SDM page walker as an engine: it reads every entry, so its coverage is
 * the whole address space and it reports architectural violations itself.
 */
export async function createWalkerEngine(walkOptions: WalkOptions = {}): Promise<WalkerEngine> {
  return {
    name: 'walker',
    walkOptions,
    async run(input: EngineInput): Promise<EngineReport> {
      const result = walkTables({ mode: input.mode, tables: input.tables, tablesPhys: input.tablesPhys }, walkOptions);
      return { engine: 'walker', version: WALKER_VERSION, actual: result.ranges, coverage: 'all', violations: result.violations };
    },
  };
}

/** Whether the engine is the walker reading entries under exactly these settings (its violations are then the walker's). */
export function isWalkerUnder(engine: Engine, options: WalkOptions): boolean {
  if (engine.name !== 'walker' || !('walkOptions' in engine)) return false;
  const own = (engine as WalkerEngine).walkOptions;
  return own.maxPhysAddr === options.maxPhysAddr && own.nxe === options.nxe && own.pse === options.pse;
}
