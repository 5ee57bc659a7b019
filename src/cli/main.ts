#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK } from '../core/errors.js';
import { installCleanupHooks } from '../core/cleanup.js';

/** Subcommand words; anything else starting with '-' is the reference's bare form. */
const PASS_THROUGH = new Set(['-h', '--help', '-V', '--version']);

type Registrar = (program: Command) => void;

/**
 * Each command's code, loaded on demand: `x86pt gen` in a build loads the
 * generator and not the fuzzer, the emulators or their libraries.
 */
const COMMANDS: Record<string, () => Promise<Registrar>> = {
  gen: async () => (await import('./gen.js')).registerGen,
  demo: async () => (await import('./demo.js')).registerDemo,
  dump: async () => (await import('./verify.js')).registerVerifyCommands,
  verify: async () => (await import('./verify.js')).registerVerifyCommands,
  diff: async () => (await import('./verify.js')).registerVerifyCommands,
  fuzz: async () => (await import('./fuzz.js')).registerFuzzCommand,
};

/** The program with the commands `word` needs: just its own, or all of them (for help and errors). */
export async function buildProgram(word: string | undefined): Promise<Command> {
  const program = new Command('x86pt')
    .description('Build x86 early-boot page tables from a kernel ELF, and prove them right')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  const loaders = word !== undefined && COMMANDS[word] ? [COMMANDS[word]] : Object.values(COMMANDS);
  const registrars = new Set(await Promise.all(loaders.map((load) => load())));
  for (const register of registrars) register(program);
  for (const sub of program.commands) sub.exitOverride();
  return program;
}

/**
 * A reader that went away (`x86pt demo | head -1`) ends the output, not the
 * command: what is left to print is dropped, no trace, and the command
 * finishes with its own status (`gen -v -o out | head -1` still writes out).
 */
function endQuietlyOnClosedPipe(): void {
  const silence = (stream: NodeJS.WriteStream): void => {
    stream.write = (() => true) as typeof stream.write;
  };
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    silence(process.stdout);
    if (err.code === 'EPIPE') return;
    process.exitCode = EXIT_INTERNAL;
    process.stderr.write(`x86pt: internal error: standard output: ${err.message}\n`);
  });
  // Nowhere is left to report a failing stderr on; it must not become an uncaught exception either.
  process.stderr.on('error', () => silence(process.stderr));
}

/** An error no command caught (thrown from a callback, a promise nobody awaited) is a bug: exit 3, the trace only on request. */
function internalError(err: unknown): void {
  process.stderr.write(`x86pt: internal error: ${(err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ')}\n`);
  if (process.env.X86PT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
}

export async function main(argv: string[]): Promise<void> {
  endQuietlyOnClosedPipe();
  process.on('uncaughtException', (err) => {
    internalError(err);
    process.exit(EXIT_INTERNAL);
  });
  process.on('unhandledRejection', (err) => {
    internalError(err);
    process.exit(EXIT_INTERNAL);
  });
  installCleanupHooks();
  const args = argv.slice(2);
  // gen_mmu.py's own arguments (-k K -o O [-v]) with no command word mean `gen`,
  // so a build system can swap x86pt in for the script unchanged.
  if (args.length > 0 && args[0]!.startsWith('-') && !PASS_THROUGH.has(args[0]!)) args.unshift('gen');
  try {
    await (await buildProgram(args[0])).parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      const benign = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exitCode = benign ? EXIT_OK : EXIT_BAD_INPUT;
      return;
    }
    process.exitCode = EXIT_INTERNAL;
    internalError(err);
  }
}

await main(process.argv);
