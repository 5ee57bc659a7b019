/**
 * The two ways a probing engine can fail to observe tables, kept apart:
 *
 * - the tables stop it (no page they map lets its code run): that is a
 *   finding about the tables, reported as a violation attributed to the
 *   engine, so the verdict fails (exit 1);
 * - the emulator itself fails (killed, hung, out of time): the engine
 *   could not do its job, one line naming why (exit 2, like bad input:
 *   nothing was verified, and it is no bug of x86pt).
 */
import { InputError } from '../../core/errors.js';
import type { PagingMode, Violation } from '../../verify/model.js';
import { topTablePhys } from '../../verify/paging-modes.js';

/** A span of time as a message says it: '750 ms', '1.5 s'. */
export const duration = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 100) / 10} s`);

/** A limit in milliseconds from the environment variable `name`, if set; InputError unless it is a positive number. */
export function msFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms <= 0) throw new InputError(`${name} must be a positive number of milliseconds, not '${text}'`);
  return ms;
}

/** The emulator an engine drives failed; the message says which, doing what, and why. */
export class EngineFailure extends InputError {
  /** The hosting reason a campaign counts it under (see HostingRefusal). */
  readonly reason = 'engine-failed';
  constructor(readonly engine: string, message: string) {
    super(`${engine}: ${message}`);
  }
}

/** Where the tables are loaded from, as CR3 names them. */
export interface TablesAt {
  readonly mode: PagingMode;
  readonly tablesPhys: bigint;
  readonly tables: Uint8Array;
}

/**
 * The tables leave the engine's code nowhere to run: a violation at CR3 (the
 * whole hierarchy is to blame) saying who could not run (`who` names the
 * engine), where it was tried, and why.
 */
export function cannotRunViolation(at: TablesAt, who: string, why: string, where = ''): Violation {
  return {
    level: 'CR3',
    path: [],
    entryAddr: topTablePhys(at.mode, at.tablesPhys, at.tables.byteLength),
    message: `${who} could not run under these tables${where ? ` (${where})` : ''}: ${why}`,
  };
}
