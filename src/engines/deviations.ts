/**
 * The catalogue of how each engine is known to depart from the SDM (or to
 * observe less than it), as data: `verify --engine all` explains a
 * disagreement with the walker by the entry of the engine that disagrees, or
 * reports it as a finding. Each entry was measured (Bochs 2.7, QEMU 7.2 TCG,
 * Unicorn 2.1.4); the tests of test/engine-matrix.test.ts show the ones the
 * engines can reach.
 */
import type { EngineInput } from '../verify/model.js';
import type { CpuProfile } from './cpu.js';

/** The rows of the matrix: the probe kinds, then the architectural rules. */
export const MATRIX_CHECKS = ['translation', 'write', 'execute', 'user', 'pdpte-reserved', 'reserved-walk', 'other-rules', 'tables-unchanged'] as const;
export type MatrixCheck = (typeof MATRIX_CHECKS)[number];

export const CHECK_TITLES: Readonly<Record<MatrixCheck, string>> = {
  translation: 'translation (read, signed page)',
  write: 'write (CR0.WP = 1)',
  execute: 'execute (XD)',
  user: 'user (CPL 3 or SMAP)',
  'pdpte-reserved': 'PAE PDPTE reserved bits (#GP at CR3 load)',
  'reserved-walk': 'reserved bits in a walk (#PF RSVD)',
  'other-rules': 'other architectural rules',
  'tables-unchanged': 'tables unchanged but A/D',
};

/** What a catalogue entry may look at to decide whether it applies. */
export interface DeviationContext {
  readonly input: EngineInput;
  readonly cpu: CpuProfile;
  /** The walker reports a reserved bit in a PAE PDPTE. */
  readonly pdpteReserved: boolean;
  /** The engine set bit 5 of a PAE PDPTE (and changed nothing else unexpected). */
  readonly pdpteAccessed: boolean;
  /** The tables map a 1 GiB page (IA-32e PDPTE with PS). */
  readonly hasGiBPage: boolean;
}

export interface Deviation {
  readonly id: string;
  /** The engine whose behaviour it is. */
  readonly engine: 'walker' | 'unicorn' | 'qemu' | 'bochs';
  /** The matrix rows it explains for that engine. */
  readonly checks: readonly MatrixCheck[];
  /** What the engine does, and what the SDM says instead. */
  readonly what: string;
  /** Whether it can explain a disagreement on these tables. */
  readonly applies: (ctx: DeviationContext) => boolean;
}

const always = (): boolean => true;
const PROBES: readonly MatrixCheck[] = ['translation', 'write', 'execute', 'user'];

export const DEVIATIONS: readonly Deviation[] = [
  {
    id: 'tcg-pdpte-unchecked', engine: 'qemu', checks: ['pdpte-reserved', ...PROBES],
    what: 'QEMU\'s TCG does not check PAE PDPTEs when CR3 is loaded: bits 1, 2, 5-8 are ignored, bits 52-63 fault only at the first access (#PF). The SDM: MOV to CR3 (or to CR0 setting PG) raises #GP(0)',
    applies: (c) => c.input.mode === 'pae' && c.pdpteReserved,
  },
  {
    id: 'tcg-pdpte-unchecked', engine: 'unicorn', checks: ['pdpte-reserved', ...PROBES],
    what: 'Unicorn 2.1 is QEMU 5.0\'s TCG: it accepts PAE PDPTEs with reserved bits as QEMU does',
    applies: (c) => c.input.mode === 'pae' && c.pdpteReserved,
  },
  {
    id: 'tcg-rsvd-without-p', engine: 'qemu', checks: ['reserved-walk'],
    what: 'QEMU\'s TCG reports a reserved-bit #PF with error code 0x08 (RSVD without P, for a present entry); the SDM sets P too (0x09). Its engine reads such a page as unmapped and reports no RSVD',
    applies: always,
  },
  {
    id: 'tcg-rsvd-without-p', engine: 'unicorn', checks: ['reserved-walk'],
    what: 'Unicorn (QEMU 5.0\'s TCG) faults on reserved bits like QEMU; its engine reads such a page as unmapped and reports no RSVD',
    applies: always,
  },
  {
    id: 'tcg-pdpte-accessed', engine: 'qemu', checks: ['tables-unchanged'],
    what: 'QEMU\'s TCG writes the accessed bit into PAE PDPTE bit 5 (reserved there) during a walk; the SDM: PDPTEs have no accessed flag',
    applies: (c) => c.input.mode === 'pae' && c.pdpteAccessed,
  },
  {
    id: 'tcg-1g-without-pdpe1gb', engine: 'qemu', checks: [...PROBES, 'reserved-walk'],
    what: 'QEMU\'s TCG translates 1 GiB pages whatever the CPU model; the SDM: PS in a PDPTE is reserved without PDPE1GB (#PF RSVD)',
    applies: (c) => c.hasGiBPage && !c.cpu.pdpe1gb,
  },
  {
    id: 'tcg-1g-without-pdpe1gb', engine: 'unicorn', checks: [...PROBES, 'reserved-walk'],
    what: 'Unicorn translates 1 GiB pages whatever the CPU model, as QEMU does',
    applies: (c) => c.hasGiBPage && !c.cpu.pdpe1gb,
  },
  {
    id: 'unicorn-no-idt', engine: 'unicorn', checks: [],
    what: 'Unicorn delivers no exception through the guest IDT: its engine reads the #PF error code from the saved CPU context (the slot located at start-up by five known faults)',
    applies: always,
  },
  {
    id: 'walker-no-pdpe1gb', engine: 'walker', checks: [...PROBES, 'reserved-walk'],
    what: 'The walker reads PS in an IA-32e PDPTE as a 1 GiB page whatever the CPU profile (it does not model PDPE1GB): on a profile without it, Bochs is right',
    applies: (c) => c.hasGiBPage && !c.cpu.pdpe1gb,
  },
];

/** The entry of `engine` that explains its cell on `check` for these tables, if any. */
export function explainedBy(engine: string, check: MatrixCheck, ctx: DeviationContext): Deviation | null {
  return DEVIATIONS.find((d) => d.engine === engine && d.checks.includes(check) && d.applies(ctx)) ?? null;
}
