/**
 * The probe stub's binary interface, defined once: what the host writes for
 * the stub (staging header, case descriptors, flags), what the stub prints
 * back (observation flags, the signature tag), the layout of its context
 * pages, and where the host patches the image. The stub's build turns this
 * table into `probe-stub-abi.inc`, which probe-stub.S includes; the host
 * reads the same table, and a test compares both with the assembled
 * object's symbols.
 */
import { SIGNATURE_SLOT_BYTES, SIGNATURE_TAG } from '../probe/signature.js';

const SLOT_BYTES = SIGNATURE_SLOT_BYTES;
const PAGE_BYTES = 0x1000;

export const STUB_ABI = {
  /** Bytes at a page's start the stub writes: the signature, then `ret` and padding. */
  SLOT_BYTES,
  /** Bits 48-63 of every page signature (probe/signature.ts). */
  SIG_TAG: Number(SIGNATURE_TAG),
  PORT_DEBUGCON: 0xe9,
  PORT_EXIT: 0xf4,
  /** isa-debug-exit values: QEMU exits with (value << 1) | 1. */
  EXIT_DONE: 0x10,
  EXIT_BAD_STAGING: 0x11,
  /** The stack the home code uses, just above the image (the multiboot bss). */
  HOME_STACK_BYTES: 0x1000,

  /** Where the image keeps what the host patches in or reads: the multiboot header, the staging pointer, the entry offset, the runner's size. */
  IMAGE_MB_HEADER: 0x10,
  IMAGE_STAGING_PTR: 0x30,
  IMAGE_ENTRY_OFFSET: 0x34,
  /** Bytes from the image's start that run at a case's code page (copied there): at most one page. */
  IMAGE_RUNNER_BYTES: 0x38,

  /** Staging area header. */
  STAGING_MAGIC: 0x70363878, // "x86p"
  S_MAGIC: 0x00,
  S_COUNT: 0x04,
  /** Address of the first case descriptor. */
  S_CASES: 0x08,
  /** The stub's own IA-32e tables (an identity map of physical memory), for cases with F_LONG; 0 when none has it. */
  S_STUB_CR3: 0x0c,
  S_BYTES: 0x40,

  /** Case descriptor. Physical addresses are u64: with F_LONG the stub reaches them in IA-32e mode. */
  D_MODE: 0x00,
  D_FLAGS: 0x04,
  D_CR3: 0x08,
  D_TABLES_PHYS: 0x10,
  /** Where the host placed a copy of the tables (below 4 GiB unless F_LONG). */
  D_TABLES_SRC: 0x18,
  D_CODE: 0x20,
  D_CTX: 0x28,
  /** u64: dual alias of the code minus its identity address. */
  D_DELTA: 0x30,
  /** Runs of {u64 phys, u32 pages, u32 0}: SIGN_RUN_BYTES each. */
  D_SIGN_SRC: 0x38,
  /** Runs of {u64 virt, u32 pages, u32 0}: PROBE_RUN_BYTES each. */
  D_PROBE_SRC: 0x40,
  D_TABLES_LEN: 0x48,
  D_SIGN_COUNT: 0x4c,
  D_PROBE_COUNT: 0x50,
  D_BYTES: 0x58,
  SIGN_RUN_BYTES: 16,
  PROBE_RUN_BYTES: 16,

  MODE_32BIT: 0,
  MODE_PAE: 1,
  MODE_IA32E: 2,

  /** Halt for the host after probing. */
  F_PAUSE: 1,
  /** No page can run ring-3 code: check user access with SMAP. */
  F_SMAP: 2,
  /** After the case, list the dwords of the tables it changed beyond A/D (A/D too in the top table's first 32 bytes: PAE PDPTEs). */
  F_TABLE_DIFF: 4,
  /**
   * The case reaches physical memory at or above 4 GiB (its tables, signed
   * pages, code or context): the stub prepares it in IA-32e mode under its own
   * tables (S_STUB_CR3), and an IA-32e case switches CR3 from those.
   */
  F_LONG: 8,
  /** The host loaded the tables at their physical address itself (a large case, alone in its boot): no copy. */
  F_TABLES_PLACED: 0x10,

  /** Observation flags in the guest's `o` lines. */
  O_READ: 1,
  O_WRITE: 2,
  O_USER: 4,
  O_EXEC: 8,
  O_SIGNED: 0x10,

  /**
   * Context pages: page 0 holds the variables, the descriptor tables (the
   * IDT ends at 0x410), both stacks and the first probe runs, so that a
   * layout with one writable page hosts the stub; further pages hold more runs.
   */
  C_HOME_RET: 0x10,
  C_HOME_SP: 0x14,
  C_RESUME: 0x18,
  C_SAVED_SP: 0x20,
  C_FAULTED: 0x28,
  C_ERR: 0x2c,
  C_CR2: 0x30,
  C_BASE: 0x38,
  C_IDBASE: 0x40,
  C_MODE: 0x48,
  C_FLAGS: 0x4c,
  C_CR3: 0x50,
  C_DELTA: 0x58,
  C_RUNS: 0x60,
  C_NRUNS: 0x68,
  C_SMAP: 0x6c,
  C_OBS_FLAGS: 0x70,
  C_OBS_VALUE: 0x78,
  C_RUN_VIRT: 0x80,
  C_RUN_NEXT: 0x88,
  C_RUN_PAGES: 0x90,
  C_RUN_FLAGS: 0x94,
  C_RUN_VALUE: 0x98,
  /** F_LONG: the stub's own CR3, and where at home its IA-32e code takes the case back. */
  C_STUB_CR3: 0xa0,
  C_HOME64: 0xa4,
  C_GDT: 0x100,
  C_GDTR: 0x160,
  C_IDTR: 0x170,
  C_TSS: 0x180,
  C_IDT: 0x200,
  C_ISTACK_TOP: 0x800,
  C_STACK_TOP: 0xc00,
  /** The first probe run (as in the staging area); runs go on page by page, each later page after its signature slot. */
  C_RUNS_START: 0xc00,
  CTX_CLEAR_BYTES: PAGE_BYTES,
} as const;

export type StubSymbol = keyof typeof STUB_ABI;

/** Widths of the case descriptor's fields (the rest are u32). */
export const DESCRIPTOR_FIELD_BYTES: Readonly<Partial<Record<StubSymbol, 8>>> = { D_CR3: 8, D_TABLES_PHYS: 8, D_TABLES_SRC: 8, D_CODE: 8, D_CTX: 8, D_DELTA: 8, D_SIGN_SRC: 8, D_PROBE_SRC: 8 };

/** The assembler's view of the table. */
export function stubAbiInclude(): string {
  const lines = ['/* Generated from src/engines/qemu/stub-abi.ts when the stub is built; do not edit. */'];
  for (const [name, value] of Object.entries(STUB_ABI)) lines.push(`        .set ${name}, 0x${value.toString(16)}`);
  return `${lines.join('\n')}\n`;
}
