/**
 * Runs one boot of the stub under qemu-system-x86_64 (TCG, no display):
 * reads the guest's debug-console lines as they come, reads QEMU's MMU over
 * QMP whenever the guest halts for it, and stops the machine when the guest
 * is done, traps, triple-faults or runs out of time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { trackTempDir } from '../../core/cleanup.js';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import type { BootPlan } from './boot-plan.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import { imageLoadedAt, type ProbeStub } from './stub-build.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
const TRIPLE_FAULT = 'the guest triple-faulted (an exception while delivering one)';
/** isa-debug-exit status for "all cases done" (the stub writes 0x10: (0x10 << 1) | 1). */
const EXIT_ALL_DONE = 33;

/** What QEMU's monitor said about the translation while a case's tables were in CR3. */
export interface MmuText {
  readonly tlb: string;
  readonly mem: string;
}

/** The guest's lines and the MMU text for one case. */
export interface CaseOutput {
  readonly lines: string[];
  mmu?: MmuText;
  /** Set when the guest could not finish the case: why, and QEMU's registers at that moment. */
  died?: { readonly reason: string; readonly registers: string };
  done: boolean;
}

export interface BootOutput {
  /** Per case of the boot, in order; cases after a death never ran (`lines` empty, `done` false). */
  readonly cases: CaseOutput[];
  readonly stderr: string;
}

export interface BootOptions {
  /** Wall-clock limit for the whole boot. */
  readonly timeoutMs: number;
}

/** The QEMU command line for a boot (files already written). */
export function qemuArguments(plan: BootPlan, kernel: string, staging: string, qmpSocket: string): string[] {
  return [
    '-M', 'microvm,pit=off,pic=off,rtc=off,isa-serial=off',
    '-nodefaults', '-nographic', '-no-reboot',
    // A triple fault pauses the machine instead of ending it, so its MMU can still be read.
    '-action', 'shutdown=pause',
    '-accel', 'tcg', '-cpu', 'max',
    '-m', `${plan.memoryBytes / (1024n * 1024n)}M`,
    '-kernel', kernel,
    '-device', `loader,file=${staging},addr=0x${plan.stagingPhys.toString(16)},force-raw=on`,
    '-debugcon', 'stdio',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
    '-qmp', `unix:${qmpSocket},server=on,wait=off`,
  ];
}

export async function runBoot(stub: ProbeStub, plan: BootPlan, options: BootOptions): Promise<BootOutput> {
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'x86pt-qemu-')));
  const kernel = join(dir, 'stub.bin');
  const staging = join(dir, 'staging.bin');
  const socket = join(dir, 'qmp.sock');
  writeFileSync(kernel, imageLoadedAt(stub, plan.homePhys, plan.stagingPhys));
  writeFileSync(staging, plan.staging);
  const cases: CaseOutput[] = plan.cases.map(() => ({ lines: [], done: false }));
  const qemu = execa(QEMU_BINARY, qemuArguments(plan, kernel, staging, socket), {
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
  // Guest lines and QMP events are handled strictly in order.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void>): void => {
    queue = queue.then(work).catch((err: unknown) => {
      failure ??= err instanceof Error ? err : new Error(String(err));
      qemu.kill('SIGKILL');
    });
  };
  let failure: Error | undefined;

  const readMmu = async (): Promise<MmuText> => ({ tlb: await qmp!.monitor('info tlb'), mem: await qmp!.monitor('info mem') });

  /**
   * The guest cannot go on: keep what QEMU knows, then end the machine. Which
   * case died is settled once every console line has been read (a QMP event
   * can overtake the guest's last lines).
   */
  let death: { reason: string; registers: string; mmu: MmuText } | undefined;
  const stopAfterDeath = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      if (!qmp) return;
      await qmp.execute('stop').catch(() => undefined);
      death = { reason, mmu: await readMmu(), registers: await qmp.monitor('info registers') };
      await qmp.execute('quit').catch(() => undefined);
    })();
    return stopping;
  };

  const onLine = async (line: string): Promise<void> => {
    const word = line.split(' ', 1)[0];
    if (word === 'c') {
      current = Number.parseInt(line.slice(2), 16);
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
      c.mmu = await readMmu();
      // The guest may finish and QEMU exit before it answers: the exit status tells the rest.
      await qmp!.execute('inject-nmi').catch(() => undefined);
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

  const timer = setTimeout(() => {
    enqueue(() => stopAfterDeath(`the guest did not finish within ${options.timeoutMs} ms`));
    setTimeout(() => qemu.kill('SIGKILL'), 2000).unref();
  }, options.timeoutMs);

  try {
    // Read the console from the start; lines wait in the queue until QMP is connected.
    enqueue(async () => {
      qmp = await QmpClient.connect(socket, onEvent);
      // QMP reports events only once connected: a guest that died before then shows as not running.
      const status = (await qmp.execute('query-status')) as { running?: boolean };
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
    if (failure) throw new Error(`${failure.message}${stderr ? ` (QEMU: ${stderr})` : ''}`);
    const dead = cases[current];
    if (death && dead && !dead.done) {
      dead.mmu = death.mmu;
      dead.died = { reason: death.reason, registers: death.registers };
    }
    if (!finished && !cases.some((c) => c.died)) {
      const status = result.exitCode === EXIT_ALL_DONE ? 'reported done without finishing' : `exited with status ${result.exitCode ?? result.signal}`;
      throw new Error(`QEMU ${status}${stderr ? `: ${stderr}` : ''}`);
    }
    return { cases, stderr };
  } finally {
    clearTimeout(timer);
    qmp?.close();
    qemu.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function describeTrap(line: string): string {
  const [, vector, ip, error, cr2] = line.split(' ');
  const vec = Number.parseInt(vector ?? '', 16);
  return `vector ${vec} at 0x${BigInt(`0x${ip}`).toString(16)}, error code 0x${BigInt(`0x${error}`).toString(16)}, CR2 0x${BigInt(`0x${cr2}`).toString(16)}`;
}
