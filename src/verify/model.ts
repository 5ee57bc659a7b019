/**
 * The verifier's own vocabulary. Nothing here comes from the generator: the
 * verifier describes translations the way the Intel SDM does, so that a bug
 * in the generator's model cannot hide itself in the check.
 */
import { InputError } from '../core/errors.js';

/** The three paging modes of Intel SDM Vol. 3A, chapter 4. */
export type PagingMode = '32bit' | 'pae' | 'ia32e';
export const PAGING_MODES: readonly PagingMode[] = ['32bit', 'pae', 'ia32e'];

/** Effective permissions of a translation, combined across all levels. */
export interface Access {
  readonly writable: boolean;
  readonly user: boolean;
  readonly executable: boolean;
}

/**
 * A maximal run of consecutive virtual pages mapped to contiguous physical
 * memory with equal effective permissions. `virt` is canonical in IA-32e
 * (e.g. 0xffff800000100000n); all addresses are exact 64-bit bigints.
 */
export interface MappedRange extends Access {
  readonly virt: bigint;
  readonly phys: bigint;
  readonly size: bigint;
}

/** A span of virtual addresses, [virt, virt + size). */
export interface VirtSpan {
  readonly virt: bigint;
  readonly size: bigint;
}

/** Where a table block sits: its paging mode and the physical address of its first byte (the top-level table is last). */
export interface TablePlacement {
  readonly mode: PagingMode;
  readonly tablesPhys: bigint;
}

/**
 * An architectural problem in the table bytes: something the MMU would
 * reject or treat differently from what the bytes seem to say.
 */
export interface Violation {
  /** Level name as the SDM calls it: 'PML4E', 'PDPTE', 'PDE', 'PTE'. */
  readonly level: string;
  /** Entry indices from the top level down to this entry. */
  readonly path: readonly number[];
  /** Physical address of the offending entry. */
  readonly entryAddr: bigint;
  /** What is wrong and what the hardware would do. */
  readonly message: string;
  /** Set when an engine saw it happen (a fault it raised, a table it changed), naming the engine; absent for the walker's reading of the bytes. */
  readonly engine?: string;
}

/** The processor the walker models, as far as it changes how entries are read. */
export interface WalkOptions {
  /** MAXPHYADDR, 32..52; address bits at or above it are reserved. Default 52. */
  readonly maxPhysAddr?: number;
  /** IA32_EFER.NXE (PAE and IA-32e): bit 63 is XD when on, reserved when off. Default true. */
  readonly nxe?: boolean;
  /** CR4.PSE (32-bit paging): PS in a PDE maps a 4 MiB page when on, is ignored when off. Default true. */
  readonly pse?: boolean;
}

/** What an engine is given: the tables as they would sit in memory, and what they should do. */
export interface EngineInput {
  readonly mode: PagingMode;
  readonly tables: Uint8Array;
  /** Physical address of the first byte of `tables`. */
  readonly tablesPhys: bigint;
  /** The spec's translation, sorted by virtual address. */
  readonly expected: readonly MappedRange[];
}

/** What an engine observed. */
export interface EngineReport {
  readonly engine: string;
  readonly version: string;
  /** Translations observed, as maximal ranges sorted by virtual address. */
  readonly actual: readonly MappedRange[];
  /**
   * Virtual spans the engine examined. 'all' for an engine that sees the whole
   * address space (the walker); probing engines list what they probed, and
   * only there are expected and actual compared.
   */
  readonly coverage: readonly VirtSpan[] | 'all';
  readonly violations: readonly Violation[];
  /** For a probing engine: which pages it probed, chosen how (absent for the walker, which reads every entry). */
  readonly probe?: ProbeSummary;
}

/** Which pages a probing engine probed: its plan (every page, or a seeded sample), and how many of how many. */
export interface ProbeSummary {
  readonly plan: 'all' | 'sampled';
  /** The seed the sampled plan drew its pages from. */
  readonly seed: number;
  readonly pagesProbed: number;
  /** Pages the full plan would probe (every expected page and the pages around each range). */
  readonly fullPageCount: number;
}

/**
 * An engine cannot host a layout (memory its CPU cannot address, no room for
 * its own code, ...): `reason` is a short stable code a campaign counts
 * layouts by (e.g. 'phys-above-maxphyaddr'), the message says it for people.
 * Any InputError an engine throws means the same; one without a `reason`
 * counts under DEFAULT_HOSTING_REASON.
 */
export class HostingRefusal extends InputError {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

/** The reason code of a refusal that names none. */
export const DEFAULT_HOSTING_REASON = 'cannot-host';

/** The reason code an engine's InputError carries (a `reason` string field), or the default. */
export function hostingReason(err: InputError): string {
  const reason = (err as InputError & { reason?: unknown }).reason;
  return typeof reason === 'string' && reason.length > 0 ? reason : DEFAULT_HOSTING_REASON;
}

/** One table set's outcome in a batch: what the engine observed, or why it cannot host the layout. */
export type EngineOutcome =
  | { readonly ok: true; readonly report: EngineReport }
  | { readonly ok: false; readonly error: InputError };

/** A way of finding out what the tables really do. */
export interface Engine {
  readonly name: string;
  /** Set when the engine is the SDM walker: its report then already holds the architectural checks under these settings. */
  readonly walkOptions?: WalkOptions;
  run(input: EngineInput): Promise<EngineReport>;
  /**
   * Many table sets in one go (QEMU boots once for several), results in input
   * order. Engines without it are run one set at a time.
   */
  runBatch?(inputs: readonly EngineInput[]): Promise<readonly EngineOutcome[]>;
}
