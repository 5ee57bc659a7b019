import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generateForEra } from '../src/gen/generate.js';
import { symbolKernelMaps } from '../src/elf/kernel.js';
import { InputError } from '../src/core/errors.js';
import { checkTables } from '../src/verify/check.js';
import { kernelSpec, REFUSAL_RULES, type RefusalRule } from '../src/verify/spec.js';
import { eraLayoutArbitrary, type ReleasedEra } from '../src/fuzz/arbitraries.js';
import type { EraFuzzLayout } from '../src/fuzz/layout.js';
import { PAGING_MODES } from '../src/verify/model.js';

const ERAS: readonly ReleasedEra[] = ['v2.4', 'v2.5', 'v2.6', '2025'];
const LONG = process.env['X86PT_LONG_FUZZ'] === '1';
const PER_ERA = LONG ? 20000 : 1500;

type Generated = { ok: true; bytes: Uint8Array; tableCount: number } | { ok: false; message: string };

function generate(layout: EraFuzzLayout, sizes?: Map<string, bigint>): Generated {
  const maps = symbolKernelMaps(layout.kernel);
  try {
    const t = generateForEra({ symbols: maps.symbols, sizes: sizes ?? maps.sizes }, { era: layout.era, maps: layout.maps });
    return { ok: true, bytes: t.bytes, tableCount: t.tableCount };
  } catch (err) {
    if (err instanceof InputError) return { ok: false, message: err.message };
    throw err;
  }
}

const specOf = (layout: EraFuzzLayout, sizes?: Map<string, bigint>) => {
  const maps = symbolKernelMaps(layout.kernel);
  return kernelSpec({ symbols: maps.symbols, sizes: sizes ?? maps.sizes, era: layout.era, maps: layout.maps });
};

/** The generator and the spec agree on one layout: both refuse, or both accept and the tables do exactly what the spec says. */
async function agree(layout: EraFuzzLayout, sizes?: Map<string, bigint>): Promise<{ accepted: boolean; rule?: RefusalRule }> {
  const spec = specOf(layout, sizes);
  const generated = generate(layout, sizes);
  const where = `${layout.era} ${layout.mode} [${layout.features.join(', ')}] ${JSON.stringify(layout.kernel.symbols, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))} ${layout.maps.join(' ')}`;
  if (!spec.valid) {
    expect(generated.ok, `spec refuses (${spec.reasons[0]}) but the generator wrote tables: ${where}`).toBe(false);
    return { accepted: false, rule: spec.rules[0]! };
  }
  expect(generated.ok, `spec accepts but the generator refuses (${generated.ok ? '' : generated.message}): ${where}`).toBe(true);
  if (!generated.ok) return { accepted: false };
  expect(generated.tableCount, `table count: ${where}`).toBe(spec.tableCount);
  const { symbols } = symbolKernelMaps(layout.kernel);
  const result = await checkTables({ symbols, sizes: sizes ?? symbolKernelMaps(layout.kernel).sizes, era: layout.era, maps: layout.maps, tables: generated.bytes });
  expect({ mismatches: result.mismatches.slice(0, 2), violations: result.violations.slice(0, 2), block: result.blockProblems }, where)
    .toEqual({ mismatches: [], violations: [], block: [] });
  return { accepted: true };
}

describe('generator and spec agree on random layouts of every era', () => {
  for (const era of ERAS) {
    it(`${era}: ${PER_ERA} layouts in every mode, accepted and refused alike, each accepted one also with a fitting and a wrong placeholder`, async () => {
      const layouts = fc.sample(eraLayoutArbitrary({ eras: [era], modes: PAGING_MODES }), { numRuns: PER_ERA, seed: 2024 + ERAS.indexOf(era) });
      let accepted = 0;
      const rules = new Map<string, number>();
      for (const layout of layouts) {
        const answer = await agree(layout);
        if (answer.accepted) {
          accepted++;
          if (era === 'v2.6' || era === '2025') {
            // The placeholder of exactly the tables' size is accepted; a page more or less is refused by both.
            const spec = specOf(layout);
            if (!spec.valid) throw new Error('accepted layout lost its spec');
            const placeholder = { ...layout, kernel: { ...layout.kernel, symbols: { ...layout.kernel.symbols, dummy_pagetables: layout.kernel.symbols['z_x86_pagetables_start']! } } };
            for (const [bytes, ok] of [[spec.tableBytes, true], [spec.tableBytes + 4096n, false], [spec.tableBytes - 4096n, false]] as const) {
              if (bytes <= 0n) continue;
              const sizes = new Map(symbolKernelMaps(layout.kernel).sizes);
              sizes.set('dummy_pagetables', bytes);
              const again = await agree(placeholder, sizes);
              expect(again.accepted).toBe(ok);
              // Sizing the hint needs CONFIG_MMU_PAGE_SIZE: without it the mismatch is a missing symbol.
              if (!ok) expect(again.rule).toBe('CONFIG_MMU_PAGE_SIZE' in layout.kernel.symbols ? 'placeholder-size-mismatch' : 'symbol-missing');
            }
          }
        } else if (answer.rule) {
          rules.set(answer.rule, (rules.get(answer.rule) ?? 0) + 1);
        }
      }
      // Both sides of the policy are exercised: a fair share accepted, several rules refused.
      expect(accepted).toBeGreaterThan(PER_ERA / 10);
      expect(PER_ERA - accepted).toBeGreaterThan(PER_ERA / 10);
      expect(rules.size).toBeGreaterThanOrEqual(era === 'v2.4' ? 3 : 5);
      for (const rule of rules.keys()) expect(REFUSAL_RULES).toContain(rule);
    }, 120_000);
  }
});
