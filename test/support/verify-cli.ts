/** Files for the dump/verify/diff command tests: a kernel ELF and its generated tables, side by side. */
import { execa } from 'execa';
import type { KernelDescription } from '../../src/elf/kernel.js';
import { writeKernelAndTables } from './cli.js';
import { generate } from './verify-kernels.js';

export interface KernelFiles {
  readonly elf: string;
  readonly tables: string;
  readonly bytes: Uint8Array;
  readonly tablesPhys: bigint;
}

/** Writes NAME.elf and NAME.bin (the generator's tables, optionally --compat, optionally altered) into `dir`. */
export function writeKernelFiles(dir: string, name: string, kernel: KernelDescription,
  options: { compat?: boolean; alter?: (bytes: Uint8Array) => Uint8Array } = {}): KernelFiles {
  const generated = generate(kernel, options.compat ?? false);
  const bytes = options.alter ? options.alter(generated.bytes) : generated.bytes;
  const { elf, bin } = writeKernelAndTables(dir, name, kernel, bytes);
  return { elf, tables: bin, bytes, tablesPhys: generated.tablesPhys };
}

/** Parses an XML file with Python's minidom: throws unless it is well-formed. Returns the root element's attributes. */
export async function parseXml(path: string): Promise<Record<string, string>> {
  const script = 'import json,sys,xml.dom.minidom as m; r=m.parse(sys.argv[1]).documentElement; '
    + 'print(json.dumps(dict(r.attributes.items(), tag=r.tagName, failures_found=len(r.getElementsByTagName("failure")))))';
  const { stdout } = await execa('python3', ['-c', script, path]);
  return JSON.parse(stdout) as Record<string, string>;
}
