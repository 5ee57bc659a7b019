/** Help and typos: an unknown command or option names what was probably meant, exit 2. */
import { describe, expect, it } from 'vitest';
import { closestWords } from '../src/cli/command.js';
import { expectBadInput, scratchDir, writeKernelAndTables, x86pt } from './support/cli.js';
import { generate } from './support/verify-kernels.js';
import type { KernelDescription } from '../src/elf/kernel.js';

const PAE: KernelDescription = { mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 4096n, pagetablesStart: 0x300000n };
const dir = scratchDir('x86pt-cli-help-');
const { elf, bin } = writeKernelAndTables(dir, 'k', PAE, generate(PAE).bytes);

describe('help for a command that does not exist', () => {
  it('help dmup: exit 2, one line with the suggestion, no top help', async () => {
    const run = await x86pt(['help', 'dmup']);
    expectBadInput(run, /^x86pt: unknown command 'dmup' \(did you mean dump\?\)$/);
  });

  it('help with no close command names none', async () => {
    const run = await x86pt(['help', 'zzzzzzzz']);
    expectBadInput(run, /^x86pt: unknown command 'zzzzzzzz'$/);
  });

  it('help dump still prints the dump help, exit 0', async () => {
    const run = await x86pt(['help', 'dump']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Usage: x86pt dump/);
  });

  it('a mistyped command word gets a suggestion from the lazily loaded commands', async () => {
    const run = await x86pt(['verfy', bin]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/unknown command 'verfy'[\s\S]*Did you mean verify\?/);
  });
});

describe('a mistyped option', () => {
  it('--kernal on verify names --kernel instead of saying -k is missing', async () => {
    const run = await x86pt(['verify', '--kernal', elf, bin]);
    expectBadInput(run, /unknown option '--kernal' \(did you mean --kernel\?\)/);
    expect(run.stderr).not.toMatch(/required option/);
  });

  it('--kernal on gen and in the bare gen_mmu.py form', async () => {
    for (const args of [['gen', '--kernal', elf, '-o', `${dir}/o.bin`], ['--kernal', elf, '-o', `${dir}/o.bin`]]) {
      expectBadInput(await x86pt(args), /unknown option '--kernal' \(did you mean --kernel\?\)/);
    }
  });

  it('an option value that looks like an option is not taken for one', async () => {
    const run = await x86pt(['dump', bin, '--mode', 'pae', '--base', '0x300000', '--format', 'json']);
    expect(run.exitCode).toBe(0);
  });

  it('a unique prefix stays gen\'s to expand (argparse abbreviations)', async () => {
    const run = await x86pt(['gen', '--ker', elf, '-o', `${dir}/p.bin`]);
    expect(run.exitCode).toBe(0);
  });

  it('the right option still works', async () => {
    expect((await x86pt(['verify', '--kernel', elf, bin])).exitCode).toBe(0);
  });
});

describe('closestWords', () => {
  it('finds transpositions and single edits, not far words', () => {
    expect(closestWords('dmup', ['gen', 'demo', 'dump', 'verify', 'diff', 'fuzz'])).toEqual(['dump']);
    expect(closestWords('--kernal', ['--kernel', '--engine'])).toEqual(['--kernel']);
    expect(closestWords('xyz', ['gen', 'dump'])).toEqual([]);
  });
});
