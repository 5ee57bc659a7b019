/**
 * The ELF reader's memory on names that overlap: 11 500 symbols whose names
 * are the suffixes of one 11 580-byte string (a 288 KB ELF64, within the
 * name budget). Sharing the one decoding keeps the whole process within
 * 10 × the file + 100 MB (measured once, as VmHWM, in a process of its own);
 * the names are still exactly the suffixes. The same overlap in non-ASCII
 * bytes, which cannot share, is refused within the bound.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseElf } from '../src/elf/reader.js';
import { writeElf } from '../src/elf/writer.js';
import { readSectionHeaders, symbolTableIndex } from './support/elf-patch.js';
import { scratchDir, writeScratch } from './support/cli.js';

const READER = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'elf', 'reader.js');
const work = scratchDir('x86pt-robust-elf-memory-');

const NAMES = 11_500;
const LONG_BYTES = 11_580;

/**
 * An ELF64 whose symbols 1..NAMES (values 0..NAMES-1) are named by the
 * suffixes of `long` starting at its bytes 0..NAMES-1; symbol NAMES + 1
 * (value NAMES) keeps the whole of `long`.
 */
function overlappingNames(long: string): Uint8Array {
  const image = writeElf({ elfClass: 64, symbols: Array.from({ length: NAMES + 1 }, (_, i) => ({ name: long, value: BigInt(i) })) });
  const symtab = readSectionHeaders(image)[symbolTableIndex(image)]!;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  for (let i = 1; i <= NAMES; i++) view.setUint32(Number(symtab.sh_offset) + i * 24, i, true);
  return image;
}

/** Reads the ELF at `path` in a fresh process; its peak resident memory and what the read gave. */
function readInChild(path: string): { peakBytes: number; outcome: string } {
  const script = `
    import { readFileSync } from 'node:fs';
    const { readElf } = await import(${JSON.stringify(READER)});
    let outcome;
    try { outcome = 'symbols ' + readElf(${JSON.stringify(path)}).symbols.size; } catch (err) { outcome = err.message; }
    const peak = Number(/VmHWM:\\s*(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    console.log(JSON.stringify({ peakBytes: peak, outcome }));
  `;
  return JSON.parse(execFileSync('node', ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { peakBytes: number; outcome: string };
}

describe('names that are overlapping suffixes of one long string', () => {
  const ascii = overlappingNames('A'.repeat(LONG_BYTES - 20) + 'z_x86_pagetables_end');

  it('the file is the 288 KB case, and its names add up to nearly the whole name budget', () => {
    expect(ascii.length).toBeGreaterThan(280_000);
    expect(ascii.length).toBeLessThan(300_000);
    let total = 0;
    for (let i = 0; i < NAMES; i++) total += LONG_BYTES - i;
    expect(total).toBeGreaterThan(60 * 2 ** 20);
    expect(total).toBeLessThanOrEqual(64 * 2 ** 20);
  });

  it('are read as exactly those suffixes', () => {
    const { symbols } = parseElf(ascii, 'overlap.elf');
    expect(symbols.size).toBe(NAMES + 1);
    const long = 'A'.repeat(LONG_BYTES - 20) + 'z_x86_pagetables_end';
    expect(symbols.get(long)).toBe(BigInt(NAMES));
    for (const i of [1, 2, 1000, 5777, NAMES - 1]) expect(symbols.get(long.slice(i))).toBe(BigInt(i));
    expect(symbols.get('z_x86_pagetables_end')).toBeUndefined();
    expect([...symbols.keys()].filter((name) => name.length === LONG_BYTES - NAMES + 1)).toEqual([long.slice(NAMES - 1)]);
  });

  it('keep the reading process within 10 × the file + 100 MB', () => {
    const path = writeScratch(work, 'ascii.elf', ascii);
    const { peakBytes, outcome } = readInChild(path);
    expect(outcome).toBe(`symbols ${NAMES + 1}`);
    expect(peakBytes).toBeLessThan(10 * ascii.length + 100e6);
  });

  it('in non-ASCII bytes (which cannot share a decoding) are refused, also within the bound', () => {
    const image = overlappingNames('é'.repeat(LONG_BYTES / 2));
    const path = writeScratch(work, 'utf8.elf', image);
    const { peakBytes, outcome } = readInChild(path);
    expect(outcome).toMatch(/utf8\.elf: symbol names overlap so much that decoding them would exhaust memory$/);
    expect(peakBytes).toBeLessThan(10 * image.length + 100e6);
  });
});
