/**
 * Real GNU binutils in tests: kernels linked by `as` + `ld --defsym` (absolute
 * symbols as a Zephyr build makes them) and symbol tables as `readelf` reports them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { ElfSymbolDef } from '../../src/elf/writer.js';

/** One `.text` byte and the entry symbol, so ld links without warnings. */
const KERNEL_SOURCE = '\t.text\n\t.globl _start\n_start:\n\tnop\n';

/**
 * Assembles and links a tiny kernel with `--defsym NAME=0xVALUE` per symbol and
 * returns the ELF's path (in a fresh directory under `dir`). Names must be
 * valid in a linker script and not one of its keywords (MAX, ORIGIN, ...).
 */
export async function linkKernel(elfClass: 32 | 64, symbols: readonly ElfSymbolDef[], dir: string): Promise<string> {
  const limit = 1n << BigInt(elfClass);
  for (const { name, value } of symbols) {
    // ld -m elf_i386 silently keeps the low 32 bits of a larger value.
    if (value < 0n || value >= limit) throw new Error(`linkKernel: ${name}=0x${value.toString(16)} does not fit ELF${elfClass}`);
  }
  const work = mkdtempSync(join(dir, `ld${elfClass}-`));
  const source = join(work, 'kernel.s');
  const object = join(work, 'kernel.o');
  const elf = join(work, 'kernel.elf');
  writeFileSync(source, KERNEL_SOURCE);
  await execa('as', [`--${elfClass}`, '-o', object, source]);
  const defsyms = symbols.flatMap(({ name, value }) => ['--defsym', `${name}=0x${value.toString(16)}`]);
  await execa('ld', ['-m', elfClass === 64 ? 'elf_x86_64' : 'elf_i386', '-o', elf, object, ...defsyms]);
  return elf;
}

/** A symbol as `readelf -sW` prints it. */
export interface ReadelfSymbol {
  readonly index: number;
  readonly value: bigint;
  readonly type: string;
  readonly bind: string;
  readonly visibility: string;
  readonly ndx: string;
  readonly name: string;
}

/** A symbol table section as `readelf -sW` prints it. */
export interface ReadelfSymbolTable {
  readonly section: string;
  readonly symbols: readonly ReadelfSymbol[];
}

/** Runs `readelf -sW` and parses every symbol table it prints; rejects if readelf writes any warning. */
export async function readelfSymbolTables(path: string): Promise<ReadelfSymbolTable[]> {
  const { stdout, stderr } = await execa('readelf', ['-sW', path], { env: { LC_ALL: 'C' } });
  if (stderr.trim() !== '') throw new Error(`readelf -sW ${path} warned: ${stderr.trim()}`);
  const tables: { section: string; symbols: ReadelfSymbol[] }[] = [];
  for (const line of stdout.split('\n')) {
    const header = /^Symbol table '([^']*)' contains \d+ entr/.exec(line);
    if (header) {
      tables.push({ section: header[1]!, symbols: [] });
      continue;
    }
    const row = /^\s*(\d+):\s+([0-9a-f]+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(?: (.*))?$/.exec(line);
    if (row && tables.length > 0) {
      tables[tables.length - 1]!.symbols.push({
        index: Number(row[1]),
        value: BigInt(`0x${row[2]}`),
        type: row[4]!,
        bind: row[5]!,
        visibility: row[6]!,
        ndx: row[7]!,
        name: row[8] ?? '',
      });
    }
  }
  return tables;
}

/** Runs `readelf -hSW` and returns its output; rejects if readelf writes any warning. */
export async function readelfHeaders(path: string): Promise<string> {
  const { stdout, stderr } = await execa('readelf', ['-hSW', path], { env: { LC_ALL: 'C' } });
  if (stderr.trim() !== '') throw new Error(`readelf -hSW ${path} warned: ${stderr.trim()}`);
  return stdout;
}
