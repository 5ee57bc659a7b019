import type { Command } from 'commander';
import { readElf } from '../elf/reader.js';
import { generateTables } from '../gen/generate.js';
import { writeFileAtomic } from '../core/io.js';
import { EXIT_OK, namingSource } from '../core/errors.js';
import { runAction } from './command.js';

interface GenOptions {
  kernel: string;
  output: string;
  verbose?: boolean;
  compat?: boolean;
}

export function registerGen(program: Command): void {
  program
    .command('gen')
    .description('generate page tables from a kernel ELF (gen_mmu.py\'s arguments; `x86pt -k K -o O` works too)')
    .requiredOption('-k, --kernel <elf>', 'the prebuilt kernel ELF (zephyr_prebuilt.elf)')
    .requiredOption('-o, --output <file>', 'where to write the tables (atomically)')
    .option('-v, --verbose', 'print what is built: mode, bases, each table, each region (also with VERBOSE set)')
    .option('--compat', 'byte-identical to gen_mmu.py: keeps R/W and U/S in PAE PDPTEs, which hardware rejects')
    .addHelpText('after', '\nExit status: 0 written, 2 bad input or a layout the tables cannot express (nothing written).')
    .action(
      runAction(async (options: GenOptions) => {
        const verbose = options.verbose || process.env.VERBOSE !== undefined;
        const log = verbose ? (line: string) => process.stdout.write(`x86pt: ${line}\n`) : undefined;
        const { symbols } = readElf(options.kernel);
        const tables = namingSource(options.kernel, () => generateTables(symbols, { compat: options.compat ?? false, ...(log ? { log } : {}) }));
        await writeFileAtomic(options.output, tables.bytes);
        log?.(`wrote ${tables.bytes.length} bytes to ${options.output}`);
        return EXIT_OK;
      }),
    );
}
