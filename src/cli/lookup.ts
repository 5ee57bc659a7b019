/** The `lookup` command: one virtual address walked through a table block. */
import { Option, type Command } from 'commander';
import { EXIT_FAILED, EXIT_OK } from '../core/errors.js';
import { runAction } from './command.js';
import { addWalkerOptions, modeOption, parseAddress, readTableInput, tableCommand, walkOptionsOf, type TableInputFlags } from './verify.js';
import { createWalker } from '../verify/walker.js';
import { lookupAddress, lookupJson, lookupText } from '../verify/lookup.js';

interface LookupFlags extends TableInputFlags {
  format: 'text' | 'json';
  json?: boolean;
  asWritten?: boolean;
}

export function registerLookup(program: Command): void {
  const command = tableCommand(program, 'lookup',
    'walk one virtual address through a table block, entry by entry: the translation, or where and why the walk stops',
    [['<addr>', 'the virtual address, hex (0x...) or decimal, 64-bit (canonical in IA-32e)'],
      ['<tables>', 'the table block, as `gen` writes it, or a final image (zephyr.elf) holding it in its pagetables section']])
    .option('-k, --kernel <elf>', 'the kernel ELF the tables were made for: gives the mode and the tables\' physical address')
    .addOption(modeOption('--mode <mode>', 'of the tables'))
    .option('--base <addr>', 'physical address of the first byte of the tables (hex 0x... or decimal), with --mode')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'print JSON (--format json)')
    .option('--as-written', 'follow an entry with reserved bits as if the bits were clear (the violation is still printed)');
  addWalkerOptions(command)
    .addHelpText('after', `
Each entry read is printed as dump --raw prints it (level, table[index], value,
flags, what it points to, reserved bits), then either "translates to PHYS: SIZE
page, PERMISSIONS (...), ATTRIBUTES" or "does not translate: WHY" (not present at
a level, a reserved bit, a non-canonical address, a table outside the block).
JSON: {"mode", "virt", "topTablePhys", "translates", "entries": [...],
"translation": {"phys", "pageSize", "writable", "user", "executable", "global",
"pat", "pcd", "pwt", "accessed", "dirty"} | null, "stop": {"reason", "level",
"message"} | null}.

Exit status: 0 the address translates, 1 it does not, 2 bad input (e.g. an address
that is not a 64-bit number).`)
    .action(runAction(async (addr: string, tablesFile: string, flags: LookupFlags) => {
      const virt = parseAddress(addr, 'address');
      const options = { ...walkOptionsOf(flags), ignoreReservedBits: flags.asWritten === true };
      const input = readTableInput(tablesFile, flags);
      const report = lookupAddress(createWalker(input.block, options), input.block.tablesPhys, virt);
      process.stdout.write(flags.json === true || flags.format === 'json' ? lookupJson(report) : lookupText(report));
      return report.translation ? EXIT_OK : EXIT_FAILED;
    }));
}
