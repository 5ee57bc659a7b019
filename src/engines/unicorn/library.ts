/**
 * Where Unicorn's shared library lives: the project-local Python folder that
 * `scripts/setup.sh python` fills from the PyPI wheel. Found from this
 * module's own location, so it works from the TypeScript sources (vitest),
 * from dist/ and from the bundled CLI alike.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError } from '../../core/errors.js';
import { packageRoot } from '../../core/package-root.js';

/** The library's place inside the package root. */
export const UNICORN_LIBRARY_RELATIVE = join('.local', 'python', 'unicorn', 'lib', 'libunicorn.so.2');

/** The Unicorn release the project installs and was checked against. */
export const UNICORN_EXPECTED_VERSION = '2.1.4';

/**
 * The absolute path of libunicorn.so.2, or an InputError naming the command
 * that installs it. There is no fallback: an emulator check that silently
 * became a walker check would report something it did not do.
 */
export function unicornLibraryPath(root: string = packageRoot()): string {
  // X86PT_UNICORN_LIB names an existing libunicorn.so.2 (a global install need not carry its own).
  const given = process.env.X86PT_UNICORN_LIB;
  if (given !== undefined && given !== '') {
    if (!existsSync(given)) throw new InputError(`X86PT_UNICORN_LIB: ${given}: no such file (it should name Unicorn ${UNICORN_EXPECTED_VERSION}'s libunicorn.so.2)`);
    return resolve(given);
  }
  const path = join(root, UNICORN_LIBRARY_RELATIVE);
  if (!existsSync(path)) {
    throw new InputError(
      `the unicorn engine needs Unicorn ${UNICORN_EXPECTED_VERSION}'s library at ${path}, which is missing; ` +
        `install it with \`npm run setup\` (or \`bash scripts/setup.sh python\`) in ${root}`,
    );
  }
  return path;
}
