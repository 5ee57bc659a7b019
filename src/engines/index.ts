import { InputError } from '../core/errors.js';
import type { Engine } from '../verify/model.js';
import type { WalkOptions } from '../verify/model.js';
import { emulatorProfileFor, type CpuProfile } from './cpu.js';

/**
 * Engines by name. Loaded lazily: the emulator engines pull in native
 * libraries and processes that a walker-only run must not pay for.
 */
const ENGINES: Record<string, (walkOptions: WalkOptions, cpu: CpuProfile | null) => Promise<Engine>> = {
  walker: async (walkOptions) => (await import('./walker.js')).createWalkerEngine(walkOptions),
  unicorn: async () => (await import('./unicorn/engine.js')).createUnicornEngine(),
  qemu: async () => (await import('./qemu/engine.js')).createQemuEngine(),
  bochs: async (walkOptions, cpu) => (await import('./bochs/engine.js')).createBochsEngine(cpu ?? emulatorProfileFor(walkOptions)),
};

export const ENGINE_NAMES = Object.keys(ENGINES);
/** `--engine all`: every engine on the same tables, one matrix (matrix.ts). */
export const ALL_ENGINES = 'all';

/**
 * The engine by name; the walker reads entries under `walkOptions`, Bochs runs
 * the CPU profile (by default the walker's NXE/PSE on the richest model).
 */
export async function loadEngine(name: string, walkOptions: WalkOptions = {}, cpu: CpuProfile | null = null): Promise<Engine> {
  const factory = ENGINES[name];
  if (!factory) throw new InputError(`unknown engine '${name}' (choose one of: ${ENGINE_NAMES.join(', ')})`);
  return factory(walkOptions, cpu);
}
