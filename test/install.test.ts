/**
 * The package as npm ships it: packed, installed globally into a temporary
 * prefix, and run from there (demo, verify with the Unicorn engine through
 * X86PT_UNICORN_LIB, and the packaged setup script), with no test, CI or
 * benchmark file in the tarball.
 */
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, writeKernelAndTables } from './support/cli.js';
import { packageRoot } from '../src/core/package-root.js';
import { generate } from './support/verify-kernels.js';
import type { KernelDescription } from '../src/elf/kernel.js';

const root = packageRoot();
const work = mkdtempSync(join(tmpdir(), 'x86pt-install-'));
const prefix = join(work, 'prefix');
const installed = join(prefix, 'bin', 'x86pt');
const installedRoot = join(prefix, 'lib', 'node_modules', 'x86pt');
let tarball = '';
let files: string[] = [];

afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(async () => {
  expect(existsSync(CLI)).toBe(true);
  // --ignore-scripts: dist/ is already built; prepare would only build it again.
  const pack = await execa('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, timeout: 120_000 });
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info!.filename);
  files = info!.files.map((f) => f.path);
  await execa('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { timeout: 240_000 });
}, 400_000);

describe('npm pack', () => {
  it('ships dist/, the engines\' assembly sources, setup.sh and the README, and no tests, CI or benchmarks', () => {
    expect(files).toEqual(expect.arrayContaining(['dist/x86pt.mjs', 'src/engines/qemu/probe-stub.S', 'src/engines/bochs/loader.S',
      'src/engines/bochs/console.inc', 'scripts/setup.sh', 'README.md', 'package.json']));
    expect(files.some((f) => f.startsWith('dist/chunks/'))).toBe(true);
    expect(files.filter((f) => /^(test|\.github|scripts\/bench)\//.test(f) || /\.test\.|^dist\/(test|scripts)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/') && f.endsWith('.ts'))).toEqual([]);
  });
});

describe('a global install', () => {
  const kernel: KernelDescription = { mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 4096n, pagetablesStart: 0x300000n };
  const { elf, bin } = writeKernelAndTables(work, 'k', kernel, generate(kernel).bytes);

  it('runs demo from the installed copy, anywhere', async () => {
    const run = await execa(installed, ['demo'], { cwd: work, reject: false, timeout: 60_000 });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^OK: .* does what .* asks/m);
  });

  it('verify --engine unicorn with X86PT_UNICORN_LIB naming an existing libunicorn.so.2', async () => {
    const lib = realpathSync(join(root, '.local', 'python', 'unicorn', 'lib', 'libunicorn.so.2'));
    const run = await execa(installed, ['verify', '--engine', 'unicorn', '-k', elf, bin], { cwd: work, reject: false, timeout: 60_000, env: { X86PT_UNICORN_LIB: lib } });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/engine unicorn 2\.1\.4\): .* no violations/);
  });

  it('without a library, the one-line message names the installed package root and the setup command', async () => {
    const run = await execa(installed, ['verify', '--engine', 'unicorn', '-k', elf, bin], { cwd: work, reject: false, timeout: 60_000, env: { X86PT_UNICORN_LIB: '' } });
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain(join(installedRoot, '.local', 'python', 'unicorn', 'lib', 'libunicorn.so.2'));
  });

  it('a missing X86PT_UNICORN_LIB file is one line, exit 2', async () => {
    const run = await execa(installed, ['verify', '--engine', 'unicorn', '-k', elf, bin], { cwd: work, reject: false, timeout: 60_000, env: { X86PT_UNICORN_LIB: join(work, 'none.so') } });
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/^x86pt: X86PT_UNICORN_LIB: .*none\.so: no such file/);
  });

  it('x86pt setup runs the packaged script of the installed copy', async () => {
    expect(readdirSync(join(installedRoot, 'scripts'))).toEqual(['setup.sh']);
    // An unknown part makes the script itself answer: proof it ran, from the installed root, without installing anything.
    const run = await execa(installed, ['setup', 'no-such-part'], { cwd: work, reject: false, timeout: 60_000 });
    expect(run.exitCode).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).toMatch(/no-such-part/);
  });
});
