/**
 * An external generator cannot stall or crash a campaign: --timeout bounds
 * the whole process group, processes it leaves behind are killed and cannot
 * hold the campaign by its stderr, and an output that is a FIFO, a
 * directory, a device or too large is a finding, read without blocking.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelElf } from '../src/elf/kernel.js';
import { commandGenerator, type GeneratorOutcome } from '../src/fuzz/generators.js';
import { scratchDir, x86pt } from './support/cli.js';

const work = scratchDir('x86pt-robust-generator-');
const elf = kernelElf({ mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 1024n, pagetablesStart: 0x180000n });

/** One run of `sh -c SCRIPT` as the generator ($0 is the kernel, $1 the output); with how long it took. */
async function runScript(script: string, timeoutMs = 10_000, maxOutputBytes?: number): Promise<{ outcome: GeneratorOutcome; ms: number }> {
  const template = `sh -c '${script}' {kernel} {output}`;
  const generator = commandGenerator(template, { timeoutMs, workDir: work, ...(maxOutputBytes !== undefined ? { maxOutputBytes } : {}) });
  const started = performance.now();
  const outcome = await generator.generate(elf);
  return { outcome, ms: performance.now() - started };
}

/** Whether a process runs (a killed one not yet reaped, a zombie, does not). */
const running = (pid: number): boolean => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
};

/** Waits briefly for a killed process to be gone: SIGKILL is delivered asynchronously. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && running(pid); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return !running(pid);
}

describe('--timeout bounds the generator and everything it started', () => {
  it('a generator sleeping 20 s is a timeout after about 1 s, its sleep killed', async () => {
    const pidFile = join(work, 'sleeper.pid');
    const { outcome, ms } = await runScript(`sleep 20 & echo $! > ${pidFile}; wait`, 1000);
    expect(outcome.kind).toBe('timeout');
    expect(ms).toBeLessThan(5000);
    expect(await gone(Number(readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('a generator that exits at once but leaves a child holding stderr costs no wait; the child is killed', async () => {
    const pidFile = join(work, 'holder.pid');
    const { outcome, ms } = await runScript(`head -c 4096 /dev/zero > "$1"; (sleep 30; echo late >&2) & echo $! > ${pidFile}; exit 0`);
    expect(outcome.kind).toBe('tables');
    expect(outcome.kind === 'tables' && outcome.bytes.length).toBe(4096);
    expect(ms).toBeLessThan(3000);
    expect(await gone(Number(readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('the last line of stderr still explains a refusal', async () => {
    const { outcome } = await runScript('echo first >&2; echo "layout refused" >&2; exit 2');
    expect(outcome).toMatchObject({ kind: 'refused', exitCode: 2, message: 'layout refused', leftovers: [] });
  });
});

describe('an output that is not a table block is a finding, not a hang or an internal error', () => {
  it.each([
    ['a FIFO', 'mkfifo "$1"', /tables\.bin: not a regular file$/],
    ['a directory', 'mkdir "$1"', /tables\.bin: is a directory, not a table block$/],
    ['a symlink to /dev/zero', 'ln -s /dev/zero "$1"', /tables\.bin: not a regular file$/],
  ])('%s', async (_what, script, message) => {
    const { outcome, ms } = await runScript(script);
    expect(outcome.kind).toBe('crashed');
    expect(outcome.kind === 'crashed' && outcome.message).toMatch(message);
    expect(ms).toBeLessThan(5000);
  });

  it('an output above the limit is a finding; one at the limit is read', async () => {
    const over = await runScript('head -c 12288 /dev/zero > "$1"', 10_000, 8192);
    expect(over.outcome.kind).toBe('crashed');
    expect(over.outcome.kind === 'crashed' && over.outcome.message).toMatch(/tables\.bin: 12288 bytes is more than the 8 KiB/);
    const at = await runScript('head -c 8192 /dev/zero > "$1"', 10_000, 8192);
    expect(at.outcome.kind).toBe('tables');
  });

  it('a refusal that leaves a FIFO behind reports it without reading it', async () => {
    const { outcome, ms } = await runScript('mkfifo "$1"; exit 1');
    expect(outcome).toMatchObject({ kind: 'refused', exitCode: 1, leftovers: [{ name: 'tables.bin', bytes: 0 }] });
    expect(ms).toBeLessThan(5000);
  });
});

describe('x86pt fuzz --timeout', () => {
  it('--timeout 1000 with a generator sleeping 20 s: the campaign ends within seconds, with the timeout found', async () => {
    const started = performance.now();
    const run = await x86pt(['fuzz', '--runs', '3', '--seed', '1', '--timeout', '1000', '--shrink-budget', '0', '--no-determinism',
      '--generator', "sh -c 'sleep 20' {kernel} {output}"]);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/COUNTEREXAMPLE \(timeout\)/);
    expect(performance.now() - started).toBeLessThan(15_000);
  });
});
