/**
 * What the process must remove or stop however it ends: temporary files and
 * directories, child process groups. Each is registered while it exists; the
 * registry empties itself on a normal exit and, once the CLI has installed
 * the hooks, on SIGINT, SIGTERM and SIGHUP, after which the signal is raised
 * again so the process ends with the signal's status (a shell sees 128 + n),
 * as if it had not been caught. On a signal the processes x86pt started are
 * killed as well.
 *
 * A command that wants to finish gracefully on Ctrl-C (fuzz prints its
 * summary) takes the first SIGINT with `withInterruptHandler`; the next one
 * ends the process through the registry like any other.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';

export type CleanupSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

const SIGNALS: readonly CleanupSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** A registered action; it must be synchronous (it also runs from process 'exit'). */
type Action = () => void;

const actions = new Map<number, Action>();
let nextId = 0;
let installed = false;
const interruptHandlers: ((signal: CleanupSignal) => boolean)[] = [];

/** Runs every registered action once (later registrations first), ignoring their failures. */
export function runCleanup(): void {
  const pending = [...actions.entries()].reverse();
  actions.clear();
  for (const [, action] of pending) {
    try {
      action();
    } catch {
      // Cleaning up must not stop at the first thing that is already gone or stuck.
    }
  }
}

function onSignal(signal: CleanupSignal): void {
  if (signal === 'SIGINT') {
    const handler = interruptHandlers[interruptHandlers.length - 1];
    if (handler?.(signal)) return;
  }
  runCleanup();
  killChildren();
  for (const s of SIGNALS) process.removeAllListeners(s);
  // Raised again with the default disposition: the parent sees death by this signal.
  process.kill(process.pid, signal);
}

/**
 * Kills the processes this one started (an emulator, a generator) so that
 * none outlives it as an orphan; Linux lists them in /proc. Elsewhere the
 * registered actions are all there is.
 */
function killChildren(): void {
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return;
  }
  for (const task of tasks) {
    let children: string;
    try {
      children = readFileSync(`/proc/self/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of children.trim().split(/\s+/).filter((p) => p.length > 0)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', runCleanup);
}

/**
 * Installs the signal hooks (and the exit hook); idempotent. The CLI calls
 * it at start: taking over signals is a decision for the program, not for a
 * library function that happens to write a file, so a registration alone
 * only hooks the normal exit.
 */
export function installCleanupHooks(): void {
  hookExit();
  if (installed) return;
  installed = true;
  for (const s of SIGNALS) process.on(s, onSignal);
}

/** Registers `action`; the returned function unregisters it (without running it). */
export function registerCleanup(action: Action): () => void {
  hookExit();
  const id = nextId++;
  actions.set(id, action);
  return () => {
    actions.delete(id);
  };
}

/** Registers a temporary file or directory to remove; returns the function that unregisters it. */
export function registerTemp(path: string): () => void {
  return registerCleanup(() => rmSync(path, { recursive: true, force: true }));
}

/**
 * A temporary directory made by someone else's code, registered for removal;
 * returns `path`, so a mkdtemp call can be wrapped in place. Removing it
 * normally (rmSync) needs no unregistration: removing it again is a no-op.
 */
export function trackTempDir(path: string): string {
  // A long campaign makes one directory per case: forget those already removed, so the registry stays small.
  if (tracked.size >= 64) {
    for (const [dir, unregister] of tracked) {
      if (!existsSync(dir)) {
        unregister();
        tracked.delete(dir);
      }
    }
  }
  tracked.set(path, registerTemp(path));
  return path;
}

const tracked = new Map<string, () => void>();

/** Registered actions now pending (for tests). */
export const pendingCleanups = (): number => actions.size;

/**
 * Lets `handler` take SIGINT while `body` runs: when it returns true the
 * signal is considered handled and the process goes on; otherwise (or on a
 * second SIGINT when the handler says so) the registry cleans up and the
 * signal ends the process.
 */
export async function withInterruptHandler<T>(handler: (signal: CleanupSignal) => boolean, body: () => Promise<T>): Promise<T> {
  installCleanupHooks();
  interruptHandlers.push(handler);
  try {
    return await body();
  } finally {
    const at = interruptHandlers.lastIndexOf(handler);
    if (at >= 0) interruptHandlers.splice(at, 1);
  }
}
