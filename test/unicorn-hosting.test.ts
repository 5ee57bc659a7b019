/**
 * Layouts the Unicorn engine used to leave to the walker, now hosted: those
 * mapping nothing executable outside the tables (its routines have nowhere
 * to run, so the emulator's MMU is asked to translate each access), each
 * with a mutation it must catch; and layouts it still cannot host, refused
 * with a reason code a campaign counts them by.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createUnicornEngine } from '../src/engines/unicorn/engine.js';
import { probeTables } from '../src/engines/unicorn/prober.js';
import { compareRanges } from '../src/verify/compare.js';
import { HostingRefusal, hostingReason, type Engine, type EngineInput } from '../src/verify/model.js';
import { InputError } from '../src/core/errors.js';
import { EngineFailure } from '../src/engines/probe/failure.js';
import type { KernelDescription } from '../src/elf/kernel.js';
import { engineInput, readEntry, region, withEntryBit } from './support/engine-layouts.js';
import { leafEntryOffset } from './support/unicorn-layouts.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createUnicornEngine();
});

/** Classes of layouts with no page the probe routines could run from. */
const NOTHING_TO_RUN_FROM = {
  // Region permissions with an empty text region: every page is execute-disabled.
  'pae-no-text': {
    mode: 'pae', sramBase: 0x200000n, sramSizeKiB: 1024n, pagetablesStart: 0x2f0000n, regionPermissions: true, userspace: true,
    regions: { _image_text: region(0x200000n, 0n), _image_rodata: region(0x208000n, 0x4000n) },
  },
  // All of RAM is the table block: the only executable pages are the tables', which the routines may not overwrite.
  '32bit-ram-is-tables': { mode: '32bit', sramBase: 0x400000n, sramSizeKiB: 8n, pagetablesStart: 0x400000n },
  'ia32e-ram-is-tables': { mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 16n, pagetablesStart: 0x100000n },
} satisfies Record<string, KernelDescription>;

/** Bit numbers of the entry bits a mutation flips. */
const RW = 1;
const US = 2;

/** The leaf of the first expected page with `want`, and the bit whose flip changes it. */
function mutation(input: EngineInput): { virt: bigint; offset: number; bit: number } {
  const writable = input.expected.find((r) => r.writable);
  const r = writable ?? input.expected[0]!;
  return { virt: r.virt, offset: leafEntryOffset(input, r.virt), bit: writable ? RW : US };
}

describe('the unicorn engine hosts layouts that leave its routines nowhere to run', () => {
  for (const [name, kernel] of Object.entries(NOTHING_TO_RUN_FROM)) {
    it(`${name}: the emulator's MMU translates every expected page as the spec says, and a flipped permission shows`, async () => {
      const input = engineInput(kernel);
      const probed = probeTables(input);
      expect(probed.method).toBe('translate');
      expect(probed.kernelPage).toBeNull();
      const report = await engine.run(input);
      expect(report.violations).toEqual([]);
      expect(report.probe).toEqual({ plan: 'all', seed: 1, pagesProbed: probed.pagesProbed, fullPageCount: probed.plan.fullPageCount });
      expect(report.probe!.pagesProbed).toBeGreaterThan(0);
      expect(compareRanges(input.expected, report.actual, report.coverage)).toEqual([]);

      const { virt, offset, bit } = mutation(input);
      const mutant = withEntryBit(input, offset, bit);
      expect(readEntry(mutant, offset)).not.toBe(readEntry(input, offset));
      const seen = await engine.run(mutant);
      const mismatches = compareRanges(input.expected, seen.actual, seen.coverage);
      expect(mismatches.length).toBeGreaterThan(0);
      expect(mismatches.some((m) => m.virt <= virt && virt < m.virt + m.size)).toBe(true);
    });
  }

  it('a page whose present bit is cleared reads as unmapped', async () => {
    const input = engineInput(NOTHING_TO_RUN_FROM['pae-no-text']);
    const virt = input.expected[0]!.virt;
    const seen = await engine.run(withEntryBit(input, leafEntryOffset(input, virt), 0));
    const mismatches = compareRanges(input.expected, seen.actual, seen.coverage);
    expect(mismatches.map((m) => m.virt)).toContain(virt);
  });
});

describe('what the unicorn engine cannot host carries a reason code', () => {
  it('physical memory at or above 2^40 (its CPU\'s MAXPHYADDR): phys-above-maxphyaddr', async () => {
    const input = engineInput({ mode: 'ia32e', sramBase: 1n << 40n, sramSizeKiB: 64n, pagetablesStart: (1n << 40n) + 0xc000n });
    const err = await engine.run(input).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(HostingRefusal);
    expect(hostingReason(err as InputError)).toBe('phys-above-maxphyaddr');
    expect((err as Error).message).toMatch(/MAXPHYADDR of 40 bits/);
  });

  it('just below 2^40 it is hosted', async () => {
    const base = (1n << 40n) - 0x10000n;
    const input = engineInput({ mode: 'ia32e', sramBase: base, sramSizeKiB: 64n, pagetablesStart: base + 0xc000n });
    const report = await engine.run(input);
    expect(compareRanges(input.expected, report.actual, report.coverage)).toEqual([]);
  });

  it('an InputError with no reason counts under the default code; an emulator failure under engine-failed', () => {
    expect(hostingReason(new InputError('no room'))).toBe('cannot-host');
    expect(hostingReason(new EngineFailure('qemu', 'killed'))).toBe('engine-failed');
    expect(hostingReason(new HostingRefusal('no-free-page-for-harness', 'full'))).toBe('no-free-page-for-harness');
  });
});
