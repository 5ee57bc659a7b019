import { Command } from 'commander';
import { readElf } from '../elf/reader.js';
import { generateForEra, DEFAULT_MAX_TABLES_BYTES } from '../gen/generate.js';
import { ERA_DEFINITIONS } from '../gen/eras.js';
import { isZephyrEra, ZEPHYR_ERAS, type ZephyrEra } from '../elf/zephyr-era.js';
import { writeFileAtomic } from '../core/io.js';
import { EXIT_OK, InputError, namingSource } from '../core/errors.js';
import { runAction } from './command.js';
import { writeSwappedImage } from './swap.js';

interface GenOptions {
  kernel?: string;
  into?: string;
  output: string;
  verbose: number;
  map: string[];
  compat?: boolean;
  zephyr?: string;
  maxTablesSize?: string;
}

/** The long options every gen_mmu.py has (v2.6 and 2025 add --map); argparse takes unique prefixes of them. */
const SCRIPT_LONG_OPTIONS = ['--kernel', '--output', '--verbose', '--map'];

/**
 * argparse expands a unique prefix of a long option (`--ker` for --kernel)
 * unless the parser says allow_abbrev=False, as the 2025 script does. The
 * prefixes are expanded here; whether the era allows them is checked once the
 * era is known.
 */
function expandAbbreviations(args: string[], used: string[]): string[] {
  const out: string[] = [];
  let options = true;
  for (const arg of args) {
    if (arg === '--') options = false;
    if (!options || !arg.startsWith('--') || arg === '--') {
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const matches = SCRIPT_LONG_OPTIONS.filter((o) => o.startsWith(name));
    if (name.length > 2 && !SCRIPT_LONG_OPTIONS.includes(name) && matches.length === 1 && !['--max-tables-size', '--compat', '--zephyr', '--help'].includes(name)) {
      used.push(name);
      out.push(matches[0]! + (eq < 0 ? '' : arg.slice(eq)));
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Bytes, optionally with a binary suffix: 4096, 64K, 512M, 2G. */
function parseByteCount(text: string): number {
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(text.trim());
  if (!m) throw new InputError(`--max-tables-size ${text}: expected a byte count such as 1073741824, 512M or 2G`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(m[2] ?? '').charAt(0).toLowerCase() as '' | 'k' | 'm' | 'g'];
  const value = Number(m[1]) * unit;
  if (!Number.isSafeInteger(value) || value <= 0) throw new InputError(`--max-tables-size ${text}: out of range`);
  return value;
}

export function registerGen(program: Command): void {
  const abbreviations: string[] = [];
  const command = program
    .command('gen')
    .description('generate page tables from a kernel ELF (gen_mmu.py\'s arguments; `x86pt -k K -o O` works too)')
    .option('-k, --kernel <elf>', 'the prebuilt kernel ELF (zephyr_prebuilt.elf); with --into, the image\'s own symbols when omitted')
    .option('--into <elf>', 'write the tables into a copy of this final image (zephyr.elf), over its pagetables section, as -o; refused when their size or place would differ')
    .requiredOption('-o, --output <file>', 'where to write the tables (atomically)')
    .option('-v, --verbose', 'print what is built: era, mode, each step (also with VERBOSE set); -vv also every entry (v2.6 and 2025)', (_: string, count: number) => count + 1, 0)
    .option('--map <phys,size[,flags[,virt]]>', 'map extra memory, as the v2.6 and 2025 scripts do (flags from LUWXD; repeatable)', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--compat', 'byte-identical to the era\'s gen_mmu.py, its hardware bugs included (see the README)')
    .option('--zephyr <era>', `the generator contract to follow, instead of telling it from the kernel's symbols: ${ZEPHYR_ERAS.join(', ')}`)
    .option('--max-tables-size <bytes>', `refuse layouts whose tables exceed this size (default ${DEFAULT_MAX_TABLES_BYTES / 2 ** 20} MiB)`)
    .addHelpText('after', '\nExit status: 0 written, 2 bad input or a layout the tables cannot express (nothing written).')
    .action(
      runAction(async (options: GenOptions) => {
        if (options.zephyr !== undefined && !isZephyrEra(options.zephyr)) {
          throw new InputError(`--zephyr ${options.zephyr}: not an era; one of ${ZEPHYR_ERAS.join(', ')}`);
        }
        // Like the scripts: VERBOSE in the environment means one -v (it overrides -vv).
        const verbosity = process.env.VERBOSE !== undefined ? 1 : options.verbose;
        const print = (line: string) => process.stdout.write(`x86pt: ${line}\n`);
        const log = verbosity > 0 ? print : undefined;
        const maxTablesBytes = options.maxTablesSize === undefined ? DEFAULT_MAX_TABLES_BYTES : parseByteCount(options.maxTablesSize);
        const given = options.zephyr as ZephyrEra | undefined;
        const eraOptions = {
          compat: options.compat ?? false,
          maps: options.map,
          maxTablesBytes,
          ...(given ? { era: given } : {}),
          ...(log ? { log } : {}),
          ...(verbosity > 1 ? { trace: print } : {}),
        };
        if (options.into !== undefined) {
          await writeSwappedImage(options.into, options.kernel, options.output, eraOptions);
          return EXIT_OK;
        }
        if (options.kernel === undefined) throw new InputError('required option \'-k, --kernel <elf>\' not specified');
        const kernel = options.kernel;
        const { symbols, sizes } = readElf(kernel);
        const tables = namingSource(kernel, () => generateForEra({ symbols, sizes }, eraOptions));
        if (abbreviations.length > 0 && !ERA_DEFINITIONS[tables.era].allowsAbbreviations) {
          throw new InputError(`unrecognized arguments: ${abbreviations.join(' ')} (the ${tables.era} gen_mmu.py takes long options in full)`);
        }
        await writeFileAtomic(options.output, tables.bytes);
        log?.(`wrote ${tables.bytes.length} bytes to ${options.output}`);
        return EXIT_OK;
      }),
    );
  const parseOptions = command.parseOptions.bind(command);
  command.parseOptions = (args: string[]) => parseOptions(expandAbbreviations(args, abbreviations));
}
