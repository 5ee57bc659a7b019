/**
 * The probing engines created with a probe plan choice (`--probe`,
 * `--probe-seed`); the registry creates them with the default plan.
 */
import { InputError } from '../../core/errors.js';
import type { Engine } from '../../verify/model.js';
import type { ProbePlanChoice, ProbePlanOptions } from './plan.js';

export const PROBE_PLAN_CHOICES: readonly ProbePlanChoice[] = ['auto', 'all', 'sampled'];

/** The plan options the command-line flags ask for; InputError for a seed that is no 32-bit unsigned integer. */
export function probeOptionsOf(plan: string | undefined, seed: string | undefined): ProbePlanOptions {
  const options: { plan?: ProbePlanChoice; seed?: number } = {};
  if (plan !== undefined) options.plan = plan as ProbePlanChoice;
  if (seed !== undefined) {
    const n = Number(seed);
    if (!/^\d+$/.test(seed) || !Number.isSafeInteger(n) || n > 0xffffffff) throw new InputError(`--probe-seed ${seed}: not an integer from 0 to 4294967295`);
    options.seed = n;
  }
  return options;
}

/** The named probing engine under `probe`, or null when `name` is no probing engine (the walker reads everything). */
export async function loadProbingEngine(name: string, probe: ProbePlanOptions): Promise<Engine | null> {
  if (name === 'unicorn') return (await import('../unicorn/engine.js')).createUnicornEngine({ probe });
  if (name === 'qemu') return (await import('../qemu/engine.js')).createQemuEngine({ probe });
  return null;
}
