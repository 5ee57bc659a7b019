import { InputError } from '../../src/errors.js';
import type { Engine } from '../model.js';

/**
 * Engines by name. Loaded lazily: the emulator engines pull in native
 * libraries and processes that a walker-only run must not pay for.
 */
const ENGINES: Record<string, () => Promise<Engine>> = {
  walker: async () => (await import('./walker.js')).createWalkerEngine(),
  unicorn: async () => (await import('./unicorn.js')).createUnicornEngine(),
  qemu: async () => (await import('./qemu.js')).createQemuEngine(),
};

export const ENGINE_NAMES = Object.keys(ENGINES);

export async function loadEngine(name: string): Promise<Engine> {
  const factory = ENGINES[name];
  if (!factory) throw new InputError(`unknown engine '${name}' (choose one of: ${ENGINE_NAMES.join(', ')})`);
  return factory();
}
