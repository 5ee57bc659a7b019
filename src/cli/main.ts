#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK } from '../core/errors.js';
import { installCleanupHooks } from '../core/cleanup.js';
import { didYouMean } from './command.js';

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
  lookup: async () => (await import('./lookup.js')).registerLookup,
  fuzz: async () => (await import('./fuzz.js')).registerFuzzCommand,
  setup: async () => (await import('./setup.js')).registerSetup,
};

/** The program with the commands `word` needs: just its own, or all of them (for help and errors). */
export async function buildProgram(word: string | undefined): Promise<Command> {
  const program = new Command('x86pt')
    .description('Build x86 early-boot page tables from a kernel ELF, and prove them right')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true);
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

/**
 * Commander checks required options before unknown ones, so `verify --kernal
 * K` would say only that -k is missing. An unknown long option is the better
 * error: it is reported first, with the option it was probably meant to be.
 * A prefix of a known option is left to the command (gen takes argparse's
 * abbreviations).
 */
function rejectUnknownLongOptions(command: Command, args: readonly string[]): void {
  const options = command.options;
  const longs = options.flatMap((o) => (o.long ? [o.long] : [])).concat(['--help']);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return;
    if (!arg.startsWith('--')) continue;
    const name = arg.split('=')[0]!;
    const option = options.find((o) => o.long === name);
    if (option) {
      if ((option.required || option.optional) && !arg.includes('=')) i++;
      continue;
    }
    if (longs.some((long) => long.startsWith(name))) continue;
    command.error(`error: unknown option '${name}'${didYouMean(name, longs)}`, { code: 'commander.unknownOption', exitCode: EXIT_BAD_INPUT });
  }
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
  if (args[0] === 'help' && args[1] !== undefined && !COMMANDS[args[1]] && args[1] !== 'help') {
    process.stderr.write(`x86pt: unknown command '${args[1]}'${didYouMean(args[1], Object.keys(COMMANDS))}\n`);
    process.exitCode = EXIT_BAD_INPUT;
    return;
  }
  try {
    const program = await buildProgram(args[0]);
    const command = program.commands.find((c) => c.name() === args[0]);
    if (command) rejectUnknownLongOptions(command, args.slice(1));
    await program.parseAsync(args, { from: 'user' });
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
