/**
 * The generator under test, in process (x86pt's own) or any external command
 * that takes gen_mmu.py's arguments. Each answers an ELF with tables, a
 * refusal, a crash or a timeout; the properties judge the answer.
 *
 * This is the one place the fuzzer touches the generator in src/: as the
 * thing being tested, never to decide what is right.
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerCleanup } from '../core/cleanup.js';
import { EXIT_BAD_INPUT, InputError } from '../core/errors.js';
import { readInputFile } from '../core/io.js';
import { splitWords } from '../core/shell-words.js';
import { formatSize, hex } from '../core/text.js';
import { parseElf } from '../elf/reader.js';
import { generateForEra, generateTables } from '../gen/generate.js';
import type { ZephyrEra } from '../elf/zephyr-era.js';
import type { PagingModeName } from '../elf/kernel.js';
import { plainEraLayout } from './arbitraries.js';
import { layoutElf, layoutMaps, layoutSymbolMap, type FuzzLayout } from './layout.js';

/** What a generator did with one kernel ELF. */
export type GeneratorOutcome =
  | {
    readonly kind: 'tables';
    readonly bytes: Uint8Array;
    /** Reported by the in-process generator only: what it believes it built. */
    readonly tableCount?: number;
    readonly topLevelPhys?: bigint;
  }
  | {
    readonly kind: 'refused';
    readonly exitCode: number;
    /** The generator's last line on stderr (or the error message in process). */
    readonly message: string;
    /** Files the refusal left behind (there should be none). */
    readonly leftovers: readonly { readonly name: string; readonly bytes: number }[];
  }
  | { readonly kind: 'crashed'; readonly message: string }
  | { readonly kind: 'timeout'; readonly message: string };

export interface TableGenerator {
  /** How reports name it. */
  readonly description: string;
  generate(elf: Uint8Array, call?: GeneratorCall): Promise<GeneratorOutcome>;
}

/** What a layout adds to the kernel: its era (the in-process generator follows it; a script is one era) and its `--map` arguments. */
export interface GeneratorCall {
  readonly era?: ZephyrEra;
  readonly maps?: readonly string[];
}

/** x86pt's generator, called directly: the ELF is parsed by the project's reader, as `gen` does. */
export function inProcessGenerator(options: { compat?: boolean } = {}): TableGenerator {
  const compat = options.compat ?? false;
  return {
    description: `x86pt gen${compat ? ' --compat' : ''} (in process)`,
    async generate(elf: Uint8Array, call: GeneratorCall = {}): Promise<GeneratorOutcome> {
      const { era, maps = [] } = call;
      try {
        const { symbols, sizes } = parseElf(elf, 'kernel.elf');
        const tables = era && era !== 'seed' ? generateForEra({ symbols, sizes }, { compat, era, maps }) : generateTables(symbols, { compat });
        return { kind: 'tables', bytes: tables.bytes, tableCount: tables.tableCount, topLevelPhys: tables.topLevelPhys };
      } catch (err) {
        if (err instanceof InputError) return { kind: 'refused', exitCode: EXIT_BAD_INPUT, message: err.message, leftovers: [] };
        return { kind: 'crashed', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
      }
    },
  };
}

/**
 * Splits a command template into words: whitespace separates, single and
 * double quotes group, a backslash escapes the next character (inside double
 * quotes too). No shell is involved, so the generator is the process that
 * gets killed on a timeout.
 */
export function splitCommand(template: string): string[] {
  return splitWords(template, { doubleQuotedBackslash: 'any', separators: 'whitespace' }, (quote) => new InputError(`--generator: unbalanced ${quote} in '${template}'`));
}

export interface CommandGeneratorOptions {
  /** Each run is killed after this long, with every process it started. */
  readonly timeoutMs: number;
  /** Where each run gets a fresh directory with `kernel.elf`; the output goes beside it. */
  readonly workDir: string;
  /** The largest output read; a bigger one is a finding (default MAX_GENERATOR_OUTPUT_BYTES). */
  readonly maxOutputBytes?: number;
}

/**
 * The largest table block a generator may write. Fuzzed layouts map at most
 * a few GiB, whose tables are a few MiB; a generator writing more than this
 * has gone wrong, and reading it all would only cost memory.
 */
export const MAX_GENERATOR_OUTPUT_BYTES = 256 << 20;

const KERNEL_FILE = 'kernel.elf';
const OUTPUT_FILE = 'tables.bin';
const NOTHING_WRITTEN = `exit status 0 but no ${OUTPUT_FILE} was written`;

/** Of stderr only the end is kept: its last line explains a refusal. */
const STDERR_TAIL_BYTES = 64 << 10;

/** How long the end of stderr is waited for once the generator has exited (a process outside its group may hold it). */
const STREAM_GRACE_MS = 100;

const lastLine = (text: string): string => text.trim().split('\n').pop()?.trim() ?? '';

interface RunResult {
  /** null when the process was killed by a signal or never started. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stderr: string;
  /** Set when the program could not be started at all. */
  readonly startError?: Error;
}

/** Kills a process group; one already gone is fine. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing of the group is left.
  }
}

/**
 * Runs one generator in a process group of its own. At the deadline the
 * whole group is killed, and when the generator exits whatever it left
 * running is killed too; its stderr is read until it ends or briefly after
 * the exit, so a leftover process holding the pipe cannot stall the campaign.
 */
function runGenerator(file: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const forget = registerCleanup(() => killGroup(child.pid));
    let tail = Buffer.alloc(0);
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = (startError?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(grace);
      killGroup(child.pid);
      forget();
      child.stderr?.destroy();
      resolve({
        exitCode: exit?.code ?? null, signal: exit?.signal ?? null, timedOut, stderr: tail.toString('utf8'),
        ...(startError ? { startError } : {}),
      });
    };
    const deadline = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      // The exit event follows a SIGKILL at once; this bounds the wait even if it does not.
      grace = setTimeout(() => finish(), 1000);
    }, timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > STDERR_TAIL_BYTES) tail = tail.subarray(tail.length - STDERR_TAIL_BYTES);
    });
    child.stderr?.on('error', () => {});
    child.stderr?.on('end', () => {
      if (exit) finish();
    });
    child.on('error', (err) => finish(err));
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      killGroup(child.pid);
      if (child.stderr?.readableEnded ?? true) finish();
      else {
        clearTimeout(grace);
        grace = setTimeout(() => finish(), STREAM_GRACE_MS);
      }
    });
  });
}

/** What a generator left in its directory, without reading it (it may be a FIFO or huge). */
function leftoversIn(dir: string): { name: string; bytes: number }[] {
  return readdirSync(dir).filter((name) => name !== KERNEL_FILE).map((name) => ({ name, bytes: lstatSync(join(dir, name)).size }));
}

/**
 * Any generator with gen_mmu.py's command line: `{kernel}` and `{output}` in
 * the template are replaced by the paths of each run, `{maps}` by the
 * layout's `--map` arguments.
 */
export function commandGenerator(template: string, options: CommandGeneratorOptions): TableGenerator {
  const words = splitCommand(template);
  if (words.length === 0) throw new InputError('--generator: the command is empty');
  for (const placeholder of ['{kernel}', '{output}']) {
    if (!words.some((w) => w.includes(placeholder))) throw new InputError(`--generator: '${template}' has no ${placeholder}`);
  }
  const maxOutputBytes = options.maxOutputBytes ?? MAX_GENERATOR_OUTPUT_BYTES;
  return {
    description: template,
    async generate(elf: Uint8Array, call: GeneratorCall = {}): Promise<GeneratorOutcome> {
      const maps = call.maps ?? [];
      const dir = mkdtempSync(join(options.workDir, 'run-'));
      try {
        const kernel = join(dir, KERNEL_FILE);
        const output = join(dir, OUTPUT_FILE);
        writeFileSync(kernel, elf);
        // `{maps}` (a word of its own) becomes `--map ARG` per region; without it they go last.
        const mapArgs = maps.flatMap((m) => ['--map', m]);
        const filled = words.flatMap((w) => (w === '{maps}' ? mapArgs : [w.replaceAll('{kernel}', kernel).replaceAll('{output}', output)]));
        const [file, ...args] = words.includes('{maps}') ? filled : [...filled, ...mapArgs];
        // Only stderr is kept (its last line explains a refusal); a chatty stdout (-v, VERBOSE) is dropped unread.
        const result = await runGenerator(file!, args, options.timeoutMs);
        if (result.timedOut) return { kind: 'timeout', message: `no answer within ${options.timeoutMs} ms` };
        if (result.startError) {
          // Not started at all (no such program, not executable): the command line is wrong, not the generator.
          const code = (result.startError as NodeJS.ErrnoException).code;
          throw new InputError(`--generator: cannot run ${file}: ${code ?? result.startError.message}`);
        }
        if (result.exitCode === null) {
          return { kind: 'crashed', message: `killed by ${result.signal}${result.stderr ? `: ${lastLine(result.stderr)}` : ''}` };
        }
        const written = leftoversIn(dir);
        if (result.exitCode !== 0) {
          return { kind: 'refused', exitCode: result.exitCode, message: lastLine(result.stderr), leftovers: written };
        }
        if (!written.some((f) => f.name === OUTPUT_FILE)) return { kind: 'crashed', message: NOTHING_WRITTEN };
        try {
          return { kind: 'tables', bytes: readInputFile(output, { maxBytes: maxOutputBytes, what: 'a table block', record: false }) };
        } catch (err) {
          // Not a regular file, too big, unreadable: the generator misbehaved, which is a finding.
          if (err instanceof InputError) return { kind: 'crashed', message: `exit status 0 but ${err.message.replace(`${output}: `, `${OUTPUT_FILE}: `)}` };
          throw err;
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * A layout every generator with the era's contract must serve. Seed: RAM of
 * 4 MiB at 1 MiB, identity-mapped, the tables inside it; a released era: its
 * plainest kernel. The pre-check runs the generator on it once, so a command
 * that cannot work at all is bad usage, not a counterexample found after
 * seconds of shrinking.
 */
export function trivialLayout(era: ZephyrEra, mode: PagingModeName): FuzzLayout {
  if (era !== 'seed') return plainEraLayout(era, mode);
  return { kernel: { mode, sramBase: 0x100000n, sramSizeKiB: 4096n, pagetablesStart: 0x300000n }, omit: [] };
}

/**
 * Runs the generator once on a valid layout of the campaign's first era;
 * InputError (one line naming the command and what happened) when it cannot
 * be started, exits non-zero or writes nothing. Tables of any content, a
 * crash or a timeout pass: judging them is the campaign's work.
 */
export async function checkGeneratorRuns(generator: TableGenerator, era: ZephyrEra, mode: PagingModeName): Promise<void> {
  const layout = trivialLayout(era, mode);
  const symbols = layoutSymbolMap(layout);
  const ram = `${formatSize((symbols.get('CONFIG_SRAM_SIZE') ?? 0n) * 1024n)} of RAM at ${hex(symbols.get('CONFIG_SRAM_BASE_ADDRESS') ?? 0n)}`;
  const what = `given a valid ${era === 'seed' ? '' : `${era} `}${mode} layout (${ram}),`;
  const fail = (happened: string): never => {
    throw new InputError(`--generator '${generator.description}' cannot be fuzzed: ${what} ${happened}`);
  };
  const outcome = await generator.generate(layoutElf(layout), { era, maps: [...layoutMaps(layout)] });
  switch (outcome.kind) {
    case 'tables':
      if (outcome.bytes.byteLength === 0) fail('it wrote an empty tables.bin');
      return;
    case 'refused':
      return fail(`it exits with status ${outcome.exitCode}${outcome.message ? ` ('${outcome.message}')` : ''}`);
    case 'crashed':
      // Writing nothing is a command line that names the wrong output; a crash or a bad output is the generator's finding.
      if (outcome.message === NOTHING_WRITTEN) fail(`it exits 0 but writes no ${OUTPUT_FILE}`);
      return;
    case 'timeout':
      // Too slow is a finding too, with the time bound in the report.
      return;
  }
}
