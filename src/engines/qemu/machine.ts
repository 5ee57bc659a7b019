/**
 * Runs one boot of the stub under qemu-system-x86_64 (TCG, no display):
 * reads the guest's debug-console lines as they come, reads QEMU's MMU over
 * QMP whenever the guest halts for it, and stops the machine when the guest
 * is done, traps, triple-faults or runs out of time.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { registerTemp } from '../../core/cleanup.js';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import type { BootPlan } from './boot-plan.js';
import type { CasePlan } from './case-plan.js';
import { EngineFailure, duration } from '../probe/failure.js';
import { QmpClient, QmpClosedError, QmpTimeoutError, type QmpEvent } from './qmp.js';
import { QEMU_MAX_PHYS_ADDR } from './guest-memory.js';
import { STUB_ABI } from './stub-abi.js';
import { imageLoadedAt, type ProbeStub } from './stub-build.js';
import { parseGuestCase } from './case-report.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
/** Pages read without a signature whose translation the host asks QEMU for, one by one, when its MMU is not listed. */
const UNSIGNED_LOOKUPS = 4096;
const TRIPLE_FAULT = 'the guest triple-faulted (an exception while delivering one)';
/** isa-debug-exit status for "all cases done" (the stub writes 0x10: (0x10 << 1) | 1). */
const EXIT_ALL_DONE = (STUB_ABI.EXIT_DONE << 1) | 1;

/** What QEMU's monitor said about the translation while a case's tables were in CR3. */
export interface MmuText {
  readonly tlb: string;
  readonly mem: string;
}

/** The guest's lines and the MMU text for one case. */
export interface CaseOutput {
  readonly lines: string[];
  mmu?: MmuText;
  /**
   * Where the stub cannot compare the case's tables (BootPlan.hostTableDiff),
   * the dwords the host found changed, by physical address: XOR the original.
   */
  tableXors?: Map<bigint, number>;
  /** Where QEMU translates the pages the guest read without a signature, when its MMU is not listed (CasePlan.mmuListed). */
  physOf?: Map<bigint, bigint>;
  /** Set when the guest could not finish the case: why, and QEMU's registers at that moment. */
  died?: { readonly reason: string; readonly registers: string };
  done: boolean;
}

export interface BootOutput {
  /** Per case of the boot, in order; cases after a death never ran (`lines` empty, `done` false). */
  readonly cases: CaseOutput[];
  readonly stderr: string;
}

/** Where one boot's cases stand in the whole run, for messages: case `first + i` of `total` (1-based). */
export interface CaseNumbering {
  readonly first: number;
  readonly total: number;
}

/** A boot's guest is about to probe a case: who QEMU is, and which case. */
export interface CaseStart {
  readonly pid: number;
  /** The boot's temporary directory (removed when the boot ends, however it ends). */
  readonly dir: string;
  /** The case's number in the run (1-based), and how many the run has. */
  readonly case: number;
  readonly cases: number;
}

export interface BootOptions {
  /** Wall-clock limit for the whole boot, and what it was given for (said when it runs out). */
  readonly timeoutMs: number;
  readonly budgetFor: string;
  /**
   * Limit on the CPU time QEMU spends (Linux: read from /proc), so that a
   * machine shared with other work slows a boot down without failing it; the
   * wall-clock limit is then a last resort.
   */
  readonly cpuBudgetMs?: number;
  /** How long QEMU may leave a QMP command, or a liveness check, unanswered. */
  readonly qmpTimeoutMs: number;
  /** Extra time for reading QEMU's MMU of a case, which grows with the pages it maps. */
  readonly mmuReadMs: (caseIndex: number) => number;
  readonly numbering: CaseNumbering;
  /** Called as each case starts (tests use it to interfere with QEMU). */
  readonly onCaseStart?: (start: CaseStart) => void;
}

/** A boot's temporary directory. The one place it is made: every path out of a boot removes it. */
function bootDirectory(): { readonly path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'x86pt-qemu-'));
  // Registered too, so that a signal mid-boot removes it as well.
  const unregister = registerTemp(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      unregister();
    },
  };
}

const CPU_POLL_MS = 1000;
/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/** CPU time (user and system) the process has spent, or null where /proc cannot tell. */
function cpuTimeMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, in parentheses): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return null;
  }
}

/** The QEMU command line for a boot (files already written). */
export function qemuArguments(plan: BootPlan, kernel: string, staging: string, qmpSocket: string, highStaging?: string, tables?: string): string[] {
  return [
    '-M', 'microvm,pit=off,pic=off,rtc=off,isa-serial=off,acpi=off,ioapic2=off,memory-backend=ram',
    // Sparse guest RAM: the host commits only the pages the guest touches, 4 KiB each (QEMU asks for
    // transparent huge pages on anonymous RAM, which would cost 2 MiB for every page a sampled plan touches).
    '-object', `memory-backend-memfd,id=ram,size=${plan.memoryBytes / (1024n * 1024n)}M,reserve=off`,
    '-nodefaults', '-nographic', '-no-reboot',
    // A triple fault pauses the machine instead of ending it, so its MMU can still be read.
    '-action', 'shutdown=pause',
    '-accel', 'tcg', '-cpu', `max,phys-bits=${QEMU_MAX_PHYS_ADDR}`,
    '-kernel', kernel,
    '-device', `loader,file=${staging},addr=0x${plan.stagingPhys.toString(16)},force-raw=on`,
    ...(plan.highStaging && highStaging ? ['-device', `loader,file=${highStaging},addr=0x${plan.highStaging.phys.toString(16)},force-raw=on`] : []),
    ...(plan.placedTables && tables ? ['-device', `loader,file=${tables},addr=0x${plan.placedTables.phys.toString(16)},force-raw=on`] : []),
    '-debugcon', 'stdio', // QEMU's debug console listens on port 0xe9, the stub's PORT_DEBUGCON
    '-device', `isa-debug-exit,iobase=0x${STUB_ABI.PORT_EXIT.toString(16)},iosize=4`,
    '-qmp', `unix:${qmpSocket},server=on,wait=off`,
  ];
}

/**
 * Runs one boot. The guest dying on a case (an exception, a triple fault) is
 * a result, in that case's `died`; QEMU itself failing (killed, exiting,
 * hanging, out of time) throws EngineFailure naming the case it was on.
 */
export async function runBoot(stub: ProbeStub, plan: BootPlan, options: BootOptions): Promise<BootOutput> {
  const dir = bootDirectory();
  try {
    return await bootIn(dir.path, stub, plan, options);
  } finally {
    dir.remove();
  }
}

async function bootIn(dir: string, stub: ProbeStub, plan: BootPlan, options: BootOptions): Promise<BootOutput> {
  const kernel = join(dir, 'stub.bin');
  const staging = join(dir, 'staging.bin');
  const socket = join(dir, 'qmp.sock');
  writeFileSync(kernel, imageLoadedAt(stub, plan.homePhys, plan.stagingPhys));
  writeFileSync(staging, plan.staging);
  const highStaging = join(dir, 'staging-high.bin');
  if (plan.highStaging) writeFileSync(highStaging, plan.highStaging.bytes);
  const tables = join(dir, 'tables.bin');
  if (plan.placedTables) writeFileSync(tables, plan.placedTables.bytes);
  const cases: CaseOutput[] = plan.cases.map(() => ({ lines: [], done: false }));
  const qemu = execa(QEMU_BINARY, qemuArguments(plan, kernel, staging, socket, highStaging, tables), {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    buffer: { stdout: false, stderr: true },
  });
  let qmp: QmpClient | undefined;
  let current = -1;
  let finished = false;
  let stopping: Promise<void> | undefined;
  /** Set before this side kills QEMU: why (an EngineFailure, or an internal error). A death nobody asked for is QEMU's own. */
  let failure: Error | undefined;
  const { first, total } = options.numbering;
  const where = (): string =>
    current < 0 ? `while booting for case ${first} of ${total}` : `while probing case ${first + current} of ${total}`;
  const engineFailure = (message: string): EngineFailure => new EngineFailure('qemu', `${message} ${where()}`);
  const abandon = (err: Error): void => {
    failure ??= err;
    qemu.kill('SIGKILL');
  };
  // Guest lines and QMP events are handled strictly in order.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void>): void => {
    queue = queue.then(work).catch((err: unknown) => {
      // A closed QMP socket means QEMU went away: its exit status says why.
      if (err instanceof QmpClosedError) return;
      if (err instanceof QmpTimeoutError) abandon(engineFailure(err.message));
      else abandon(err instanceof Error ? err : new Error(String(err)));
    });
  };

  const qmpMs = options.qmpTimeoutMs;
  const readMmu = async (index: number): Promise<MmuText> => {
    if (plan.cases[index] && !plan.cases[index].mmuListed) return { tlb: '', mem: '' };
    const ms = qmpMs + options.mmuReadMs(index);
    return { tlb: await qmp!.monitor('info tlb', ms), mem: await qmp!.monitor('info mem', ms) };
  };

  /** What changed in the case's tables, from guest memory now (QEMU writes them to a file of the boot's directory). */
  const readTableXors = async (index: number): Promise<Map<bigint, number>> => {
    const c = plan.cases[index]!;
    const file = join(dir, `tables-${index}.bin`);
    await qmp!.execute('pmemsave', { val: Number(c.input.tablesPhys), size: c.input.tables.byteLength, filename: file }, qmpMs + options.mmuReadMs(index));
    try {
      return tableXors(c, file);
    } finally {
      rmSync(file, { force: true });
    }
  };

  /** QEMU's translation of each page the guest read without a signature (at most UNSIGNED_LOOKUPS of them). */
  const translateUnsigned = async (lines: readonly string[]): Promise<Map<bigint, bigint>> => {
    const out = new Map<bigint, bigint>();
    for (const run of parseGuestCase(lines).runs) {
      if (!(run.flags & STUB_ABI.O_READ) || run.flags & STUB_ABI.O_SIGNED) continue;
      for (let i = 0n; i < run.pages && out.size < UNSIGNED_LOOKUPS; i++) {
        const virt = run.virt + i * 4096n;
        const said = await qmp!.monitor(`gva2gpa 0x${virt.toString(16)}`, qmpMs);
        const m = /gpa: 0x([0-9a-f]+)/.exec(said);
        if (m) out.set(virt, BigInt(`0x${m[1]}`));
      }
    }
    return out;
  };

  /**
   * The guest cannot go on: keep what QEMU knows, then end the machine. Which
   * case died is settled once every console line has been read (a QMP event
   * can overtake the guest's last lines).
   */
  let death: { reason: string; registers: string; mmu: MmuText } | undefined;
  const stopAfterDeath = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      if (!qmp) return;
      await qmp.execute('stop', undefined, qmpMs);
      death = { reason, mmu: await readMmu(Math.max(current, 0)), registers: await qmp.monitor('info registers', qmpMs) };
      await qmp.execute('quit', undefined, qmpMs).catch((err: unknown) => {
        if (!(err instanceof QmpClosedError)) throw err;
      });
    })();
    return stopping;
  };

  const onLine = async (line: string): Promise<void> => {
    const word = line.split(' ', 1)[0];
    if (word === 'c') {
      current = Number.parseInt(line.slice(2), 16);
      if (qemu.pid !== undefined) options.onCaseStart?.({ pid: qemu.pid, dir, case: first + current, cases: total });
      return;
    }
    const c = cases[current];
    if (word === 'z') {
      finished = true;
      return;
    }
    if (!c) throw new Error(`the guest reported '${line}' outside any case`);
    c.lines.push(line);
    if (word === 'm') {
      c.mmu = await readMmu(current);
      if (plan.hostTableDiff[current]) c.tableXors = await readTableXors(current);
      if (!plan.cases[current]!.mmuListed) c.physOf = await translateUnsigned(c.lines);
      // The guest may finish and QEMU exit before it answers: the exit status tells the rest.
      await qmp!.execute('inject-nmi', undefined, qmpMs).catch((err: unknown) => {
        if (!(err instanceof QmpClosedError)) throw err;
      });
    } else if (word === 'd') {
      c.done = true;
    } else if (word === 'x') {
      await stopAfterDeath(`the guest took an exception it did not provoke (${describeTrap(line)})`);
    }
  };

  const onEvent = (event: QmpEvent): void => {
    if (event.event === 'STOP' || event.event === 'SHUTDOWN') {
      enqueue(() => stopAfterDeath(TRIPLE_FAULT));
    }
  };

  // Out of time: where the tables may have sent the stub astray (the walker disagrees with its pages), that is the guest dying; else QEMU failing.
  const outOfTime = (spent: string): void => {
    const plan_ = plan.cases[Math.max(current, 0)];
    if (plan_ && !plan_.walkerAgrees && current >= 0) {
      enqueue(() => stopAfterDeath(`the guest did not finish ${spent}`));
    } else {
      abandon(engineFailure(`QEMU did not finish ${spent} (its budget for ${options.budgetFor})`));
    }
  };
  const timer = setTimeout(() => outOfTime(`within ${duration(options.timeoutMs)}`), options.timeoutMs);
  const cpuBudget = options.cpuBudgetMs;
  const cpuWatch = cpuBudget === undefined ? undefined : setInterval(() => {
    const spent = qemu.pid === undefined ? null : cpuTimeMs(qemu.pid);
    if (spent !== null && spent > cpuBudget && !failure && !stopping) outOfTime(`in ${duration(cpuBudget)} of CPU time`);
  }, Math.min(CPU_POLL_MS, Math.max(20, (cpuBudget ?? 0) / 4)));
  // A stopped or wedged QEMU answers nothing: ask it something whenever QMP is idle.
  const heartbeat = setInterval(() => {
    if (qmp?.idle && !stopping) enqueue(async () => {
      await qmp!.execute('query-status', undefined, qmpMs);
    });
  }, Math.max(50, Math.floor(qmpMs / 3)));

  try {
    // Read the console from the start; lines wait in the queue until QMP is connected.
    enqueue(async () => {
      const gone = (): boolean => qemu.exitCode !== null || qemu.signalCode !== null;
      try {
        qmp = await QmpClient.connect(socket, onEvent, qmpMs, gone);
      } catch {
        if (!gone()) throw engineFailure(`QEMU did not open its QMP socket within ${duration(qmpMs)}`);
        return; // QEMU is gone: its exit status says why
      }
      // QMP reports events only once connected: a guest that died before then shows as not running.
      const status = (await qmp.execute('query-status', undefined, qmpMs)) as { running?: boolean };
      if (status.running === false) await stopAfterDeath(TRIPLE_FAULT);
    });
    const lines = createInterface({ input: qemu.stdout! });
    const linesClosed = new Promise<void>((resolve) => lines.once('close', () => resolve()));
    lines.on('line', (line) => {
      if (process.env.X86PT_QEMU_TRACE) process.stderr.write(`guest: ${line}\n`);
      enqueue(() => onLine(line));
    });
    const result = await qemu;
    await linesClosed;
    await queue;
    const stderr = String(result.stderr ?? '').trim();
    const qemuSaid = stderr ? `: ${stderr.split('\n')[0]}` : '';
    if (failure instanceof EngineFailure) throw failure;
    if (failure) throw new Error(`${failure.message}${stderr ? ` (QEMU: ${stderr})` : ''}`);
    const dead = cases[current];
    if (death && dead && !dead.done) {
      dead.mmu = death.mmu;
      dead.died = { reason: death.reason, registers: death.registers };
    }
    if (!finished && !cases.some((c) => c.died)) {
      if (result.signal) throw engineFailure(`QEMU was killed by ${result.signal}`);
      if (result.exitCode === EXIT_ALL_DONE) throw new Error(`QEMU reported done without finishing${qemuSaid}`);
      throw engineFailure(`QEMU exited with status ${result.exitCode ?? 'unknown'}${qemuSaid}`);
    }
    return { cases, stderr };
  } finally {
    clearTimeout(timer);
    clearInterval(cpuWatch);
    clearInterval(heartbeat);
    qmp?.close();
    qemu.kill('SIGKILL');
  }
}

/** Accessed and dirty bits (5, 6 of a dword) a walk sets. */
const WALK_MARKS = 0x60;
/** Bytes of the read-back tables compared at a time (memory stays bounded whatever their size). */
const COMPARE_CHUNK = 8 << 20;

/**
 * The dwords of the case's tables that differ in `file` (the tables read
 * back), XOR their original, without the accessed and dirty bits walks set
 * outside the top table's first 32 bytes (PAE PDPTEs have none): what the
 * stub lists when it compares them itself.
 */
function tableXors(plan: CasePlan, file: string): Map<bigint, number> {
  const { tables, tablesPhys } = plan.input;
  const top = Number(plan.cr3 - tablesPhys);
  const xors = new Map<bigint, number>();
  const chunk = new Uint8Array(Math.min(COMPARE_CHUNK, tables.byteLength));
  const now = new Uint32Array(chunk.buffer);
  const fd = openSync(file, 'r');
  try {
    for (let at = 0; at < tables.byteLength; at += chunk.byteLength) {
      const got = readSync(fd, chunk, 0, Math.min(chunk.byteLength, tables.byteLength - at), at);
      const original = tables.slice(at, at + got);
      const was = new Uint32Array(original.buffer, 0, got >>> 2);
      for (let i = 0; i < was.length; i++) {
        const xor = (was[i]! ^ now[i]!) >>> 0;
        const offset = at + i * 4;
        if (xor !== 0 && ((xor & ~WALK_MARKS) !== 0 || (offset >= top && offset < top + 32))) xors.set(tablesPhys + BigInt(offset), xor);
      }
    }
  } finally {
    closeSync(fd);
  }
  return xors;
}

function describeTrap(line: string): string {
  const [, vector, ip, error, cr2] = line.split(' ');
  const vec = Number.parseInt(vector ?? '', 16);
  return `vector ${vec} at 0x${BigInt(`0x${ip}`).toString(16)}, error code 0x${BigInt(`0x${error}`).toString(16)}, CR2 0x${BigInt(`0x${cr2}`).toString(16)}`;
}
