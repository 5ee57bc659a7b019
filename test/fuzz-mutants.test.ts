/**
 * The campaign's power, end to end: `x86pt fuzz --generator` against
 * generators with planted bugs (test/support/mutants/plant.mjs: x86pt's
 * generator, then one bug planted into its answer). A bounded fixed-seed
 * campaign must find each, and must find nothing in the untouched control.
 * X86PT_LONG_FUZZ=1 raises the bounds (the control then runs much longer).
 */
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { x86pt } from './support/cli.js';

const LONG = process.env.X86PT_LONG_FUZZ === '1';
const PLANT = join(import.meta.dirname, 'support', 'mutants', 'plant.mjs');
const SEED = '3';
/** Bound on layouts per campaign; with this seed every bug is found well within it. */
const RUNS = LONG ? 2000 : 150;
const CONTROL_RUNS = LONG ? 500 : 25;
if (LONG) vi.setConfig({ testTimeout: 60 * 60_000 });

/** Each planted bug and the finding kinds it may show up as. */
const MUTANTS: readonly [bug: string, kinds: readonly string[]][] = [
  ['lost-xd', ['translation']],
  ['dual-rounded-down', ['translation', 'rejected-valid']],
  ['last-page-unmapped', ['translation']],
  ['rodata-writable', ['translation']],
  ['kpti-user-lost', ['translation']],
  ['gcov-not-writable', ['translation']],
  ['null-page-mapped', ['translation']],
  ['extra-table', ['structure']],
  ['nondeterministic', ['nondeterministic']],
  ['refuses-ram-at-zero', ['rejected-valid']],
  ['writes-on-refusal', ['wrote-on-refusal']],
  ['ignores-flash-overlap', ['accepted-refused']],
];

function fuzz(bug: string, runs: number) {
  return x86pt([
    'fuzz', '--runs', String(runs), '--seed', SEED, '--modes', '32bit,ia32e', '--refusal-exit', '2', '--shrink-budget', LONG ? '200' : '4',
    '--generator', `node ${PLANT} ${bug} -k {kernel} -o {output}`,
  ]);
}

describe('x86pt fuzz --generator finds planted bugs', () => {
  it.each(MUTANTS)('%s', async (bug, kinds) => {
    const r = await fuzz(bug, RUNS);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    const kind = /^COUNTEREXAMPLE \(([a-z-]+)\)/m.exec(r.stdout)?.[1];
    expect(kinds).toContain(kind);
    const searched = Number(/^x86pt fuzz: (\d+) layouts?/.exec(r.stdout)?.[1]);
    expect(searched).toBeLessThanOrEqual(RUNS);
    expect(r.stdout).toMatch(/^reproduce: x86pt fuzz --seed 3 --path [\d:]+ --modes 32bit,ia32e --generator 'node .*plant\.mjs .* -k \{kernel\} -o \{output\}'/m);
  });

  it('finds nothing when no bug is planted (the control)', async () => {
    const r = await fuzz('none', CONTROL_RUNS);
    expect(r.stdout).toMatch(/no counterexample$/);
    expect(r.exitCode).toBe(0);
  });
});
