/** The `setup` command: the packaged scripts/setup.sh, run for the package wherever it is installed. */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';
import { runAction } from './command.js';

export function registerSetup(program: Command): void {
  program
    .command('setup')
    .description('install what the engines need (binutils, QEMU, Bochs, Unicorn\'s library) for this installed copy of x86pt')
    .argument('[parts...]', 'what scripts/setup.sh should install (all when omitted)')
    .addHelpText('after', `
Runs the scripts/setup.sh shipped in the package; project-local tools (Unicorn's
library, pyelftools) go into .local/ in the package root, which must be
writable. For a read-only global install, point X86PT_UNICORN_LIB at an
existing libunicorn.so.2 instead.`)
    .action(runAction((parts: string[]) => {
      const root = packageRoot();
      try {
        accessSync(root, constants.W_OK);
      } catch {
        throw new InputError(`${root}: not writable, so setup cannot put its tools in ${join(root, '.local')}; `
          + 'run it as the owner of the install, or set X86PT_UNICORN_LIB to an existing libunicorn.so.2');
      }
      const run = spawnSync('bash', [join(root, 'scripts', 'setup.sh'), ...parts], { cwd: root, stdio: 'inherit' });
      if (run.error) throw new InputError(`cannot run bash for ${join(root, 'scripts', 'setup.sh')}: ${run.error.message}`);
      return run.status ?? 1;
    }));
}
