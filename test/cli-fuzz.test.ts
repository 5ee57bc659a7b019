/**
 * fuzz's rough edges: a --generator that cannot work is bad usage found in
 * one run (not a counterexample after shrinking), and without a terminal the
 * progress is a line every few seconds on stderr.
 */
import { chmodSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROGRESS_LINE_SECONDS, formatSeconds, progressLines } from '../src/cli/fuzz.js';
import { CLI, expectBadInput, scratchDir, writeScratch, x86pt } from './support/cli.js';

const dir = scratchDir('x86pt-cli-fuzz-');

describe('fuzz --generator checks the command once on a valid layout first', () => {
  const cases: [string, string, RegExp][] = [
    ['exits non-zero', 'false {kernel} {output}', /^x86pt: --generator 'false \{kernel\} \{output\}' cannot be fuzzed: given a valid pae layout \(4 MiB of RAM at 0x100000\), it exits with status 1$/],
    ['a script that is not there', 'python3 /nonexistent/gen_mmu.py -k {kernel} -o {output}', /cannot be fuzzed: given a valid pae layout .*it exits with status 2 \('.*\/nonexistent\/gen_mmu\.py.*No such file/],
    ['writes nothing', 'true {kernel} {output}', /cannot be fuzzed: given a valid pae layout .*it exits 0 but writes no tables\.bin$/],
    ['writes an empty file', 'touch {kernel} {output}', /cannot be fuzzed: given a valid pae layout .*it wrote an empty tables\.bin$/],
  ];
  it.each(cases)('%s: exit 2, one line naming the command, at once', async (_, generator, problem) => {
    const started = performance.now();
    const run = await x86pt(['fuzz', '--runs', '200', '--seed', '3', '--modes', 'pae', '--generator', generator]);
    expectBadInput(run, problem);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    // One run of the generator, no search and no shrinking.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('a program that does not exist stays the one-line start error', async () => {
    expectBadInput(await x86pt(['fuzz', '--runs', '5', '--generator', '/nonexistent/gen -k {kernel} -o {output}']), /--generator: cannot run \/nonexistent\/gen/);
  });

  it('a generator that works on the trivial layout is fuzzed: its wrong tables are a counterexample (exit 1)', async () => {
    // Writes one zeroed table whatever the layout: runs fine, translates nothing.
    const script = writeScratch(dir, 'zero-gen.sh', '#!/bin/sh\nhead -c 4096 /dev/zero > "$2"\n');
    chmodSync(script, 0o755);
    const run = await x86pt(['fuzz', '--runs', '20', '--seed', '3', '--modes', '32bit', '--shrink-budget', '5', '--generator', `${script} {kernel} {output}`]);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/COUNTEREXAMPLE/);
  });

  // A released era's script reads that era's symbols only: the pre-check must hand it a kernel of the campaign's era.
  it.each(['v2.4', 'v2.5', 'v2.6', '2025'])('--zephyr %s: a generator of that era alone passes the pre-check of its era', async (era) => {
    const generator = `node ${CLI} gen --zephyr ${era} -k {kernel} -o {output} {maps}`;
    const fuzzed = await x86pt(['fuzz', '--zephyr', era, '--runs', '3', '--seed', '3', '--modes', 'ia32e', '--workers', '1', '--generator', generator]);
    expect(fuzzed.stderr).not.toMatch(/cannot be fuzzed/);
    expect(fuzzed.exitCode).toBe(0);
  });

  // v2.4 reads the seed's symbols less the dual window, so its generator serves a seed kernel too; the later ones do not.
  it.each(['v2.5', 'v2.6', '2025'])('--zephyr %s: the same generator fails the pre-check of a seed campaign', async (era) => {
    const generator = `node ${CLI} gen --zephyr ${era} -k {kernel} -o {output} {maps}`;
    expectBadInput(
      await x86pt(['fuzz', '--runs', '3', '--seed', '3', '--modes', 'ia32e', '--generator', generator]),
      new RegExp(`^x86pt: --generator '.*--zephyr ${era} .*' cannot be fuzzed: given a valid ia32e layout \\(4 MiB of RAM at 0x100000\\), it exits with status 2`),
    );
  });
});

describe('fuzz progress without a terminal', () => {
  /** A clock the test moves, and the lines written. */
  const harness = () => {
    let t = 0;
    const lines: string[] = [];
    const display = progressLines((line) => lines.push(line), () => t);
    return { display, lines, advance: (ms: number) => { t += ms; } };
  };

  it('prints nothing for a campaign shorter than the interval', () => {
    const { display, lines, advance } = harness();
    for (let done = 1; done <= 100; done++) {
      advance(10);
      display.update({ phase: 'search', done, total: 100 });
    }
    display.stop();
    expect(lines).toEqual([]);
  });

  it('a line every few seconds with the rate, the elapsed time and what is left; one more at the end', () => {
    const { display, lines, advance } = harness();
    for (let done = 1; done <= 1050; done++) {
      advance(20); // 50 layouts a second: 21 s in all
      display.update({ phase: 'search', done, total: 1050 });
    }
    display.stop();
    // At 5, 10, 15 and 20 s, then where it ended.
    expect(lines.length).toBe(Math.floor(21 / PROGRESS_LINE_SECONDS) + 1);
    expect(lines[0]).toBe('x86pt fuzz: searching 250/1050 layouts (23%), 50/s, elapsed 5 s, 16 s left\n');
    expect(lines.at(-1)).toBe('x86pt fuzz: searching 1050/1050 layouts (100%), 50/s, elapsed 21 s, 0 s left\n');
  });

  it('shrinking gives an upper bound, since it ends when nothing smaller fails', () => {
    const { display, lines, advance } = harness();
    advance(1000);
    display.update({ phase: 'search', done: 1, total: 10 });
    for (let done = 1; done <= 10; done++) {
      advance(1000);
      display.update({ phase: 'shrink', done, total: 101 });
    }
    expect(lines).toEqual(['x86pt fuzz: shrinking 5/101 cases (4%), 1/s, elapsed 5 s, at most 1 min 36 s left\n',
      'x86pt fuzz: shrinking 10/101 cases (9%), 1/s, elapsed 10 s, at most 1 min 31 s left\n']);
  });

  it('formats seconds, minutes and hours', () => {
    expect([formatSeconds(0), formatSeconds(59.4), formatSeconds(65), formatSeconds(7260)]).toEqual(['0 s', '59 s', '1 min 05 s', '2 h 01 min']);
  });
});

describe('fuzz stdout keeps its report whatever the progress', () => {
  it('--no-progress and the default give the same report lines (but the timing)', async () => {
    const args = ['fuzz', '--runs', '30', '--seed', '9', '--modes', '32bit'];
    const strip = (text: string) => text.replace(/ in [\d.]+ s \(\d+\/s\)/, '');
    const [a, b] = await Promise.all([x86pt(args), x86pt([...args, '--no-progress'])]);
    expect(a.exitCode).toBe(0);
    expect(strip(a.stdout)).toBe(strip(b.stdout));
  });
});
