/**
 * The Unicorn engine: loads the tables into an emulated x86 CPU (Unicorn
 * 2.1, which walks the guest's page tables), and observes what every
 * expected page, and the pages around each range, really do when code
 * reads, writes, executes and accesses them from user mode.
 */
import { InputError } from '../../core/errors.js';
import type { Engine, EngineInput, EngineReport } from '../../verify/model.js';
import { unicornVersion } from './binding.js';
import { UNICORN_EXPECTED_VERSION } from './library.js';
import type { ProbePlanOptions } from '../probe/plan.js';
import { probeTables } from './prober.js';
import { tableChangesAfter } from '../table-changes.js';

export interface UnicornEngineOptions {
  /** Which pages to probe (default: every page up to 64 MiB mapped, sampled above). */
  readonly probe?: ProbePlanOptions;
}

/** Unicorn releases before 2.1 translate every virtual address to the same physical one: useless here. */
function walksPageTables(version: string): boolean {
  const match = /^(\d+)\.(\d+)/.exec(version);
  return match !== null && (Number(match[1]) > 2 || (Number(match[1]) === 2 && Number(match[2]) >= 1));
}

export async function createUnicornEngine(options: UnicornEngineOptions = {}): Promise<Engine> {
  const version = unicornVersion();
  if (!walksPageTables(version)) {
    throw new InputError(
      `the unicorn engine needs Unicorn 2.1 or later (found ${version}, which ignores the guest's page tables); ` +
        `install ${UNICORN_EXPECTED_VERSION} with \`npm run setup\` (or \`bash scripts/setup.sh python\`)`,
    );
  }
  return {
    name: 'unicorn',
    async run(input: EngineInput): Promise<EngineReport> {
      const result = probeTables(input, options.probe);
      const tableChanges = result.tablesAfter ? tableChangesAfter(input, result.tablesAfter) : undefined;
      const probe = { plan: result.plan.kind, seed: result.plan.seed, pagesProbed: result.pagesProbed, fullPageCount: result.plan.fullPageCount };
      return { engine: 'unicorn', version, actual: result.actual, coverage: result.coverage, violations: result.violations, probe, ...(tableChanges && { tableChanges }) };
    },
  };
}
