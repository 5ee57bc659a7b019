/**
 * Run as a child process by the qemu bench (`node qemu-large.js SIZE_MIB`):
 * checks a fully mapped IA-32e identity layout of SIZE_MIB with the qemu
 * engine under the default plan and prints, as JSON, the seconds it took,
 * node's peak memory (its own VmHWM: the check's alone) and QEMU's (VmHWM of
 * the QEMU child, sampled every 20 ms while it runs).
 */
import { readFileSync } from 'node:fs';
import { benchKernelSymbols } from './layouts.js';
import { generateTables } from '../../src/gen/generate.js';
import { checkTables } from '../../src/verify/check.js';
import { createQemuEngine } from '../../src/engines/qemu/engine.js';

/** A process's peak resident memory in MiB. */
const peakMiB = (pid: number | 'self'): number => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const sizeMiB = BigInt(process.argv[2] ?? '1024');
let qemuPid = 0;
let qemuMiB = 0;
const engine = await createQemuEngine({ onCaseStart: (start) => { qemuPid = start.pid; } });
const sampler = setInterval(() => {
  try {
    if (qemuPid !== 0) qemuMiB = Math.max(qemuMiB, peakMiB(qemuPid));
  } catch {
    // QEMU has just exited: its last sample stands.
  }
}, 20);
const symbols = benchKernelSymbols('ia32e', sizeMiB);
const tables = generateTables(symbols).bytes;
const start = performance.now();
const result = await checkTables({ symbols, tables, engine });
const seconds = (performance.now() - start) / 1000;
clearInterval(sampler);
process.stdout.write(JSON.stringify({ seconds, nodeMiB: peakMiB('self'), qemuMiB, ok: result.ok }));
