/** The `dump`, `verify` and `diff` commands. */
import { writeSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { EXIT_FAILED, EXIT_OK, InputError } from '../core/errors.js';
import { didYouMean, runAction } from './command.js';
import { PAGING_MODES, type PagingMode, type TablePlacement, type VirtSpan, type WalkOptions } from '../verify/model.js';
import { ALL_ENGINES, ENGINE_NAMES, loadEngine } from '../engines/index.js';
import { CPU_NAMES, cpuProfileNamed, walkOptionsFor } from '../engines/cpu.js';
import { engineMatrix, matrixOutputs } from '../engines/matrix.js';
import { PROBE_PLAN_CHOICES, loadProbingEngine, probeOptionsOf } from '../engines/probe/load.js';
import { checkTables } from '../verify/check.js';
import { diffTables } from '../verify/diff.js';
import { readKernelSymbols, readTables, writeFileAtomic } from '../verify/files.js';
import { diffJson, diffText, diffIsEmpty, dumpJson, dumpText, verifyJson, verifyText, type DiffSide } from '../verify/format.js';
import { verifyJunit } from '../verify/junit.js';
import { kernelTablePlacement } from '../verify/spec.js';
import { ZEPHYR_ERAS, type ZephyrEra } from '../elf/zephyr-era.js';
import { createWalker, dumpTables, tableBlockProblem, walkTables, type TableBlock } from '../verify/walker.js';
import { ONLY_WORDS, describeFilter, filterMismatches, filterRanges, filterViolations, isFiltering, type EntryFilter, type OnlyWord } from '../verify/filters.js';
import { writeRawDump } from '../verify/raw.js';
import { coalesceRanges } from '../verify/ranges.js';
import { diffHtml, dumpHtml, verifyHtml } from '../verify/html.js';
import { diffMarkdown, verifyMarkdown } from '../verify/markdown.js';
import { kernelRegions, layoutSymbolChanges, symbolChangeLine, type KernelRegions, type SymbolChange } from '../verify/regions.js';
import type { VerifyResult } from '../verify/check.js';
import type { DiffReport, DumpContext, VerifyNames } from '../verify/format.js';
import { DENIABLE, withWxJson, writableExecutable, wxText, type Deniable } from '../verify/wx.js';
import { addImageOptions, checkInputOf, hasElfMagic, imageJunitCases, imageReport, unwalkable, verifySource, type ImageFlags } from './image.js';
import { imageChecksText, readImageTables } from '../verify/image.js';
import { verifyBuildDir } from './build-dir.js';

interface WalkerFlags {
  maxPhysAddr: string;
  nxe: boolean;
  pse: boolean;
}

/** Where a table block comes from: a kernel, or a mode and a base (a final image needs neither). */
export interface TableInputFlags extends WalkerFlags {
  kernel?: string;
  mode?: PagingMode;
  base?: string;
}

/** --range and --only. */
export interface FilterFlags {
  range?: string;
  only?: string;
}

interface DumpFlags extends TableInputFlags, FilterFlags {
  format: 'text' | 'json';
  json?: boolean;
  html?: string;
  raw?: boolean;
  asWritten?: boolean;
}

interface VerifyFlags extends WalkerFlags, ImageFlags, FilterFlags {
  kernel?: string;
  engine: string;
  cpu?: string;
  probe?: string;
  probeSeed?: string;
  json?: boolean;
  junit?: string;
  junitName?: string;
  format?: 'text' | 'json' | 'markdown';
  html?: string;
  deny?: Deniable;
  map: string[];
  zephyr?: ZephyrEra;
}

interface DiffFlags extends WalkerFlags, FilterFlags {
  kernel?: string;
  oldKernel?: string;
  newKernel?: string;
  mode?: PagingMode;
  base?: string;
  oldMode?: PagingMode;
  oldBase?: string;
  newMode?: PagingMode;
  newBase?: string;
  format: 'text' | 'json' | 'markdown';
  html?: string;
}

/** A command taking table blocks: its name, what it does, and its arguments ([name, what it is]). */
export function tableCommand(program: Command, name: string, description: string, args: readonly [string, string][]): Command {
  const command = program.command(name).description(description);
  for (const [arg, what] of args) command.argument(arg, what);
  return command;
}

/** Options describing the processor the walker models, shared by every command. */
export function addWalkerOptions(command: Command): Command {
  return command
    .option('--max-phys-addr <bits>', 'MAXPHYADDR of the processor modelled (32-52); address bits at or above it are reserved', '52')
    .option('--no-nxe', 'model IA32_EFER.NXE = 0: XD (bit 63) becomes a reserved bit')
    .option('--no-pse', 'model CR4.PSE = 0: in 32-bit paging, PS in a PDE is ignored instead of mapping 4 MiB');
}

export function walkOptionsOf(flags: WalkerFlags): WalkOptions {
  if (!/^\d+$/.test(flags.maxPhysAddr)) throw new InputError(`--max-phys-addr: '${flags.maxPhysAddr}' is not a number of bits`);
  return { maxPhysAddr: Number(flags.maxPhysAddr), nxe: flags.nxe, pse: flags.pse };
}

export const modeOption = (flags: string, what: string): Option =>
  new Option(flags, `paging mode ${what} (instead of a kernel)`).choices([...PAGING_MODES]);

const formatOption = (): Option => new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');

/** An address given on the command line: hex (0x...) or decimal, below 2^64, exact. `what` names it in the message. */
export function parseAddress(text: string, what: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text.trim())) throw new InputError(`${what}: '${text}' is not an address (use hex 0x... or decimal)`);
  const value = BigInt(text.trim());
  if (value >= 1n << 64n) throw new InputError(`${what}: ${text} does not fit in 64 bits`);
  return value;
}

/** A physical address given on the command line: hex (0x...) or decimal, 4 KiB aligned, below 2^64. */
function parseBase(text: string, option: string): bigint {
  const value = parseAddress(text, option);
  if (value % 4096n !== 0n) throw new InputError(`${option}: ${text} is not 4 KiB aligned (tables start on a page)`);
  return value;
}

/** --range A-B: virtual addresses from A up to but not including B, both 4 KiB aligned, A < B. */
export function parseRange(text: string): VirtSpan {
  const parts = /^\s*([^-\s]+)\s*-\s*([^-\s]+)\s*$/.exec(text);
  if (!parts) throw new InputError(`--range: '${text}' is not A-B (two addresses, hex 0x... or decimal, e.g. 0x100000-0x200000)`);
  const start = parseAddress(parts[1]!, '--range');
  // B may be 2^64 itself: the range then runs to the top of the address space.
  const end = /^(0x0*10000000000000000|18446744073709551616)$/i.test(parts[2]!) ? 1n << 64n : parseAddress(parts[2]!, '--range');
  if (start >= end) throw new InputError(`--range: ${parts[1]} is not below ${parts[2]} (the range is A up to but not including B)`);
  if (start % 4096n !== 0n || end % 4096n !== 0n) throw new InputError(`--range: ${text} does not start and end on 4 KiB pages`);
  return { virt: start, size: end - start };
}

/** --only w1,w2: permission words that must all hold. */
export function parseOnly(text: string): OnlyWord[] {
  const words = text.split(',').map((w) => w.trim());
  for (const word of words) {
    if (!(ONLY_WORDS as readonly string[]).includes(word)) {
      throw new InputError(`--only: unknown '${word}'${didYouMean(word, ONLY_WORDS)} (${ONLY_WORDS.join(', ')}; a comma list means all of them)`);
    }
  }
  return [...new Set(words as OnlyWord[])];
}

/** The filter --range and --only ask for. */
export function filterOf(flags: FilterFlags): EntryFilter {
  return {
    ...(flags.range !== undefined && { window: parseRange(flags.range) }),
    ...(flags.only !== undefined && { only: parseOnly(flags.only) }),
  };
}

/** --range and --only, on a command that prints ranges. */
export function addFilterOptions(command: Command, what = 'the ranges shown'): Command {
  return command
    .option('--range <A-B>', `narrow ${what} to virtual addresses A up to but not including B (hex or decimal, 4 KiB aligned), cut at the edges`)
    .option('--only <words>', `narrow ${what} to permissions: ${ONLY_WORDS.join(', ')} (a comma list means all of them)`);
}

/** Where a table block sits, from its kernel or from --mode/--base. */
function placement(kernel: string | undefined, mode: PagingMode | undefined, base: string | undefined, names: { kernel: string; mode: string; base: string }) {
  if (kernel !== undefined) {
    if (mode !== undefined || base !== undefined) throw new InputError(`give either ${names.kernel} or ${names.mode} with ${names.base}, not both`);
    return kernelTablePlacement({ symbols: readKernelSymbols(kernel) }, kernel);
  }
  if (mode === undefined || base === undefined) throw new InputError(`give ${names.kernel} KERNEL.elf, or both ${names.mode} and ${names.base}`);
  return { mode, tablesPhys: parseBase(base, names.base) };
}

/** A table block from the command line, placed: a final image's own, or a table file's with -k or --mode/--base. */
export function readTableInput(tablesFile: string, flags: TableInputFlags): { block: TableBlock; tablesFile: string; symbols?: ReadonlyMap<string, bigint> } {
  const image = imageSide(tablesFile, flags.kernel ?? flags.mode ?? flags.base, '-k, --mode and --base');
  if (image) return { block: { mode: image.mode, tablesPhys: image.tablesPhys, tables: image.tables }, tablesFile: image.tablesName, symbols: image.symbols };
  const where = placement(flags.kernel, flags.mode, flags.base, { kernel: '-k', mode: '--mode', base: '--base' });
  return { block: { mode: where.mode, tablesPhys: where.tablesPhys, tables: readTables(tablesFile, where.mode) }, tablesFile };
}

/** A table block read from its file and walked: what dump and each side of diff show. */
function walkFile(file: string, where: TablePlacement, options: WalkOptions) {
  const tables = readTables(file, where.mode);
  return { tables, walked: walkTables({ ...where, tables }, options) };
}

function registerDump(program: Command): void {
  const command = tableCommand(program, 'dump',
    'print what a table block translates: maximal ranges by virtual address, aliases, architectural violations',
    [['<tables>', 'the table block, as `gen` writes it (top-level table last), or a final image (zephyr.elf) holding it in its pagetables section']])
    .option('-k, --kernel <elf>', 'the kernel ELF the tables were made for: gives the mode and the tables\' physical address')
    .addOption(modeOption('--mode <mode>', 'of the tables'))
    .option('--base <addr>', 'physical address of the first byte of the tables (hex 0x... or decimal), with --mode')
    .addOption(formatOption())
    .option('--json', 'print JSON (--format json)')
    .addOption(htmlOption())
    .option('--raw', 'list the entries themselves, as the MMU reads them: each non-zero entry decoded, what it points to, reserved bits')
    .option('--as-written', 'follow entries with reserved bits as if the bits were clear (the violation is still printed); '
      + 'the default is the SDM\'s reading: such an entry translates nothing');
  addFilterOptions(command, 'the ranges (with --raw: the entries) shown');
  addWalkerOptions(command)
    .addHelpText('after', `
--raw prints each entry: level, table address[index], raw value, flags (P RW US PWT
PCD A D PS/PAT G PAT XD), what it points to, ignored bits set, and on the next line a
reserved-bit violation. --range keeps the entries whose span meets the range,
--only the pages whose effective permissions hold, with the table entries above.

Text lists one range a line: virtual span, 4 KiB pages, physical start, permissions
(r, w, x; user or kernel), and other virtual spans of the same memory. JSON:
{"mode", "ranges": [{"virt", "phys", "size", "writable", "user", "executable"}],
"violations": [{"level", "path", "entryAddr", "message"}]}, addresses as hex strings.

Exit status: 0 printed, 2 bad input.`)
    .action(runAction(async (tablesFile: string, flags: DumpFlags) => {
      const filter = filterOf(flags);
      const json = jsonFormat(flags);
      if (flags.raw && flags.html !== undefined) throw new InputError('--html maps translations: give it without --raw');
      const options = { ...walkOptionsOf(flags), ignoreReservedBits: flags.asWritten === true };
      const input = readTableInput(tablesFile, flags);
      if (flags.raw) {
        writeRawDump(createWalker(input.block, options), input.block.tablesPhys, input.tablesFile, filter, json, writeStdoutNow);
        return EXIT_OK;
      }
      const walked = dumpTables(input.block, options);
      const note = [flags.asWritten && 'as written: entries with reserved bits followed as if they were clear', describeFilter(filter)].filter(Boolean).join('; ');
      const context = {
        mode: input.block.mode, tablesPhys: input.block.tablesPhys, tablesFile: input.tablesFile, tableBytes: input.block.tables.byteLength,
        topTablePhys: walked.topTablePhys, ranges: filterRanges(walked.ranges, filter),
        violations: filterViolations(input.block.mode, walked.violations, filter), ...(note && { note }),
      };
      process.stdout.write(await dumpReports(context, { ...flags, format: json ? 'json' : 'text' }, input.symbols));
      return EXIT_OK;
    }));
}

function registerVerify(program: Command): void {
  const command = tableCommand(program, 'verify',
    'check a table block against what its kernel asks for (the layout policy), plus the SDM\'s architectural rules',
    [['[tables]', 'the table block, as `gen` writes it, or a final image (zephyr.elf) holding it in its pagetables section']])
    .option('-k, --kernel <elf>', 'the kernel ELF the tables were made for (with a table file)')
    .addOption(new Option('--engine <name>', 'what observes the translations (all: every engine, one matrix)').choices([...ENGINE_NAMES, ALL_ENGINES]).default('walker'))
    .addOption(new Option('--cpu <name>', 'the processor modelled, by the walker and the emulators (instead of --max-phys-addr/--no-nxe/--no-pse)').choices(CPU_NAMES))
    .addOption(new Option('--probe <plan>', 'pages a probing engine probes: all, sampled, or auto (all up to 64 MiB mapped)').choices([...PROBE_PLAN_CHOICES]))
    .option('--probe-seed <n>', "seed of the sampled plan's random pages (default 1)")
    .option('--json', 'print the result as JSON instead of text')
    .option('--junit <file>', 'also write a JUnit XML report to FILE (atomically)')
    .option('--junit-name <name>', 'name of the JUnit test suite (default: "x86pt verify TABLES (kernel /absolute/path/of/KERNEL)")')
    .addOption(new Option('--format <format>', 'output format (--json is --format json)').choices(['text', 'json', 'markdown']))
    .addOption(htmlOption())
    .addOption(new Option('--deny <check>', 'also fail (exit 1) on: wx, a range both writable and executable').choices([...DENIABLE]))
    .option('--map <phys,size[,flags[,virt]]>', 'a --map the tables were generated with (v2.6, 2025; repeatable)', (value: string, all: string[]) => [...all, value], [] as string[])
    .addOption(new Option('--zephyr <era>', 'the contract to check against, instead of telling it from the kernel\'s symbols').choices([...ZEPHYR_ERAS]));
  addImageOptions(command);
  addFilterOptions(command, 'the mismatches, violations and ranges printed (the verdict stays the whole block\'s)');
  addWalkerOptions(command)
    .addHelpText('after', `
The SDM walker's architectural checks run whatever the engine. JSON: {"ok", "engine",
"version", "mode", "tables", "kernel", "tablesPhys", "counts": {"ranges",
"mappedBytes", "mismatches", "violations", "blockProblems"},
"mismatches": [{"virt", "size", "kind", "expected", "actual"}],
"violations": [...], "blockProblems": [...]}; a mismatch covers a run of pages
that differ the same way, "expected"/"actual" describe its first page (null: unmapped).

Exit status: 0 the tables do what the kernel asks, 1 they do not, 2 bad input
(including a kernel whose layout the policy refuses); nothing is written on 2.`)
    .action(runAction(async (tablesFile: string | undefined, flags: VerifyFlags) => {
      const started = performance.now();
      const cpu = flags.cpu === undefined ? null : cpuProfileNamed(flags.cpu);
      const options = cpu ? walkOptionsFor(cpu) : walkOptionsOf(flags);
      const format = verifyFormat(flags);
      if ((flags.range ?? flags.only) !== undefined && (flags.engine === ALL_ENGINES || flags.buildDir !== undefined)) {
        throw new InputError('--range and --only narrow one engine\'s report: give them without --engine all and --build-dir');
      }
      filterOf(flags); // bad --range/--only are bad input before anything runs
      const verifyOne = async (source: ReturnType<typeof verifySource>, extraCases: Parameters<typeof verifyJunit>[3] = []) => {
        const { symbols, names } = source;
        if (unwalkable(source)) return { text: imageChecksText(source.image!, source.checks!), ok: false };
        if (flags.engine === ALL_ENGINES) {
          const { symbols: kernelSymbols, tables } = source;
          const kernel = { symbols: kernelSymbols, ...(source.sizes ? { sizes: source.sizes } : {}), maps: flags.map, ...(flags.zephyr ? { era: flags.zephyr } : {}) };
          const matrix = await checkTablesNamed(names.kernelFile, () => engineMatrix({ ...kernel, tables, walkOptions: options, cpu }));
          const out = matrixOutputs(matrix, names, format, (performance.now() - started) / 1000);
          if (flags.junit !== undefined) await writeFileAtomic(flags.junit, out.junit);
          return { text: out.stdout, ok: matrix.ok };
        }
        const probing = flags.probe !== undefined || flags.probeSeed !== undefined
          ? await loadProbingEngine(flags.engine, probeOptionsOf(flags.probe, flags.probeSeed)) : null;
        const engine = probing ?? (await loadEngine(flags.engine, options, cpu));
        const result = await checkTablesNamed(names.kernelFile, () => checkTables({ ...checkInputOf(source, engine, options, flags.map), ...(flags.zephyr ? { era: flags.zephyr } : {}) }));
        if (flags.junit !== undefined) {
          await writeFileAtomic(flags.junit, verifyJunit(result, names, (performance.now() - started) / 1000, [...imageJunitCases(source), ...extraCases], flags.junitName));
        }
        const report = await verifyReports(result, names, symbols, format, flags);
        const image = imageReport(source, format, report.text);
        return { text: image.text, ok: report.ok && image.ok };
      };
      if (flags.buildDir !== undefined) {
        if (tablesFile !== undefined || flags.kernel !== undefined || flags.prebuilt !== undefined) {
          throw new InputError('--build-dir finds the tables, the image and the prebuilt ELF itself: give no table file, -k or --prebuilt with it');
        }
        return verifyBuildDir(flags.buildDir, { format, maps: flags.map }, verifyOne);
      }
      const report = await verifyOne(verifySource(tablesFile, flags.kernel, flags.prebuilt));
      process.stdout.write(report.text);
      return report.ok ? EXIT_OK : EXIT_FAILED;
    }));
}

/** Prefixes the kernel's file name to a refusal of its layout. */
async function checkTablesNamed<T>(kernel: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${kernel}: ${err.message}`);
    throw err;
  }
}

function registerDiff(program: Command): void {
  const command = tableCommand(program, 'diff',
    'show how two table blocks translate differently: ranges added, removed, retargeted or with new permissions',
    [['<old>', 'the table block before the change'], ['<new>', 'the table block after the change']])
    .option('-k, --kernel <elf>', 'kernel ELF for both sides (mode and tables\' physical address)')
    .option('--old-kernel <elf>', 'kernel ELF for OLD only')
    .option('--new-kernel <elf>', 'kernel ELF for NEW only')
    .addOption(modeOption('--mode <mode>', 'of both sides'))
    .option('--base <addr>', 'physical address of both blocks\' first byte, with --mode')
    .addOption(modeOption('--old-mode <mode>', 'of OLD'))
    .option('--old-base <addr>', 'physical address of OLD\'s first byte')
    .addOption(modeOption('--new-mode <mode>', 'of NEW'))
    .option('--new-base <addr>', 'physical address of NEW\'s first byte')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'markdown']).default('text'))
    .addOption(htmlOption());
  addFilterOptions(command, 'the changes and violations (and the exit status) to what lies there');
  addWalkerOptions(command)
    .addHelpText('after', `
Each side needs a kernel, or a mode and a base. --old-*/--new-* options apply to
one side and win over the shared ones; a side given a kernel of its own takes
nothing from --mode/--base. Examples:
  x86pt diff old.bin new.bin -k zephyr.elf
  x86pt diff old.bin new.bin --old-kernel old.elf --new-kernel new.elf
  x86pt diff old.bin new.bin --mode pae --old-base 0x300000 --new-base 0x301000

Lines: "+" added, "-" removed, "~" changed (target, permissions or both), and
architectural violations that appear or disappear.

--range A-B (A up to but not including B) and --only narrow the changes, the
violations and the exit status to what lies there.

Exit status: 0 same, 1 different, 2 bad input (with --range/--only: where they look).`)
    .action(runAction(async (oldFile: string, newFile: string, flags: DiffFlags) => {
      const options = walkOptionsOf(flags);
      const imageSymbols: { old?: ReadonlyMap<string, bigint>; new?: ReadonlyMap<string, bigint> } = {};
      const readSide = (file: string, which: 'old' | 'new'): DiffSide => {
        const ownKernel = which === 'old' ? flags.oldKernel : flags.newKernel;
        const ownMode = which === 'old' ? flags.oldMode : flags.newMode;
        const ownBase = which === 'old' ? flags.oldBase : flags.newBase;
        const image = imageSide(file, ownKernel ?? ownMode ?? ownBase, `--${which}-kernel, --${which}-mode and --${which}-base`);
        if (image) {
          imageSymbols[which] = image.symbols;
          const walked = walkTables(image, options);
          return { mode: image.mode, tablesPhys: image.tablesPhys, file: image.tablesName, ranges: walked.ranges, violations: walked.violations };
        }
        const where = ((): TablePlacement => {
          if (ownKernel !== undefined || ((ownMode ?? ownBase) === undefined && flags.kernel !== undefined)) {
            const kernel = ownKernel ?? flags.kernel!;
            if ((ownMode ?? ownBase) !== undefined) throw new InputError(`give either --${which}-kernel or --${which}-mode/--${which}-base, not both`);
            if (ownKernel === undefined && (flags.mode ?? flags.base) !== undefined) throw new InputError('give either -k or --mode/--base, not both');
            return kernelTablePlacement({ symbols: readKernelSymbols(kernel) }, kernel);
          }
          const mode = ownMode ?? flags.mode;
          const base = ownBase ?? flags.base;
          if (mode === undefined || base === undefined) {
            throw new InputError(`${which.toUpperCase()} ${file}: give -k/--${which}-kernel, or --mode/--${which}-mode with --base/--${which}-base`);
          }
          return { mode, tablesPhys: parseBase(base, ownBase !== undefined ? `--${which}-base` : '--base') };
        })();
        const { walked } = walkFile(file, where, options);
        return { ...where, file, ranges: walked.ranges, violations: walked.violations };
      };
      const filter = filterOf(flags);
      const report = filterDiff(diffTables(readSide(oldFile, 'old'), readSide(newFile, 'new')), filter);
      const markdown = await diffReports(report, flags, imageSymbols);
      process.stdout.write(markdown ?? (flags.format === 'json' ? diffJson(report) : diffText(report)));
      return diffIsEmpty(report) ? EXIT_OK : EXIT_FAILED;
    }));
}

export function registerVerifyCommands(program: Command): void {
  registerDump(program);
  registerVerify(program);
  registerDiff(program);
}

/**
 * Writes to stdout before returning, waiting while a pipe is full: a raw
 * dump is made as the walk goes, so queueing its chunks would hold it all.
 * A reader that went away ends the output quietly, as everywhere.
 */
let stdoutClosed = false;
function writeStdoutNow(text: string): void {
  const bytes = Buffer.from(text);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let done = 0; done < bytes.length && !stdoutClosed;) {
    try {
      done += writeSync(1, bytes, done);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') Atomics.wait(pause, 0, 0, 1);
      else if (code === 'EPIPE') stdoutClosed = true;
      else throw err;
    }
  }
}

/* Reports: Markdown, the HTML map and the W+X audit. */

const htmlOption = (): Option => new Option('--html <file>', 'also write the address-space map as one self-contained HTML file (atomically)');

/** --format, with --json as its shorthand. */
function verifyFormat(flags: VerifyFlags): 'text' | 'json' | 'markdown' {
  if (flags.json && flags.format !== undefined && flags.format !== 'json') throw new InputError(`give either --json or --format ${flags.format}, not both`);
  return flags.json ? 'json' : flags.format ?? 'text';
}

/** Whether dump prints JSON: --json, or --format json (the default format is text). */
function jsonFormat(flags: { json?: boolean; format: 'text' | 'json' }): boolean {
  return flags.json === true || flags.format === 'json';
}

/** dump's output with the W+X audit; writes --html. `imageSymbols`: a final image's, when the tables came from one. */
async function dumpReports(context: DumpContext, flags: DumpFlags, imageSymbols?: ReadonlyMap<string, bigint>): Promise<string> {
  // W+X is about permissions: ranges split only by page size or attributes count once.
  const wx = writableExecutable(coalesceRanges(context.ranges.map(({ virt, phys, size, writable, user, executable }) => ({ virt, phys, size, writable, user, executable }))));
  if (flags.html !== undefined) {
    const symbols = imageSymbols ?? (flags.kernel !== undefined ? readKernelSymbols(flags.kernel) : undefined);
    const kernel = symbols ? kernelRegions(symbols) : null;
    await writeFileAtomic(flags.html, dumpHtml({ ...context, kernel, wx }));
  }
  return flags.format === 'json' ? withWxJson(dumpJson(context), wx) : dumpText(context) + wxText(wx, context.mode, false);
}

/** verify's output in the chosen format with the W+X audit, and whether it passes once --deny is applied; writes --html. */
async function verifyReports(result: VerifyResult, names: VerifyNames, symbols: ReadonlyMap<string, bigint>,
  format: 'text' | 'json' | 'markdown', flags: VerifyFlags): Promise<{ text: string; ok: boolean }> {
  const deny = flags.deny !== undefined ? [flags.deny] : [];
  const whole = result;
  const filter = filterOf(flags);
  result = filterVerify(result, filter);
  const wx = writableExecutable(result.actual);
  const deniedWx = deny.includes('wx') && writableExecutable(whole.actual).length > 0;
  const kernel = kernelRegions(symbols);
  if (flags.html !== undefined) await writeFileAtomic(flags.html, verifyHtml({ ...names, result, kernel, wx, wxDenied: deny.includes('wx') }));
  const shown = isFiltering(filter) ? shownNote(whole, result, filter) : '';
  const text = format === 'json' ? withWxJson(verifyJson(result, names), wx, deny)
    : format === 'markdown' ? verifyMarkdown({ result, names, kernel, wx, deny }) + (shown && `\n${shown}\n`)
      : verifyText(result, names) + (shown && `${shown}\n`) + wxText(wx, result.mode, deny.includes('wx'));
  return { text, ok: whole.ok && !deniedWx };
}

/** What a filtered verify report leaves out: it narrows the lists, never the verdict. */
function shownNote(whole: VerifyResult, shown: VerifyResult, filter: EntryFilter): string {
  return `shown: ${describeFilter(filter)}: ${shown.mismatches.length} of ${whole.mismatches.length} mismatches, `
    + `${shown.violations.length} of ${whole.violations.length} violations, ${shown.actual.length} of ${whole.actual.length} ranges `
    + '(the verdict is the whole block\'s)';
}

/** A verify result with its lists narrowed to the filter; the verdict and the expected map kept. */
function filterVerify(result: VerifyResult, filter: EntryFilter): VerifyResult {
  if (!isFiltering(filter)) return result;
  return {
    ...result, mismatches: filterMismatches(result.mismatches, filter), actual: filterRanges(result.actual, filter),
    violations: filterViolations(result.mode, result.violations, filter),
  };
}

/** A diff narrowed to the filter: changes and violations where it reaches, each side's ranges too. */
function filterDiff(report: DiffReport, filter: EntryFilter): DiffReport {
  if (!isFiltering(filter)) return report;
  const side = (s: DiffSide): DiffSide => ({ ...s, ranges: filterRanges(s.ranges, filter), violations: filterViolations(s.mode, s.violations, filter) });
  return {
    old: side(report.old), new: side(report.new), changes: filterMismatches(report.changes, filter),
    violationsAdded: filterViolations(report.new.mode, report.violationsAdded, filter),
    violationsRemoved: filterViolations(report.old.mode, report.violationsRemoved, filter),
  };
}

/** Writes diff's --html; returns the Markdown report under --format markdown, else null. */
async function diffReports(report: DiffReport, flags: DiffFlags, images: ImageSymbols): Promise<string | null> {
  if (flags.format !== 'markdown' && flags.html === undefined) return null;
  const { oldKernel, newKernel, symbolChanges } = diffKernels(flags, images);
  if (flags.html !== undefined) {
    await writeFileAtomic(flags.html, diffHtml({
      ...report,
      old: { ...report.old, kernel: oldKernel },
      new: { ...report.new, kernel: newKernel },
      symbolChanges: symbolChanges && symbolChanges.map(symbolChangeLine),
      wx: writableExecutable(report.new.ranges),
    }));
  }
  return flags.format === 'markdown' ? diffMarkdown({ report, oldKernel, newKernel, symbolChanges }) : null;
}

/** Each side's kernel regions (from the kernel readSide took its placement from), and the layout symbols that differ between two kernels. */
function diffKernels(flags: DiffFlags, images: ImageSymbols): { oldKernel: KernelRegions | null; newKernel: KernelRegions | null; symbolChanges: SymbolChange[] | null } {
  const kernelOf = (which: 'old' | 'new'): ReadonlyMap<string, bigint> | null => {
    const image = images[which];
    if (image) return image;
    const own = which === 'old' ? flags.oldKernel : flags.newKernel;
    const ownPlace = which === 'old' ? flags.oldMode ?? flags.oldBase : flags.newMode ?? flags.newBase;
    const file = own ?? (ownPlace === undefined ? flags.kernel : undefined);
    return file !== undefined ? readKernelSymbols(file) : null;
  };
  const oldSymbols = kernelOf('old');
  const newSymbols = kernelOf('new');
  // Only two kernels can differ: one -k for both sides has nothing to compare.
  const twoKernels = flags.oldKernel !== undefined || flags.newKernel !== undefined || images.old !== undefined || images.new !== undefined;
  return {
    oldKernel: oldSymbols && kernelRegions(oldSymbols),
    newKernel: newSymbols && kernelRegions(newSymbols),
    symbolChanges: oldSymbols && newSymbols && twoKernels ? layoutSymbolChanges(oldSymbols, newSymbols) : null,
  };
}

/* Final images as inputs. */

/** A diff side's or a dump's final image symbols, by side. */
type ImageSymbols = { readonly old?: ReadonlyMap<string, bigint>; readonly new?: ReadonlyMap<string, bigint> };

/** The tables of `file` when it is a final image (ELF magic), else null; an image takes no placement options. */
function imageSide(file: string, placementGiven: string | undefined, options: string) {
  if (!hasElfMagic(file)) return null;
  if (placementGiven !== undefined) throw new InputError(`${file} is an ELF: a final image places its own tables; ${options} are for a table file`);
  const image = readImageTables(file);
  const problem = tableBlockProblem(image.mode, image.tables.byteLength);
  if (problem) throw new InputError(`${image.tablesName}: ${problem}`);
  return image;
}
