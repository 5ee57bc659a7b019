import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, expect } from 'vitest';
import { kernelElf, type KernelDescription } from '../../src/elf/kernel.js';

/** The built CLI, as `npx x86pt` runs it. */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'x86pt.mjs');

export interface CliResult {
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs x86pt with the arguments; never throws on a non-zero exit. */
export async function x86pt(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const { exitCode, stdout, stderr } = await execa('node', [CLI, ...args], { reject: false, env, extendEnv: true, timeout: 120_000 });
  return { exitCode, stdout, stderr };
}

/** A scratch directory for this test file, removed when it finishes. */
export function scratchDir(prefix = 'x86pt-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `data` to the file `name` in `dir` and returns its path. */
export function writeScratch(dir: string, name: string, data: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** Writes the kernel's ELF into `dir` and returns its path. */
export const writeKernel = (dir: string, name: string, kernel: KernelDescription): string =>
  writeScratch(dir, `${name}.elf`, kernelElf(kernel));

/** Writes NAME.elf for the kernel and NAME.bin holding `tables` into `dir`; returns both paths. */
export function writeKernelAndTables(dir: string, name: string, kernel: KernelDescription, tables: Uint8Array): { elf: string; bin: string } {
  const elf = writeKernel(dir, name, kernel);
  return { elf, bin: writeScratch(dir, `${name}.bin`, tables) };
}

/** The run was refused as bad input: exit 2, nothing on stdout, the problem on stderr, no stack trace. */
export function expectBadInput(run: CliResult, problem: RegExp): void {
  expect(run.exitCode).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(problem);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}
