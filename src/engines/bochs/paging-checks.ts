/**
 * Runs paging-checks.S under Bochs: the host's tables in place, paging
 * turned on, an optional second CR3 load and one read, and what the CPU
 * did, parsed from the guest's console.
 */
import { assembleFlat } from './assemble.js';
import type { CpuProfile } from './cpu-profile.js';
import { MiB, runGuest, type BochsExit, type PhysBlob } from './harness.js';

/** Where the check guest is linked and loaded. */
export const CHECK_GUEST_PHYS = 0x100000;
/** Low memory the guest uses: its stack below STACK_TOP, the parameter block, the IDT page. */
const STACK_TOP = 0x7000;
const PARAMS_PHYS = 0x7000;
const SCRATCH_PHYS = 0x8000;
/** Pages every table set must identity-map for the guest: low memory and the guest itself. */
export const CHECK_GUEST_NEEDS = { start: 0, end: CHECK_GUEST_PHYS + 0x10000 } as const;

export interface PagingCheck {
  readonly mode: 'pae' | 'ia32e';
  readonly profile: CpuProfile;
  /** The tables and any data, at their physical addresses. */
  readonly blobs: readonly PhysBlob[];
  /** Loaded with paging off, then CR0.PG is set. */
  readonly cr3: number;
  /** Loaded once paging is on. */
  readonly cr3Again?: number;
  /** Read (8 bytes) once paging is on. */
  readonly probe?: number;
  /** A physical address (identity-mapped) whose 8 bytes are reported after the read. */
  readonly watch?: number;
  readonly memoryBytes?: number;
}

export interface Trap {
  readonly vector: number;
  readonly errorCode: number;
  readonly eip: number;
  readonly cr2: number;
}

export interface PagingCheckResult {
  readonly exit: BochsExit;
  /** Where the guest's MOV to CR0, MOV to CR3 and read instructions are. */
  readonly marks: { readonly cr0: number; readonly cr3: number; readonly read: number };
  readonly pagingOn: boolean;
  readonly cr3Loaded: boolean;
  readonly read: bigint | null;
  readonly watch: bigint | null;
  readonly trap: Trap | null;
  readonly done: boolean;
  readonly console: string;
}

const MODE_CODES = { pae: 1, ia32e: 2 } as const;

export async function runPagingCheck(check: PagingCheck): Promise<PagingCheckResult> {
  const guest = await assembleFlat('paging-checks.S', CHECK_GUEST_PHYS);
  const params = new Uint8Array(0x18);
  const view = new DataView(params.buffer);
  view.setUint32(0x00, MODE_CODES[check.mode], true);
  view.setUint32(0x04, check.cr3, true);
  view.setUint32(0x08, check.cr3Again ?? 0, true);
  view.setUint32(0x0c, check.probe ?? 0, true);
  view.setUint32(0x10, check.watch ?? 0, true);
  view.setUint32(0x14, SCRATCH_PHYS, true);
  const result = await runGuest({
    blobs: [{ phys: CHECK_GUEST_PHYS, bytes: guest }, { phys: PARAMS_PHYS, bytes: params }, ...check.blobs],
    entry: { eip: CHECK_GUEST_PHYS, esi: PARAMS_PHYS, esp: STACK_TOP },
    profile: check.profile,
    memoryBytes: check.memoryBytes ?? 32 * MiB,
    timeoutMs: 20_000,
  });
  return parse(Buffer.from(result.console).toString('latin1'), result.exit);
}

function parse(console: string, exit: BochsExit): PagingCheckResult {
  const lines = console.split('\n');
  const hexOf = (s: string | undefined): number => Number.parseInt(s ?? 'x', 16);
  const mark = (name: string): number => hexOf(lines.find((l) => l.startsWith(`mark ${name} `))?.split(' ')[2]);
  const pair = (word: string): bigint | null => {
    const parts = lines.find((l) => l.startsWith(`${word} `))?.split(' ');
    return parts ? (BigInt(`0x${parts[1]}`) << 32n) | BigInt(`0x${parts[2]}`) : null;
  };
  const x = lines.find((l) => l.startsWith('x '))?.split(' ');
  return {
    exit,
    marks: { cr0: mark('cr0'), cr3: mark('cr3'), read: mark('read') },
    pagingOn: lines.includes('paging on'),
    cr3Loaded: lines.includes('cr3 loaded'),
    read: pair('read'),
    watch: pair('watch'),
    trap: x ? { vector: hexOf(x[1]), errorCode: hexOf(x[2]), eip: hexOf(x[3]), cr2: hexOf(x[4]) } : null,
    done: lines.includes('done'),
    console,
  };
}
