import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll } from 'vitest';
import { kernelElf, type KernelDescription } from '../../src/kernel.js';

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

/** Writes the kernel's ELF into `dir` and returns its path. */
export function writeKernel(dir: string, name: string, kernel: KernelDescription): string {
  const path = join(dir, `${name}.elf`);
  writeFileSync(path, kernelElf(kernel));
  return path;
}
