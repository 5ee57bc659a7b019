/** The verifier's files: table blocks and kernels in, reports out (atomically). */
import { readFileSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import { readElf } from '../elf/reader.js';
import type { PagingMode } from './model.js';
import { tableBlockProblem } from './walker.js';

const reasonOf = (err: unknown): string => (err instanceof Error && 'code' in err ? String(err.code) : String(err));

/** Reads a table block and checks it has the shape of the mode's tables (whole tables, top level last). */
export function readTables(path: string, mode: PagingMode): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (err) {
    throw new InputError(`${path}: cannot read tables (${reasonOf(err)})`);
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
