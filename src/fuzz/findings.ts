/** What the fuzzer can find wrong with a generator's answer to one layout. */

/**
 * Kinds of findings, most telling first: a case's findings are sorted in this
 * order. Violations come before translations because an entry with a reserved
 * bit maps nothing, so its pages also show up as missing.
 */
export const FINDING_KINDS = [
  'crash', 'timeout', 'rejected-valid', 'accepted-refused', 'wrote-on-refusal', 'refusal-exit',
  'violation', 'translation', 'structure', 'nondeterministic', 'engine-disagreement',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** What each kind of finding means, for --help and reports. */
export const FINDING_MEANINGS: Readonly<Record<FindingKind, string>> = {
  crash: 'the generator died (signal, uncaught error, exit 0 without output)',
  timeout: 'the generator did not answer within --timeout',
  'rejected-valid': 'refused a layout the policy accepts',
  'accepted-refused': 'wrote tables for a layout the policy refuses',
  'wrote-on-refusal': 'refused, but left a file behind',
  'refusal-exit': 'refused with an exit status other than --refusal-exit',
  translation: 'the tables translate differently from what the ELF asks',
  violation: 'the tables break an architectural rule (reserved bits, ...)',
  structure: 'the table block is not the minimal size or count, or the top level is not last',
  nondeterministic: 'two runs on the same ELF gave different answers',
  'engine-disagreement': 'an emulator engine sees translations differ from the spec where the SDM walker sees none',
};

export interface Finding {
  readonly kind: FindingKind;
  /** One line. */
  readonly summary: string;
  /** The evidence, a few readable lines. */
  readonly details: readonly string[];
}
