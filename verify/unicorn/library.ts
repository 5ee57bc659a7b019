/**
 * Where Unicorn's shared library lives: the project-local Python folder that
 * `scripts/setup.sh python` fills from the PyPI wheel. Found from this
 * module's own location, so it works from the TypeScript sources (vitest),
 * from dist/ and from the bundled CLI alike.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../src/errors.js';

/** The library's place inside the package root. */
export const UNICORN_LIBRARY_RELATIVE = join('.local', 'python', 'unicorn', 'lib', 'libunicorn.so.2');

/** The Unicorn release the project installs and was checked against. */
export const UNICORN_EXPECTED_VERSION = '2.1.4';

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

/**
 * The absolute path of libunicorn.so.2, or an InputError naming the command
 * that installs it. There is no fallback: an emulator check that silently
 * became a walker check would report something it did not do.
 */
export function unicornLibraryPath(root: string = packageRoot()): string {
  const path = join(root, UNICORN_LIBRARY_RELATIVE);
  if (!existsSync(path)) {
    throw new InputError(
      `the unicorn engine needs Unicorn ${UNICORN_EXPECTED_VERSION}'s library at ${path}, which is missing; ` +
        `install it with \`npm run setup\` (or \`bash scripts/setup.sh python\`) in ${root}`,
    );
  }
  return path;
}
