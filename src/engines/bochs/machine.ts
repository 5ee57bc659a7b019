/**
 * Runs one Bochs boot of a ROM image (rom.ts): no display (SDL2's dummy
 * driver), no terminal, no debugger prompt (Debian's Bochs has its debugger
 * built in: it is told to continue and, should it ever stop, reads end of
 * file and quits), a hard wall-clock limit, and its files in a temp dir that
 * is removed on every path. The guest's debug-console bytes (port 0xe9) are
 * what Bochs prints after the loader's start mark.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../core/errors.js';
import { bochsConfig, type BochsConfigInput } from './config.js';

export const BOCHS_BINARY = 'bochs-bin';
/** What the loader prints on port 0xe9 right before the jump to the entry. */
export const START_MARK = new TextEncoder().encode('\0x86pt-bochs-entry\0');

/** How the boot ended. */
export type BochsExit =
  /** The guest wrote "Shutdown" to port 0x8900. */
  | { readonly kind: 'shutdown' }
  /** The caller's `stopAtLine` saw the line it waited for, and the harness ended Bochs. */
  | { readonly kind: 'stopped' }
  /** The guest was still running at the time limit. */
  | { readonly kind: 'timeout'; readonly afterMs: number }
  /** An exception while delivering a double fault (Bochs is told not to reset). */
  | { readonly kind: 'triple-fault'; readonly message: string }
  /** Bochs ended for another reason (a panic, a bad configuration); the message is its own. */
  | { readonly kind: 'failed'; readonly message: string };

export interface BochsBoot extends BochsConfigInput {
  /** Wall-clock limit for the whole run. */
  readonly timeoutMs: number;
  /** Called with each complete line the guest prints (latin1, without the newline); true ends the run ('stopped'). */
  readonly stopAtLine?: (line: string) => boolean;
}

export interface BochsRunResult {
  readonly exit: BochsExit;
  /** The guest's debug-console bytes, from the entry on. */
  readonly console: Uint8Array;
  /** Whether the loader reached the entry point (printed its start mark). */
  readonly entered: boolean;
  /** Bochs's log file (errors and panics; info messages are off). */
  readonly log: string;
  readonly elapsedMs: number;
}

/** Bochs's debugger prints where the CPU stopped after the guest's last byte: `(0).[ticks] [0x...] ...`. */
const DEBUGGER_TAIL = /\(0\)\.\[\d+\] \[0x[0-9a-f]+\] [^\n]*\n?$/;

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.byteLength <= haystack.byteLength; i++) {
    for (let j = 0; j < needle.byteLength; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export async function runBochs(boot: BochsBoot): Promise<BochsRunResult> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'x86pt-bochs-'));
  try {
    const romPath = join(dir, 'rom.bin');
    const diskPath = join(dir, 'disk.img');
    const logPath = join(dir, 'bochs.log');
    const rcPath = join(dir, 'bochsrc');
    const debuggerPath = join(dir, 'debugger.rc');
    writeFileSync(romPath, boot.rom);
    if (boot.disk) writeFileSync(diskPath, boot.disk.image);
    writeFileSync(rcPath, bochsConfig(boot, { romPath, diskPath, logPath }));
    writeFileSync(debuggerPath, 'continue\nquit\n');
    const child = spawn(BOCHS_BINARY, ['-q', '-f', rcPath, '-rc', debuggerPath], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SDL_VIDEODRIVER: 'dummy', SDL_AUDIODRIVER: 'dummy', LANG: 'C', LC_ALL: 'C' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    // Until the start mark shows, stdout is Bochs's banner and debugger; after it, the guest's lines.
    let pending = Buffer.alloc(0);
    let entered = false;
    let stopped = false;
    let timedOut = false;
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, boot.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      out.push(chunk);
      if (!boot.stopAtLine || stopped) return;
      pending = Buffer.concat([pending, chunk]);
      if (!entered) {
        const mark = indexOf(pending, START_MARK);
        if (mark < 0) {
          // Keep only what could be the start of a mark split across chunks.
          pending = pending.subarray(Math.max(0, pending.byteLength - START_MARK.byteLength));
          return;
        }
        entered = true;
        pending = pending.subarray(mark + START_MARK.byteLength);
      }
      let newline: number;
      while ((newline = pending.indexOf(0x0a)) >= 0) {
        const line = pending.subarray(0, newline).toString('latin1');
        pending = pending.subarray(newline + 1);
        if (boot.stopAtLine(line)) {
          stopped = true;
          kill();
          return;
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const spawnError = await new Promise<Error | null>((resolve) => {
      child.once('error', (e) => resolve(e));
      child.once('close', () => resolve(null));
    });
    clearTimeout(timer);
    if (spawnError) {
      throw new InputError(`cannot run ${BOCHS_BINARY} (${spawnError.message}); install Bochs with: npm run setup (or: apt-get install --no-install-recommends bochs bochs-sdl bochsbios vgabios)`);
    }
    const stdout = Buffer.concat(out);
    const stderr = Buffer.concat(err).toString('latin1');
    let log = '';
    try {
      log = readFileSync(logPath, 'latin1');
    } catch {
      // Bochs failed before opening its log: stderr says why.
    }
    const mark = indexOf(stdout, START_MARK);
    let console = mark >= 0 ? new Uint8Array(stdout.subarray(mark + START_MARK.byteLength)) : new Uint8Array(0);
    const exit = classify({ stopped, timedOut, timeoutMs: boot.timeoutMs, stderr, log });
    if (exit.kind !== 'stopped' && exit.kind !== 'timeout') {
      // Bochs's debugger reports where it stopped after the guest's last byte.
      const text = Buffer.from(console).toString('latin1');
      const tail = DEBUGGER_TAIL.exec(text);
      if (tail) console = console.subarray(0, tail.index);
    }
    return { exit, console, entered: mark >= 0, log, elapsedMs: performance.now() - started };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function classify(r: { stopped: boolean; timedOut: boolean; timeoutMs: number; stderr: string; log: string }): BochsExit {
  if (r.stopped) return { kind: 'stopped' };
  if (r.timedOut) return { kind: 'timeout', afterMs: r.timeoutMs };
  const message = /Bochs is exiting with the following message:\n([^\n]*)/.exec(r.stderr)?.[1]?.trim() ?? '';
  if (/Shutdown port: shutdown requested/.test(message)) return { kind: 'shutdown' };
  const triple = /3rd \(\d+\) exception with no resolution[^\n]*/.exec(r.log);
  if (triple) return { kind: 'triple-fault', message: triple[0] };
  const lastError = r.log.split('\n').filter((l) => /^\d+[ep]\[/.test(l)).pop();
  return { kind: 'failed', message: message || lastError || r.stderr.trim().split('\n').pop() || 'Bochs ended without a message' };
}
