/**
 * The project's package root, found by walking up from a module's own
 * location: the same answer from the TypeScript sources (vitest), from dist/
 * and from the bundled CLI, so project-local tools (.local/) and the probe
 * stub's source are found wherever x86pt runs from.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest directory at or above `start` holding a package.json. */
export function packageRootFrom(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
}

/** x86pt's package root. */
export function packageRoot(): string {
  return packageRootFrom(dirname(fileURLToPath(import.meta.url)));
}
