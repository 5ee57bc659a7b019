/**
 * Child process of the generator benchmark (run with --expose-gc). Node's
 * baseline is this process with the generator loaded, warmed (compiled by the
 * JIT) on a small layout of the same mode, and collected. Linux lets a process reset its peak resident set to
 * the current one (/proc/self/clear_refs, 5), so the peak read afterwards
 * (VmHWM) is exactly what generating added on top of the baseline.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { generateTables } from '../../src/gen/generate.js';
import { benchKernelSymbols } from './layouts.js';
import type { PagingModeName } from '../../src/elf/kernel.js';

const statusKiB = (field: string): number => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]);
};

const [mode, sizeMiB] = process.argv.slice(2) as [PagingModeName, string];
for (let i = 0; i < 50; i++) generateTables(benchKernelSymbols(mode, 16n));
(globalThis as { gc?: () => void }).gc?.();
writeFileSync('/proc/self/clear_refs', '5');
const baselineKiB = statusKiB('VmRSS');
const tables = generateTables(benchKernelSymbols(mode, BigInt(sizeMiB)));
const peakKiB = statusKiB('VmHWM');
process.stdout.write(JSON.stringify({ baselineKiB, peakKiB, outputBytes: tables.bytes.length }));
