/** Symbol values at the edges of each ELF class's st_value, for the reader's and writer's round trips. */
import type { ElfSymbolDef } from '../../src/elf/writer.js';

/** Zero, the largest value and the top bit alone, in each class's width. */
export const EDGE_VALUE_SYMBOLS: Readonly<Record<32 | 64, readonly ElfSymbolDef[]>> = {
  32: [{ name: 'zero', value: 0n }, { name: 'top', value: 0xffffffffn }, { name: 'high_bit', value: 0x80000000n }],
  64: [{ name: 'zero', value: 0n }, { name: 'top', value: 0xffffffffffffffffn }, { name: 'bit63', value: 0x8000000000000000n }],
};
