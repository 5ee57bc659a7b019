// @ts-check
/**
 * A generator with a planted bug, for proving that `x86pt fuzz --generator`
 * finds real bugs: it runs x86pt's generator (the built one in dist/), then
 * breaks its answer in one specific way, reading the ELF's symbols to find
 * the entries to break. Takes gen_mmu.py's arguments after the bug's name:
 *
 *   node plant.mjs BUG -k KERNEL.elf -o OUTPUT.bin
 *
 * Refusals behave like x86pt's (one line, exit 2, nothing written) unless the
 * bug is about refusals.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'src');
const load = async (/** @type {string} */ module) => import(pathToFileURL(join(dist, module)).href);
const { readElf } = await load('elf/reader.js');
const { generateTables } = await load('gen/generate.js');
const { InputError } = await load('core/errors.js');

const PAGE = 4096n;
const XD = 1n << 63n;
const PRESENT = 1n;
const WRITABLE = 2n;
const USER = 4n;

/**
 * Paging facts per mode, written out here: a planted bug must not borrow the
 * generator's own model. shifts: of each level's index, top level first; entries: of the top level;
 * indexBits: the part of a virtual address the indices read.
 * @type {Record<string, { shifts: number[], entryBytes: number, topEntries: number, indexBits: number }>}
 */
const MODES = {
  '32bit': { shifts: [22, 12], entryBytes: 4, topEntries: 1024, indexBits: 32 },
  pae: { shifts: [30, 21, 12], entryBytes: 8, topEntries: 4, indexBits: 32 },
  ia32e: { shifts: [39, 30, 21, 12], entryBytes: 8, topEntries: 512, indexBits: 48 },
};

/** A block of tables in memory, addressed physically, top level last. */
class Block {
  /** @param {Uint8Array} bytes @param {bigint} phys @param {string} mode */
  constructor(bytes, phys, mode) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.phys = phys;
    this.mode = MODES[mode];
    this.topPhys = phys + BigInt(bytes.length - this.mode.topEntries * this.mode.entryBytes);
  }

  /** @param {bigint} addr */
  read(addr) {
    const at = Number(addr - this.phys);
    return this.mode.entryBytes === 4 ? BigInt(this.view.getUint32(at, true)) : this.view.getBigUint64(at, true);
  }

  /** @param {bigint} addr @param {bigint} value */
  write(addr, value) {
    const at = Number(addr - this.phys);
    if (this.mode.entryBytes === 4) this.view.setUint32(at, Number(value), true);
    else this.view.setBigUint64(at, value, true);
  }

  /** Address of the entry of the top-level table for a virtual address. @param {bigint} virt */
  topEntry(virt) {
    const index = (virt >> BigInt(this.mode.shifts[0])) % BigInt(this.mode.topEntries);
    return this.topPhys + index * BigInt(this.mode.entryBytes);
  }

  /** Address of the leaf entry translating `virt`, or null when a level is missing. @param {bigint} virt */
  leafEntry(virt) {
    const v = virt % (1n << BigInt(this.mode.indexBits));
    let entry = this.topEntry(v);
    for (const shift of this.mode.shifts.slice(1)) {
      const value = this.read(entry);
      if ((value & PRESENT) === 0n) return null;
      const table = value & 0x000ffffffffff000n;
      const entries = BigInt(4096 / this.mode.entryBytes);
      entry = table + ((v >> BigInt(shift)) % entries) * BigInt(this.mode.entryBytes);
    }
    return entry;
  }

  /** Changes the leaf entries of every page of a region. @param {bigint} start @param {bigint} size @param {(e: bigint) => bigint} change */
  changeLeaves(start, size, change) {
    for (let page = start; page < start + size; page += PAGE) {
      if (page === 0n) continue;
      const entry = this.leafEntry(page);
      if (entry !== null) this.write(entry, change(this.read(entry)));
    }
  }
}

/** @param {Map<string, bigint>} symbols */
const modeOf = (symbols) => (symbols.has('CONFIG_X86_64') ? 'ia32e' : symbols.has('CONFIG_X86_PAE') ? 'pae' : '32bit');

/**
 * The bugs. Each changes the tables (or the answer) of a layout x86pt accepted.
 * @type {Record<string, (block: Block, symbols: Map<string, bigint>) => void>}
 */
const BUGS = {
  // The control: x86pt's tables untouched.
  none: () => {},
  // Every leaf entry loses XD: data becomes executable.
  'lost-xd': (block) => {
    if (block.mode.entryBytes === 4) return;
    for (let at = 0n; at < BigInt(block.bytes.length) - BigInt(block.mode.topEntries * 8); at += 8n) {
      const value = block.read(block.phys + at);
      if (value & XD) block.write(block.phys + at, value & ~XD);
    }
  },
  // The dual window counts whole top-level entries of RAM's size, forgetting RAM's offset in the first one.
  'dual-rounded-down': (block, s) => {
    const ramBase = s.get('CONFIG_SRAM_BASE_ADDRESS') ?? 0n;
    const virtBase = s.get('CONFIG_KERNEL_VM_BASE') ?? ramBase;
    if (virtBase === ramBase) return;
    const scope = 1n << BigInt(block.mode.shifts[0]);
    const size = (s.get('CONFIG_SRAM_SIZE') ?? 0n) * 1024n + (ramBase % scope);
    const wanted = (size + scope - 1n) / scope;
    const built = size / scope;
    const first = virtBase - (virtBase % scope);
    for (let k = built; k < wanted; k++) block.write(block.topEntry(first + k * scope), 0n);
  },
  // The identity map stops one page short.
  'last-page-unmapped': (block, s) => {
    const end = (s.get('CONFIG_SRAM_BASE_ADDRESS') ?? 0n) + (s.get('CONFIG_SRAM_SIZE') ?? 0n) * 1024n;
    block.changeLeaves(end - PAGE, PAGE, () => 0n);
  },
  'rodata-writable': (block, s) => {
    if (!s.has('CONFIG_SRAM_REGION_PERMISSIONS')) return;
    block.changeLeaves(s.get('_image_rodata_start') ?? 0n, s.get('_image_rodata_size') ?? 0n, (e) => e | WRITABLE);
  },
  'kpti-user-lost': (block, s) => {
    if (!s.has('CONFIG_SRAM_REGION_PERMISSIONS') || !s.has('CONFIG_X86_64') || !s.has('CONFIG_X86_KPTI')) return;
    for (const region of ['_locore', '_lorodata']) {
      block.changeLeaves(s.get(`${region}_start`) ?? 0n, s.get(`${region}_size`) ?? 0n, (e) => e & ~USER);
    }
  },
  'gcov-not-writable': (block, s) => {
    if (!s.has('CONFIG_SRAM_REGION_PERMISSIONS') || !s.has('CONFIG_COVERAGE_GCOV') || !s.has('CONFIG_USERSPACE')) return;
    block.changeLeaves(s.get('__gcov_bss_start') ?? 0n, s.get('__gcov_bss_size') ?? 0n, (e) => e & ~WRITABLE);
  },
  // An identity-only kernel with RAM at 0 gets its NULL page mapped.
  'null-page-mapped': (block, s) => {
    const ramBase = s.get('CONFIG_SRAM_BASE_ADDRESS');
    if (ramBase !== 0n || s.get('CONFIG_KERNEL_VM_BASE') !== 0n) return;
    const entry = block.leafEntry(0n);
    if (entry !== null) block.write(entry, PRESENT | WRITABLE);
  },
};

/**
 * Bugs in the answer rather than the tables.
 * @type {Record<string, (answer: { symbols: Map<string, bigint>, output: string, generate: (s: Map<string, bigint>) => Uint8Array }) => number>}
 */
const ANSWER_BUGS = {
  // A spare page before the top-level table: translations right, block not minimal.
  'extra-table': ({ symbols, output, generate }) => {
    const bytes = generate(symbols);
    const top = modeOf(symbols) === 'pae' ? 32 : 4096;
    const padded = new Uint8Array(bytes.length + 4096);
    padded.set(bytes.subarray(0, bytes.length - top));
    padded.set(bytes.subarray(bytes.length - top), bytes.length - top + 4096);
    writeFileSync(output, padded);
    return 0;
  },
  // The process id lands in the ignored bits of a non-present top-level entry: same translation, different bytes.
  nondeterministic: ({ symbols, output, generate }) => {
    const bytes = generate(symbols);
    const mode = MODES[modeOf(symbols)];
    const last = bytes.length - mode.entryBytes;
    if ((bytes[last] & 1) === 0) bytes[last + 1] = (process.pid << 1) & 0x0e; // bits 9-11 of the last top-level entry
    writeFileSync(output, bytes);
    return 0;
  },
  // Refuses RAM at physical address 0, which is valid (only the NULL page stays unmapped).
  'refuses-ram-at-zero': ({ symbols, output, generate }) => {
    if (symbols.get('CONFIG_SRAM_BASE_ADDRESS') === 0n) {
      process.stderr.write('plant: RAM at 0 is not supported\n');
      return 2;
    }
    writeFileSync(output, generate(symbols));
    return 0;
  },
  // Opens the output before checking the layout: a refusal leaves an empty file.
  'writes-on-refusal': ({ symbols, output, generate }) => {
    writeFileSync(output, new Uint8Array(0));
    writeFileSync(output, generate(symbols));
    return 0;
  },
  // Flash overlapping RAM is not refused: the tables are built as if there were no XIP.
  'ignores-flash-overlap': ({ symbols, output, generate }) => {
    try {
      writeFileSync(output, generate(symbols));
    } catch (err) {
      if (!(err instanceof InputError) || !/flash .* overlaps RAM/.test(err.message)) throw err;
      const withoutXip = new Map(symbols);
      withoutXip.delete('CONFIG_XIP');
      writeFileSync(output, generate(withoutXip));
    }
    return 0;
  },
};

function main() {
  const [bug, ...args] = process.argv.slice(2);
  const kernel = args[args.indexOf('-k') + 1];
  const output = args[args.indexOf('-o') + 1];
  if (!bug || !(bug in BUGS || bug in ANSWER_BUGS) || !kernel || !output) {
    process.stderr.write(`usage: plant.mjs {${[...Object.keys(BUGS), ...Object.keys(ANSWER_BUGS)].join('|')}} -k KERNEL -o OUTPUT\n`);
    return 2;
  }
  try {
    const { symbols } = readElf(kernel);
    /** @param {Map<string, bigint>} s */
    const generate = (s) => generateTables(s).bytes;
    if (bug in ANSWER_BUGS) return ANSWER_BUGS[bug]({ symbols, output, generate });
    const bytes = generate(symbols);
    const ramBase = symbols.get('CONFIG_SRAM_BASE_ADDRESS') ?? 0n;
    const tablesPhys = (symbols.get('z_x86_pagetables_start') ?? 0n) - ((symbols.get('CONFIG_KERNEL_VM_BASE') ?? ramBase) - ramBase);
    BUGS[bug](new Block(bytes, tablesPhys, modeOf(symbols)), symbols);
    writeFileSync(output, bytes);
    return 0;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    process.stderr.write(`plant: ${err.message}\n`);
    return 2;
  }
}

process.exitCode = main();
