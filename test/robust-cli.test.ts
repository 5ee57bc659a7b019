/**
 * The CLI under hostile files and streams: outputs that are devices, FIFOs
 * or the inputs themselves are refused (exit 2, nothing changed); inputs
 * that are FIFOs, devices or too large are refused before they are read;
 * bad --save/--out/--path are one line, at once; internal errors exit 3;
 * a closed stdout ends the output quietly.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { runAction } from '../src/cli/command.js';
import { reproduceCommand } from '../src/fuzz/report.js';
import { CLI, expectBadInput, scratchDir, writeKernelAndTables, type CliResult } from './support/cli.js';
import { freshDirsUnder } from './support/fresh-dirs.js';
import { generate } from './support/verify-kernels.js';
import type { KernelDescription } from '../src/elf/kernel.js';

const freshDir = freshDirsUnder(scratchDir('x86pt-robust-cli-'));

/** Runs x86pt with a bound well below the suite's: a command that hangs fails here instead. */
async function bounded(args: readonly string[], timeout = 20_000): Promise<CliResult & { ms: number }> {
  const started = performance.now();
  const { exitCode, stdout, stderr } = await execa('node', [CLI, ...args], { reject: false, timeout });
  return { exitCode, stdout, stderr, ms: performance.now() - started };
}

const PAE: KernelDescription = { mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 4096n, pagetablesStart: 0x300000n };

/** A kernel and its tables in a fresh directory. */
function kernelAndTables(kernel = PAE): { dir: string; elf: string; bin: string } {
  const dir = freshDir();
  return { dir, ...writeKernelAndTables(dir, 'k', kernel, generate(kernel).bytes) };
}

const mkfifo = (path: string): string => {
  execFileSync('mkfifo', [path]);
  return path;
};

describe('outputs x86pt refuses to replace', () => {
  it('a FIFO named by -o stays a FIFO (and a symlink to one)', async () => {
    const { dir, elf } = kernelAndTables();
    const fifo = mkfifo(join(dir, 'out.fifo'));
    expectBadInput(await bounded(['gen', '-k', elf, '-o', fifo]), /out\.fifo: exists and is a FIFO, not a regular file; refusing to replace it$/);
    expect(statSync(fifo).isFIFO()).toBe(true);
    symlinkSync(fifo, join(dir, 'link'));
    expectBadInput(await bounded(['gen', '-k', elf, '-o', join(dir, 'link')]), /link: exists and is a FIFO/);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('-o equal to -k, a hard link to it or a symlink to it: the kernel is not overwritten', async () => {
    const { dir, elf } = kernelAndTables();
    const before = readFileSync(elf);
    linkSync(elf, join(dir, 'hard.elf'));
    symlinkSync(elf, join(dir, 'soft.elf'));
    for (const out of [elf, join(dir, 'hard.elf'), join(dir, 'soft.elf')]) {
      expectBadInput(await bounded(['gen', '-k', elf, '-o', out]), /: is the input .*k\.elf; refusing to overwrite it$/);
    }
    expect(Buffer.compare(readFileSync(elf), before)).toBe(0);
  });

  it('verify --junit naming the tables or the kernel is refused, and they are kept', async () => {
    const { elf, bin } = kernelAndTables();
    const tables = readFileSync(bin);
    for (const junit of [bin, elf]) {
      const run = await bounded(['verify', '-k', elf, bin, '--junit', junit]);
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toMatch(/is the input .*; refusing to overwrite it$/);
    }
    expect(Buffer.compare(readFileSync(bin), tables)).toBe(0);
  });

  it('a mode-600 output keeps mode 600', async () => {
    const { dir, elf } = kernelAndTables();
    const out = join(dir, 'out.bin');
    writeFileSync(out, 'old');
    chmodSync(out, 0o600);
    expect((await bounded(['gen', '-k', elf, '-o', out])).exitCode).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(statSync(out).size).toBeGreaterThan(3);
  });
});

describe('inputs are checked before they are read', () => {
  it('a FIFO as the kernel is refused at once, not waited on', async () => {
    const dir = freshDir();
    const fifo = mkfifo(join(dir, 'kernel.fifo'));
    expectBadInput(await bounded(['gen', '-k', fifo, '-o', join(dir, 'out.bin')]), /kernel\.fifo: not a regular file$/);
    expect(readdirSync(dir)).toEqual(['kernel.fifo']);
  });

  it('a FIFO as the tables is refused at once (verify, dump)', async () => {
    const { dir, elf } = kernelAndTables();
    const fifo = mkfifo(join(dir, 'tables.fifo'));
    expectBadInput(await bounded(['verify', '-k', elf, fifo]), /tables\.fifo: not a regular file$/);
    expectBadInput(await bounded(['dump', '-k', elf, fifo]), /tables\.fifo: not a regular file$/);
  });

  it('/dev/zero as the tables is refused without reading it', async () => {
    const { elf } = kernelAndTables();
    expectBadInput(await bounded(['verify', '-k', elf, '/dev/zero']), /\/dev\/zero: not a regular file$/);
    expectBadInput(await bounded(['dump', '--mode', 'ia32e', '--base', '0x1000', '/dev/zero']), /\/dev\/zero: not a regular file$/);
  });

  it('a table block larger than its mode can use is refused by size alone (32-bit: 8 MiB, PAE: 16 MiB)', async () => {
    const dir = freshDir();
    const big = join(dir, 'big.bin');
    writeFileSync(big, '');
    truncateSync(big, (8 << 20) + 4096);
    expectBadInput(await bounded(['dump', '--mode', '32bit', '--base', '0x1000', big]), /big\.bin: more than the 8 MiB of tables x86pt reads for 32bit paging$/);
    truncateSync(big, (16 << 20) + 4096 + 32);
    expectBadInput(await bounded(['dump', '--mode', 'pae', '--base', '0x1000', big]), /big\.bin: more than the 16 MiB of tables x86pt reads for pae paging$/);
    // At the 32-bit cap the block is read (and walked: all zero, nothing mapped).
    truncateSync(big, 8 << 20);
    expect((await bounded(['dump', '--mode', '32bit', '--base', '0x1000', big])).exitCode).toBe(0);
  });

  it('a kernel above 1 GiB is refused by size alone', async () => {
    const dir = freshDir();
    const huge = join(dir, 'huge.elf');
    writeFileSync(huge, '');
    truncateSync(huge, 2 ** 30 + 1);
    const run = await bounded(['gen', '-k', huge, '-o', join(dir, 'out.bin')]);
    expectBadInput(run, /huge\.elf: 1073741825 bytes is more than the 1 GiB x86pt reads as an ELF file$/);
  });
});

describe('--out, --save and --path', () => {
  it('demo --out under /proc or through a file: one line, exit 2, at once', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'file'), '');
    expectBadInput(await bounded(['demo', '--out', '/proc/x86pt-demo']), /\/proc\/x86pt-demo: cannot create the directory \/proc\/x86pt-demo \(ENOENT\)$/);
    expectBadInput(await bounded(['demo', '--out', join(dir, 'file', 'x')]), /file exists and is a regular file, not a directory$/);
  });

  it('fuzz --save naming a file, or a place under /proc: one line, exit 2, before the campaign', async () => {
    const dir = freshDir();
    const file = join(dir, 'taken');
    writeFileSync(file, 'mine');
    const taken = await bounded(['fuzz', '--runs', '5', '--save', file]);
    expectBadInput(taken, /taken exists and is a regular file, not a directory$/);
    expect(readFileSync(file, 'utf8')).toBe('mine');
    expectBadInput(await bounded(['fuzz', '--runs', '5', '--save', '/proc/nope']), /\/proc\/nope: cannot create the directory \/proc\/nope \(ENOENT\)$/);
  });

  it('a counterexample whose files cannot be saved is still printed, then the failure (exit 2)', async () => {
    const dir = freshDir();
    const save = join(dir, 'cx');
    mkdirSync(join(save, 'kernel.elf'), { recursive: true });
    // All-zero tables: wrong for every layout the policy accepts.
    const generator = `sh -c 'head -c 4096 /dev/zero > "$1"' {kernel} {output}`;
    const run = await bounded(['fuzz', '--runs', '50', '--seed', '3', '--modes', '32bit', '--ignore', 'accepted-refused', '--shrink-budget', '20',
      '--no-determinism', '--generator', generator, '--save', save], 120_000);
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toMatch(/^COUNTEREXAMPLE/m);
    expect(run.stdout).toMatch(/^reproduce: x86pt fuzz --seed 3 /m);
    expect(run.stderr).toMatch(/^x86pt: .*cx\/kernel\.elf: exists and is a directory, not a regular file; refusing to replace it$/);
  });

  it.each([
    ['99999999:99999999', /--path: run 99999999 is not below --runs 1000/],
    ['5:99999999', /--path: shrink step 99999999 is beyond 100000/],
  ])('fuzz --path %s is refused at once', async (path, message) => {
    const run = await bounded(['fuzz', '--seed', '1', '--path', path]);
    expectBadInput(run, message);
    expect(run.ms).toBeLessThan(15_000);
  });

  it('a reproduce command names --runs when the case lies beyond the default 1000 runs', () => {
    const settings = { seed: 5, modes: ['pae' as const], engine: 'walker', ignore: [], determinism: true };
    expect(reproduceCommand(settings, '17:2')).toBe('x86pt fuzz --seed 5 --path 17:2 --modes pae');
    expect(reproduceCommand(settings, '4711:0:3')).toBe('x86pt fuzz --seed 5 --path 4711:0:3 --modes pae --runs 4712');
  });
});

describe('exit codes', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
    delete process.env.X86PT_DEBUG;
  });

  const captured = (): string[] => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    return lines;
  };
  /** Runs, as the CLI runs a command, an action that throws `error`. */
  const actionThrowing = (error: Error): Promise<void> => runAction(() => {
    throw error;
  })();

  it('bad input exits 2 with one line', async () => {
    const err = captured();
    await actionThrowing(new InputError('k.elf: no such file'));
    expect(process.exitCode).toBe(2);
    expect(err).toEqual(['x86pt: k.elf: no such file\n']);
  });

  it('anything else is an internal error: exit 3, one line, the stack only with X86PT_DEBUG=1', async () => {
    const err = captured();
    await actionThrowing(new TypeError('boom'));
    expect(process.exitCode).toBe(3);
    expect(err).toEqual(['x86pt: internal error: boom\n']);
    process.env.X86PT_DEBUG = '1';
    await runAction(async () => {
      throw new RangeError('bang');
    })();
    expect(process.exitCode).toBe(3);
    expect(err[1]).toBe('x86pt: internal error: bang\n');
    expect(err[2]).toMatch(/^RangeError: bang\n\s+at /);
  });

  it('a usage error stays 2', async () => {
    expect((await bounded(['gen', '-k'])).exitCode).toBe(2);
  });
});

describe('a closed stdout', () => {
  /** Runs x86pt with its stdout closed by the reader before the first byte, as `| head -0` does. */
  function withClosedStdout(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn('node', [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  it.each([
    [['demo']],
    [['dump', '--help']],
    [['fuzz', '--runs', '20', '--seed', '1']],
  ])('%j ends quietly: no trace, exit 0', async (args) => {
    const run = await withClosedStdout(args);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('gen -v still writes its output and exits 0 when nobody reads what it prints', async () => {
    const { dir, elf } = kernelAndTables();
    const out = join(dir, 'out.bin');
    const run = await withClosedStdout(['gen', '-v', '-k', elf, '-o', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(statSync(out).size).toBe(readFileSync(join(dir, 'k.bin')).length);
  });

  it('demo | head -1 prints the first line and nothing on stderr', async () => {
    const { stdout, stderr, exitCode } = await execa('bash', ['-c', `node ${CLI} demo | head -2; exit \${PIPESTATUS[0]}`], { reject: false });
    expect(stdout).toMatch(/^\n== 32-bit paging/);
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
  });
});
