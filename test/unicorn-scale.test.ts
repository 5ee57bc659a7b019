/**
 * Probe plans that scale: the shared planner's sampled plan (which pages,
 * reproducible from its seed, chosen automatically above a size), and the
 * unicorn engine backing only the pages it probes, so a layout far larger
 * than the host's memory is checked, and a bug at a boundary page is caught.
 */
import { describe, expect, it } from 'vitest';
import { planProbes, sampledOffsets, seededRandom, BOUNDARY_PAGES, DEFAULT_SAMPLE_ABOVE_PAGES } from '../src/engines/probe/plan.js';
import { planMemory } from '../src/engines/unicorn/memory.js';
import { createUnicornEngine } from '../src/engines/unicorn/engine.js';
import { probeTables } from '../src/engines/unicorn/prober.js';
import { compareRanges } from '../src/verify/compare.js';
import type { EngineInput, MappedRange } from '../src/verify/model.js';
import { engineInput } from './support/engine-layouts.js';

const GiB = 1n << 30n;
const range = (virt: bigint, size: bigint): MappedRange => ({ virt, phys: virt, size, writable: true, user: false, executable: false });
const probedPages = (plan: ReturnType<typeof planProbes>): number[] => plan.segments.flatMap((s) => Array.from({ length: s.count }, (_, i) => s.vpn + i));

/** A fully mapped IA-32e identity layout of `size` bytes from 0, tables at 1 MiB. */
function identityInput(size: bigint): EngineInput {
  return engineInput({
    mode: 'ia32e', sramBase: 0n, sramSizeKiB: size >> 10n, pagetablesStart: 0x100000n, regionPermissions: true,
    regions: {
      _image_text: { start: 0x200000n, size: 0x200000n }, _image_rodata: { start: 0x400000n, size: 0x100000n },
      _locore: { start: 0x1000n, size: 0x1000n }, _lorodata: { start: 0x2000n, size: 0x1000n },
    },
  });
}

describe('the sampled probe plan', () => {
  it('probes each range\'s ends, both pages at every 2 MiB / 4 MiB / 1 GiB boundary, and the pages around', () => {
    const r = range(0x1000n, 4n * GiB - 0x2000n);
    const plan = planProbes('ia32e', [r], { plan: 'sampled', randomPages: 0 });
    const pages = new Set(probedPages(plan));
    const first = 1;
    const last = Number((r.virt + r.size) >> 12n) - 1;
    for (const vpn of [first, last, first - 1, last + 1]) expect(pages.has(vpn)).toBe(true);
    for (const step of BOUNDARY_PAGES.slice(0, 3)) {
      for (let b = step; b <= last; b += step) {
        expect(pages.has(b)).toBe(true);
        expect(pages.has(b - 1)).toBe(true);
      }
    }
    // Nothing else: 2047 2 MiB boundaries inside the range, two pages each, plus the ends and their neighbours.
    expect(plan.pageCount).toBe(2047 * 2 + 4);
    expect(pages.has(first + 1)).toBe(false);
    expect(plan.kind).toBe('sampled');
    expect(plan.fullPageCount).toBe(last - first + 1 + 2);
  });

  it('draws the same random pages from the same seed, and others from another seed', () => {
    const ranges = [range(0n, 64n * GiB)];
    const a = probedPages(planProbes('ia32e', ranges, { plan: 'sampled', seed: 7 }));
    const b = probedPages(planProbes('ia32e', ranges, { plan: 'sampled', seed: 7 }));
    const c = probedPages(planProbes('ia32e', ranges, { plan: 'sampled', seed: 8 }));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const none = probedPages(planProbes('ia32e', ranges, { plan: 'sampled', seed: 7, randomPages: 0 }));
    expect(a.length).toBeGreaterThan(none.length);
    expect(sampledOffsets({ vpn: 0, count: 10, ppn: 0 }, 100, seededRandom(1))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('is chosen automatically above the size, and the full plan below it and on request', () => {
    const at = range(0n, BigInt(DEFAULT_SAMPLE_ABOVE_PAGES) << 12n);
    const above = range(0n, (BigInt(DEFAULT_SAMPLE_ABOVE_PAGES) + 1n) << 12n);
    expect(planProbes('ia32e', [at]).kind).toBe('all');
    expect(planProbes('ia32e', [at]).pageCount).toBe(DEFAULT_SAMPLE_ABOVE_PAGES + 1);
    expect(planProbes('ia32e', [above]).kind).toBe('sampled');
    expect(planProbes('ia32e', [above], { plan: 'all' }).pageCount).toBe(DEFAULT_SAMPLE_ABOVE_PAGES + 2);
  });
});

describe('the unicorn engine on large layouts', () => {
  it('backs only the probed pages: a 64 GiB layout plans a few MiB of guest memory', () => {
    const input = identityInput(64n * GiB);
    const plan = planProbes(input.mode, input.expected);
    const memory = planMemory(input, plan);
    const pages = memory.regions.reduce((n, r) => n + r.count, 0);
    expect(plan.kind).toBe('sampled');
    expect(pages).toBeLessThan(100_000);
    expect(pages).toBeGreaterThanOrEqual(plan.pageCount - 2);
  });

  it('verifies a 4 GiB identity map with the sampled plan and catches a read-only page at a 2 GiB boundary', async () => {
    const input = identityInput(4n * GiB);
    const engine = await createUnicornEngine();
    const healthy = await engine.run(input);
    expect(compareRanges(input.expected, healthy.actual, healthy.coverage)).toEqual([]);
    const result = probeTables(input);
    expect(result.plan.kind).toBe('sampled');
    expect(result.pagesProbed / result.plan.fullPageCount).toBeLessThan(0.01);

    // The leaf entry of the page just below 2 GiB: a 4 KiB PTE holding that address, R/W set.
    const target = 2n * GiB - 0x1000n;
    const view = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
    let offset = -1;
    for (let o = 0; o < input.tables.byteLength; o += 8) {
      const e = view.getBigUint64(o, true);
      if ((e & 0x000ffffffffff000n) === target && (e & 1n) === 1n) offset = o;
    }
    expect(offset).toBeGreaterThanOrEqual(0);
    const tables = input.tables.slice();
    const mutantView = new DataView(tables.buffer);
    mutantView.setBigUint64(offset, mutantView.getBigUint64(offset, true) & ~2n, true);
    const mutant = await engine.run({ ...input, tables });
    const mismatches = compareRanges(input.expected, mutant.actual, mutant.coverage);
    expect(mismatches).toHaveLength(1);
    expect(mismatches[0]!.virt).toBe(target);
    expect(mismatches[0]!.actual).toMatchObject({ phys: target, writable: false });
  });
});
