import { describe, expect, it } from 'vitest';
import { compareRanges } from '../src/verify/compare.js';
import { CPU_PROFILES } from '../src/engines/cpu.js';
import { createBochsEngine, runBochsCases } from '../src/engines/bochs/engine.js';
import { planCase } from '../src/engines/qemu/case-plan.js';
import { engineInput, ENGINE_LAYOUTS, withEntryBit } from './support/engine-layouts.js';
import { entriesPointingAt } from './support/qemu-layouts.js';

const TIGERLAKE = CPU_PROFILES.tigerlake!;

describe('the Bochs engine', () => {
  const names = ['32bit-identity', '32bit-dual-perms', 'pae-identity-perms', 'ia32e-identity-perms', 'ia32e-high-half-perms'] as const;
  it('observes every layout exactly as specified, in one boot, and Bochs leaves only accessed/dirty bits in the tables', async () => {
    const inputs = names.map((n) => engineInput(ENGINE_LAYOUTS[n]));
    const results = await runBochsCases(inputs, TIGERLAKE);
    results.forEach((r, i) => {
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const { report } = r;
      expect(report.engine).toBe('bochs');
      expect(report.version).toMatch(/^\d+\.\d+/);
      expect(report.violations).toEqual([]);
      expect(report.coverage.length).toBeGreaterThan(0);
      expect(compareRanges(inputs[i]!.expected, report.actual, report.coverage)).toEqual([]);
      // The stub lists A/D-only changes in the top table's first 32 bytes: Bochs sets A in the first top-level entry, but not in a PAE PDPTE (which has none).
      expect(report.tableChanges.every((c) => c.kind === 'architectural')).toBe(true);
      expect(report.tableChanges.length > 0).toBe(inputs[i]!.mode !== 'pae');
    });
  });

  it('sees a read-only leaf mutant as a mismatch of that page', async () => {
    const clean = engineInput(ENGINE_LAYOUTS['ia32e-identity-perms']);
    const [leaf] = entriesPointingAt(clean, 0x130000n);
    const engine = await createBochsEngine(TIGERLAKE);
    const report = await engine.run(withEntryBit(clean, leaf!, 1));
    const mismatches = compareRanges(clean.expected, report.actual, report.coverage);
    expect(mismatches.map((m) => [m.virt, m.size, m.actual?.writable])).toEqual([[0x130000n, 0x1000n, false]]);
  });

  it('reports a PDPTE with reserved bit 1 as its own #GP at the PDPTE load, and goes on with the next case in a new boot', async () => {
    const clean = engineInput(ENGINE_LAYOUTS['pae-identity-perms']);
    const cr3 = planCase(clean).cr3;
    const bad = withEntryBit(clean, Number(cr3 - clean.tablesPhys), 1);
    const [first, second] = await runBochsCases([bad, clean], TIGERLAKE);
    expect(first!.ok && first!.report.violations.map((v) => [v.level, v.engine, /#GP\(0\).*PDPTE/.test(v.message)])).toEqual([['PDPTE', 'bochs', true]]);
    expect(second!.ok && second!.report.violations).toEqual([]);
  });

  it('refuses, in one line, a profile Bochs cannot model and a layout in the loader\'s memory', async () => {
    await expect(createBochsEngine({ ...TIGERLAKE, maxPhysAddr: 46 })).rejects.toThrow(/^bochs: Bochs checks physical addresses against 40 bits.*MAXPHYADDR 46$/);
    const low = engineInput({ mode: 'ia32e', sramBase: 0x0n, sramSizeKiB: 2048n, pagetablesStart: 0x1f0000n });
    const [r] = await runBochsCases([low], TIGERLAKE);
    expect(r!.ok).toBe(false);
    if (!r!.ok) expect(r!.error.message).toMatch(/^bochs: .*physical 0xa0000-0x100000, in the legacy VGA window/);
  });
});
