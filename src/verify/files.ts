/** The verifier's files: table blocks and kernels in, reports out (atomically). */
import { InputError } from '../core/errors.js';
import { readInputFile } from '../core/io.js';
import { formatSize } from '../core/text.js';
import { readElf } from '../elf/reader.js';
import type { PagingMode } from './model.js';
import { tableBlockProblem } from './walker.js';

const reasonOf = (err: unknown): string => (err instanceof Error && 'code' in err ? String(err.code) : String(err));

/**
 * The largest table block read for each mode. 32-bit and PAE paging address
 * 4 GiB, which 4 MiB (32-bit: 1024 page tables and the directory) or 8 MiB
 * (PAE: 2048 page tables, 4 directories, the PDPT) of tables map entirely;
 * the caps are twice that. IA-32e tables are only bounded by what can be
 * held in memory: 4 GiB maps 2 TiB in 4 KiB pages.
 */
export const MAX_TABLE_BYTES: Readonly<Record<PagingMode, number>> = { '32bit': 8 << 20, pae: 16 << 20, ia32e: 2 ** 32 };

/** Reads a table block and checks it has the shape of the mode's tables (whole tables, top level last). */
export function readTables(path: string, mode: PagingMode): Uint8Array {
  const max = MAX_TABLE_BYTES[mode];
  let bytes: Uint8Array;
  try {
    bytes = readInputFile(path, { maxBytes: max, what: `${mode} tables`, openError: (err) => `cannot read tables (${reasonOf(err)})` });
  } catch (err) {
    // Said in the terms of the tables: the mode's limit, not a file size.
    if (err instanceof InputError && err.message.includes(' x86pt reads as ')) {
      throw new InputError(`${path}: more than the ${formatSize(BigInt(max))} of tables x86pt reads for ${mode} paging`);
    }
    throw err;
  }
  const problem = tableBlockProblem(mode, bytes.byteLength);
  if (problem) throw new InputError(`${path}: ${problem}`);
  return bytes;
}

/** The symbols of a kernel ELF (the reader names the file in its errors). */
export function readKernelSymbols(path: string): ReadonlyMap<string, bigint> {
  return readElf(path).symbols;
}

export { writeFileAtomic } from '../core/io.js';
