/**
 * pyelftools' view of an ELF file, as gen_mmu.py sees it: the library setup.sh
 * installs into .local/python.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const PYTHONPATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.local', 'python');

// Prints one JSON object: the header fields, every section, and the symbols of the
// first section pyelftools makes a SymbolTableSection (in section-header order).
const SCRIPT = `
import json, sys
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
with open(sys.argv[1], 'rb') as f:
    elf = ELFFile(f)
    sections = list(elf.iter_sections())
    first = next((s for s in sections if isinstance(s, SymbolTableSection)), None)
    print(json.dumps({
        'elfclass': elf.elfclass,
        'little_endian': elf.little_endian,
        'e_type': elf['e_type'],
        'e_machine': elf['e_machine'],
        'sections': [{'name': s.name, 'type': s['sh_type'], 'link': s['sh_link'], 'info': s['sh_info'],
                      'entsize': s['sh_entsize']} for s in sections],
        'symtab': None if first is None else first.name,
        'symbols': [] if first is None else [
            {'name': sym.name, 'value': hex(sym['st_value']), 'bind': sym['st_info']['bind'],
             'type': sym['st_info']['type'], 'shndx': sym['st_shndx']} for sym in first.iter_symbols()],
    }))
`;

export interface PyelftoolsSymbol {
  readonly name: string;
  readonly value: bigint;
  readonly bind: string;
  readonly type: string;
  readonly shndx: string | number;
}

export interface PyelftoolsView {
  readonly elfclass: number;
  readonly little_endian: boolean;
  readonly e_type: string;
  readonly e_machine: string;
  readonly sections: readonly { name: string; type: string; link: number; info: number; entsize: number }[];
  /** name of the first symbol table section, null when there is none */
  readonly symtab: string | null;
  readonly symbols: readonly PyelftoolsSymbol[];
}

export async function pyelftoolsView(path: string): Promise<PyelftoolsView> {
  const { stdout } = await execa('python3', ['-c', SCRIPT, path], { env: { PYTHONPATH } });
  const raw = JSON.parse(stdout) as Omit<PyelftoolsView, 'symbols'> & { symbols: (Omit<PyelftoolsSymbol, 'value'> & { value: string })[] };
  return { ...raw, symbols: raw.symbols.map((s) => ({ ...s, value: BigInt(s.value) })) };
}

/** The dict gen_mmu.py builds from the symbols: later definitions of a name win. */
export function referenceSymbolMap(view: PyelftoolsView): Map<string, bigint> {
  return new Map(view.symbols.map((s) => [s.name, s.value]));
}
