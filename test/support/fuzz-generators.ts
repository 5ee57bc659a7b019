/**
 * In-process generators with planted bugs, for showing that each fuzzing
 * property catches its kind of bug: x86pt's generator, fed altered symbols or
 * with its answer altered.
 */
import { InputError } from '../../src/core/errors.js';
import { parseElf } from '../../src/elf/reader.js';
import { generateTables } from '../../src/gen/generate.js';
import type { GeneratorOutcome, TableGenerator } from '../../src/fuzz/generators.js';

type Symbols = Map<string, bigint>;

/** x86pt's generator with `plant` applied to the symbols it reads and to the outcome it gives. */
export function plantedGenerator(
  description: string,
  plant: { symbols?: (s: Symbols) => Symbols; outcome?: (o: GeneratorOutcome, s: Symbols) => GeneratorOutcome },
): TableGenerator {
  return {
    description,
    async generate(elf: Uint8Array): Promise<GeneratorOutcome> {
      const read = new Map(parseElf(elf, 'kernel.elf').symbols);
      const symbols = plant.symbols ? plant.symbols(new Map(read)) : read;
      let outcome: GeneratorOutcome;
      try {
        const t = generateTables(symbols);
        outcome = { kind: 'tables', bytes: t.bytes, tableCount: t.tableCount, topLevelPhys: t.topLevelPhys };
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        outcome = { kind: 'refused', exitCode: 2, message: err.message, leftovers: [] };
      }
      return plant.outcome ? plant.outcome(outcome, read) : outcome;
    },
  };
}

const withSymbol = (s: Symbols, name: string, change: (v: bigint) => bigint): Symbols => {
  const value = s.get(name);
  if (value !== undefined) s.set(name, change(value));
  return s;
};

let calls = 0;

/** One planted bug per finding kind the properties can report about tables. */
export const PLANTED: Readonly<Record<string, { generator: TableGenerator; finds: string }>> = {
  'last page lost': {
    finds: 'translation',
    // RAM one page shorter than the ELF says, whenever that still builds.
    generator: plantedGenerator('last page lost', {
      outcome: (o, s) => {
        if (o.kind !== 'tables') return o;
        try {
          return { kind: 'tables', bytes: generateTables(withSymbol(new Map(s), 'CONFIG_SRAM_SIZE', (kib) => (kib > 4n ? kib - 4n : kib))).bytes };
        } catch (err) {
          if (err instanceof InputError) return o;
          throw err;
        }
      },
    }),
  },
  'KPTI ignored': {
    finds: 'translation',
    generator: plantedGenerator('KPTI ignored', { symbols: (s) => (s.delete('CONFIG_X86_KPTI'), s) }),
  },
  'spare table': {
    finds: 'structure',
    generator: plantedGenerator('spare table', {
      outcome: (o) => {
        if (o.kind !== 'tables') return o;
        // A zero page before the top-level table: every lower table keeps its address.
        const top = o.bytes.length % 4096 === 32 ? 32 : 4096;
        const bytes = new Uint8Array(o.bytes.length + 4096);
        bytes.set(o.bytes.subarray(0, o.bytes.length - top));
        bytes.set(o.bytes.subarray(o.bytes.length - top), o.bytes.length - top + 4096);
        return { kind: 'tables', bytes };
      },
    }),
  },
  'counter in an empty entry': {
    finds: 'nondeterministic',
    generator: plantedGenerator('counter in an empty entry', {
      outcome: (o) => {
        if (o.kind !== 'tables') return o;
        const bytes = o.bytes.slice();
        const last = bytes.length - 8;
        if ((bytes[last]! & 1) === 0) bytes[last + 1] = (++calls << 1) & 0x0e; // ignored bits 9-11 of a non-present entry
        return { ...o, bytes };
      },
    }),
  },
  'refuses RAM at 0': {
    finds: 'rejected-valid',
    generator: plantedGenerator('refuses RAM at 0', {
      outcome: (o, s) => (s.get('CONFIG_SRAM_BASE_ADDRESS') === 0n ? { kind: 'refused', exitCode: 2, message: 'RAM at 0', leftovers: [] } : o),
    }),
  },
  'builds past refusals': {
    finds: 'accepted-refused',
    // A refused layout gets the tables of one page of RAM at 1 MiB instead.
    generator: plantedGenerator('builds past refusals', {
      outcome: (o) => {
        if (o.kind !== 'refused') return o;
        const t = generateTables(new Map([
          ['CONFIG_SRAM_BASE_ADDRESS', 0x100000n], ['CONFIG_SRAM_SIZE', 4n], ['CONFIG_KERNEL_VM_BASE', 0x100000n], ['z_x86_pagetables_start', 0x200000n],
        ]));
        return { kind: 'tables', bytes: t.bytes };
      },
    }),
  },
  'throws on a dual window': {
    finds: 'crash',
    generator: plantedGenerator('throws on a dual window', {
      outcome: (o, s) => (s.get('CONFIG_KERNEL_VM_BASE') !== s.get('CONFIG_SRAM_BASE_ADDRESS') ? { kind: 'crashed', message: 'TypeError: window is undefined' } : o),
    }),
  },
};
