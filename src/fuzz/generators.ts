/**
 * The generator under test, in process (x86pt's own) or any external command
 * that takes gen_mmu.py's arguments. Each answers an ELF with tables, a
 * refusal, a crash or a timeout; the properties judge the answer.
 *
 * This is the one place the fuzzer touches the generator in src/: as the
 * thing being tested, never to decide what is right.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { EXIT_BAD_INPUT, InputError } from '../core/errors.js';
import { parseElf } from '../elf/reader.js';
import { generateTables } from '../gen/generate.js';

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
  generate(elf: Uint8Array): Promise<GeneratorOutcome>;
}

/** x86pt's generator, called directly: the ELF is parsed by the project's reader, as `gen` does. */
export function inProcessGenerator(options: { compat?: boolean } = {}): TableGenerator {
  const compat = options.compat ?? false;
  return {
    description: `x86pt gen${compat ? ' --compat' : ''} (in process)`,
    async generate(elf: Uint8Array): Promise<GeneratorOutcome> {
      try {
        const { symbols } = parseElf(elf, 'kernel.elf');
        const tables = generateTables(symbols, { compat });
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
 * double quotes group, a backslash escapes the next character. No shell is
 * involved, so the generator is the process that gets killed on a timeout.
 */
export function splitCommand(template: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < template.length) word += template[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < template.length) {
      word += template[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new InputError(`--generator: unbalanced ${quote} in '${template}'`);
  if (inWord) words.push(word);
  return words;
}

export interface CommandGeneratorOptions {
  /** Each run is killed after this long. */
  readonly timeoutMs: number;
  /** Where each run gets a fresh directory with `kernel.elf`; the output goes beside it. */
  readonly workDir: string;
}

const KERNEL_FILE = 'kernel.elf';
const OUTPUT_FILE = 'tables.bin';

const lastLine = (text: string): string => text.trim().split('\n').pop()?.trim() ?? '';

/**
 * Any generator with gen_mmu.py's command line: `{kernel}` and `{output}` in
 * the template are replaced by the paths of each run.
 */
export function commandGenerator(template: string, options: CommandGeneratorOptions): TableGenerator {
  const words = splitCommand(template);
  if (words.length === 0) throw new InputError('--generator: the command is empty');
  for (const placeholder of ['{kernel}', '{output}']) {
    if (!words.some((w) => w.includes(placeholder))) throw new InputError(`--generator: '${template}' has no ${placeholder}`);
  }
  return {
    description: template,
    async generate(elf: Uint8Array): Promise<GeneratorOutcome> {
      const dir = mkdtempSync(join(options.workDir, 'run-'));
      try {
        const kernel = join(dir, KERNEL_FILE);
        const output = join(dir, OUTPUT_FILE);
        writeFileSync(kernel, elf);
        const [file, ...args] = words.map((w) => w.replaceAll('{kernel}', kernel).replaceAll('{output}', output));
        // Only stderr is kept (its last line explains a refusal); a chatty stdout (-v, VERBOSE) is dropped unread.
        const result = await execa(file!, args, {
          reject: false, timeout: options.timeoutMs, forceKillAfterDelay: 1000, stdin: 'ignore', stdout: 'ignore',
          maxBuffer: 16 << 20,
        });
        if (result.timedOut) return { kind: 'timeout', message: `no answer within ${options.timeoutMs} ms` };
        if (result.exitCode === undefined) {
          // Not started at all (no such program, not executable): the command line is wrong, not the generator.
          if (!result.signal) throw new InputError(`--generator: cannot run ${file}: ${lastLine(result.shortMessage ?? '')}`);
          return { kind: 'crashed', message: `killed by ${result.signal}${result.stderr ? `: ${lastLine(String(result.stderr))}` : ''}` };
        }
        const written = readdirSync(dir).filter((name) => name !== KERNEL_FILE);
        if (result.exitCode !== 0) {
          return {
            kind: 'refused',
            exitCode: result.exitCode ?? -1,
            message: lastLine(String(result.stderr ?? '')),
            leftovers: written.map((name) => ({ name, bytes: readFileSync(join(dir, name)).byteLength })),
          };
        }
        if (!written.includes(OUTPUT_FILE)) return { kind: 'crashed', message: `exit status 0 but no ${OUTPUT_FILE} was written` };
        return { kind: 'tables', bytes: new Uint8Array(readFileSync(output)) };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
