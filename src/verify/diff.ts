/** What changed between two table blocks: translations and architectural violations. */
import type { Violation } from './model.js';
import { compareRanges } from './compare.js';
import type { DiffReport, DiffSide } from './format.js';

/** Violations are matched by entry position (level and index path) and message, so moving the block is no change. */
const violationKey = (v: Violation): string => `${v.level}|${v.path.join('/')}|${v.message}`;

export function diffTables(oldSide: DiffSide, newSide: DiffSide): DiffReport {
  const oldKeys = new Set(oldSide.violations.map(violationKey));
  const newKeys = new Set(newSide.violations.map(violationKey));
  return {
    old: oldSide,
    new: newSide,
    changes: compareRanges(oldSide.ranges, newSide.ranges, 'all'),
    violationsAdded: newSide.violations.filter((v) => !oldKeys.has(violationKey(v))),
    violationsRemoved: oldSide.violations.filter((v) => !newKeys.has(violationKey(v))),
  };
}
