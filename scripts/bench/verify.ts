/**
 * Verifier speed on a fully mapped 4 GiB IA-32e table set (1M pages):
 * dump (walk + text report) and verify (spec + walk + compare) in process,
 * and single-address lookups per second.
 */
import type { BenchSection } from './report.js';
import { checkTables } from '../../src/verify/check.js';
import { dumpText } from '../../src/verify/format.js';
import { createWalker, dumpTables, walkTables } from '../../src/verify/walker.js';

const GiB = 2 ** 30;
const RAM_BASE = 4 * GiB;
const RAM_SIZE = 4 * GiB;
const TABLES_PHYS = 8 * GiB;

/**
 * The tables for RAM_SIZE of identity-mapped RAM at RAM_BASE, built directly
 * (PDPT, 4 PDs, 2048 PTs, then the PML4), with P|RW leaves and P|RW|US above.
 */
function fullyMappedTables(): Uint8Array {
  const pageTables = RAM_SIZE / (2 * 2 ** 20);
  const directories = RAM_SIZE / GiB;
  const count = 1 + directories + pageTables + 1;
  const words = new Uint32Array(count * 1024);
  const tableAddr = (n: number): number => TABLES_PHYS + n * 4096;
  const put = (table: number, index: number, addr: number, flags: number): void => {
    words[table * 1024 + index * 2] = ((addr % 2 ** 32) + flags) >>> 0;
    words[table * 1024 + index * 2 + 1] = Math.floor(addr / 2 ** 32);
  };
  const pml4 = count - 1;
  put(pml4, Math.floor(RAM_BASE / 2 ** 39), tableAddr(0), 7);
  for (let d = 0; d < directories; d++) {
    put(0, (RAM_BASE / GiB + d) % 512, tableAddr(1 + d), 7);
    for (let i = 0; i < 512; i++) {
      const pt = 1 + directories + d * 512 + i;
      put(1 + d, i, tableAddr(pt), 7);
      const base = RAM_BASE + d * GiB + i * 2 * 2 ** 20;
      for (let j = 0; j < 512; j++) put(pt, j, base + j * 4096, 3);
    }
  }
  return new Uint8Array(words.buffer);
}

const SYMBOLS: ReadonlyMap<string, bigint> = new Map([
  ['CONFIG_X86_64', 1n],
  ['CONFIG_SRAM_BASE_ADDRESS', BigInt(RAM_BASE)],
  ['CONFIG_SRAM_SIZE', BigInt(RAM_SIZE / 1024)],
  ['CONFIG_KERNEL_VM_BASE', BigInt(RAM_BASE)],
  ['z_x86_pagetables_start', BigInt(TABLES_PHYS)],
]);

/** Median wall time of `runs` calls after one warm-up, in ms. */
async function medianMs(runs: number, body: () => unknown): Promise<number> {
  await body();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await body();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const section: BenchSection = async (report) => {
  const tables = fullyMappedTables();
  const block = { mode: 'ia32e' as const, tables, tablesPhys: BigInt(TABLES_PHYS) };

  const sanity = await checkTables({ symbols: SYMBOLS, tables });
  if (!sanity.ok || sanity.expected[0]?.size !== BigInt(RAM_SIZE)) throw new Error('bench tables do not verify');

  // The walk the verifier compares with, then what `dump` runs: the walk that keeps page sizes and leaf attributes apart.
  for (const [walk, what] of [[walkTables, 'translations'], [dumpTables, 'sizes, attributes']] as const) {
    const dumpMs = await medianMs(7, () => {
      const walked = walk(block);
      return dumpText({
        mode: 'ia32e', tablesFile: 'bench.bin', tablesPhys: block.tablesPhys, tableBytes: tables.byteLength,
        topTablePhys: walked.topTablePhys, ranges: walked.ranges, violations: walked.violations,
      });
    });
    report({ section: 'verify', name: `dump 4 GiB IA-32e (1M pages), ${what}`, value: dumpMs, unit: 'ms', target: '<= 200 ms', ok: dumpMs <= 200 });
  }

  const verifyMs = await medianMs(7, () => checkTables({ symbols: SYMBOLS, tables }));
  report({ section: 'verify', name: 'verify 4 GiB IA-32e (1M pages), in process', value: verifyMs, unit: 'ms', target: '<= 300 ms', ok: verifyMs <= 300 });

  // Lookups: random pages of the 4 GiB (each one a cache miss into 8 MiB of tables), and every page in address order.
  const walker = createWalker(block);
  const firstPage = RAM_BASE / 4096;
  const pageCount = RAM_SIZE / 4096;
  let seed = 12345;
  const random = Float64Array.from({ length: pageCount }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return firstPage + (seed % pageCount);
  });
  const inOrder = Float64Array.from({ length: pageCount }, (_, i) => firstPage + i);
  for (const [name, probes] of [['single-address lookups, random pages', random], ['single-address lookups, pages in order', inOrder]] as const) {
    const rounds = 10;
    let checksum = 0;
    const start = performance.now();
    for (let r = 0; r < rounds; r++) for (let i = 0; i < probes.length; i++) checksum += walker.translatePage(probes[i]!);
    const seconds = (performance.now() - start) / 1000;
    if (!(checksum > 0)) throw new Error('lookups found nothing');
    const perSecond = (rounds * probes.length) / seconds / 1e6;
    report({ section: 'verify', name, value: perSecond, unit: 'M/s', target: '>= 10 M/s', ok: perSecond >= 10 });
  }
};

export default section;
