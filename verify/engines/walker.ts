import type { Engine, EngineInput, EngineReport } from '../model.js';
import { walkTables, type WalkOptions } from '../walker.js';

/** Bumped whenever the walker's reading of the SDM changes, so reports say which model produced them. */
export const WALKER_VERSION = '1.0';

/**
 * The SDM page walker as an engine: it reads every entry, so its coverage is
 * the whole address space and it reports architectural violations itself.
 */
export async function createWalkerEngine(options: WalkOptions = {}): Promise<Engine> {
  return {
    name: 'walker',
    async run(input: EngineInput): Promise<EngineReport> {
      const result = walkTables({ mode: input.mode, tables: input.tables, tablesPhys: input.tablesPhys }, options);
      return { engine: 'walker', version: WALKER_VERSION, actual: result.ranges, coverage: 'all', violations: result.violations };
    },
  };
}
