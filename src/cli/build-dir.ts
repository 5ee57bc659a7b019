/**
 * `x86pt verify --build-dir DIR`: a Zephyr build folder checked in one run.
 * Finds the final image, the first-pass (prebuilt) ELF and the build's
 * pagetables.bin, reads gen_mmu.py's own arguments from build.ninja, and
 * reports x86pt --compat against the build's tables (same bytes, or the first
 * difference), the final image verified, and the image's placement checks.
 * Generating needs the generator, which is why this lives with the commands.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { EXIT_FAILED, EXIT_OK, InputError } from '../core/errors.js';
import { readInputFile } from '../core/io.js';
import { SH_SYNTAX, splitWords } from '../core/shell-words.js';
import { hex } from '../core/text.js';
import { readElf } from '../elf/reader.js';
import { generateForEra } from '../gen/generate.js';
import { MAX_TABLE_BYTES } from '../verify/files.js';
import type { JunitCase } from '../verify/junit.js';
import { pagingModeOf } from '../verify/spec.js';
import { imageSource, PREBUILT_NAMES, type VerifySource } from './image.js';

/** Where a build keeps what x86pt reads. */
export interface BuildLayout {
  readonly dir: string;
  readonly image: string;
  readonly prebuilt: string;
  readonly pagetables: string;
  /** gen_mmu.py's --map arguments, in order. */
  readonly maps: readonly string[];
  /** Where the paths came from: the gen_mmu.py command in build.ninja, or the usual names. */
  readonly from: 'build.ninja' | 'defaults';
}

/** gen_mmu.py's arguments as build.ninja runs them. */
export interface GenMmuCommand {
  readonly kernel?: string;
  readonly output?: string;
  readonly maps: readonly string[];
  /** The directory the command runs in (its `cd DIR &&`), if any. */
  readonly cwd?: string;
}

/** The largest build.ninja read: a big application's is a few MiB. */
const MAX_NINJA_BYTES = 256 << 20;

/** Splits a shell command line into words: quotes and backslashes as sh reads them, no expansion. */
export function shellWords(line: string): string[] {
  return splitWords(line, SH_SYNTAX, () => new InputError('build.ninja: unterminated quote in the gen_mmu.py command'));
}

/** build.ninja's variable lines with `$`-continuations joined and ninja's escapes (`$$`, `$ `, `$:`) undone. */
function ninjaLines(text: string): string[] {
  return text.replace(/\$\r?\n[ \t]*/g, '').split(/\r?\n/).map((l) => l.replace(/\$([$ :])/g, '$1'));
}

/** The directory CMake generated the build in (`cmake_ninja_workdir`), to move paths of a build folder that was copied elsewhere. */
export function ninjaWorkdir(text: string): string | undefined {
  const line = ninjaLines(text).find((l) => /^cmake_ninja_workdir\s*=/.test(l));
  return line?.replace(/^cmake_ninja_workdir\s*=\s*/, '').trim() || undefined;
}

/**
 * The gen_mmu.py invocation in build.ninja: the COMMAND line that runs a
 * program named gen_mmu.py, split at `&&` with a preceding `cd DIR` as its
 * working directory. More than one (two images in one build) is ambiguous.
 */
export function genMmuCommand(text: string): GenMmuCommand | undefined {
  const commands = ninjaLines(text).filter((l) => /^\s*COMMAND\s*=/.test(l) && /gen_mmu\.py(\s|$|["'])/.test(l));
  if (commands.length === 0) return undefined;
  if (new Set(commands).size > 1) throw new InputError(`build.ninja runs gen_mmu.py ${commands.length} times; which is the image's is ambiguous`);
  const line = commands[0]!.replace(/^\s*COMMAND\s*=\s*/, '');
  let cwd: string | undefined;
  for (const part of line.split('&&').map((p) => shellWords(p.trim()))) {
    if (part[0] === 'cd' && part.length === 2) cwd = part[1];
    const at = part.findIndex((w) => w.endsWith('gen_mmu.py'));
    if (at < 0) continue;
    const args = part.slice(at + 1);
    let kernel: string | undefined;
    let output: string | undefined;
    const maps: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      const eq = arg.indexOf('=');
      const [name, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
      const value = () => inline ?? args[++i];
      if (name === '--kernel' || name === '-k') kernel = value();
      else if (name === '--output' || name === '-o') output = value();
      else if (name === '--map') {
        const v = value();
        if (v !== undefined) maps.push(v);
      }
    }
    return { ...(kernel !== undefined ? { kernel } : {}), ...(output !== undefined ? { output } : {}), maps, ...(cwd !== undefined ? { cwd } : {}) };
  }
  return undefined;
}

const isFile = (path: string): boolean => existsSync(path) && statSync(path).isFile();

/**
 * A Zephyr build folder's files. DIR is the build folder (build.ninja and
 * zephyr/) or its zephyr/ folder. With build.ninja's gen_mmu.py command, its
 * --kernel and --output name the prebuilt ELF and the tables (moved along
 * with the folder when it was copied from cmake_ninja_workdir); otherwise the
 * usual names: zephyr_prebuilt.elf (2.x) or zephyr_pre1/pre0.elf (3.x), and
 * pagetables.bin in zephyr/, or zephyr/arch/arch/x86/ where arch/x86's
 * CMakeLists writes it.
 */
export function findBuild(dir: string): BuildLayout {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(`--build-dir ${dir}: not a directory`);
  const zephyrDir = isFile(join(dir, 'zephyr', 'zephyr.elf')) ? join(dir, 'zephyr') : dir;
  const buildRoot = zephyrDir === dir && !isFile(join(dir, 'build.ninja')) && isFile(join(dir, '..', 'build.ninja')) ? join(dir, '..') : dir;
  const image = join(zephyrDir, 'zephyr.elf');
  if (!isFile(image)) throw new InputError(`--build-dir ${dir}: no zephyr.elf in ${dir} or ${join(dir, 'zephyr')}`);
  const ninjaFile = join(buildRoot, 'build.ninja');
  const ninja = isFile(ninjaFile) ? new TextDecoder().decode(readInputFile(ninjaFile, { maxBytes: MAX_NINJA_BYTES, what: 'build.ninja' })) : undefined;
  const command = ninja !== undefined ? genMmuCommand(ninja) : undefined;
  if (command) {
    const workdir = ninja !== undefined ? ninjaWorkdir(ninja) : undefined;
    const place = (path: string | undefined, what: string): string => {
      if (path === undefined) throw new InputError(`${ninjaFile}: the gen_mmu.py command has no ${what}`);
      const absolute = isAbsolute(path) ? path : resolve(command.cwd ?? buildRoot, path);
      if (isFile(absolute)) return absolute;
      // A build folder copied from where CMake made it: the same path below this folder.
      if (workdir !== undefined) {
        const inside = relative(workdir, absolute);
        if (!inside.startsWith('..') && !isAbsolute(inside) && isFile(join(buildRoot, inside))) return join(buildRoot, inside);
      }
      throw new InputError(`${ninjaFile}: gen_mmu.py's ${what} ${path} is not there (nor below ${buildRoot})`);
    };
    return { dir, image, prebuilt: place(command.kernel, '--kernel'), pagetables: place(command.output, '--output'), maps: command.maps, from: 'build.ninja' };
  }
  const prebuilt = PREBUILT_NAMES.map((n) => join(zephyrDir, n)).find(isFile);
  if (!prebuilt) throw new InputError(`--build-dir ${dir}: no prebuilt ELF (${PREBUILT_NAMES.join(', ')}) beside ${image}`);
  const tableCandidates = [join(zephyrDir, 'pagetables.bin'), join(zephyrDir, 'arch', 'arch', 'x86', 'pagetables.bin'), join(zephyrDir, 'arch', 'x86', 'pagetables.bin')];
  const pagetables = tableCandidates.find(isFile);
  if (!pagetables) throw new InputError(`--build-dir ${dir}: no pagetables.bin (looked for ${tableCandidates.join(', ')})`);
  return { dir, image, prebuilt, pagetables, maps: [], from: 'defaults' };
}

/** x86pt --compat against the build's own tables. */
export interface CompatComparison {
  readonly same: boolean;
  /** One line: the verdict, or the first difference (offset, entry, both values). */
  readonly line: string;
}

/** Generates the prebuilt's tables with --compat (and the build's --map arguments) and compares them with the build's pagetables.bin. */
export function compareCompat(layout: BuildLayout, maps: readonly string[]): CompatComparison {
  const { symbols, sizes } = readElf(layout.prebuilt);
  const mode = pagingModeOf(symbols);
  const built = readInputFile(layout.pagetables, { maxBytes: MAX_TABLE_BYTES[mode], what: `${mode} tables` });
  let ours: Uint8Array;
  try {
    ours = generateForEra({ symbols, sizes }, { compat: true, maps }).bytes;
  } catch (err) {
    if (err instanceof InputError) return { same: false, line: `x86pt gen --compat refuses ${layout.prebuilt}, from which the build made ${layout.pagetables}: ${err.message}` };
    throw err;
  }
  const entryBytes = mode === '32bit' ? 4 : 8;
  const common = Math.min(ours.length, built.length);
  let at = 0;
  while (at < common && ours[at] === built[at]) at++;
  if (at === common && ours.length === built.length) return { same: true, line: `x86pt gen --compat gives the same ${built.length} bytes as ${layout.pagetables}` };
  const sizeNote = ours.length === built.length ? '' : ` (x86pt writes ${ours.length} bytes, the build's file has ${built.length})`;
  if (at === common) return { same: false, line: `x86pt gen --compat differs from ${layout.pagetables} in size${sizeNote}; the first ${common} bytes agree` };
  const entry = Math.floor(at / entryBytes);
  const value = (bytes: Uint8Array): string => {
    const start = entry * entryBytes;
    if (start + entryBytes > bytes.length) return 'absent';
    let v = 0n;
    for (let i = entryBytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[start + i]!);
    return hex(v);
  };
  return {
    same: false,
    line: `x86pt gen --compat differs from ${layout.pagetables} first at offset ${hex(BigInt(at))}: entry ${entry % (4096 / entryBytes)} of table ${Math.floor(at / 4096)}`
      + ` (byte ${hex(BigInt(entry * entryBytes))}), x86pt ${value(ours)}, the build ${value(built)}${sizeNote}`,
  };
}

export interface BuildDirOptions {
  readonly format: 'text' | 'json' | 'markdown';
  /** --map given on the command line: only when build.ninja does not name them. */
  readonly maps?: readonly string[];
}

type VerifyOne = (source: VerifySource, extraCases?: readonly JunitCase[]) => Promise<{ text: string; ok: boolean }>;

/** The whole run; returns the exit code. `verifyOne` is verify's own check of a final image (reports, JUnit, engine). */
export async function verifyBuildDir(dir: string, options: BuildDirOptions, verifyOne: VerifyOne): Promise<number> {
  const layout = findBuild(dir);
  const given = options.maps ?? [];
  if (layout.from === 'build.ninja' && given.length > 0) throw new InputError(`--build-dir ${dir}: --map comes from build.ninja's gen_mmu.py command; give none`);
  const maps = layout.from === 'build.ninja' ? layout.maps : given;
  const compat = compareCompat(layout, maps);
  const source = imageSource(layout.image, layout.prebuilt);
  const compatCase: JunitCase = {
    name: 'x86pt gen --compat gives the build\'s pagetables.bin',
    ...(compat.same ? {} : { failure: { message: compat.line, details: [compat.line] } }),
  };
  const verified = await verifyOne(source, [compatCase]);
  const mapsText = maps.length > 0 ? maps.map((m) => `--map ${m}`).join(' ') : 'no --map';
  const header = `build ${dir}: ${layout.image}, prebuilt ${layout.prebuilt}, tables ${layout.pagetables} (gen_mmu.py arguments from ${layout.from}: ${mapsText})`;
  let text: string;
  if (options.format === 'json') {
    let report: unknown;
    try {
      report = JSON.parse(verified.text);
    } catch {
      report = verified.text;
    }
    text = `${JSON.stringify({
      ok: compat.same && verified.ok,
      build: { dir, image: layout.image, prebuilt: layout.prebuilt, pagetables: layout.pagetables, from: layout.from, maps: [...maps] },
      compat: { same: compat.same, message: compat.line },
      verify: report,
    }, null, 2)}\n`;
  } else if (options.format === 'markdown') {
    text = `${compat.same ? '✅' : '❌'} **compat**: ${compat.line}\n\n${header}\n\n${verified.text}`;
  } else {
    text = `${header}\ncompat: ${compat.same ? 'OK' : 'FAIL'}: ${compat.line}\n${verified.text}`;
  }
  process.stdout.write(text);
  return compat.same && verified.ok ? EXIT_OK : EXIT_FAILED;
}
