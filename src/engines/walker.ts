import type { Engine, EngineInput, EngineReport, WalkOptions } from '../verify/model.js';
import { walkerReport } from '../verify/walker.js';

/**
 * The SDM page walker as an engine: it reads every entry, so its coverage is
 * the whole address space and it reports architectural violations itself.
 */
export async function createWalkerEngine(walkOptions: WalkOptions = {}): Promise<Engine> {
  return {
    name: 'walker',
    walkOptions,
    async run(input: EngineInput): Promise<EngineReport> {
      return walkerReport({ mode: input.mode, tables: input.tables, tablesPhys: input.tablesPhys }, walkOptions);
    },
  };
}
