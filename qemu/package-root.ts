import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding the project's package.json, found by walking up from
 * this module: the same answer from the TypeScript sources and from dist/.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'qemu'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json with a qemu/ directory above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
