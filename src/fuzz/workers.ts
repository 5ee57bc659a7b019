/**
 * `x86pt fuzz --workers N`: the campaign's sequence dealt in small chunks to
 * N judges, this process one of them and N - 1 child processes (each a
 * `x86pt fuzz --chunk-worker` with its own generator and engine, fed over
 * an IPC channel). A judge asks for the next chunk when it is done with
 * one, so a slow chunk (an emulator's large layout) does not leave the
 * others idle; each child keeps two chunks in hand so it never waits on
 * this process. The results are put back in the order of the sequence
 * (campaign.ts, campaignFromChunks): the same seed gives the same counts and
 * counterexample whatever N is, and whoever judged what.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { ChunkResult } from './campaign.js';

/** Flags the parent handles itself and does not pass to a worker (with their values). */
const PARENT_FLAGS = new Set(['--workers', '--report', '--save', '--shrink-budget']);
/** Parent flags without a value. */
const PARENT_SWITCHES = new Set(['--progress', '--no-progress']);

/** The fuzz command's arguments without the parent's flags (and their values). */
export function workerArguments(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.split('=')[0]!;
    if (PARENT_SWITCHES.has(name)) continue;
    if (PARENT_FLAGS.has(name)) {
      if (!arg.includes('=')) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** `--workers` when not given: one judge per core the process may use. */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Layouts per chunk: some 16 chunks per judge, so judges finish close
 * together, but not so small that drawing a chunk (fast-check skips to its
 * first run) costs more than judging it.
 */
export function chunkSize(runs: number, judges: number): number {
  return Math.min(256, Math.max(8, Math.ceil(runs / (judges * 16))));
}

/** What the parent says to a child, and the child answers. */
export type ToWorker = { readonly type: 'chunk'; readonly from: number; readonly count: number } | { readonly type: 'done' };
export type FromWorker = { readonly type: 'ready' } | { readonly type: 'result'; readonly result: ChunkResult } | { readonly type: 'error'; readonly message: string };

export interface DealOptions {
  /** The sequence to deal: layouts 0 .. runs - 1. */
  readonly runs: number;
  readonly judges: number;
  /** This process's own judge (it judges chunks between its children's answers). */
  readonly judge: (from: number, count: number) => Promise<ChunkResult>;
  /** Starts the child judges (`judges - 1` of them). */
  readonly spawnChild: () => ChildProcess;
  readonly stop?: AbortSignal;
  /** Layouts judged so far, as chunks come back. */
  readonly onProgress?: (done: number) => void;
}

/** A child's status when its parent went away mid-campaign: the shell's status for SIGINT. */
const EXIT_INTERRUPTED = 128 + 2;

/** Chunks each child holds at once: one it judges, one waiting. */
const IN_HAND = 2;

/**
 * Deals the sequence to the judges and returns every chunk judged. Chunks
 * past the lowest failing index found so far are no longer dealt (they
 * cannot change the result).
 */
export async function dealChunks(options: DealOptions): Promise<ChunkResult[]> {
  const size = chunkSize(options.runs, options.judges);
  let next = 0;
  let lowestFailing = Infinity;
  const results: ChunkResult[] = [];
  let done = 0;
  const take = (): { from: number; count: number } | null => {
    if (next >= options.runs || next > lowestFailing || options.stop?.aborted) return null;
    const chunk = { from: next, count: Math.min(size, options.runs - next) };
    next += chunk.count;
    return chunk;
  };
  const record = (result: ChunkResult): void => {
    results.push(result);
    if (result.failingIndex !== null) lowestFailing = Math.min(lowestFailing, result.failingIndex);
    done += result.stats.layouts;
    options.onProgress?.(done);
  };

  const children = Array.from({ length: options.judges - 1 }, () => options.spawnChild());
  const failures: string[] = [];
  const childrenDone = children.map((child, j) => new Promise<void>((resolve) => {
    let outstanding = 0;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const feed = (): void => {
      while (outstanding < IN_HAND) {
        const chunk = take();
        if (!chunk) break;
        outstanding++;
        child.send({ type: 'chunk', ...chunk } satisfies ToWorker);
      }
      if (outstanding === 0 && child.connected) child.send({ type: 'done' } satisfies ToWorker);
    };
    child.on('message', (message: FromWorker) => {
      if (message.type === 'ready') feed();
      else if (message.type === 'result') {
        outstanding--;
        record(message.result);
        feed();
      } else failures.push(`worker ${j + 1}: ${message.message}`);
    });
    child.on('exit', (code, signal) => {
      if (code !== 0 || outstanding > 0) {
        const why = stderr.trim().split('\n')[0] ?? '';
        failures.push(`worker ${j + 1} exited ${code ?? signal}${outstanding > 0 ? ` with ${outstanding} chunks unjudged` : ''}${why ? `: ${why}` : ''}`);
      }
      resolve();
    });
  }));

  // This process judges too, yielding between chunks so the children's answers get dealt with.
  for (let chunk = take(); chunk; chunk = take()) {
    record(await options.judge(chunk.from, chunk.count));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(childrenDone);
  if (failures.length) throw new Error(`fuzz --workers: ${failures.join('; ')}`);
  return results;
}

/** A child judge: `x86pt fuzz ... --chunk-worker`, its stdout unused, stderr kept for a failure's message. */
export function spawnChunkWorker(cli: string, args: readonly string[]): ChildProcess {
  return fork(cli, ['fuzz', ...workerArguments(args), '--chunk-worker', '--no-progress'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
}

/** The child's side: judges the chunks it is sent until told it is done. */
export function serveChunks(judge: (from: number, count: number) => Promise<ChunkResult>): Promise<void> {
  return new Promise((resolve) => {
    const queue: { from: number; count: number }[] = [];
    let busy = false;
    let finishing = false;
    const send = (message: FromWorker): void => {
      process.send?.(message);
    };
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        for (let chunk = queue.shift(); chunk; chunk = queue.shift()) send({ type: 'result', result: await judge(chunk.from, chunk.count) });
      } catch (err) {
        // The parent counts the chunks this judge leaves unjudged and fails the campaign.
        send({ type: 'error', message: (err as Error).message.split('\n')[0] ?? String(err) });
        queue.length = 0;
        finishing = true;
      } finally {
        busy = false;
      }
      if (finishing && queue.length === 0) close();
    };
    const close = (): void => {
      process.off('message', onMessage);
      process.off('disconnect', orphaned);
      process.disconnect?.();
      resolve();
    };
    // The parent is gone (a second Ctrl-C ends it at once): nobody wants the rest.
    const orphaned = (): void => process.exit(EXIT_INTERRUPTED);
    const onMessage = (message: ToWorker): void => {
      if (message.type === 'chunk') {
        queue.push({ from: message.from, count: message.count });
        void pump();
      } else {
        finishing = true;
        if (!busy && queue.length === 0) close();
      }
    };
    process.on('message', onMessage);
    process.once('disconnect', orphaned);
    send({ type: 'ready' });
  });
}
