/**
 * The commands' side of final kernel images: a positional input that is an
 * ELF is a final image (zephyr.elf) holding its own tables, read by the
 * verifier's image module; a table file keeps needing -k. Also where the
 * first-pass (prebuilt) ELF is found, and how the image's checks join each
 * report.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { hasElfMagic, readElf } from '../elf/reader.js';
import type { CheckInput } from '../verify/check.js';
import { readTables } from '../verify/files.js';
import type { VerifyNames } from '../verify/format.js';
import { imageChecks, imageChecksJson, imageChecksOk, imageChecksText, readImageTables, type ImageCheck, type ImageTables, type PrebuiltSymbols } from '../verify/image.js';
import type { JunitCase } from '../verify/junit.js';
import type { Engine, WalkOptions } from '../verify/model.js';
import { pagingModeOf } from '../verify/spec.js';
import { tableBlockProblem } from '../verify/walker.js';

export { hasElfMagic } from '../elf/reader.js';

export interface ImageFlags {
  prebuilt?: string;
  buildDir?: string;
  map?: string[];
}

/** What verify checks: tables, the symbols saying what they should do, and, for an image, the image's own checks. */
export interface VerifySource {
  readonly symbols: ReadonlyMap<string, bigint>;
  readonly sizes?: ReadonlyMap<string, bigint>;
  readonly tables: Uint8Array;
  readonly names: VerifyNames;
  readonly image?: ImageTables;
  readonly checks?: readonly ImageCheck[];
  /** The prebuilt ELF the placeholder was checked in, and whether it was found rather than given. */
  readonly prebuilt?: { readonly file: string; readonly found: boolean };
}

/** The first link pass's output, newest naming first: Zephyr 2.x, then 3.x's last and first pre-link stages. */
export const PREBUILT_NAMES = ['zephyr_prebuilt.elf', 'zephyr_pre1.elf', 'zephyr_pre0.elf'] as const;

/** verify's image options: --prebuilt and --build-dir, and --map (the v2.6+ scripts' extra mappings) unless the command has it already. */
export function addImageOptions(command: Command): Command {
  command
    .option('--prebuilt <elf>', 'with a final image: the first link pass\'s ELF (zephyr_prebuilt.elf), whose placeholder must match the tables (default: found beside the image)')
    .option('--build-dir <dir>', 'a Zephyr build folder: compare x86pt --compat with its pagetables.bin, verify its zephyr.elf and the placement of the tables, in one run');
  if (!command.options.some((o) => o.long === '--map')) {
    command.option('--map <phys,size[,flags[,virt]]>', 'an extra mapping the build passed to gen_mmu.py (v2.6 and later; repeatable)', (value: string, all: string[]) => [...all, value], [] as string[]);
  }
  return command;
}

/** The prebuilt ELF beside an image, if one of the usual names is there. */
export function prebuiltBeside(image: string): string | undefined {
  return PREBUILT_NAMES.map((n) => join(dirname(image), n)).find((p) => existsSync(p));
}

export function readPrebuilt(file: string): PrebuiltSymbols {
  const { symbols, sizes } = readElf(file);
  return { source: file, symbols, sizes };
}

/** verify's input: a table file with -k, or a final image (with its prebuilt, given or found beside it). */
export function verifySource(input: string | undefined, kernel: string | undefined, prebuilt: string | undefined): VerifySource {
  if (input === undefined) throw new InputError('give a table file with -k KERNEL.elf, a final image (zephyr.elf), or --build-dir DIR');
  if (hasElfMagic(input)) {
    if (kernel !== undefined) throw new InputError(`${input} is an ELF: a final image carries its own symbols and tables; -k is for a table file`);
    return imageSource(input, prebuilt);
  }
  if (prebuilt !== undefined) throw new InputError('--prebuilt goes with a final image (zephyr.elf), not a table file');
  if (kernel === undefined) throw new InputError(`${input}: a table file needs -k KERNEL.elf (or give the final image, zephyr.elf, which holds both)`);
  const { symbols, sizes } = readElf(kernel);
  return { symbols, sizes, tables: readTables(input, pagingModeOf(symbols)), names: { tablesFile: input, kernelFile: kernel } };
}

/** A final image and its checks. */
export function imageSource(file: string, prebuiltFile: string | undefined): VerifySource {
  const image = readImageTables(file);
  const found = prebuiltFile === undefined ? prebuiltBeside(file) : undefined;
  const prebuilt = prebuiltFile ?? found;
  const checks = imageChecks(image, prebuilt !== undefined ? readPrebuilt(prebuilt) : undefined);
  return {
    symbols: image.symbols, sizes: image.sizes, tables: image.tables, names: { tablesFile: image.tablesName, kernelFile: file }, image, checks,
    ...(prebuilt !== undefined ? { prebuilt: { file: prebuilt, found: found !== undefined } } : {}),
  };
}

/**
 * checkTables' input. An image's sizes and the build's --map arguments go
 * along for the era spec, which reads them (the placeholder's size; v2.6's
 * extra mappings); the seed's spec reads symbols alone.
 */
export function checkInputOf(source: VerifySource, engine: Engine, walkOptions: WalkOptions, maps: readonly string[] | undefined): CheckInput {
  const input: CheckInput & { readonly sizes?: ReadonlyMap<string, bigint>; readonly maps?: readonly string[] } = {
    symbols: source.symbols, tables: source.tables, engine, walkOptions,
    ...(source.sizes ? { sizes: source.sizes } : {}),
    ...(maps && maps.length > 0 ? { maps } : {}),
  };
  return input;
}

/** Whether the image's tables cannot even be walked (not whole tables): verify then reports the image checks alone. */
export const unwalkable = (source: VerifySource): boolean =>
  source.image !== undefined && tableBlockProblem(source.image.mode, source.tables.byteLength) !== null;

/** The image's checks as JUnit test cases. */
export function imageJunitCases(source: VerifySource): JunitCase[] {
  return (source.checks ?? []).map((c) => ({
    name: c.skipped ? `${c.name} (skipped: ${c.skipped})` : c.name,
    ...(c.problems.length > 0 ? { failure: { message: c.problems[0]!, details: c.problems } } : {}),
  }));
}

/** The image's part of a report in the format chosen; '' for a table file. */
export function imageReport(source: VerifySource, format: 'text' | 'json' | 'markdown', report: string): { text: string; ok: boolean } {
  if (!source.image || !source.checks) return { text: report, ok: true };
  const ok = imageChecksOk(source.checks);
  if (format === 'json') {
    const json = JSON.parse(report) as Record<string, unknown>;
    json.image = { ...imageChecksJson(source.image, source.checks), ...(source.prebuilt ? { prebuilt: source.prebuilt.file } : {}) };
    if (!ok) json.ok = false;
    return { text: `${JSON.stringify(json, null, 2)}\n`, ok };
  }
  const text = imageChecksText(source.image, source.checks) + (source.prebuilt ? `  prebuilt: ${source.prebuilt.file}${source.prebuilt.found ? ' (found beside the image)' : ''}\n` : '');
  if (format === 'markdown') {
    const lines = text.trimEnd().split('\n').map((l) => l.replace(/^ {4}/, '  - ').replace(/^ {2}(ok|FAIL|skipped)/, '- $1'));
    return { text: `${report}\n#### Image\n\n${lines.join('\n')}\n`, ok };
  }
  return { text: report + text, ok };
}
