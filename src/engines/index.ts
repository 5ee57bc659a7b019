import { InputError } from '../core/errors.js';
import type { Engine } from '../verify/model.js';
import type { WalkOptions } from '../verify/model.js';

/**
 * Engines by name. Loaded lazily: the emulator engines pull in native
 * libraries and processes that a walker-only run must not pay for.
 */
const ENGINES: Record<string, (walkOptions: WalkOptions) => Promise<Engine>> = {
  walker: async (walkOptions) => (await import('./walker.js')).createWalkerEngine(walkOptions),
  unicorn: async () => (await import('./unicorn/engine.js')).createUnicornEngine(),
  qemu: async () => (await import('./qemu/engine.js')).createQemuEngine(),
};

export const ENGINE_NAMES = Object.keys(ENGINES);

/** The engine by name; the walker reads entries under `walkOptions`. */
export async function loadEngine(name: string, walkOptions: WalkOptions = {}): Promise<Engine> {
  const factory = ENGINES[name];
  if (!factory) throw new InputError(`unknown engine '${name}' (choose one of: ${ENGINE_NAMES.join(', ')})`);
  return factory(walkOptions);
}
