/**
 * Signals leave nothing behind: a write interrupted by SIGINT, SIGTERM or
 * SIGHUP removes its temporary file and keeps the old output; a registered
 * temporary directory (the QEMU engine's) is removed; the process ends with
 * the signal's status and no QEMU it started outlives it. `fuzz` stops at one Ctrl-C with its summary and exit
 * 130, and ends at a second one without leaving QEMU's directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI, scratchDir, writeKernelAndTables } from './support/cli.js';
import { freshDirsUnder } from './support/fresh-dirs.js';
import { engineInput } from './support/engine-layouts.js';
import { QEMU_LAYOUTS } from './support/qemu-layouts.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src');
const freshDir = freshDirsUnder(scratchDir('x86pt-robust-signals-'));

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function started(args: readonly string[], env: Record<string, string> = {}): { child: ChildProcess; ended: Promise<Ended> } {
  const child = spawn('node', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const ended = new Promise<Ended>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, ended };
}

/** Polls until `ready()` holds (or fails the test after `ms`). */
async function until(ready: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** QEMU processes whose command line names `dir` (their files are in it). */
function qemuProcessesUsing(dir: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) continue; // exited, not yet reaped
    } catch {
      continue;
    }
    if (cmdline.startsWith('qemu-system') && cmdline.includes(dir)) found.push(Number(pid));
  }
  return found;
}

const temporaries = (dir: string): string[] => readdirSync(dir).filter((name) => name.endsWith('.tmp'));

describe('a write interrupted by a signal', () => {
  // Writes 64 MiB in 8 MiB chunks, each taking 300 ms: long enough to be caught midway.
  const script = (out: string): string => `
    import { writeSync } from 'node:fs';
    import { installCleanupHooks } from ${JSON.stringify(join(DIST, 'core', 'cleanup.js'))};
    import { writeFileAtomic } from ${JSON.stringify(join(DIST, 'core', 'io.js'))};
    installCleanupHooks();
    const slow = (fd, buffer, offset, length) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      return writeSync(fd, buffer, offset, length);
    };
    await writeFileAtomic(${JSON.stringify(out)}, new Uint8Array(64 << 20), { write: slow });
    console.log('finished');
  `;

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('%s: no temporary file, the old output kept, death by the signal', async (signal) => {
    const dir = freshDir();
    const out = join(dir, 'out.bin');
    writeFileSync(out, 'old contents');
    const run = started(['--input-type=module', '-e', script(out)]);
    await until(() => temporaries(dir).length > 0, 20_000, 'the temporary file');
    run.child.kill(signal);
    const ended = await run.ended;
    expect(ended.signal).toBe(signal);
    expect(ended.stdout).not.toContain('finished');
    expect(readdirSync(dir)).toEqual(['out.bin']);
    expect(readFileSync(out, 'utf8')).toBe('old contents');
  });
});

describe('the cleanup registry', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('removes a registered temporary directory on %s (as the QEMU engine registers its own)', async (signal) => {
    const dir = freshDir();
    const script = `
      import { mkdtempSync, writeFileSync } from 'node:fs';
      import { join } from 'node:path';
      import { installCleanupHooks, trackTempDir } from ${JSON.stringify(join(DIST, 'core', 'cleanup.js'))};
      installCleanupHooks(); // as the CLI does at start
      const made = trackTempDir(mkdtempSync(join(${JSON.stringify(dir)}, 'x86pt-qemu-')));
      writeFileSync(join(made, 'staging.bin'), 'x');
      console.log('ready');
      setInterval(() => {}, 1000);
    `;
    const run = started(['--input-type=module', '-e', script]);
    await until(() => readdirSync(dir).length > 0 && readdirSync(join(dir, readdirSync(dir)[0]!)).length > 0, 20_000, 'the directory');
    run.child.kill(signal);
    const ended = await run.ended;
    expect(ended.signal).toBe(signal);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('runs on a normal exit too', async () => {
    const dir = freshDir();
    const script = `
      import { mkdtempSync } from 'node:fs';
      import { join } from 'node:path';
      import { trackTempDir } from ${JSON.stringify(join(DIST, 'core', 'cleanup.js'))};
      trackTempDir(mkdtempSync(join(${JSON.stringify(dir)}, 'x86pt-qemu-')));
      process.exitCode = 4;
    `;
    const ended = await started(['--input-type=module', '-e', script]).ended;
    expect(ended.code).toBe(4);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('x86pt fuzz and Ctrl-C', () => {
  it('one Ctrl-C ends the search with the summary, "interrupted" and exit 130', async () => {
    const run = started([CLI, 'fuzz', '--runs', '100000000', '--seed', '7', '--no-progress', '--modes', '32bit']);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    run.child.kill('SIGINT');
    const ended = await run.ended;
    expect(ended.code).toBe(130);
    expect(ended.stdout).toMatch(/^interrupted$/m);
    expect(ended.stdout).toMatch(/x86pt fuzz: \d+ layouts/);
  });

  it('a second Ctrl-C under --engine qemu ends at once, leaving no QEMU directory', async () => {
    const tmp = freshDir();
    const run = started([CLI, 'fuzz', '--runs', '100000000', '--seed', '7', '--no-progress', '--engine', 'qemu', '--modes', 'pae'], { TMPDIR: tmp });
    await until(() => readdirSync(tmp).some((name) => name.startsWith('x86pt-qemu-')), 60_000, 'a QEMU directory');
    run.child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 50));
    run.child.kill('SIGINT');
    const ended = await run.ended;
    // Killed by the second SIGINT, or (if the case at hand ended within 50 ms) stopped by the first.
    expect(ended.signal === 'SIGINT' || ended.code === 130).toBe(true);
    expect(readdirSync(tmp).filter((name) => name.startsWith('x86pt-qemu-'))).toEqual([]);
    await until(() => qemuProcessesUsing(tmp).length === 0, 5000, 'QEMU to be gone');
  }, 120_000);
});

describe('x86pt verify --engine qemu and SIGINT/SIGTERM', () => {
  const name = 'ia32e-high-half-perms';
  it.each(['SIGINT', 'SIGTERM'] as const)('%s while QEMU runs leaves no QEMU directory and ends by the signal', async (signal) => {
    const tmp = freshDir();
    const { elf, bin } = writeKernelAndTables(tmp, name, QEMU_LAYOUTS[name]!, engineInput(QEMU_LAYOUTS[name]!).tables);
    const run = started([CLI, 'verify', '--engine', 'qemu', '-k', elf, bin], { TMPDIR: tmp });
    await until(() => readdirSync(tmp).some((n) => n.startsWith('x86pt-qemu-')), 60_000, 'a QEMU directory');
    run.child.kill(signal);
    const ended = await run.ended;
    expect(ended.signal).toBe(signal);
    expect(readdirSync(tmp).filter((n) => n.startsWith('x86pt-qemu-'))).toEqual([]);
    await until(() => qemuProcessesUsing(tmp).length === 0, 5000, 'QEMU to be gone');
  }, 120_000);
});
