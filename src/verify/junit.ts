/** `verify` results as JUnit XML, the report format CI systems collect. */
import type { VerifyResult } from './check.js';
import { mismatchKind } from './compare.js';
import { resolve } from 'node:path';
import { hex } from '../core/text.js';
import { violationLine, type VerifyNames } from './format.js';
import { describeAccess } from './ranges.js';

const escapeXml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // Characters XML 1.0 cannot carry at all.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

export interface JunitCase {
  readonly name: string;
  /** Failure summary and details; absent when the case passed. */
  readonly failure?: { readonly message: string; readonly details: readonly string[] };
}

/**
 * The suite's name when none is given: the tables' file and the kernel's
 * path made absolute, since every Zephyr build names its files the same
 * (zephyr/zephyr_pre0.elf) and only the build directory tells boards apart.
 */
export const defaultJunitName = (names: VerifyNames): string => `x86pt verify ${names.tablesFile} (kernel ${resolve(names.kernelFile)})`;

/** Three test cases: translations, architectural checks, table-block size, then any `extra` (a final image's own checks); `suiteName` names the suite (and the cases' class). */
export function verifyJunit(
  result: VerifyResult, names: VerifyNames, seconds: number, extra: readonly JunitCase[] = [], suiteName = defaultJunitName(names),
): string {
  const mismatchDetail = result.mismatches.map((m) => {
    const side = (t: typeof m.expected) => (t ? `${hex(t.phys)} ${describeAccess(t)}` : 'unmapped');
    return `${hex(m.virt)}-${hex(m.virt + m.size)} ${mismatchKind(m)}: expected ${side(m.expected)}, actual ${side(m.actual)}`;
  });
  const cases: JunitCase[] = [
    {
      name: `translations match the layout (engine ${result.engine} ${result.version})`,
      ...(result.mismatches.length > 0 && {
        failure: { message: `${result.mismatches.length} virtual range(s) translated differently from the spec`, details: mismatchDetail },
      }),
    },
    {
      name: 'no architectural violations (Intel SDM Vol. 3A ch. 4)',
      ...(result.violations.length > 0 && {
        failure: { message: `${result.violations.length} violation(s)`, details: result.violations.map(violationLine) },
      }),
    },
    {
      name: 'table block has the size the layout needs',
      ...(result.blockProblems.length > 0 && { failure: { message: result.blockProblems[0]!, details: result.blockProblems } }),
    },
    ...extra,
  ];
  const failures = cases.filter((c) => c.failure).length;
  const suite = suiteName;
  const time = seconds.toFixed(3);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="x86pt verify" tests="${cases.length}" failures="${failures}" errors="0" time="${time}">`,
    `  <testsuite name="${escapeXml(suite)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="0" time="${time}">`,
    '    <properties>',
    `      <property name="tables" value="${escapeXml(names.tablesFile)}"/>`,
    `      <property name="kernel" value="${escapeXml(names.kernelFile)}"/>`,
    `      <property name="mode" value="${result.mode}"/>`,
    `      <property name="engine" value="${escapeXml(`${result.engine} ${result.version}`)}"/>`,
    '    </properties>',
  ];
  for (const c of cases) {
    const open = `    <testcase classname="${escapeXml(suite)}" name="${escapeXml(c.name)}"`;
    if (!c.failure) {
      lines.push(`${open}/>`);
      continue;
    }
    lines.push(`${open}>`);
    lines.push(`      <failure message="${escapeXml(c.failure.message)}" type="verification">${escapeXml(c.failure.details.join('\n'))}</failure>`);
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
