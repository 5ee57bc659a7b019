import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateForEra } from '../src/gen/generate.js';
import { symbolKernelMaps, type SymbolKernel } from '../src/elf/kernel.js';
import type { ZephyrEra } from '../src/elf/zephyr-era.js';
import { checkTables, type VerifyResult } from '../src/verify/check.js';
import { ERA_GOLDEN_LAYOUTS } from './support/era-golden-layouts.js';
import { GOLDEN_DIR } from './support/golden.js';
import { readZephyrFixture, zephyrFixtureBuilds } from './support/zephyr-fixtures.js';

type Era = Exclude<ZephyrEra, 'seed'>;
const modeOf = (k: SymbolKernel) => ('CONFIG_X86_64' in k.symbols ? 'ia32e' : 'CONFIG_X86_PAE' in k.symbols ? 'pae' : '32bit');
const mapsOf = (args: readonly string[] = []) => args.filter((_, i, all) => all[i - 1] === '--map');
const golden = (dir: string, name: string) => new Uint8Array(readFileSync(join(GOLDEN_DIR, dir, `${name}.bin`)));

/** A `--map` large page not asked to be executable: the scripts drop its XD (not in 32-bit paging, which has none). */
const losesXd = (kernel: SymbolKernel, maps: readonly string[]) =>
  modeOf(kernel) !== '32bit' && maps.some((m) => { const letters = m.split(',')[2] ?? ''; return letters.includes('L') && !letters.includes('X'); });

const check = (kernel: SymbolKernel, tables: Uint8Array, maps: readonly string[]): Promise<VerifyResult> => {
  const { symbols, sizes } = symbolKernelMaps(kernel);
  return checkTables({ symbols, sizes, tables, maps });
};

/** The reference's bytes fail exactly where a documented deviation applies, and only as it says. */
function expectDeviationsOnly(result: VerifyResult, kernel: SymbolKernel, maps: readonly string[]): void {
  const pae = modeOf(kernel) === 'pae';
  expect(result.violations.length > 0).toBe(pae);
  for (const v of result.violations) expect(v.message).toMatch(/PDPTE|reserved bits 1-2/);
  const xd = losesXd(kernel, maps);
  // Through a PDPTE with reserved bits set nothing translates (MOV to CR3 faults): those pages are missing.
  const missing = result.mismatches.filter((m) => m.actual === null);
  expect(missing.length > 0).toBe(pae);
  for (const m of missing) expect(m.expected).not.toBeNull();
  const others = result.mismatches.filter((m) => m.actual !== null);
  expect(others.length > 0).toBe(xd && !pae);
  for (const m of others) {
    // The large page is mapped where expected, to the same memory, only executable.
    expect(m.expected && m.actual).toBeTruthy();
    expect({ ...m.actual!, executable: false }).toEqual({ ...m.expected!, executable: false });
    expect(m.actual!.executable).toBe(true);
  }
  expect(result.blockProblems).toEqual([]);
  expect(result.ok).toBe(!pae && !xd);
}

describe('the spec of every era accepts the generator\'s tables and the script\'s up to the deviations', () => {
  for (const [era, layouts] of Object.entries(ERA_GOLDEN_LAYOUTS) as [Era, typeof ERA_GOLDEN_LAYOUTS[Era]][]) {
    for (const [name, layout] of Object.entries(layouts)) {
      const maps = mapsOf(layout.args);
      it(`${era}/${name}: x86pt's default output verifies`, async () => {
        const tables = generateForEra(symbolKernelMaps(layout.kernel), { maps }).bytes;
        const result = await check(layout.kernel, tables, maps);
        expect(result.mismatches).toEqual([]);
        expect(result.violations).toEqual([]);
        expect(result.blockProblems).toEqual([]);
        expect(result.ok).toBe(true);
        expect(result.expected.length).toBeGreaterThan(0);
      });
      it(`${era}/${name}: the script's bytes fail only by the documented deviations`, async () => {
        expectDeviationsOnly(await check(layout.kernel, golden(era, name), maps), layout.kernel, maps);
      });
    }
  }
});

describe('real Zephyr builds: the spec of their era', () => {
  for (const build of zephyrFixtureBuilds()) {
    const fixture = readZephyrFixture(build);
    const maps = mapsOf(fixture.args);
    it(`${build} (${fixture.era}): x86pt's default output verifies`, async () => {
      const tables = generateForEra(symbolKernelMaps(fixture.kernel), { maps }).bytes;
      const result = await check(fixture.kernel, tables, maps);
      expect(result.mismatches).toEqual([]);
      expect(result.violations).toEqual([]);
      expect(result.ok).toBe(true);
    });
    it(`${build} (${fixture.era}): the build's own tables fail only by the documented deviations`, async () => {
      expectDeviationsOnly(await check(fixture.kernel, golden('zephyr', build), maps), fixture.kernel, maps);
    });
  }
});
