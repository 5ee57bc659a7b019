#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { EXIT_BAD_INPUT, EXIT_OK } from '../errors.js';
import { registerGen } from './gen.js';
import { registerDemo } from './demo.js';
import { registerVerifyCommands } from '../../verify/cli.js';
import { registerFuzzCommand } from '../../verify/fuzz/cli.js';

/** Subcommand words; anything else starting with '-' is the reference's bare form. */
const PASS_THROUGH = new Set(['-h', '--help', '-V', '--version']);

export function buildProgram(): Command {
  const program = new Command('x86pt')
    .description('Build x86 early-boot page tables from a kernel ELF, and prove them right')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  registerGen(program);
  registerDemo(program);
  registerVerifyCommands(program);
  registerFuzzCommand(program);
  for (const sub of program.commands) sub.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  // gen_mmu.py's own arguments (-k K -o O [-v]) with no command word mean `gen`,
  // so a build system can swap x86pt in for the script unchanged.
  if (args.length > 0 && args[0]!.startsWith('-') && !PASS_THROUGH.has(args[0]!)) args.unshift('gen');
  try {
    await buildProgram().parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      const benign = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exitCode = benign ? EXIT_OK : EXIT_BAD_INPUT;
      return;
    }
    throw err;
  }
}

await main(process.argv);
